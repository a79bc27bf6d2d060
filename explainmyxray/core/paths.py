"""The user data folder: where indexes, adapters and other files shipped pipelines refer to live.

It follows the platform's convention (``platformdirs``: ``~/.local/share/explainmyxray`` on Linux,
``~/Library/Application Support/explainmyxray`` on macOS, ``%LOCALAPPDATA%\\explainmyxray`` on
Windows) and is overridden by the ``EXPLAINMYXRAY_HOME`` environment variable. Relative paths in a
shipped pipeline resolve here, never into the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "EXPLAINMYXRAY_HOME"
APP_NAME = "explainmyxray"


def user_data_dir() -> Path:
    """The user data folder (not created here)."""
    override = os.environ.get(HOME_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir as platform_data_dir

    return Path(platform_data_dir(APP_NAME, appauthor=False))


def default_index_dir() -> Path:
    """Where ``index build`` writes, and the shipped pipelines' ``index: indexes/reference``."""
    return user_data_dir() / "indexes" / "reference"
