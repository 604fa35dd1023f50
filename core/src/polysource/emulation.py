"""Fault injection and serving for local emulators of providers' HTTP APIs.

A provider plugin's emulator is an ``aiohttp.web.Application`` built by
[`emulator_app()`][polysource.emulation.emulator_app],
which installs the fault middleware and the control endpoints; the plugin adds its own routes.
`Faults` says what goes wrong and how often. Random draws come from one
``random.Random`` seeded with ``Faults.seed``, so a run with the same seed and the same
sequence of requests fails the same way.

Faults are applied in this order to every request outside ``/_emulator/``: outage (503),
added latency, rate limit (429 with ``Retry-After``), error (``error_status``), then on a
successful JSON answer malformed JSON or wrong values (the emulator's ``corrupt`` hook).

Control endpoints:

- ``GET /_emulator/faults``: the faults in force; ``POST /_emulator/faults`` with a JSON
  object of `Faults` fields changes them (unknown fields answer 400).
- ``GET /_emulator/stats``: requests received per path and faults injected per kind;
  ``DELETE /_emulator/stats`` resets the counters.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import attrs
import orjson
from aiohttp import web
from attrs import define, field, frozen

__all__ = [
    "CONTROL_PREFIX",
    "Corrupt",
    "EMULATOR_STATE",
    "EmulatorState",
    "ErrorBody",
    "Faults",
    "US_LARGE_CAPS",
    "default_error_body",
    "emulator_app",
    "fault_middleware",
    "json_response",
    "run_emulator",
    "serve",
    "stable_random",
]

CONTROL_PREFIX: Final = "/_emulator/"

ErrorBody = Callable[[int, str], tuple[str, bytes]]
"""``error_body(status, message) -> (content_type, body)``: a provider's own error format."""

