"""What the daemon's loop holds from its start is kept out of the garbage collector's
full collections (``gc.freeze``): they walked it all, some 100 ms each under load."""

from __future__ import annotations

import gc
import threading

import pytest
from django.db import connections

from amazon_ups.common.daemon.runner import Daemon

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_daemon_freezes_what_the_process_holds_when_it_starts():
    gc.unfreeze()
    daemon = Daemon("gc-test", links=[], handle=lambda *args: None)
    stopped = threading.Event()
    stopped.set()  # stop as soon as it starts

    def run() -> None:
        try:
            daemon.run(stopped=stopped)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    try:
        thread.start()
        thread.join(10)
        assert not thread.is_alive()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
