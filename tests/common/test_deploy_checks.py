"""Production settings pass Django's deployment checks, for both projects."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest


def production_env(tmp_path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "AMAZON_UPS_VAR": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    return env


@pytest.mark.parametrize("project", ["amazon", "ups"])
def test_check_deploy_is_clean_with_production_settings(project, tmp_path):
    env = production_env(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "amazon_ups.cli",
            project,
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**os.environ, "DJANGO_PRODUCTION": "1", "AMAZON_UPS_VAR": str(tmp_path)}
    env.pop("DJANGO_SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "amazon_ups.cli", "amazon", "check"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in done.stderr
    assert "Traceback" not in done.stderr


PROBE = """
from django.test import Client
client = Client(HTTP_HOST="localhost")
for path in ("/healthz", "/operator/metrics", "/"):
    print(path, client.get(path).status_code)
"""


def test_in_production_health_and_metrics_are_answered_over_plain_http(tmp_path):
    """A load balancer's health check and Prometheus reach each web process directly;
    every other page goes to https://."""
    env = production_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "amazon_ups.cli", "ups", "shell", "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
    )
    codes = dict(line.split() for line in done.stdout.splitlines() if line.startswith("/"))
    assert codes["/"] == "301", done.stdout + done.stderr
    assert codes["/healthz"] != "301"
    assert codes["/operator/metrics"] == "401"  # answered: it asks for the token
