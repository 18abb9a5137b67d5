"""Debian's Chromium driven through Debian's ChromeDriver (selenium), headless, for the
dashboard tests. Skipped, with the reason printed at the end of the session, where they are
missing (``python3 infra/bootstrap.py test`` installs them when it may)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SKIPPED_BROWSER: list[str] = []

# As the machine notes say: without the background-networking flags Chromium keeps trying
# hosts this closed network refuses.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1920,1080",
)


def browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install chromium chromium-driver)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    reason = browser_missing()
    if reason:
        SKIPPED_BROWSER.append(reason)
        pytest.skip(f"browser tests skipped: {reason}")
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def other_origins(driver: Any, base: str) -> list[str]:
    """Every resource the page loaded from anywhere but ``base``."""
    urls: list[str] = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    return [u for u in urls if not (u.startswith(base) or u.startswith(("blob:", "data:")))]
