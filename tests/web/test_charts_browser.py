"""The asset charts in real headless chromium, read the way an engineer reads them: the "now"
label and the last date inside the chart, whole-number ticks on the starts axis, the failure
level drawn for a degrading part, zone labels apart, the time axis labelled with the site's
zone."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from fleet_web import create_app
from gateway.store.api import Site

from .browser import HAVE_BROWSER, MISSING, SHOTS, login_as, serve, wait
from .conftest import PASSWORDS, make_store

pytestmark = [pytest.mark.timeout(90), pytest.mark.skipif(not HAVE_BROWSER, reason=MISSING)]


@pytest.fixture(scope="module")
def tokyo_server(tmp_path_factory: Any) -> Iterator[str]:
    st = make_store(tmp_path_factory.mktemp("db") / "kizashi.db", 6, 24 * 40)
    st.set_site(Site("Osaka Works", "Asia/Tokyo"))
    srv, url = serve(create_app({"SECRET_KEY": "charts"}, store=st))
    yield url
    srv.close()
    st.close()


def _inside(d: Any, selector: str) -> list[bool]:
    """For each SVG text matching `selector`: is its box inside its chart's box?"""
    result: list[bool] = d.execute_script(
        """return [...document.querySelectorAll(arguments[0])].map((t) => {
             const b = t.getBoundingClientRect(), s = t.ownerSVGElement.getBoundingClientRect();
             return b.left >= s.left - 0.5 && b.right <= s.right + 0.5 && b.top >= s.top - 0.5
               && b.bottom <= s.bottom + 0.5; });""",
        selector,
    )
    return result


def test_charts_are_legible(tokyo_server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    login_as(d, tokyo_server, "viewer", PASSWORDS["viewer"])
    wait(d, lambda x: x.find_elements(By.CSS_SELECTOR, "#asset-rows tr[data-id]"))
    d.get(tokyo_server + "/assets/AS-00001")  # degrading, at the Tokyo site
    wait(d, lambda x: x.find_element(By.ID, "vib-chart").get_attribute("data-ready") == "1")
    d.save_screenshot(str(SHOTS / "asset_charts.png"))
    assert d.find_elements(By.CSS_SELECTOR, "#vib-chart polygon.cone")
    assert d.find_elements(By.CSS_SELECTOR, "#vib-chart line.fail-level"), "failure level drawn"
    assert "failure level" in d.find_element(By.CSS_SELECTOR, "#vib-chart .fail-label").text
    assert all(_inside(d, "#vib-chart .now-label")) and _inside(d, "#vib-chart .now-label")
    for chart in ("vib-chart", "run-chart", "starts-chart"):
        inside = _inside(d, f"#{chart} .xtick")
        assert inside and all(inside), (chart, inside)  # the last date is not cut off
        assert d.find_element(By.CSS_SELECTOR, f"#{chart} .tz").text == "JST"
    ticks = [t.text for t in d.find_elements(By.CSS_SELECTOR, "#starts-chart .ytick")]
    assert ticks and all(t.lstrip("-").isdigit() for t in ticks), ticks
    boxes = d.execute_script(
        """return [...document.querySelectorAll('#vib-chart .band-label')].map((t) => {
             const b = t.getBoundingClientRect(); return [b.top, b.bottom]; });"""
    )
    boxes.sort()
    assert all(a[1] <= b[0] + 0.5 for a, b in itertools.pairwise(boxes)), boxes
    assert d.find_element(By.ID, "tz").text == "times: Asia/Tokyo (JST)"


def test_the_zone_an_asset_heads_for_is_in_view(tokyo_server: str, browser: Any) -> None:
    """Every asset's vibration chart reaches the next zone limit above its latest reading, so
    the band of the zone it is heading for is drawn (a zone C bearing shows where D begins)."""
    from selenium.webdriver.common.by import By

    d = browser
    login_as(d, tokyo_server, "viewer", PASSWORDS["viewer"])
    shown = 0
    for n in range(1, 7):
        aid = f"AS-{n:05d}"
        d.get(f"{tokyo_server}/assets/{aid}")
        wait(d, lambda x: x.find_element(By.ID, "vib-chart").get_attribute("data-ready") == "1")
        h = d.execute_script(
            "const r = new XMLHttpRequest(); r.open('GET', arguments[0], false); r.send();"
            " return JSON.parse(r.responseText);",
            f"/api/assets/{aid}/history",
        )
        vel, zones = h["vibration"]["vel_rms"], h["zones"]
        if not vel:
            continue
        limits = [("B", zones["A"]), ("C", zones["B"]), ("D", zones["C"])]
        nxt = next((z for z, lim in limits if lim > vel[-1]), None)
        if nxt is None:
            continue  # already in zone D
        height = d.execute_script(
            "const b = document.querySelector('#vib-chart rect.band.z' + arguments[0]);"
            " return b ? b.getBoundingClientRect().height : 0;",
            nxt,
        )
        assert height > 0, (aid, vel[-1], nxt, zones)
        shown += 1
    assert shown, "no asset below zone D to check"
