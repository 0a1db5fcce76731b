"""``amazon-ups up`` passes the world's fault options on to the world it starts."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_ups.cli import build_parser
from amazon_ups.supervisor import _Output, build_children, ready_lines


def world_argv(tmp_path, *options: str) -> list[str]:
    args = build_parser().parse_args(["up", "--var", str(tmp_path / "var"), *options])
    (world,) = [child for child in build_children(args) if child.name == "world"]
    return world.argv


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_every_fault_option_reaches_the_world(tmp_path):
    argv = world_argv(
        tmp_path,
        *("--flakiness", "50", "--seed", "7", "--drop-responses", "0.1"),
        *("--duplicate-responses", "0.2", "--reorder-responses", "0.3"),
        *("--delay-responses", "0.4", "--max-delay", "0.25"),
    )
    assert option(argv, "--flakiness") == "50"
    assert option(argv, "--seed") == "7"
    assert option(argv, "--drop-responses") == "0.1"
    assert option(argv, "--duplicate-responses") == "0.2"
    assert option(argv, "--reorder-responses") == "0.3"
    assert option(argv, "--delay-responses") == "0.4"
    assert option(argv, "--max-delay") == "0.25"
    # And the world's own parser takes them as given.
    world = build_parser().parse_args(argv[argv.index("world") :])
    assert (world.flakiness, world.seed, world.drop_responses) == (50, 7, 0.1)


def test_without_fault_options_the_world_runs_without_faults(tmp_path):
    argv = world_argv(tmp_path)
    world = build_parser().parse_args(argv[argv.index("world") :])
    assert world.flakiness == 0
    assert 0.0 == world.drop_responses == world.duplicate_responses == world.delay_responses


def test_the_world_dashboard_is_asked_for_by_port(tmp_path):
    assert "--http-port" not in world_argv(tmp_path)
    argv = world_argv(tmp_path, "--world-dashboard", "8002")
    world = build_parser().parse_args(argv[argv.index("world") :])
    assert (world.http_port, world.http_host) == (8002, "127.0.0.1")


@pytest.mark.parametrize("bad", [["--flakiness", "100"], ["--drop-responses", "1.5"]])
def test_up_refuses_faults_the_world_would_refuse(tmp_path, bad, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", *bad])
    assert "must be" in capsys.readouterr().err


def test_both_daemons_get_one_random_owner_only_link_secret(tmp_path):
    args = build_parser().parse_args(["up", "--var", str(tmp_path / "var")])
    children = {child.name: child for child in build_children(args)}
    path = Path(children["ups-d"].env["AU_LINK_SECRET_FILE"])
    assert children["amzn-d"].env["AU_LINK_SECRET_FILE"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 32
    # The next `up` keeps it, and another var/ gets another one.
    build_children(args)
    assert path.read_text().strip() == secret
    other = build_parser().parse_args(["up", "--var", str(tmp_path / "other")])
    (ups,) = [child for child in build_children(other) if child.name == "ups-d"]
    assert Path(ups.env["AU_LINK_SECRET_FILE"]).read_text().strip() != secret


def test_the_staff_user_command_up_prints_reaches_that_run_s_database(tmp_path):
    """`up --var DIR` prints a createsuperuser line per site; run as printed (but without
    a prompt), it makes the user in DIR's database, not in ./var."""
    var = tmp_path / "elsewhere"
    args = build_parser().parse_args(["up", "--var", str(var)])
    [amazon_line] = [line for line in ready_lines(args) if line.startswith("operators (amazon)")]
    command = amazon_line.split(": ", 1)[1].split(" createsuperuser")[0].split()
    assert command == [".venv/bin/amazon-ups", "amazon", "--var", str(var.resolve())]
    run = [sys.executable, "-m", "amazon_ups.cli", *command[1:]]
    environment = {**os.environ, "DJANGO_SUPERUSER_PASSWORD": "op-password-123"}
    environment.pop("AMAZON_UPS_VAR", None)
    environment.pop("DATABASE_URL", None)
    subprocess.run([*run, "migrate", "--no-input", "-v", "0"], check=True, env=environment)
    subprocess.run(
        [*run, "createsuperuser", "--no-input", "--username", "op", "--email", "op@example.com"],
        check=True,
        env=environment,
    )
    with contextlib.closing(sqlite3.connect(var / "amazon.sqlite3")) as database:
        assert database.execute(
            "SELECT is_staff FROM auth_user WHERE username = 'op'"
        ).fetchall() == [(1,)]


def test_on_postgresql_the_line_says_which_database_without_echoing_its_url(tmp_path):
    args = build_parser().parse_args(
        ["up", "--var", str(tmp_path), "--ups-db", "postgres://u:secret@db/ups"]
    )
    [ups_line] = [line for line in ready_lines(args) if line.startswith("operators (ups)")]
    assert ups_line.startswith("operators (ups): DATABASE_URL=<your --ups-db URL> ")
    assert "secret" not in "\n".join(ready_lines(args))


def test_the_quiet_console_shows_warnings_and_errors_with_their_tracebacks_only(tmp_path, capsys):
    out = _Output(tmp_path, verbose=False)
    lines = [
        ("amzn-d", "2026-11-29 09:35:42,061 INFO amazon_ups.daemon: ups: connected"),
        ("amazon", '127.0.0.1 - - [29/Nov/2026:09:36:07 +0000] "GET / HTTP/1.1" 200 11520'),
        ("amazon", "[2026-11-29 09:35:41 +0000] [20313] [INFO] Booting worker with pid: 1"),
        ("amzn-d", "2026-11-29 09:35:43,001 WARNING amazon_ups.daemon: ups: connection lost"),
        ("ups-d", "2026-11-29 09:35:44,002 ERROR amazon_ups.daemon: a turn failed"),
        ("ups-d", "Traceback (most recent call last):"),
        ("ups-d", '  File "x.py", line 1, in <module>'),
        ("ups-d", "ValueError: boom"),
        ("ups-d", "2026-11-29 09:35:45,003 INFO amazon_ups.daemon: carried on"),
        ("ups-d", "a print after an info line"),
        ("amazon", "[2026-11-29 09:35:46 +0000] [20313] [ERROR] Worker (pid:9) was sent SIGKILL!"),
    ]
    for name, text in lines:
        out.line(name, text)
    out.close()
    shown = capsys.readouterr().out.splitlines()
    assert [line.split(" | ", 1)[1] for line in shown] == [
        lines[3][1],
        lines[4][1],
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "ValueError: boom",
        lines[10][1],
    ]
    # Every line is in its piece's log, the access line too.
    assert (tmp_path / "amazon.log").read_text().splitlines() == [
        lines[1][1],
        lines[2][1],
        lines[10][1],
    ]
    assert len((tmp_path / "ups-d.log").read_text().splitlines()) == 6


def test_a_piece_that_died_shows_its_last_lines_unless_verbose_showed_them(tmp_path, capsys):
    out = _Output(tmp_path, verbose=False)
    out.line("ups-d", "amazon-ups ups: AU_LINK_SECRET is shorter than 16 characters")
    assert capsys.readouterr().out == ""
    out.last_words("ups-d")
    shown = capsys.readouterr().out
    assert f"ups-d's last lines (all of them in {tmp_path / 'ups-d.log'}):" in shown
    assert "ups-d | amazon-ups ups: AU_LINK_SECRET is shorter than 16 characters" in shown
    verbose = _Output(tmp_path, verbose=True)
    verbose.line("world", "world ready: UPS port 1, Amazon port 2")
    verbose.last_words("world")
    assert capsys.readouterr().out.count("world ready") == 1
    out.close()
    verbose.close()
