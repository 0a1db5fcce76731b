"""``amazon-ups up`` as an operator meets it: pieces that die come back, and a stop
leaves no process behind, even when nobody reads the supervisor's output any more."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from amazon_ups.testing.system import System, free_port, wait_until

CHILDREN = ("world", "ups-d", "amzn-d", "ups", "amazon")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stop_after_the_output_reader_left_still_stops_every_child(tmp_path):
    var = tmp_path / "var"
    ports = [str(free_port()) for _ in range(5)]
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
