"""Headless Chromium for the browser tests: where the browser is, how it starts, where screenshots go, and the skip
(with its reason) where Chromium or playwright is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # .ci/run installs the `chromium` package with apt when it is missing
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "test-artifacts" / "screenshots"


def playwright_or_skip():
    """playwright's sync API; called at a test module's top, it skips the module where the browser cannot run."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is not installed and could not be installed here (apt-get install -y chromium)",
                    allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt (playwright)")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