Corrupt = Callable[[Any, random.Random], Any]
"""``corrupt(payload, rng) -> payload``: make a schema-valid payload carry wrong values."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _windows(value: Any) -> tuple[tuple[float, float], ...]:
    out = tuple((float(start), float(end)) for start, end in value)
    for start, end in out:
        if end < start:
            raise ValueError(f"outage window ({start}, {end}) ends before it starts")
    return out


@frozen
class Faults:
    """What an emulator does wrong, and how often (rates are probabilities per request).

    Args:
        error_rate: Share of requests answered with ``error_status``.
        error_status: The status of injected errors.
        latency: Seconds added to every request.
        latency_jitter: Up to this many more seconds, drawn uniformly.
        outage: Whether every request is answered 503.
        outage_windows: ``(start, end)`` seconds since the emulator started during which every
            request is answered 503.
        rate_limit_rate: Share of requests answered 429 with ``Retry-After``.
        retry_after: The ``Retry-After`` seconds of injected 429s.
        malformed_rate: Share of successful JSON answers replaced by truncated JSON.
        wrong_values_rate: Share of successful JSON answers passed through the emulator's
            ``corrupt`` hook (schema-valid, wrong values).
        seed: Seed of the fault draws and of the emulator's generated data.
    """

    error_rate: float = field(default=0.0, validator=_rate)
    error_status: int = 500
    latency: float = field(default=0.0, validator=_non_negative)
    latency_jitter: float = field(default=0.0, validator=_non_negative)
    outage: bool = False
    outage_windows: tuple[tuple[float, float], ...] = field(default=(), converter=_windows)
    rate_limit_rate: float = field(default=0.0, validator=_rate)
    retry_after: float = field(default=1.0, validator=_non_negative)
    malformed_rate: float = field(default=0.0, validator=_rate)
    wrong_values_rate: float = field(default=0.0, validator=_rate)
    seed: int = 0

    @classmethod
    def from_mapping(cls, data: object, base: Faults | None = None) -> Faults:
        """Build faults from a JSON-like mapping, starting from ``base`` (default: none).

        Raises:
            TypeError: ``data`` is not a mapping.
            ValueError: A key is not a field, or a value is out of range.
        """
        if not isinstance(data, Mapping):
            raise TypeError("a JSON object of fault fields is expected")
        names = {a.name for a in attrs.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown fault field(s) {unknown}; fields are {sorted(names)}")
        try:
            return attrs.evolve(base or cls(), **data)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        """The faults as a JSON-ready dict."""
        data = attrs.asdict(self)
        data["outage_windows"] = [list(window) for window in self.outage_windows]
        return data

    def in_outage(self, elapsed: float) -> bool:
        """Whether ``elapsed`` seconds after start fall in an outage."""
        return self.outage or any(start <= elapsed < end for start, end in self.outage_windows)


@define
class EmulatorState:
    """The mutable state of one running emulator: faults in force, draws and counters.

    Args:
        faults: The faults in force (replaced by ``POST /_emulator/faults``).
        clock: Monotonic seconds, for outage windows (injectable for tests).
        sleep: Waits out added latency (injectable for tests).
    """

    faults: Faults = field(factory=Faults)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    started: float = field(init=False)
    rng: random.Random = field(init=False)
    requests: Counter[str] = field(factory=Counter, init=False)
    injected: Counter[str] = field(factory=Counter, init=False)

    def __attrs_post_init__(self) -> None:
        self.started = self.clock()
        self.rng = random.Random(self.faults.seed)

    def set_faults(self, faults: Faults) -> None:
        """Put ``faults`` in force; a new seed restarts the draws."""
        if faults.seed != self.faults.seed:
            self.rng = random.Random(faults.seed)
        self.faults = faults

    def roll(self, rate: float) -> bool:
        """Draw once; ``True`` with probability ``rate`` (no draw when the rate is 0)."""
        return rate > 0 and self.rng.random() < rate

    def stats(self) -> dict[str, Any]:
        """Counters as a JSON-ready dict."""
        return {
            "requests": dict(self.requests),
            "total": sum(self.requests.values()),
            "injected": dict(self.injected),
        }


EMULATOR_STATE: Final = web.AppKey("polysource_emulator_state", EmulatorState)
"""Where an emulator app keeps its [`EmulatorState`][polysource.emulation.EmulatorState]."""


def default_error_body(status: int, message: str) -> tuple[str, bytes]:
    """A generic JSON error body ``{"error": message}``."""
    return "application/json", orjson.dumps({"error": message})


def _error(error_body: ErrorBody, status: int, message: str) -> web.Response:
    content_type, body = error_body(status, message)
    return web.Response(status=status, body=body, content_type=content_type.split(";")[0])


def fault_middleware(
    state: EmulatorState,
    error_body: ErrorBody = default_error_body,
    corrupt: Corrupt | None = None,
) -> Any:
    """An aiohttp middleware injecting ``state.faults`` and counting requests per path.

    Args:
        state: The emulator's state.
        error_body: Builds the provider's own error body for injected errors.
        corrupt: The emulator's hook for ``wrong_values_rate``; without it that fault is off.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        state.requests[request.path] += 1
        faults = state.faults
        if faults.in_outage(state.clock() - state.started):
            state.injected["outage"] += 1
            return _error(error_body, 503, "Service Unavailable")
        delay = faults.latency
        if faults.latency_jitter:
            delay += state.rng.uniform(0.0, faults.latency_jitter)
        if delay:
            await state.sleep(delay)
        if state.roll(faults.rate_limit_rate):
            state.injected["rate_limit"] += 1
            limited = _error(error_body, 429, "Too Many Requests")
            limited.headers["Retry-After"] = f"{faults.retry_after:g}"
            return limited
        if state.roll(faults.error_rate):
            state.injected["error"] += 1
            return _error(error_body, faults.error_status, "Internal Server Error")
        response = await handler(request)
        return _damage(state, response, corrupt)

    return middleware


def _damage(
    state: EmulatorState, response: web.StreamResponse, corrupt: Corrupt | None
) -> web.StreamResponse:
    if not isinstance(response, web.Response) or response.status >= 300:
        return response
    if response.content_type != "application/json" or not isinstance(response.body, bytes):
        return response
    faults = state.faults
    if state.roll(faults.malformed_rate):
        state.injected["malformed"] += 1
        response.body = response.body[: max(1, len(response.body) // 2)]
    elif corrupt is not None and state.roll(faults.wrong_values_rate):
        state.injected["wrong_values"] += 1
        response.body = orjson.dumps(corrupt(orjson.loads(response.body), state.rng))
    return response


def json_response(payload: Any, *, status: int = 200) -> web.Response:
    """A JSON answer encoded with orjson (``Content-Type: application/json``)."""
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


async def _get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR_STATE].faults.to_dict())


