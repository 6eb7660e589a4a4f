"""A real ``udfs web`` server on a free loopback port, and a headless Chromium for the page."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx
import pytest

TOKEN = "test-token-9f3a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebServer:
    url: str
    token: str | None
    process: subprocess.Popen[bytes]

    def client(self, *, token: str | None = None) -> httpx.Client:
        given = token if token is not None else self.token
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {given}"} if given else {})


def start_server(*args: str, token: str | None = None) -> WebServer:
    port = _free_port()
    env = dict(os.environ)
    env.pop("UDFS_WEB_TOKEN", None)
    command = [sys.executable, "-m", "udfs", "web", "--port", str(port), "--log-level", "warning", *args]
    if token:
        command += ["--token", token]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"udfs web exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            httpx.get(url + "/openapi.json", timeout=1)
            return WebServer(url, token, process)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("udfs web did not start in 60 s")


def stop_server(server: WebServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def chromium_driver(width: int = 1280, height: int = 1400) -> object:
    """A headless Chromium (Debian's chromium + chromium-driver) with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        if os.environ.get("CI") or os.environ.get("UDFS_REQUIRE_INFLUXDB"):
            pytest.fail("chromium and chromium-driver are needed (scripts/test.sh installs them)")
        pytest.skip("chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='udfs-chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver_path), options=options)
