"""Fixtures of the browser tests: the whole system (``amazon-ups up`` on SQLite) and a
headless Chromium driven by Playwright. Debian's Chromium is used (``/usr/bin/chromium``,
or ``CHROMIUM`` in the environment): Playwright cannot download its own here.

Screenshots go to ``test-artifacts/screenshots/`` (``SCREENSHOTS`` overrides it), which
CI keeps as the run's artifacts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_ups.testing.system import System

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# Patterns a test waits on (``expect(...).to_have_text(...)``) get this long by default:
# deliveries take seconds of simulated travel.
EXPECT_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    # Per module, not per session: Playwright's sync API keeps an asyncio loop running
    # in this thread until it stops, and the asyncio tests collected after these need
    # the thread free.
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (./dev test does) "
            "or set CHROMIUM to a Chromium binary"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """The whole system, shared by a module's tests (each test makes its own users)."""
    system = System(tmp_path_factory.mktemp("browser") / "var", ["--trucks", "4"]).start()
    yield system
    system.stop()


@pytest.fixture
def page(browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    # The visitor's clock and language are fixed, so that pages (and screenshots) read
    # the same wherever the tests run: local-time.js rewrites times to them.
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, locale="en-GB", timezone_id="UTC"
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    """A page the size of a phone screen, to see that pages work there."""
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """``screenshot(page, name)``: a full-page PNG in the artifacts folder."""

    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        path = SCREENSHOTS / f"{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="module")
def manage(system):
    """``manage(project, *args, env={...})``: a manage command against the system's
    database; returns its output."""

    def run(project: str, *args: str, env: dict[str, str] | None = None) -> str:
        env = {**os.environ, "AMAZON_UPS_VAR": str(system.var), **(env or {})}
        env.pop("DATABASE_URL", None)
        result = subprocess.run(
            [sys.executable, "-m", "amazon_ups.cli", project, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"{project} {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    return run
