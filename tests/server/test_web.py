"""The web page in real headless Chromium (selenium) against a live server.

Skipped when Debian's ``chromium`` and ``chromium-driver`` are not installed.
``UPDATE_DOCS_IMG=1`` also saves the screenshot as docs/img/web.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import Serve, SlowLLM

from heron.models.registry import ModelRegistry
from heron.server.feedback import FeedbackStore

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "web.png"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs `apt-get install chromium chromium-driver`"
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1000,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=str(DRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


class _Reply(SlowLLM):
    def __init__(self) -> None:
        super().__init__(0.02)
        self._replies = [
            "Call shlex.split on the command line: it splits on whitespace but keeps "
            "quoted parts together, so 'a \"b c\"' gives ['a', 'b c']."
        ]


def test_ask_stream_sources_and_thumbs_in_a_real_browser(
    serve: Serve, browser: Any, tmp_path: Path
) -> None:
    registry = ModelRegistry()
    registry.register("llm", "slow", lambda spec, **_: _Reply())
    live = serve(registry=registry, llms=("slow:smollm2",))
    wait = WebDriverWait(browser, 20)
    browser.get(live.url + "/")
    assert browser.title.startswith("Heron")
    wait.until(ec.text_to_be_present_in_element((By.ID, "server-info"), "collection kb"))
    box = browser.find_element(By.ID, "question")
    box.send_keys("How do I split a shell command line, respecting quotes?")
    browser.find_element(By.ID, "ask").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "answered in"))
    lead = browser.find_element(By.ID, "lead").text
    assert lead.startswith("shlex docs:") and lead.endswith("[1]")
    assert "shlex.split on the command line" in browser.find_element(By.ID, "answer").text
    sources = browser.find_elements(By.CSS_SELECTOR, "#sources li")
    assert len(sources) >= 2 and "shlex docs" in sources[0].text
    browser.find_element(By.ID, "comment").send_keys("clear and cited")
    browser.find_element(By.ID, "thumb-up").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "feedback-status"), "Thanks"))
    shot = tmp_path / "web.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOCS_IMG") == "1":
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG)
    store = FeedbackStore(live.home)
    records = store.list()
    store.close()
    assert [(r.rating, r.comment) for r in records] == [("up", "clear and cited")]
    assert records[0].question == "How do I split a shell command line, respecting quotes?"


def test_errors_show_as_one_line_in_the_page(serve: Serve, browser: Any) -> None:
    live = serve()
    wait = WebDriverWait(browser, 20)
    browser.get(live.url + "/")
    browser.find_element(By.ID, "options").click()
    browser.find_element(By.ID, "collection").send_keys("missing")
    browser.find_element(By.ID, "question").send_keys("anything")
    browser.find_element(By.ID, "ask").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "not found"))
    assert browser.find_element(By.ID, "status").get_attribute("class") == "error"
