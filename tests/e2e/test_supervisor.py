"""``amazon-ups up`` as an operator meets it: pieces that die come back, and a stop
leaves no process behind, even when nobody reads the supervisor's output any more."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

from amazon_ups.testing.system import System, free_ports, wait_until

CHILDREN = ("world", "ups-d", "amzn-d", "ups", "amazon")

# The Amazon daemon's INFO line once its link to UPS is up (loggers are named by module).
CONNECTED_LINE = " INFO amazon_ups.common.daemon.links: ups: connected"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stop_after_the_output_reader_left_still_stops_every_child(tmp_path):
    var = tmp_path / "var"
    ports = [str(port) for port in free_ports(5)]
    command = [
        sys.executable,
        "-m",
        "amazon_ups.cli",
        "up",
        "--var",
        str(var),
        "--workers",
        "1",
        "--amazon-port",
        ports[0],
        "--ups-port",
        ports[1],
        "--world-ups-port",
        ports[2],
        "--world-amazon-port",
        ports[3],
        "--au-port",
        ports[4],
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    seen = []
    for raw in proc.stdout:
        seen.append(raw.decode(errors="replace"))
        if "Ctrl-C stops everything." in seen[-1]:
            break
    else:
        raise AssertionError("up never got ready:\n" + "".join(seen[-60:]))
    pids = [int((var / "run" / f"{child}.pid").read_text()) for child in CHILDREN]
    proc.stdout.close()  # the terminal is gone: every later write fails with EPIPE
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
        wait_until(lambda: not any(alive(pid) for pid in pids), 30, "every child to be stopped")
    finally:
        for pid in filter(alive, pids):  # do not leave orphans behind if it failed
            os.kill(pid, signal.SIGKILL)


def test_a_killed_piece_is_started_again(tmp_path):
    system = System(tmp_path / "var").start()
    try:
        old = system.kill("ups-d")
        wait_until(lambda: system.restarted("ups-d", old), 60, "ups-d to be started again")
        assert alive(system.pid("ups-d"))
        assert system.said("ups-d exited (-9); restarting")
    finally:
        system.stop()


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status


def _children_lines(system: System) -> list[str]:
    return [line for line in system.output if not line.lstrip().startswith("up |")]


def test_the_console_keeps_to_what_matters_and_ends_with_where_and_how_in(tmp_path):
    """By default access logs and each piece's info lines (every command handled) go to
    var/log/ only; the URLs and logins are the last lines printed."""
    system = System(tmp_path / "var", verbose=False).start()
    try:
        # Something for the access log and the daemons' info lines to tell.
        assert _get(system.url("amazon", "/?probe=quiet")) == 200
        access = system.var / "log" / "amazon.log"
        wait_until(
            lambda: access.exists() and "GET /?probe=quiet" in access.read_text(),
            30,
            "the access line in var/log/amazon.log",
        )
        # The store's daemon connects to UPS on its own time, not by the page's.
        daemon_log = system.var / "log" / "amzn-d.log"
        wait_until(
            lambda: CONNECTED_LINE in daemon_log.read_text(),
            30,
            "the daemon's info line in var/log/amzn-d.log",
        )
        assert not any("probe=quiet" in line for line in system.output)
        assert not [line for line in _children_lines(system) if " INFO " in line]
        ready = system.output.index(next(x for x in system.output if "Amazon (the store)" in x))
        tail = system.output[ready:]
        assert [line.split("| ", 1)[1].split(":")[0] for line in tail] == [
            "Amazon (the store)",
            "UPS (the carrier)",
            "demo shopper / recipient",
            "demo seller (store)",
            "Ctrl-C stops everything.",
        ], system.log()
        assert f"http://127.0.0.1:{system.ports['amazon']}/" in tail[0]
        assert "user demo, password demo-password-123" in tail[2]
        assert not _children_lines(system), system.log()  # not even a warning at start
    finally:
        system.stop()


def test_verbose_brings_every_line_back_to_the_console(tmp_path):
    system = System(tmp_path / "var", ["--verbose"], verbose=False).start()
    try:
        assert _get(system.url("ups", "/?probe=verbose")) == 200
        wait_until(
            lambda: any("GET /?probe=verbose" in line for line in system.output),
            30,
            "the access line on the console",
        )
        # The store's daemon connects to UPS on its own time, not by the page's.
        wait_until(
            lambda: any(CONNECTED_LINE in x for x in system.output),
            30,
            "the daemon's info line on the console",
        )
        assert "GET /?probe=verbose" in (system.var / "log" / "ups.log").read_text()
    finally:
        system.stop()
