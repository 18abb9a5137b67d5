"""Regenerate ``docs/dashboard.png``: the dashboard on ``up``'s sample data, in Debian's Chromium
at 1920x1080 (the wall-screen size), signed in with the demo key ``up`` prints.

    .venv/bin/python docs/screenshot.py

Starts ``kretslopp up --devices 1500 --rate 4000`` in a scratch data dir, waits until the
sample history is projected, takes the screenshot, stops everything.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # runs as a script: import from the project root


def main() -> int:
    from tests.integration.browser import chromium

    data = Path(tempfile.mkdtemp(prefix="kretslopp-screenshot-"))
    env = {
        **os.environ,
        "KRETSLOPP_DATA_DIR": str(data),
        "KRETSLOPP_API_PORT": "8765",
        "KRETSLOPP_BROKER_PORT": "0",
        "COLUMNS": "200",
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--devices", "1500", "--rate", "4000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    key = None
    assert up.stdout is not None
    deadline = time.monotonic() + 600
    for line in up.stdout:
        found = re.search(r"Bearer (kl_[A-Za-z0-9_-]+)", line)
        if found:
            key = found.group(1)
            break
        if time.monotonic() > deadline:
            break
    try:
        if key is None:
            print("up did not print a demo key", file=sys.stderr)
            return 1
        with chromium() as driver:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import WebDriverWait

            driver.get("http://127.0.0.1:8765/")
            driver.find_element(By.ID, "tenant").send_keys("goteborg-kommun")
            driver.find_element(By.ID, "key").send_keys(key)
            driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()
            WebDriverWait(driver, 60).until(
                lambda d: (
                    d.find_elements(By.CSS_SELECTOR, "#suppliers tbody tr")
                    and d.find_element(By.ID, "live").text == "live"
                )
            )
            time.sleep(1)
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1920, max(1080, int(height)))
            time.sleep(0.5)
            driver.save_screenshot(str(HERE / "dashboard.png"))
        print(f"wrote {HERE / 'dashboard.png'}")
        return 0
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()


if __name__ == "__main__":
    sys.exit(main())
