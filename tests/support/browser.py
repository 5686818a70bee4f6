"""Headless Chromium driven through chromedriver's WebDriver HTTP interface (no client library needed)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from streams.tools.localbroker import free_port

# no network at all: any host resolves to nothing, so a page that needs one shows it
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,1600"]


class Browser:
    """One chromedriver process and one browser session."""

    def __init__(self) -> None:
        driver = shutil.which("chromedriver")
        browser = shutil.which("chromium")
        assert driver and browser, "chromium and chromedriver are installed by `make test` (Debian packages)"
        self.port = free_port()
        self.proc = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": browser, "args": ARGS}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def open(self, path: Path) -> None:
        """Load a local file."""
        self._call("POST", f"/session/{self.session}/url", {"url": path.resolve().as_uri()})

    def run(self, script: str) -> Any:
        """Evaluate JavaScript in the page (the body of a function) and return its value."""
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def resize(self, width: int, height: int) -> None:
        """Set the window's size (the page lays itself out again)."""
        self._call("POST", f"/session/{self.session}/window/rect", {"width": width, "height": height})

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the page."""
        path.write_bytes(base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot")))

    def close(self) -> None:
        """End the session and stop chromedriver."""
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=30)
