"""The web page in headless Chromium (selenium): ask, see the streamed answer, its provenance, the swarm."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from synthswarm.swarm.app.server import ServerSettings
from tests.integration.test_server import TOKEN, serving
from tests.unit.agents_world import QUESTION

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs the Debian packages chromium and chromium-driver (.ci/run installs them)",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_streams_an_answer_with_its_provenance(browser: Any) -> None:
    driver = browser
    with serving(ServerSettings(token=TOKEN)) as url:
        driver.get(url.removesuffix("/v1") + "/")
        wait: WebDriverWait[Any] = WebDriverWait(driver, 60)
        # A token is set, so the page asks for it before it shows the swarm.
        token = wait.until(expected_conditions.visibility_of_element_located((By.ID, "token")))
        token.send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#auth button").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#graph .agent")) == 2)
        driver.find_element(By.ID, "question").send_keys(QUESTION)
        driver.find_element(By.ID, "send").click()
        answer = wait.until(
            expected_conditions.text_to_be_present_in_element(
                (By.CSS_SELECTOR, "[data-testid=answer]"), "1874"
            )
        )
        assert answer
        provenance = wait.until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "[data-testid=provenance]"))
        )
        assert "packet" in provenance.text
        assert "from" in provenance.text
        asked = driver.find_elements(By.CSS_SELECTOR, "#graph .agent.asked")
        assert len(asked) == 1  # the specialist the dispatcher routed to is highlighted
