"""polysource.emulation: the Faults config, the fault middleware and the control endpoints."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from aiohttp import web

from polysource.emulation import (
    EMULATOR_STATE,
    Faults,
    emulator_app,
    json_response,
    serve,
    stable_random,
)


async def _ok(request: web.Request) -> web.Response:
    return json_response({"price": 10.5, "items": [1.5, 2], "name": "x"})


async def _text(request: web.Request) -> web.Response:
    return web.Response(text="plain")


def _app(faults: Faults | None = None, **kwargs) -> web.Application:
    app = emulator_app(faults, **kwargs)
    app.router.add_get("/data", _ok)
    app.router.add_get("/text", _text)
    return app


def _xml_errors(status: int, message: str) -> tuple[str, bytes]:
    return "application/xml", f"<error status='{status}'>{message}</error>".encode()


@pytest.mark.parametrize(
    "kwargs",
    [{"error_rate": 1.5}, {"malformed_rate": -0.1}, {"latency": -1}, {"outage_windows": [(5, 1)]}],
)
def test_faults_reject_out_of_range_values(kwargs) -> None:
    """Rates outside [0, 1], negative latency and backwards windows are refused."""
    with pytest.raises(ValueError):
        Faults(**kwargs)


def test_faults_from_mapping_merges_and_validates() -> None:
    """A partial mapping updates a base; unknown keys and non-mappings are refused."""
    base = Faults(seed=3, latency=0.5)
    faults = Faults.from_mapping({"outage_windows": [[1, 2]], "error_rate": 0.5}, base)
    assert faults == Faults(seed=3, latency=0.5, error_rate=0.5, outage_windows=((1.0, 2.0),))
    assert Faults.from_mapping(faults.to_dict()) == faults
    with pytest.raises(ValueError, match="unknown fault field"):
        Faults.from_mapping({"eror_rate": 1})
    with pytest.raises(TypeError):
        Faults.from_mapping([1])


def test_outage_windows_are_half_open() -> None:
    """An outage window covers [start, end)."""
    faults = Faults(outage_windows=((10, 20),))
    assert [faults.in_outage(t) for t in (9.9, 10, 19.9, 20)] == [False, True, True, False]
    assert Faults(outage=True).in_outage(0)


def test_stable_random_depends_on_seed_and_parts_only() -> None:
    """The same seed and parts give the same draws; others differ."""
    assert stable_random(1, "AAPL", 3).random() == stable_random(1, "AAPL", 3).random()
    assert stable_random(1, "AAPL", 3).random() != stable_random(2, "AAPL", 3).random()
    assert stable_random(1, "AAPL", 3).random() != stable_random(1, "AAPL", 4).random()


async def test_serve_picks_a_free_port_and_counts_requests() -> None:
    """Port 0 gives a real port; requests are counted per path, control calls are not."""
    async with serve(_app()) as url, aiohttp.ClientSession() as session:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        for path in ("/data", "/data", "/text"):
            assert (await session.get(url + path)).status == 200
        stats = await (await session.get(url + "/_emulator/stats")).json()
        assert stats == {"requests": {"/data": 2, "/text": 1}, "total": 3, "injected": {}}
        cleared = await (await session.delete(url + "/_emulator/stats")).json()
        assert cleared["total"] == 0


async def test_outage_window_follows_the_clock() -> None:
    """Inside a window every request is 503 with the provider's error body."""
    now = [100.0]
    app = _app(Faults(outage_windows=((5, 10),)), error_body=_xml_errors, clock=lambda: now[0])
    async with serve(app) as url, aiohttp.ClientSession() as session:
        assert (await session.get(url + "/data")).status == 200
        now[0] = 106.0
        down = await session.get(url + "/data")
        assert down.status == 503 and down.content_type == "application/xml"
        assert await down.text() == "<error status='503'>Service Unavailable</error>"
        now[0] = 111.0
        assert (await session.get(url + "/data")).status == 200


