"""The page of ``udfs web`` in a real headless Chromium: upload, choose two detectors, run, see."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from png_check import png_structure
from webserver import TOKEN, WebServer, chromium_driver

SAMPLE = Path(__file__).resolve().parents[2] / "udfs" / "data" / "machine_temperature.csv"


@pytest.mark.slow
def test_upload_two_detectors_run_shows_plot_and_table(web_server: WebServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "temperature.csv"
    data.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:3001]))  # ~10 days at 5 min
    driver = chromium_driver()
    try:
        driver.get(web_server.url + "/")
        wait = WebDriverWait(driver, 90)
        driver.find_element(By.ID, "token").send_keys(TOKEN + "\t")  # the page reloads its form with it
        # The form is built from the detector registry: mad's declared options are there.
        wait.until(ec.presence_of_element_located((By.ID, "det-mad")))
        window = driver.find_element(By.ID, "opt-mad-window")
        assert window.get_attribute("type") == "number" and window.get_attribute("min") == "3"
        driver.find_element(By.ID, "file").send_keys(str(data))
        driver.find_element(By.ID, "det-mad").click()
        window.clear()
        window.send_keys("288")
        driver.find_element(By.ID, "det-zscore").click()
        consensus = driver.find_element(By.ID, "consensus")
        consensus.clear()
        consensus.send_keys("any")
        driver.find_element(By.ID, "span").clear()
        driver.find_element(By.ID, "span").send_keys("all")
        driver.find_element(By.ID, "run").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("done", "4", "5")))
        assert driver.find_element(By.ID, "status").text.startswith("done"), driver.find_element(By.ID, "status").text
        wait.until(lambda d: d.execute_script(
            "const i = document.getElementById('plot'); return i.complete && i.naturalWidth > 0;"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#table tbody tr")
        cells = [[c.text for c in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        assert [c[0] for c in cells] == ["mad", "zscore", "consensus (1 of mad+zscore)"]
        assert "window=288" in cells[0][1]
        counts = [int(c[2]) for c in cells]
        assert counts[0] > 0 and counts[1] > 0 and max(counts[:2]) <= counts[2] <= counts[0] + counts[1]
        png = driver.execute_script("""
            const i = document.getElementById('plot'); const c = document.createElement('canvas');
            c.width = i.naturalWidth; c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0);
            return c.toDataURL('image/png');""")
        import base64

        shape = png_structure(base64.b64decode(png.split(",", 1)[1]))
        assert shape.width >= 800 and shape.height >= 400 and shape.axes >= 2
        shots = os.environ.get("UDFS_SCREENSHOTS")
        if shots:
            driver.execute_script("document.body.style.zoom = '0.8'")
            driver.save_screenshot(str(Path(shots) / "web-page.png"))
    finally:
        driver.quit()
