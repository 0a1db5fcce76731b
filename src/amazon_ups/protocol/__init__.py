"""The sans-IO wire layer: the .proto files, their generated modules, framing, the reliable
session, the Amazon-UPS link handshake and limits. Imports no Django and nothing of ours
outside this package (an import contract, pyproject.toml [tool.importlinter])."""
