"""Pieces the benchmarks share: the machine line and progress bars (``report``), a world
process with its memory and CPU (``world``), shoppers placing orders over HTTP (``shop``),
and looking at a running system and its databases (``system``). A package, so that
``./dev bench`` (``benchmarks/*.py``) does not run it."""
