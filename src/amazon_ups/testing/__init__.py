"""What it takes to test against amazon-ups, for our tests and benchmarks and for anyone
who points their own store or carrier at it: the whole system as its users run it
(``system``), the world simulator as a process of its own (``world``), the PostgreSQL
server the tests use (``postgres``), the system spread over hosts of its own, network
namespaces (``hosts``, ``pg_server``, ``deployment``), and one way to wait for a
condition (``waiting``).

Nothing here is imported by the programs themselves."""
