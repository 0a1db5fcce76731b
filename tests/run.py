"""Every pass of the test suite and a summary of them (``./dev test``, after the lint).

    python -m tests.run [pytest args]

The tests without Django run first, in one pytest. A process can set up only one
Django, so each project's tests run in a pytest of their own: on SQLite, then again
on PostgreSQL, in a fresh database with a random name on the server at
``TEST_POSTGRES_URL`` (see ``amazon_ups/testing/postgres.py``), dropped afterwards. When no
server answers there, the PostgreSQL passes are skipped, saying so; any other
PostgreSQL trouble fails them. The exit status is non-zero if any pass failed.

Each pytest also loads this module as a plugin (``-p tests.run``), through which it
hands its counts back (``pytest_terminal_summary``).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amazon_ups.testing import postgres

PROJECTS = ("amazon", "ups")
COUNTS_FILE = "AMAZON_UPS_TEST_COUNTS"  # where a pytest writes its counts, as JSON
NO_TESTS_SELECTED = 5  # pytest's exit status when, say, -k leaves nothing to run
# pytest's outcomes, as the summary shows them: the first three always, the rest if any.
OUTCOMES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed", "deselected")


def pytest_terminal_summary(terminalreporter) -> None:
    if path := os.environ.get(COUNTS_FILE):
        stats = terminalreporter.stats
        Path(path).write_text(json.dumps({kind: len(stats[kind]) for kind in stats if kind}))


@dataclass
class Pass:
    tests: str  # "tests without Django", or a project
    database: str
    outcome: str  # "ok", "FAILED" or "skipped"
    details: str


def run(tests: str, database: str, args: list[str], env: dict[str, str], note: str = "") -> Pass:
    """Run one pytest; returns how it went."""
    print(f"\n== {tests}{f' on {database}' if database else ''}{note}", flush=True)
    with tempfile.TemporaryDirectory(prefix="test-counts-") as folder:
        counts_file = Path(folder) / "counts.json"
        command = [sys.executable, "-m", "pytest", "-p", "tests.run", *args]
        with subprocess.Popen(command, env={**env, COUNTS_FILE: str(counts_file)}) as pytest:
            try:
                status = pytest.wait()
            except KeyboardInterrupt:  # pytest got the Ctrl-C too: let it tidy up first
                pytest.wait()
                raise
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    shown = [f"{counts.get(kind, 0)} {kind}" for kind in OUTCOMES[:3]]
    shown += [f"{counts[kind]} {kind}" for kind in OUTCOMES[3:] if counts.get(kind)]
    if status in (0, NO_TESTS_SELECTED):
        return Pass(tests, database, "ok", ", ".join(shown))
    return Pass(tests, database, "FAILED", ", ".join(shown) + f" (pytest exit status {status})")


def run_on_postgres(project: str, args: list[str], env: dict[str, str]) -> Pass:
    # Django's test database is test_<NAME>: pytest-django creates it and drops it.
    name = f"amazon_ups_{project}_{secrets.token_hex(4)}"
    try:
        url = postgres.database_url(name)
        return run(project, "PostgreSQL", args, {**env, "DATABASE_URL": url}, f" (test_{name})")
    finally:
        if postgres.drop(f"test_{name}"):
            print(f"the run left database test_{name} behind: dropped it", flush=True)


def main(args: list[str]) -> int:
    # The shell's own database or settings must not change what a pass runs on.
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }

    def django(project: str) -> list[str]:
        return [f"--ds=amazon_ups.{project}.settings", f"tests/{project}", *args]

    passes = [run("tests without Django", "", args, env)]
    passes += [run(project, "SQLite", django(project), env) for project in PROJECTS]
    if not postgres.answers():
        skipped = f"no PostgreSQL server answers at {postgres.shown()} (TEST_POSTGRES_URL)"
        print(f"\n== {skipped}: the PostgreSQL pass is skipped, Django tests ran on SQLite only")
        passes += [Pass(project, "PostgreSQL", "skipped", skipped) for project in PROJECTS]
    elif problem := postgres.problem():
        print(f"\n== PostgreSQL at {postgres.shown()}: {problem}")
        passes += [Pass(project, "PostgreSQL", "FAILED", problem) for project in PROJECTS]
    else:
        passes += [run_on_postgres(project, django(project), env) for project in PROJECTS]

    print("\n== summary")
    for done in passes:
        print(f"   {done.tests:20} {done.database:11} {done.outcome:8} {done.details}")
    return 1 if any(done.outcome == "FAILED" for done in passes) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
