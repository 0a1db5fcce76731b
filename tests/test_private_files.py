"""var/ (databases, secret keys, mail with password-reset links) is readable by the
system's own user only, whether it is new or was left readable by an older run."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_ups.cli import build_parser
from amazon_ups.common.private_files import private_dir, restrict_umask, tighten_tree
from amazon_ups.supervisor import build_children


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask():
    """The umask most machines have (0022), as a fresh shell would start a process."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def readable_var(tmp_path, open_umask):
    """A var/ as an older version left it: every folder and file readable by all."""
    var = tmp_path / "var"
    (var / "mail-ups").mkdir(parents=True)
    (var / "mail-ups" / "20260101-reset.log").write_text("reset link")
    (var / "ups.sqlite3").write_bytes(b"")
    for path in (var, var / "mail-ups"):
        path.chmod(0o755)
    for path in (var / "mail-ups" / "20260101-reset.log", var / "ups.sqlite3"):
        path.chmod(0o644)
    return var


def test_a_new_private_folder_is_0700(tmp_path, open_umask):
    assert mode(private_dir(tmp_path / "var")) == 0o700


def test_an_existing_folder_is_tightened(tmp_path, open_umask, caplog):
    folder = tmp_path / "var"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    with caplog.at_level(logging.WARNING):
        private_dir(folder)
    assert mode(folder) == 0o700
    assert str(folder) in caplog.text


def test_the_restricted_umask_makes_files_private(tmp_path, open_umask):
    restrict_umask()
    (tmp_path / "new").write_text("x")
    assert mode(tmp_path / "new") == 0o600
    assert os.umask(0o077) == 0o077


def test_a_stricter_umask_is_kept(open_umask):
    os.umask(0o277)
    restrict_umask()
    assert os.umask(0o022) == 0o277


def test_a_readable_tree_is_tightened_and_logged(readable_var, caplog):
    outside = readable_var.parent / "shared.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    (readable_var / "link").symlink_to(outside)
    with caplog.at_level(logging.WARNING):
        changed = tighten_tree(readable_var)
    assert mode(readable_var) == mode(readable_var / "mail-ups") == 0o700
    assert mode(readable_var / "mail-ups" / "20260101-reset.log") == 0o600
    assert mode(readable_var / "ups.sqlite3") == 0o600
    assert mode(outside) == 0o644  # a link's target is left alone
    assert len(changed) == 4
    assert "tightened 4 paths" in caplog.text and "20260101-reset.log" in caplog.text
    caplog.clear()
    assert tighten_tree(readable_var) == []  # said once: nothing left to change
    assert caplog.text == ""


def test_up_tightens_a_readable_var_before_starting_anything(readable_var):
    args = build_parser().parse_args(["up", "--var", str(readable_var)])
    build_children(args)
    assert mode(readable_var) == 0o700
    assert mode(readable_var / "mail-ups" / "20260101-reset.log") == 0o600
    assert mode(readable_var / "run") == 0o700


def test_a_site_started_by_the_cli_keeps_var_private(readable_var):
    """What `amazon-ups up` runs first (migrate), then an email written by the file
    backend, as the password reset does: every path in var/ is the user's alone."""
    env = {**os.environ, "AMAZON_UPS_VAR": str(readable_var)}
    for variable in ("DATABASE_URL", "EMAIL_BACKEND", "DJANGO_SETTINGS_MODULE"):
        env.pop(variable, None)
    logs = []
    for command in (["migrate", "--no-input", "-v", "0"], ["sendtestemail", "a@example.com"]):
        done = subprocess.run(
            [sys.executable, "-m", "amazon_ups.cli", "ups", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        logs.append(done.stderr)
    assert "20260101-reset.log" in logs[0] and "tightened" not in logs[1]
    assert {p.name for p in (readable_var / "mail-ups").iterdir()} > {"20260101-reset.log"}
    assert (readable_var / "secret-ups").exists() and (readable_var / "ups.sqlite3").exists()
    for path in [readable_var, *readable_var.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) & 0o077 == 0, f"{path} is {mode(path):o}, not {expected:o}"
