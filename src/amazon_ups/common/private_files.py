"""The var folder (``AMAZON_UPS_VAR``) is for the account that runs the system only.

It holds the SQLite databases, the sites' secret keys and, with the file email
backend, every email sent, password-reset links included: anyone else on the machine
who can read it can take over accounts. So:

- ``restrict_umask`` makes whatever a process creates from then on its user's alone
  (the CLI calls it first thing, and so do the settings, for a site started another
  way); SQLite and Django's file email backend create their files with the umask.
- ``private_dir`` creates a folder 0700, or takes group and other bits off one that
  exists (``mkdir`` leaves an existing folder's mode as it is).
- ``tighten_tree`` does the same for everything already in var/ (left by an older
  version, or another umask), and logs what it changed, once, at start.

No Django here: ``amazon-ups up`` calls it before any settings are loaded.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077  # no bits for group and others
# Enough paths to see what happened; the rest are counted.
LOG_AT_MOST = 10

log = logging.getLogger(__name__)


def restrict_umask() -> None:
    """From now on, files and folders this process creates are its user's alone; a
    stricter umask already in force is kept."""
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _tighten(path):
        log.warning("tightened %s to mode 0700: it was readable by others", path)
    return path


def tighten_tree(root: Path) -> list[Path]:
    """Take group and other bits off ``root`` and every folder and file in it; the
    paths changed, logged. Symbolic links are neither changed nor followed: what they
    point to is not ours to change."""
    changed = [root] if _tighten(root) else []
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(folder, name)
            if _tighten(path):
                changed.append(path)
    if changed:
        shown = ", ".join(str(path) for path in changed[:LOG_AT_MOST])
        more = f" and {len(changed) - LOG_AT_MOST} more" if len(changed) > LOG_AT_MOST else ""
        log.warning("tightened %d paths readable by others: %s%s", len(changed), shown, more)
    return changed


def _tighten(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # gone meanwhile (a SQLite -journal, a mail being written)
        return False
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) or not mode & PRIVATE_UMASK:
        return False
    try:
        path.chmod(stat.S_IMODE(mode) & ~PRIVATE_UMASK)
    except PermissionError:  # another user's file: say so rather than stop the system
        log.warning("cannot tighten %s (mode %o): not ours", path, stat.S_IMODE(mode))
        return False
    return True
