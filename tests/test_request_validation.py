"""Request input: every public method turns bad arguments into a short InvalidRequest."""

from __future__ import annotations

import pytest

from polysource.datasets import ACCOUNTS, QUOTE, Quote
from polysource.errors import InvalidRequest
from polysource.testing import FakeProvider
from polysource.validation import MAX_KEY_BYTES, check_key, excerpt

HUGE = "X" * 10_000_000

CALLS = {
    "fetch": lambda orch, **kw: orch.fetch(kw.pop("dataset", QUOTE), kw.pop("key", "AAPL"), **kw),
    "fetch_options": lambda orch, **kw: orch.fetch(
        kw.pop("dataset", QUOTE), kw.pop("key", "AAPL"), skip_cache=True, **kw
    ),
    "fetch_many": lambda orch, **kw: orch.fetch_many(
        kw.pop("dataset", QUOTE), [kw.pop("key", "AAPL")], **kw
    ),
    "fetch_merged": lambda orch, **kw: orch.fetch_merged(
        kw.pop("dataset", QUOTE), kw.pop("key", "AAPL"), **kw
    ),
    "invalidate": lambda orch, **kw: orch.invalidate(
        kw.pop("dataset", QUOTE), [kw.pop("key", "AAPL")], **kw
    ),
    "clear_cache_keys": lambda orch, **kw: orch.clear_cache_keys(
        kw.pop("dataset", QUOTE), [kw.pop("key", "AAPL")], **kw
    ),
}

BAD = {
    "key-list": {"key": ["AAPL"]},
    "key-none": {"key": None},
    "key-int": {"key": 7},
    "key-nul": {"key": "AA\x00PL"},
    "key-newline": {"key": "AAPL\nX"},
    "key-huge": {"key": HUGE},
    "key-over-limit": {"key": "A" * (MAX_KEY_BYTES + 1)},
    "key-multibyte-over-limit": {"key": "é" * (MAX_KEY_BYTES // 2 + 1)},
    "dataset-none": {"dataset": None},
    "dataset-int": {"dataset": 7},
    "dataset-list": {"dataset": ["quote"]},
    "dataset-huge": {"dataset": HUGE},
    "tenant-int": {"tenant": 7},
    "tenant-huge": {"tenant": HUGE},
    "region-int": {"region": 7},
    "region-nul": {"region": "U\x00S"},
    "region-huge": {"region": HUGE},
}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_bad_arguments_raise_a_short_invalid_request(make_orchestrator, call, bad):
    """A bad dataset, key, tenant or region is an InvalidRequest quoting at most a short prefix."""
    fake = FakeProvider("a")
    orch = await make_orchestrator(fake)
    with pytest.raises(InvalidRequest) as caught:
        await call(orch, **bad)
    assert len(str(caught.value)) < 200
    assert fake.call_count() == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"tier": 7},
        {"tier": ["free"]},
        {"deadline": HUGE},
        {"deadline": [1.0]},
        {"deadline": 10**5000},
        {"deadline": -(10**5000)},
    ],
    ids=[
        "tier-int",
        "tier-list",
        "deadline-huge",
        "deadline-list",
        "deadline-huge-int",
        "deadline-negative-huge-int",
    ],
)
@pytest.mark.parametrize("call", ["fetch", "fetch_many", "fetch_merged"])
async def test_bad_tier_or_deadline_is_a_short_invalid_request(make_orchestrator, call, bad):
    """A tier or deadline of the wrong type is an InvalidRequest, never a TypeError."""
    orch = await make_orchestrator(FakeProvider("a"))
    with pytest.raises(InvalidRequest) as caught:
        await CALLS[call](orch, **bad)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "keys", [None, 7, "AAPL", [["AAPL"]], [None]], ids=["none", "int", "str", "nested", "none-in"]
)
async def test_fetch_many_keys_that_are_not_a_collection_of_strings(make_orchestrator, keys):
    """fetch_many's keys must be a collection of strings: anything else is an InvalidRequest."""
    orch = await make_orchestrator(FakeProvider("a"))
    with pytest.raises(InvalidRequest):
        await orch.fetch_many(QUOTE, keys)


