"""The web page at ``/`` in headless Chromium: models listed, a download followed live over SSE,
cancelled, resumed; a model verified and deleted (after a confirmation).

Skipped when Debian's chromium / chromedriver or selenium are absent. The screenshot goes to the
test's tmp dir (never committed).
"""

from __future__ import annotations

import contextlib
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
AUTH = {"Authorization": f"Bearer {TOKEN}"}


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

        def progress(box: Any) -> float:
            bar = box.find_element(By.TAG_NAME, "progress")
            return float(bar.get_attribute("value") or 0) / float(bar.get_attribute("max") or 1)

        wait_for(lambda: box.get_attribute("data-stage") == "downloading" and 0 < progress(box) < 1)
        browser.save_screenshot(str(tmp_path / "page-downloading.png"))

        # Cancel: the job ends "cancelled", the button goes, nothing new is listed.
        box.find_element(By.CSS_SELECTOR, "button.cancel").click()
        wait_for(lambda: box.get_attribute("data-stage") == "error")
        assert "cancelled" in box.find_element(By.CLASS_NAME, "stage").text
        assert not box.find_element(By.CSS_SELECTOR, "button.cancel").is_displayed()
        with served.client(headers=AUTH) as api:
            assert api.get("/v1/downloads").json()[0]["status"] == "cancelled"

        # Downloading again resumes and completes.
        browser.find_element(By.ID, "reference").send_keys(BIG_REPO)
        browser.find_element(By.CSS_SELECTOR, "#pull button").click()
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".job")) == 2)
        box = browser.find_elements(By.CSS_SELECTOR, ".job")[0]
        wait_for(lambda: box.get_attribute("data-stage") == "complete")
        assert progress(box) == 1
        rows = wait_for(lambda: _rows(browser) if len(_rows(browser)) == 2 else None)
        screenshot = tmp_path / "page.png"
        browser.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000

        # Verify: the service re-hashes and the row says so.
        small = next(
            r for r in rows if r.get_attribute("data-reference") == f"hf:{GGUF_REPO}:Q4_K_M"
        )
        small.find_element(By.CSS_SELECTOR, "button.verify").click()
        wait_for(lambda: "checked" in small.find_element(By.CLASS_NAME, "result").text)
        assert small.find_element(By.CLASS_NAME, "result").text.startswith("ok, ")

        # Delete asks first: dismissed, the model stays; accepted, it goes (page and store).
        big = next(
            r
            for r in rows
            if r.get_attribute("data-reference") != small.get_attribute("data-reference")
        )
        big_reference = big.get_attribute("data-reference")
        big.find_element(By.CSS_SELECTOR, "button.delete").click()
        alert = wait_for(lambda: _alert(browser))
        assert big_reference in alert.text
        alert.dismiss()
        assert len(served.provisioner.list_models()) == 2
        big.find_element(By.CSS_SELECTOR, "button.delete").click()
        wait_for(lambda: _alert(browser)).accept()
        wait_for(lambda: len(_rows(browser)) == 1)
        assert [m.reference for m in served.provisioner.list_models()] == [f"hf:{GGUF_REPO}:Q4_K_M"]
        errors = (
            [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
            if hasattr(browser, "get_log")
            else []
        )
        assert errors == []


def _rows(browser: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    rows: list[Any] = browser.find_elements(By.CSS_SELECTOR, "#models tr[data-reference]")
    return rows


def _alert(browser: Any) -> Any:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return browser.switch_to.alert
    except NoAlertPresentException:
        return None


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


def test_docs_authorize_sends_the_token(
    browser: Any, home: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> None:
    """On a token-protected service, /docs opens without the token, and a call tried from it
    answers 401 until the token is given through Swagger UI's "Authorize", then 200."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    ModelProvisioner(home, endpoint=hub_server.url).pull(f"{GGUF_REPO}:Q4_K_M")
    with serve(home, options=ServiceOptions(token=TOKEN)) as served:
        browser.get(f"{served.url}/docs")
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"))

        def list_models_status() -> str:
            block = browser.find_element(By.ID, "operations-models-list_models_v1_models_get")
            live = ".live-responses-table tbody .response"

            def executed() -> list[Any]:
                """Open the block, "Try it out", "Execute", until an answer shows: each step
                re-renders the block, and a click meanwhile is lost."""
                answers: list[Any] = block.find_elements(By.CSS_SELECTOR, live)
                opened = block.find_elements(By.CSS_SELECTOR, ".opblock-body")
                steps = (
                    (".execute", ".try-out__btn:not(.cancel)") if opened else (".opblock-summary",)
                )
                with contextlib.suppress(StaleElementReferenceException):
                    for step in () if answers else steps:
                        if buttons := block.find_elements(By.CSS_SELECTOR, step):
                            buttons[0].click()
                            break
                return answers

            response = wait_for(executed, interval=0.3)[0]
            status = response.find_element(By.CSS_SELECTOR, ".response-col_status").text
            body = response.find_element(By.CSS_SELECTOR, ".microlight").text
            block.find_element(By.CSS_SELECTOR, ".btn-clear").click()  # the next call's anew
            wait_for(lambda: not block.find_elements(By.CSS_SELECTOR, live))
            return f"{status} {body}"

        assert list_models_status().startswith("401")
        browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
        field = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".modal-ux input"))
        field[0].send_keys(TOKEN)
        browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize").click()
        browser.find_element(By.CSS_SELECTOR, ".modal-ux .btn-done").click()
        answer = list_models_status()
        assert answer.startswith("200") and f"hf:{GGUF_REPO}:Q4_K_M" in answer
