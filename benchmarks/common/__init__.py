"""Pieces the benchmarks share: the machine line and progress bars (``report``), shoppers
placing orders over HTTP (``shop``), and looking at a running system and its databases
(``system``). A package, so that ``./dev bench`` (``benchmarks/*.py``) does not run it."""
