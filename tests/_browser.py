"""A tiny headless-Chromium driver over the DevTools protocol (websocket-client only), for
the browser tests of the reports.

``open_pages(urls)`` starts Debian's ``chromium`` with no network for the page (every host
name resolves to nothing) and a fresh profile, opens each URL in turn, and returns what a
test needs: every request the page made, console errors, uncaught exceptions, log errors
(CSP violations, failed loads), and the chart count. Other tests (e.g. the privacy
engineer's script-injection export) import it and parametrise over their own exports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PATTERNS_CHROMIUM", "/usr/bin/chromium")
ALLOWED_SCHEMES = ("file:", "data:", "blob:", "about:")

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-port=0",
)

#: Evaluated in the page after load: charts (figure.chart) and whether each drew something.
PAGE_PROBE = """JSON.stringify({
  title: document.title,
  charts: document.querySelectorAll('figure.chart').length,
  rendered: Array.from(document.querySelectorAll('figure.chart')).filter(function (f) {
    var g = f.querySelector('svg, canvas');
    if (!g) { return false; }
    var r = g.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && f.querySelectorAll('svg *, canvas').length > 0;
  }).length,
  links: Array.from(document.querySelectorAll('a[href]')).map(function (a) {
    return a.getAttribute('href'); }),
  scripts: document.querySelectorAll('script').length,
  code_cells: document.querySelectorAll('.input_area, .jp-InputArea, .highlight').length,
  text: document.body ? document.body.innerText : '',
  injected: typeof window.__pwned !== 'undefined'
})"""


@dataclass
class PageResult:
    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)

    @property
    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(ALLOWED_SCHEMES)]

    @property
    def errors(self) -> list[str]:
        return self.console_errors + self.exceptions + self.log_errors


def require_chromium() -> str:
    """Return the Chromium path, or skip loudly (fail when PATTERNS_REQUIRE_BROWSER=1)."""
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    websocket = None
    with contextlib.suppress(ImportError):
        import websocket
    reason = None
    if not path:
        reason = (
            f"!!! BROWSER TEST NOT RUN: Chromium not found at {CHROMIUM} or on PATH. "
            "Install Debian's `chromium` (apt-get install -y chromium)."
        )
    elif websocket is None:
        reason = "!!! BROWSER TEST NOT RUN: websocket-client missing (pip install -e '.[dev]')."
    if reason:
        if os.environ.get("PATTERNS_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " PATTERNS_REQUIRE_BROWSER=1 turns this skip into a failure.")
        pytest.skip(reason)
    return str(path)


class _CDP:
    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> Any:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"CDP {method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if any(e.get("method") == method for e in self.events):
            return True
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                msg = json.loads(self.ws.recv())
            except Exception:  # websocket timeout: keep waiting until the deadline
                continue
            self.events.append(msg)
            if msg.get("method") == method:
                return True
        return False

    def drain(self, seconds: float) -> None:
        self.wait_for("__never__", seconds)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


def _remote_args(value: dict[str, Any]) -> str:
    return " ".join(str(a.get("value", a.get("description", ""))) for a in value.get("args", []))


def open_pages(urls: list[str], *, settle: float = 0.5, timeout: float = 30) -> list[PageResult]:
    """Open each URL in one fresh headless Chromium (no network) and report what happened."""
    chromium = require_chromium()
    profile = tempfile.mkdtemp(prefix="patterns-chromium-")
    proc = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cdp = None
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("Chromium did not start (no DevToolsActivePort).")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        cdp = _CDP(f"ws://127.0.0.1:{port}{path}")
        results = []
        for url in urls:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Page", "Network", "Runtime", "Log"):
                cdp.send(f"{domain}.enable", session=session)
            cdp.events.clear()
            cdp.send("Page.navigate", {"url": url}, session=session)
            loaded = cdp.wait_for("Page.loadEventFired", timeout)
            cdp.drain(settle)
            probe = cdp.send(
                "Runtime.evaluate",
                {"expression": PAGE_PROBE, "returnByValue": True},
                session=session,
            )
            cdp.drain(0.1)
            res = PageResult(url=url, probe=json.loads(probe["result"]["value"]))
            if not loaded:
                res.exceptions.append("page load event never fired")
            for ev in cdp.events:
                if ev.get("sessionId") not in (None, session):
                    continue
                method, params = ev.get("method"), ev.get("params", {})
                if method == "Network.requestWillBeSent":
                    res.requests.append(params["request"]["url"])
                elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                    "error",
                    "assert",
                ):
                    res.console_errors.append(_remote_args(params))
                elif method == "Runtime.exceptionThrown":
                    details = params.get("exceptionDetails", {})
                    res.exceptions.append(str(details.get("text", details)))
                elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                    res.log_errors.append(params["entry"].get("text", ""))
            results.append(res)
            cdp.send("Target.closeTarget", {"targetId": target})
        return results
    finally:
        if cdp is not None:
            cdp.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def assert_reports_offline(out: Path, *, min_charts: int = 1) -> list[PageResult]:
    """Open ``out/index.html`` and every report it links to; assert each page made no
    request except file:/data:/blob:, logged no error, ran no script, and drew every chart.

    Returns the page results (index first) for further assertions, e.g. that an injected
    script did not run (``probe["injected"]`` is False) or that a text is absent.
    """
    index = Path(out).resolve() / "index.html"
    assert index.exists(), f"no index.html in {out}"
    first = open_pages([index.as_uri()])[0]
    links = [h for h in first.probe["links"] if h.endswith("report.html")]
    pages = [first, *open_pages([(index.parent / h).resolve().as_uri() for h in links])]
    for page in pages:
        assert page.outside_requests == [], f"{page.url} requested {page.outside_requests}"
        assert page.errors == [], f"{page.url} logged errors {page.errors}"
        assert page.probe["scripts"] == 0, f"{page.url} holds a script element"
        assert page.probe["injected"] is False, f"{page.url} ran injected script"
        assert page.probe["charts"] == page.probe["rendered"], (
            f"{page.url}: {page.probe['rendered']} of {page.probe['charts']} charts drawn"
        )
    for page in pages[1:]:
        assert page.probe["charts"] >= min_charts, f"{page.url} has no chart"
    return pages
