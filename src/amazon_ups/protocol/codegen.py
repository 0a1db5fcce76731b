"""Regenerates the checked-in ``*_pb2.py`` modules, and their ``*_pb2.pyi`` type stubs
(for the type checker), from ``proto/*.proto``.

The generated code is checked in so that a plain ``pip install`` needs no
protobuf compiler; ``tests/protocol/test_wire.py`` fails when it is stale.
Run ``python -m amazon_ups.protocol.codegen`` after editing a ``.proto`` file
(it needs the ``dev`` extra, which brings ``grpcio-tools``).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTOCOL_DIR = Path(__file__).resolve().parent
PROTO_DIR = PROTOCOL_DIR / "proto"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generate(out_dir: Path = PROTOCOL_DIR) -> list[Path]:
    """Compile every ``.proto`` into ``out_dir``; returns the written modules and stubs."""
    from grpc_tools import protoc  # dev-only dependency

    files = proto_files()
    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
    args += [f.name for f in files]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {[f.name for f in files]}")
    return [out_dir / f"{f.stem}_pb2.{suffix}" for f in files for suffix in ("py", "pyi")]


def main() -> int:
    for path in generate():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
