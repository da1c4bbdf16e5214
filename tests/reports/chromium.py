"""Debian's chromium, headless, driven over the DevTools protocol on a pipe (no playwright, no port).

Chromium started with ``--remote-debugging-pipe`` reads DevTools commands
from its file descriptor 3 and writes replies and events to 4, each a JSON
message ended by a NUL byte.  This is the transport playwright itself uses;
here it is driven directly so the tests need nothing but the browser.
The network is switched off for the page (``Network.emulateNetworkConditions``)
and every request it makes is recorded, so a test sees whether the page
needed anything from outside.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def chromium_path() -> str | None:
    """The system chromium, if installed."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    """The browser did not answer, or answered with an error."""


class Chromium:
    """One headless chromium with one page, driven over a pipe.

    Parameters
    ----------
    width, height
        The page's viewport, CSS pixels.
    timeout_s
        Longest wait for any one answer.
    """

    def __init__(self, width: int = 1280, height: int = 900, timeout_s: float = 60.0):
        path = chromium_path()
        if path is None:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="stridesense-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def fds():  # in the child: the pipes on 3 (commands in) and 4 (replies out), inheritable
            a, b = os.dup(cmd_r), os.dup(resp_w)  # first out of the way, should either already be 3 or 4
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [path, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)
        os.close(cmd_r)
        os.close(resp_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Network.emulateNetworkConditions",
                  {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    # -- transport
    def _send(self, message: dict) -> None:
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._resp_r], [], [], left)
            if ready:
                chunk = os.read(self._resp_r, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed its pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, timeout_s: float | None = None) -> dict:
        """Send one command to the page (or the browser before a page is attached); return its result."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Collect events for a while."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except BrowserError as e:
            if "in time" not in str(e):
                raise

    # -- page
    def open(self, path: str | Path, ready_expr: str = "window.__stridesense && window.__stridesense.ready",
             timeout_s: float = 30.0, fragment: str = "") -> float:
        """Load a file (at ``#fragment``, if given) and wait until ``ready_expr`` is true; return seconds from
        navigation to ready."""
        url = Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
        t0 = time.monotonic()
        self.call("Page.navigate", {"url": url})
        deadline = t0 + timeout_s
        while time.monotonic() < deadline:
            if self.evaluate(f"!!({ready_expr})"):
                return time.monotonic() - t0
            time.sleep(0.02)
        raise BrowserError(f"{url}: not ready after {timeout_s} s; errors: {self.errors()}")

    def evaluate(self, expression: str, await_promise: bool = False):
        """Value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": await_promise})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression[:80]}: {details.get('exception', {}).get('description')}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and log errors seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("exception", {}).get("description")
                           or p["exceptionDetails"].get("text", "exception"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def requests(self) -> list[str]:
        """URLs of every request the page made."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def dialogs(self) -> list[str]:
        """Messages of alert/confirm/prompt dialogs the page opened."""
        return [e["params"].get("message", "") for e in self.events
                if e.get("method") == "Page.javascriptDialogOpening"]

    def screenshot(self, path: str | Path, full_page: bool = False) -> Path:
        """A PNG of the viewport (or the whole page)."""
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.call("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """End the browser and remove its profile."""
        try:
            if self.proc.poll() is None:
                try:
                    self.session = None
                    self._send({"id": self._id + 1, "method": "Browser.close", "params": {}})
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._cmd_w, self._resp_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