async def _post_faults(request: web.Request) -> web.Response:
    state = request.app[EMULATOR_STATE]
    try:
        data = orjson.loads(await request.read())
        faults = Faults.from_mapping(data, state.faults)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        return json_response({"error": str(exc)}, status=400)
    state.set_faults(faults)
    return json_response(state.faults.to_dict())


async def _get_stats(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR_STATE].stats())


async def _delete_stats(request: web.Request) -> web.Response:
    state = request.app[EMULATOR_STATE]
    state.requests.clear()
    state.injected.clear()
    return json_response(state.stats())


def emulator_app(
    faults: Faults | None = None,
    *,
    error_body: ErrorBody = default_error_body,
    corrupt: Corrupt | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> web.Application:
    """A new emulator application with fault injection and the control endpoints.

    Add the provider's routes to the returned app (``app.router.add_get(...)``).

    Args:
        faults: The initial faults (default: none).
        error_body: The provider's error body format, for injected errors.
        corrupt: The hook for ``wrong_values_rate``.
        clock: Monotonic seconds, for outage windows.
        sleep: Waits out added latency.
    """
    state = EmulatorState(faults or Faults(), clock=clock, sleep=sleep)
    app = web.Application(middlewares=[fault_middleware(state, error_body, corrupt)])
    app[EMULATOR_STATE] = state
    app.router.add_get(CONTROL_PREFIX + "faults", _get_faults)
    app.router.add_post(CONTROL_PREFIX + "faults", _post_faults)
    app.router.add_get(CONTROL_PREFIX + "stats", _get_stats)
    app.router.add_delete(CONTROL_PREFIX + "stats", _delete_stats)
    return app


def stable_random(seed: int, *parts: object) -> random.Random:
    """A ``random.Random`` determined by ``seed`` and ``parts`` only (not by call order).

    Emulators derive generated data from it, e.g. ``stable_random(seed, "AAPL", day)``, so
    the same seed gives the same data whatever was asked before.
    """
    text = "\x1f".join([str(seed), *map(str, parts)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


@asynccontextmanager
async def serve(
    app: web.Application, port: int = 0, *, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve ``app`` in the running loop; yield its base URL, e.g. ``http://127.0.0.1:8001``.

    Args:
        app: The emulator application.
        port: The port; 0 picks a free one (the URL names the real port).
        host: The address to listen on.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()


def run_emulator(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve ``app`` until interrupted (for ``polysource emulate NAME``)."""
    web.run_app(app, host=host, port=port, access_log=None)


US_LARGE_CAPS: Final[tuple[tuple[str, str, str], ...]] = (
    ("ABBV", "AbbVie Inc", "NYSE"),
    ("ABT", "Abbott Laboratories", "NYSE"),
    ("ACN", "Accenture plc", "NYSE"),
    ("ADBE", "Adobe Inc", "NASDAQ"),
    ("AIG", "American International Group Inc", "NYSE"),
    ("AMD", "Advanced Micro Devices Inc", "NASDAQ"),
    ("AMGN", "Amgen Inc", "NASDAQ"),
    ("AMT", "American Tower Corp", "NYSE"),
    ("AVGO", "Broadcom Inc", "NASDAQ"),
    ("AXP", "American Express Co", "NYSE"),
    ("BA", "Boeing Co", "NYSE"),
    ("BAC", "Bank of America Corp", "NYSE"),
    ("BK", "Bank of New York Mellon Corp", "NYSE"),
    ("BKNG", "Booking Holdings Inc", "NASDAQ"),
    ("BLK", "BlackRock Inc", "NYSE"),
    ("BMY", "Bristol-Myers Squibb Co", "NYSE"),
    ("C", "Citigroup Inc", "NYSE"),
    ("CAT", "Caterpillar Inc", "NYSE"),
    ("CHTR", "Charter Communications Inc", "NASDAQ"),
    ("CL", "Colgate-Palmolive Co", "NYSE"),
    ("CMCSA", "Comcast Corp", "NASDAQ"),
    ("COF", "Capital One Financial Corp", "NYSE"),
    ("COP", "ConocoPhillips", "NYSE"),
    ("COST", "Costco Wholesale Corp", "NASDAQ"),
    ("CRM", "Salesforce Inc", "NYSE"),
    ("CSCO", "Cisco Systems Inc", "NASDAQ"),
    ("CVS", "CVS Health Corp", "NYSE"),
    ("CVX", "Chevron Corp", "NYSE"),
    ("DE", "Deere & Co", "NYSE"),
    ("DHR", "Danaher Corp", "NYSE"),
    ("DOW", "Dow Inc", "NYSE"),
    ("DUK", "Duke Energy Corp", "NYSE"),
    ("EMR", "Emerson Electric Co", "NYSE"),
    ("F", "Ford Motor Co", "NYSE"),
    ("FDX", "FedEx Corp", "NYSE"),
    ("GD", "General Dynamics Corp", "NYSE"),
    ("GE", "General Electric Co", "NYSE"),
    ("GILD", "Gilead Sciences Inc", "NASDAQ"),
    ("GM", "General Motors Co", "NYSE"),
    ("GOOG", "Alphabet Inc - Class C", "NASDAQ"),
    ("GS", "Goldman Sachs Group Inc", "NYSE"),
    ("HD", "Home Depot Inc", "NYSE"),
    ("HON", "Honeywell International Inc", "NASDAQ"),
    ("INTU", "Intuit Inc", "NASDAQ"),
    ("ISRG", "Intuitive Surgical Inc", "NASDAQ"),
    ("KHC", "Kraft Heinz Co", "NASDAQ"),
    ("LIN", "Linde plc", "NASDAQ"),
    ("LLY", "Eli Lilly and Co", "NYSE"),
    ("LMT", "Lockheed Martin Corp", "NYSE"),
    ("LOW", "Lowe's Companies Inc", "NYSE"),
    ("MA", "Mastercard Inc", "NYSE"),
    ("MCD", "McDonald's Corp", "NYSE"),
    ("MDLZ", "Mondelez International Inc", "NASDAQ"),
    ("MDT", "Medtronic plc", "NYSE"),
    ("MET", "MetLife Inc", "NYSE"),
    ("MMM", "3M Co", "NYSE"),
    ("MO", "Altria Group Inc", "NYSE"),
    ("MRK", "Merck & Co Inc", "NYSE"),
    ("MS", "Morgan Stanley", "NYSE"),
    ("NEE", "NextEra Energy Inc", "NYSE"),
    ("NFLX", "Netflix Inc", "NASDAQ"),
    ("NKE", "Nike Inc", "NYSE"),
    ("ORCL", "Oracle Corp", "NYSE"),
    ("PEP", "PepsiCo Inc", "NASDAQ"),
    ("PFE", "Pfizer Inc", "NYSE"),
    ("PG", "Procter & Gamble Co", "NYSE"),
    ("PM", "Philip Morris International Inc", "NYSE"),
    ("PYPL", "PayPal Holdings Inc", "NASDAQ"),
    ("QCOM", "Qualcomm Inc", "NASDAQ"),
    ("RTX", "RTX Corp", "NYSE"),
    ("SBUX", "Starbucks Corp", "NASDAQ"),
    ("SCHW", "Charles Schwab Corp", "NYSE"),
    ("SO", "Southern Co", "NYSE"),
    ("SPG", "Simon Property Group Inc", "NYSE"),
    ("T", "AT&T Inc", "NYSE"),
    ("TGT", "Target Corp", "NYSE"),
    ("TMO", "Thermo Fisher Scientific Inc", "NYSE"),
    ("TMUS", "T-Mobile US Inc", "NASDAQ"),
    ("TXN", "Texas Instruments Inc", "NASDAQ"),
    ("UNH", "UnitedHealth Group Inc", "NYSE"),
    ("UNP", "Union Pacific Corp", "NYSE"),
    ("UPS", "United Parcel Service Inc", "NYSE"),
    ("USB", "U.S. Bancorp", "NYSE"),
    ("VZ", "Verizon Communications Inc", "NYSE"),
    ("WFC", "Wells Fargo & Co", "NYSE"),
)
"""More US large caps (ticker, name, exchange) that market-data emulators may list, so demos
and benchmarks can ask for a hundred symbols or more."""
