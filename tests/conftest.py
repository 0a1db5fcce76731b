from __future__ import annotations

import os

import pytest

from amazon_ups.protocol.world_messages import Side
from amazon_ups.testing.world import WorldProcess
from amazon_ups.world.server import ServerConfig, WorldServer
from tests.support import TEST_LINK_SECRET

# tests/amazon and tests/ups need their project's Django settings, and a process can
# set up only one Django: ./dev test runs each in a pytest of its own with --ds.
collect_ignore = [] if os.environ.get("DJANGO_SETTINGS_MODULE") else ["amazon", "ups"]


@pytest.fixture(scope="session", autouse=True)
def au_link_secret():
    """The daemons the Django tests build prove themselves with the peers' secret."""
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        from django.conf import settings

        settings.AU_LINK_SECRET = TEST_LINK_SECRET


@pytest.fixture
async def world(tmp_path):
    """A world server running in the test's event loop, on free ports."""
    server = WorldServer(ServerConfig(ups_port=0, amazon_port=0, state=tmp_path / "world.sqlite3"))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def ports(world) -> dict[Side, int]:
    return world.ports


@pytest.fixture
def world_process(tmp_path):
    """Start ``amazon-ups world`` subprocesses: ``world_process(*args)``; all stopped after."""
    started: list[WorldProcess] = []

    def start(*args: str, state=None) -> WorldProcess:
        process = WorldProcess(state or tmp_path / "world.sqlite3", list(args)).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            process.stop()
