"""The world simulator: warehouses, trucks and packages on a grid, served over TCP.

``engine`` is the pure state machine (no IO), ``journal`` makes it durable,
``faults`` injects network trouble, ``server`` is the thin asyncio shell around
them, and ``client`` is a small reliable client used by tests and benchmarks.
"""