@pytest.mark.parametrize(
    "bad",
    [
        {"operation": None},
        {"operation": 7},
        {"operation": HUGE},
        {"tenant": 7},
        {"tenant": HUGE},
        {"region": "U\x00S"},
        {"tier": 7},
        {"prefer": ["a"]},
        {"prefer": HUGE},
        {"params": {"account_ids": ["acc\x00"]}},
        {"params": {"account_ids": [HUGE]}},
        {"params": {"account_ids": 7}},
    ],
    ids=lambda bad: f"{next(iter(bad))}-{type(next(iter(bad.values()))).__name__}",
)
async def test_execute_bad_arguments_raise_a_short_invalid_request(make_orchestrator, bad):
    """execute turns a bad operation, tenant, region, tier, prefer or param into InvalidRequest."""

    bank = FakeProvider("bank", datasets=(), operations={"get_accounts"})
    orch = await make_orchestrator(bank)
    arguments = {"operation": "get_accounts", "tenant": "user-1", **bad}
    operation = arguments.pop("operation")
    params = arguments.pop("params", None)
    with pytest.raises(InvalidRequest) as caught:
        await orch.execute(operation, params, **arguments)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    "key",
    ["BRK.B", "^GSPC", "EURUSD=X", "BTC-USD", "m4", "kar98k", "acc_7Qx-9/2024", "Müller & Söhne"],
)
async def test_real_keys_are_in_the_alphabet(make_orchestrator, key):
    """Tickers, index and forex symbols, weapon slugs, account ids and accented names pass."""
    fake = FakeProvider("a").answer(key.upper(), Quote(key.upper(), 1.0))
    orch = await make_orchestrator(fake)
    assert check_key(key) == key
    assert (await orch.fetch(QUOTE, key)).data.price == 1.0


def test_excerpt_escapes_and_cuts():
    """excerpt quotes an escaped prefix and the length, never the whole value."""
    shown = excerpt("\x00" + "A" * 1000)
    assert shown.startswith("'\\x00AAA") and "(1001 characters)" in shown and len(shown) < 80
    assert excerpt(["AAPL"]) == "a list"


async def test_private_dataset_tenant_is_checked(make_orchestrator):
    """A private dataset's tenant goes through the same check as a key."""
    orch = await make_orchestrator(FakeProvider("a", datasets={"accounts"}))
    with pytest.raises(InvalidRequest, match="tenant"):
        await orch.fetch(ACCOUNTS, "conn", tenant="user\x00")


CONTROLS = {
    "disable": lambda orch, name, region, rank: orch.disable(name),
    "enable": lambda orch, name, region, rank: orch.enable(name),
    "reset_breaker": lambda orch, name, region, rank: orch.reset_breaker(name),
    "set_rank": lambda orch, name, region, rank: orch.set_rank(name, region, rank),
}
BAD_NAMES = {"name-list": ["a"], "name-none": None, "name-huge": HUGE}
BAD_RANKS = {
    "rank-str": ("global", "1"),
    "rank-none": ("global", None),
    "rank-bool": ("global", True),
    "rank-float": ("global", 1.5),
    "region-list": (["global"], 1),
    "region-none": (None, 1),
    "region-nul": ("glo\x00bal", 1),
}
BAD_CONTROLS = {
    **{
        f"{control}-{bad}": (control, name, "global", 1)
        for control in CONTROLS
        for bad, name in BAD_NAMES.items()
    },
    **{f"set_rank-{bad}": ("set_rank", "a", *args) for bad, args in BAD_RANKS.items()},
}


@pytest.mark.parametrize("bad", BAD_CONTROLS.values(), ids=BAD_CONTROLS.keys())
async def test_bad_control_arguments_raise_a_short_invalid_request(make_orchestrator, bad):
    """A provider control with a bad name, region or rank is a short InvalidRequest and changes
    nothing: the next fetch still works."""
    control, name, region, rank = bad
    fake = FakeProvider("a")
    fake.answer("AAPL", Quote("AAPL", 1.0))
    orch = await make_orchestrator(fake)
    with pytest.raises(InvalidRequest) as caught:
        CONTROLS[control](orch, name, region, rank)
    assert len(str(caught.value)) < 200
    assert (await orch.fetch(QUOTE, "AAPL")).data.price == 1.0


BAD_MERGES = {
    "strategy-list": {"strategy": ["median"]},
    "strategy-huge": {"strategy": HUGE},
    "providers-int": {"providers": 7},
    "providers-huge": {"providers": HUGE},
    "providers-items": {"providers": [7, None]},
    "providers-item-huge": {"providers": [HUGE]},
    "field-priority-int": {"field_priority": 7},
    "field-priority-order-int": {"field_priority": {"price": 7}},
    "field-priority-order-huge": {"field_priority": {"price": HUGE}},
    "field-priority-name-huge": {"field_priority": {HUGE: ["a"]}},
    "tolerance-huge": {"tolerance": HUGE},
    "min-providers-huge-int": {"min_providers": 10**5000},
    "tolerance-huge-int": {"tolerance": -(10**5000)},
}


@pytest.mark.parametrize("bad", BAD_MERGES.values(), ids=BAD_MERGES.keys())
async def test_bad_merge_arguments_raise_a_short_invalid_request(make_orchestrator, bad):
    """A bad strategy, provider list, field priority or tolerance for ``fetch_merged`` is a
    short InvalidRequest before any provider is asked."""
    fake = FakeProvider("a")
    orch = await make_orchestrator(fake)
    with pytest.raises(InvalidRequest) as caught:
        await orch.fetch_merged(QUOTE, "AAPL", **bad)
    assert len(str(caught.value)) < 300
    assert fake.call_count() == 0
