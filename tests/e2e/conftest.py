"""Fixtures of the end-to-end tests: the whole system on SQLite, then on PostgreSQL."""

from __future__ import annotations

import pytest

from amazon_ups.testing.system import System, postgres_databases


@pytest.fixture(params=["sqlite", "postgres"])
def database_urls(request):
    if request.param == "sqlite":
        yield {}
        return
    with postgres_databases("amazon", "ups") as urls:
        yield urls


@pytest.fixture
def start_system(tmp_path, database_urls):
    systems: list[System] = []

    def start(*args: str) -> System:
        extra = list(args)
        if database_urls:
            extra += ["--amazon-db", database_urls["amazon"], "--ups-db", database_urls["ups"]]
        system = System(tmp_path / "var", extra).start()
        systems.append(system)
        return system

    yield start
    for system in systems:
        system.stop()
