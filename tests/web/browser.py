"""The headless-browser harness of the page's browser tests: Debian chromium + chromedriver
driving the app served by waitress. The `browser` fixture (one chromium per test module) is in
tests/web/conftest.py; the tests mark themselves with MARKS."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
MISSING = "chromium/chromedriver missing: run scripts/ensure_chromium.sh"
HAVE_BROWSER = Path(CHROMIUM).exists() and Path(DRIVER).exists()
MARKS = [pytest.mark.timeout(60), pytest.mark.skipif(not HAVE_BROWSER, reason=MISSING)]


def chromium() -> Iterator[Any]:
    """A headless chromium driver with a profile of its own (removed afterwards)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kz-chrome-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    drv = webdriver.Chrome(options=opts, service=Service(DRIVER))
    drv.set_page_load_timeout(20)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def serve(app: Any) -> tuple[Any, str]:
    """The app on a free loopback port (waitress, in a daemon thread): (server, base URL)."""
    from waitress.server import create_server  # type: ignore[import-untyped,unused-ignore]

    srv = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=srv.run, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.effective_port}"


def wait(drv: Any, cond: Any, timeout: float = 10) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # An element found on the page a click is leaving goes stale: look again, as for one
    # not there yet (the condition still has to hold on the new page within the timeout).
    # Chromium may report the same race as an inspector error instead of a stale element
    # (read while the document was being replaced): also a "not yet", nothing else is.
    def looked(d: Any) -> Any:
        try:
            return cond(d)
        except WebDriverException as e:
            if "does not belong to the document" in (e.msg or ""):
                return False
            raise

    return WebDriverWait(drv, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        looked
    )


def login_as(d: Any, base: str, name: str, password: str) -> None:
    """Log in through the login form, as a fresh visitor (cookies cleared first)."""
    from selenium.webdriver.common.by import By

    d.delete_all_cookies()
    d.get(base + "/login")
    d.find_element(By.ID, "username").send_keys(name)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(d, lambda x: "/login" not in x.current_url, 20)
