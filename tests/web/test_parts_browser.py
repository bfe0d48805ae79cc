"""The Parts page in headless chromium: reached from the navigation, its tables shown, and a
technician's stock count through the form lands in the stock table. Screenshot goes to
artifacts/screenshots/parts.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from fleet_web import create_app
from gateway.store.api import CatalogPart

from .browser import MARKS, SHOTS, login_as, serve, wait
from .conftest import PASSWORDS, make_store

pytestmark = MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: Any) -> Iterator[str]:
    st = make_store(tmp_path_factory.mktemp("db") / "kizashi.db", 8, 24 * 40)
    st.put_catalog_part(CatalogPart("BRG-9", "browser bearing", 25.0, "EUR", 10.0, 1.0))
    st.set_stock("BRG-9", "central", 1, "setup")
    aid = st.assets()[0].asset_id
    st.reserve_parts("PR-1", [("BRG-9", 3)], "setup", time.time(), aid, time.time() + 9 * 86400)
    srv, url = serve(create_app({"SECRET_KEY": "parts"}, store=st))
    yield url
    srv.close()
    st.close()


def test_technician_counts_stock_on_the_parts_page(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = browser
    login_as(d, server, "tech", PASSWORDS["tech"])
    wait(d, lambda x: x.find_elements(By.CSS_SELECTOR, ".topbar"))
    d.find_element(By.LINK_TEXT, "Parts").click()
    wait(d, lambda x: x.find_elements(By.ID, "parts-demand"))
    row = d.find_element(By.XPATH, "//table[@id='parts-demand']//tr[td[contains(., 'BRG-9')]]")
    assert "order now: 2" in row.text  # 3 held, 1 on the shelf, needed in 9 d, 10 d lead time
    held = d.find_element(By.ID, "parts-reservations").text
    assert "PR-1" in held and "to order" in held
    form = d.find_element(By.ID, "stock-form")
    Select(form.find_element(By.NAME, "part_number")).select_by_visible_text("BRG-9")
    form.find_element(By.NAME, "warehouse").send_keys("van-2")
    form.find_element(By.NAME, "count").send_keys("4")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait(d, lambda x: "BRG-9 at van-2: 4 on hand." in x.find_element(By.TAG_NAME, "body").text)
    stock = d.find_element(By.ID, "parts-stock").text
    assert "van-2" in stock
    width = d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 1400, f"the page scrolls sideways ({width} px)"
    d.save_screenshot(str(SHOTS / "parts.png"))
