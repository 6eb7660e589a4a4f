#!/usr/bin/env python3
"""Regenerate the pictures the README shows, from the bundled sample data.

    python scripts/screenshots.py            # writes into docs/
    python scripts/screenshots.py --out /tmp/shots --only web

* ``analyze-plot.png``: ``udfs analyze`` over NAB's machine temperature with three
  detectors, a consensus and the labelled windows;
* ``replay-sigma.png``: ``udfs replay sigma ... --plot`` over the same series;
* ``web-page.png``: the page of ``udfs web`` (a real server on a free loopback port)
  in headless Chromium after uploading ten days of the temperature series, choosing
  mad and zscore and running them.

Needs the dev install (Selenium) and Debian's ``chromium`` and ``chromium-driver`` for
the page; everything runs on this machine, nothing is fetched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "udfs" / "data"
SHOTS = ("analyze", "replay", "web")


def udfs(*args: str, stdout: int | None = None) -> None:
    subprocess.run([sys.executable, "-m", "udfs", *args], check=True, stdout=stdout)


def analyze_plot(out: Path) -> Path:
    path = out / "analyze-plot.png"
    udfs("analyze", str(DATA / "machine_temperature.csv"), "-d", "sigma", "-d", "mad:window=288,threshold=6",
         "-d", "iqr:window=288,k=3", "--consensus", "2", "--span", "all",
         "--windows", str(DATA / "machine_temperature.windows.json"), "--plot", str(path),
         "--title", "NAB machine temperature: sigma, mad, iqr and 2 of 3; labelled windows shaded")
    return path


def replay_plot(out: Path) -> Path:
    path = out / "replay-sigma.png"
    udfs("replay", "sigma", "-i", str(DATA / "machine_temperature.csv"), "--plot", str(path),
         stdout=subprocess.DEVNULL)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def web_server() -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "UDFS_WEB_TOKEN"}
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1"
    process = subprocess.Popen([sys.executable, "-m", "udfs", "web", "--port", str(port), "--log-level", "warning"],
                               env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit("udfs web exited before it answered")
            try:
                urllib.request.urlopen(url + "/openapi.json", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise SystemExit("udfs web did not answer within 60 s") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def web_page(out: Path) -> Path:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        raise SystemExit("the page needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    path = out / "web-page.png"
    with tempfile.TemporaryDirectory(prefix="udfs-shots-") as tmp, web_server() as url:
        sample = Path(tmp) / "temperature.csv"
        lines = (DATA / "machine_temperature.csv").read_text().splitlines(keepends=True)
        sample.write_text("".join(lines[:3001]))  # the header and ten days at 5 minutes
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--window-size=1280,1400",
                     f"--user-data-dir={Path(tmp) / 'profile'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            driver.get(url + "/")
            wait = WebDriverWait(driver, 120)
            wait.until(ec.presence_of_element_located((By.ID, "det-mad")))
            driver.find_element(By.ID, "file").send_keys(str(sample))
            driver.find_element(By.ID, "det-mad").click()
            window = driver.find_element(By.ID, "opt-mad-window")
            window.clear()
            window.send_keys("288")
            driver.find_element(By.ID, "det-zscore").click()
            for element, value in (("consensus", "any"), ("span", "all")):
                driver.find_element(By.ID, element).clear()
                driver.find_element(By.ID, element).send_keys(value)
            driver.find_element(By.ID, "run").click()
            wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("done", "4", "5")))
            status = driver.find_element(By.ID, "status").text
            if not status.startswith("done"):
                raise SystemExit(f"the analysis failed: {status}")
            wait.until(lambda d: d.execute_script(
                "const i = document.getElementById('plot'); return i.complete && i.naturalWidth > 0;"))
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, min(int(height) + 40, 2400))
            driver.save_screenshot(str(path))
        finally:
            driver.quit()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where to write the PNGs (default: docs/)")
    parser.add_argument("--only", choices=SHOTS, action="append", help="only these pictures (repeatable)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    makers = {"analyze": analyze_plot, "replay": replay_plot, "web": web_page}
    for name in args.only or SHOTS:
        print(f"{name}: {makers[name](args.out)}", file=sys.stderr)


if __name__ == "__main__":
    main()
