"""The consulting report in headless chromium: its server-drawn charts render with size, and
print media (what "Print" and a PDF get) hides the navigation and the form but keeps the charts.
Screenshot and PDF go to artifacts/screenshots/."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from fleet_web import create_app

from .browser import MARKS, SHOTS, login_as, serve, wait
from .conftest import PASSWORDS, make_store

pytestmark = MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: Any) -> Iterator[str]:
    st = make_store(tmp_path_factory.mktemp("db") / "kizashi.db", 8, 24 * 40)
    srv, url = serve(create_app({"SECRET_KEY": "consulting"}, store=st))
    yield url
    srv.close()
    st.close()


def _shown(d: Any, css: str) -> list[bool]:
    return [bool(x) for x in d.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map("
        "e => getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().width > 0)",
        css,
    )]  # fmt: skip


def test_report_charts_render_and_print_hides_navigation(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    login_as(d, server, "viewer", PASSWORDS["viewer"])
    wait(d, lambda x: x.find_elements(By.CSS_SELECTOR, ".topbar"))
    d.find_element(By.LINK_TEXT, "Consulting").click()
    wait(d, lambda x: x.find_elements(By.ID, "consulting"))
    charts = "svg.kchart"
    n = len(d.find_elements(By.CSS_SELECTOR, charts))
    assert n >= 5 and all(_shown(d, charts))  # shift, weekday, and per site run/starts/zones
    bars = d.execute_script(
        "return [...document.querySelectorAll('#chart-shift rect.bar')]"
        ".map(r => r.getBoundingClientRect().height)"
    )
    assert len(bars) == 3 and max(bars) > 20, bars  # three shifts, drawn with height
    zone_segs = d.find_elements(By.CSS_SELECTOR, "#chart-zones-1 rect")
    assert zone_segs, "zone hours drawn"
    assert all(_shown(d, ".topbar")) and all(_shown(d, "#consult-form"))
    d.save_screenshot(str(SHOTS / "consulting.png"))

    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not any(_shown(d, ".topbar")), "navigation hidden in print"
        assert not any(_shown(d, ".no-print")), "form and buttons hidden in print"
        assert all(_shown(d, charts)) and len(_shown(d, charts)) == n, "charts printed"
        pdf = d.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
        data = base64.b64decode(pdf["data"])
        assert data.startswith(b"%PDF")
        (SHOTS / "consulting.pdf").write_bytes(data)
    finally:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
