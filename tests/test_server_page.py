"""The web page at ``/`` in headless Chromium: models listed, a download followed live over SSE.

Skipped when Debian's chromium / chromedriver or selenium are absent. The screenshot goes to the
test's tmp dir (never committed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model_provisioner import ModelProvisioner
from model_provisioner.server import ServiceOptions
from tests.conftest import GGUF_REPO, FixtureRepo
from tests.hub import HubServer
from tests.server_helpers import BIG_REPO, make_big_repo, serve, wait_for

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver"
)
TOKEN = "page-test-token"


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM or ""
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1200,800",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_page_lists_models_and_follows_a_download(
    browser: Any,
    tmp_path: Path,
    home: Path,
    hub_server: HubServer,
    gguf_repo: FixtureRepo,
) -> None:
    from selenium.webdriver.common.by import By

    ModelProvisioner(home, endpoint=hub_server.url).pull(f"{GGUF_REPO}:Q4_K_M")
    make_big_repo(hub_server.hub)
    hub_server.faults.inject("*big*.gguf", "stall", after_bytes=1 << 20, seconds=2.5)
    options = ServiceOptions(token=TOKEN)
    with serve(home, hub_server.url, options=options) as served:
        browser.get(f"{served.url}/#token={TOKEN}")

        rows = wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, "#models tr[data-reference]")
        )
        assert rows[0].get_attribute("data-reference") == f"hf:{GGUF_REPO}:Q4_K_M"
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
        assert cells[1] == "gguf" and cells[2] == "Q4_K_M" and cells[4] != "never"
        assert TOKEN not in browser.current_url, "the token leaves the address bar"

        browser.find_element(By.ID, "reference").send_keys(BIG_REPO)
        browser.find_element(By.CSS_SELECTOR, "#pull button").click()
        box = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".job"))[0]

        def progress() -> float:
            bar = box.find_element(By.TAG_NAME, "progress")
            return float(bar.get_attribute("value") or 0) / float(bar.get_attribute("max") or 1)

        wait_for(lambda: box.get_attribute("data-stage") == "downloading" and 0 < progress() < 1)
        browser.save_screenshot(str(tmp_path / "page-downloading.png"))

        wait_for(lambda: box.get_attribute("data-stage") == "complete")
        assert progress() == 1
        wait_for(
            lambda: len(browser.find_elements(By.CSS_SELECTOR, "#models tr[data-reference]")) == 2
        )
        screenshot = tmp_path / "page.png"
        browser.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        errors = (
            [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
            if hasattr(browser, "get_log")
            else []
        )
        assert errors == []


def test_docs_render_from_packaged_assets(browser: Any, home: Path) -> None:
    """Swagger UI draws the API from the service alone (no CDN), and its CSP lets it."""
    from selenium.webdriver.common.by import By

    with serve(home) as served:
        browser.get(f"{served.url}/docs")
        operations = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"))
        assert any("/v1/models" in o.text for o in operations)
        errors = (
            [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
            if hasattr(browser, "get_log")
            else []
        )
        assert errors == []