async def test_rate_limit_answers_429_with_retry_after() -> None:
    """An injected 429 carries ``Retry-After`` and is counted."""
    async with (
        serve(_app(Faults(rate_limit_rate=1, retry_after=2.5))) as url,
        aiohttp.ClientSession() as session,
    ):
        answer = await session.get(url + "/data")
        stats = await (await session.get(url + "/_emulator/stats")).json()
    assert answer.status == 429 and answer.headers["Retry-After"] == "2.5"
    assert stats["injected"] == {"rate_limit": 1} and stats["requests"] == {"/data": 1}


async def test_error_rate_uses_the_error_status() -> None:
    """Injected errors use ``error_status``."""
    async with (
        serve(_app(Faults(error_rate=1, error_status=502))) as url,
        aiohttp.ClientSession() as session,
    ):
        answer = await session.get(url + "/data")
    assert answer.status == 502 and (await answer.json()) == {"error": "Internal Server Error"}


async def test_malformed_truncates_json_only() -> None:
    """Malformed answers are truncated JSON; non-JSON answers are left alone."""
    async with serve(_app(Faults(malformed_rate=1))) as url, aiohttp.ClientSession() as session:
        body = await (await session.get(url + "/data")).read()
        text = await (await session.get(url + "/text")).text()
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    assert text == "plain"


async def test_wrong_values_use_the_emulators_hook() -> None:
    """With a corrupt hook the payload keeps its shape but changes values; without, no change."""

    def corrupt(payload, rng):
        return {**payload, "price": -payload["price"]}

    async with (
        serve(_app(Faults(wrong_values_rate=1), corrupt=corrupt)) as url,
        aiohttp.ClientSession() as session,
    ):
        corrupted = await (await session.get(url + "/data")).json()
    async with serve(_app(Faults(wrong_values_rate=1))) as url, aiohttp.ClientSession() as session:
        untouched = await (await session.get(url + "/data")).json()
    assert corrupted["price"] == -10.5 and corrupted["items"] == [1.5, 2]
    assert untouched["price"] == 10.5


async def test_latency_waits_through_the_injected_sleep() -> None:
    """Latency plus jitter is waited out through the emulator's sleep (no real wait here)."""
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    app = _app(Faults(latency=0.2, latency_jitter=0.1, seed=4), sleep=record)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        for _ in range(3):
            await session.get(url + "/data")
    assert len(waits) == 3 and all(0.2 <= w <= 0.3 for w in waits) and len(set(waits)) == 3


async def _statuses(seed: int) -> list[int]:
    async with (
        serve(_app(Faults(error_rate=0.5, seed=seed))) as url,
        aiohttp.ClientSession() as session,
    ):
        return [(await session.get(url + "/data")).status for _ in range(24)]


async def test_same_seed_same_faults() -> None:
    """The same seed and request sequence fail the same way; another seed differently."""
    first, second, other = await _statuses(9), await _statuses(9), await _statuses(10)
    assert first == second and first != other
    assert {200, 500} == set(first)


async def test_control_endpoint_changes_faults_at_runtime() -> None:
    """``POST /_emulator/faults`` merges fields; bad input is a 400 and changes nothing."""
    app = _app()
    async with serve(app) as url, aiohttp.ClientSession() as session:
        changed = await (
            await session.post(url + "/_emulator/faults", json={"outage": True})
        ).json()
        assert changed["outage"] is True
        assert (await session.get(url + "/data")).status == 503
        for bad in ({"nope": 1}, {"error_rate": 3}, [1], "x"):
            answer = await session.post(url + "/_emulator/faults", json=bad)
            assert answer.status == 400 and "error" in await answer.json()
        current = await (await session.get(url + "/_emulator/faults")).json()
        assert current == Faults(outage=True).to_dict()
    assert app[EMULATOR_STATE].faults.outage
