"""The status dashboard, driven in headless Chromium through a live gateway over emulators."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import pytest

from polysource import Orchestrator, Secret, load_config
from polysource.emulation import Faults, serve
from polysource.gateway import create_app
from polysource.gateway import serve as serve_gateway

TOKEN = "dashboard-admin-token-0123456789"
SCREENSHOT = Path(__file__).parents[2] / "docs" / "img" / "dashboard.png"


@contextmanager
def live_gateway():
    """A gateway in a thread over a Tiingo emulator in an outage and a healthy Yahoo one."""
    ready = threading.Event()
    state: dict = {}

    async def main():
        async with AsyncExitStack() as stack:
            probe = Orchestrator(load_config(environ={}))
            urls = {}
            for name, faults in (("tiingo", Faults(outage=True)), ("yahoo", Faults())):
                app = probe.registry.emulators[name].factory(faults)
                urls[name] = await stack.enter_async_context(serve(app))
            config = load_config(
                environ={},
                overrides={
                    "region": "US",
                    "telemetry": {"log": False},
                    "gateway": {"admin_token": Secret.of(TOKEN)},
                    "providers": {
                        "tiingo": {
                            "base_url": urls["tiingo"],
                            "credentials": {"api_key": Secret.of("tiingo-key-not-real")},
                            "retry": {"attempts": 1},
                            "breaker": {"failure_threshold": 2, "recovery_timeout": 600},
                            "budget": {"limit": 1000, "period": "day"},
                        },
                        "yahoo": {"base_url": urls["yahoo"], "retry": {"attempts": 1}},
                    },
                },
            )
            orch = Orchestrator(config)
            stop = asyncio.Event()
            state["stop"] = (asyncio.get_running_loop(), stop)

            def bound(url):
                state["url"] = url
                ready.set()

            await serve_gateway(create_app(orch), "127.0.0.1", 0, ready=bound, stop=stop)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(15)
    try:
        yield state["url"]
    finally:
        loop, stop = state["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)


class Page:
    """One browser tab driven over its DevTools websocket."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params):
        """Send one command and return its result (events in between are dropped)."""
        ident = next(self._ids)
        await self._socket.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self._socket.receive_json(), 15)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result", {})

    async def goto(self, url: str) -> None:
        """Navigate and wait until the document has loaded."""
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> None:
        """Poll until ``expression`` is true in the page (bounded)."""
        async with asyncio.timeout(timeout):
            while not await self.evaluate(expression):
                await asyncio.sleep(0.05)

    async def html(self) -> str:
        """The page's DOM as HTML."""
        return await self.evaluate("document.documentElement.outerHTML")

    async def screenshot(self, path: Path, width: int = 1360, height: int = 900) -> None:
        """Save a PNG of the page at ``width`` x ``height``."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))


@asynccontextmanager
async def browser(profile: Path):
    """Headless Chromium with a fresh profile; yields a :class:`Page` (skips without it)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    process = subprocess.Popen(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        async with asyncio.timeout(20):
            while not active.exists() or len(active.read_text().splitlines()) < 2:
                await asyncio.sleep(0.05)
        port = active.read_text().splitlines()[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                targets = await answer.json(content_type=None)
            target = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                yield page
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read().decode()


def test_dashboard_needs_the_admin_token_and_never_shows_it(tmp_path):
    """Without a session the dashboard is a login form; a wrong token is refused; the token
    is exchanged for an HttpOnly SameSite=Strict cookie that is not the token."""
    with live_gateway() as url:
        status, _, body = _get(f"{url}/dashboard")
        assert status == 401 and 'name="token"' in body and "tiingo" not in body
        assert _get(f"{url}/dashboard/state")[0] == 401
        assert _get(f"{url}/dashboard/events")[0] == 401
        assert _get(f"{url}/dashboard?token=wrong-token")[0] == 401
        assert _get(f"{url}/dashboard?token={TOKEN[:-1]}")[0] == 401

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(f"{url}/dashboard?token={TOKEN}", timeout=10)
        with caught.value as answer:
            assert answer.code == 303 and answer.headers["Location"] == "/dashboard"
            cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        session = cookie.split(";", 1)[0]
        status, headers, page = _get(f"{url}/dashboard", {"Cookie": session})
        assert status == 200 and TOKEN not in page and "default-src 'none'" in str(headers)
        status, _, state = _get(f"{url}/dashboard/state", {"Cookie": session})
        assert status == 200 and '"providers"' in state and TOKEN not in state


async def test_dashboard_shows_a_failing_provider_live_in_chromium(tmp_path):
    """In headless Chromium the dashboard shows Tiingo down with its breaker open, Yahoo
    serving and the failovers, then new failovers arrive over server-sent events; a
    screenshot is saved."""
    with live_gateway() as url:
        for key in ("AAPL", "MSFT", "NVDA", "AAPL", "AAPL"):
            assert (await asyncio.to_thread(_get, f"{url}/v1/quote/{key}"))[0] == 200
        async with browser(tmp_path / "profile") as page:
            await page.goto(f"{url}/dashboard?token={TOKEN}")
            assert await page.evaluate("location.pathname + location.search") == "/dashboard"
            await page.wait_for("document.querySelector('[data-provider=tiingo]') !== null")
            await page.wait_for("document.getElementById('live-text').textContent === 'live'")
            dom = await page.html()
            before = int(await page.evaluate("document.getElementById('k-failovers').textContent"))
            for key in ("AMZN", "META"):
                assert (await asyncio.to_thread(_get, f"{url}/v1/quote/{key}"))[0] == 200
            await page.wait_for(
                f"Number(document.getElementById('k-failovers').textContent) > {before}"
            )
            screenshot = tmp_path / "dashboard.png"
            await page.screenshot(screenshot)
            cookie_visible = await page.evaluate("document.cookie")
    tiingo = dom.split('data-provider="tiingo"', 1)[1].split("</tr>", 1)[0]
    yahoo = dom.split('data-provider="yahoo"', 1)[1].split("</tr>", 1)[0]
    assert "b-open" in tiingo and "provider_down" in tiingo
    assert "healthy" in yahoo and "b-closed" in yahoo
    assert "1,000" in tiingo  # the budget
    assert 'data-kind="failover"' in dom and "served by yahoo" in dom
    assert 'data-layer="memory"' in dom  # the repeated AAPL was a memory hit
    assert TOKEN not in dom and "tiingo-key-not-real" not in dom
    assert cookie_visible == ""  # HttpOnly: the session is out of the script's reach
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("POLYSOURCE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(screenshot, SCREENSHOT)
