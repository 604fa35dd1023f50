"""The SQL cache tier on SQLite and PostgreSQL: the CacheBackend contract, expiry and purge."""

from __future__ import annotations

import base64
import datetime as dt
import random

import pytest
from sqlalchemy import func, select

from polysource.cache.tiers import CacheBackend, decode_record, encode_record
from polysource.datasets import Quote
from polysource_sql.cache import MAX_KEY_BYTES, SqlBackend, glob_to_like
from polysource_sql.schema import cache_table


async def _rows(backend: SqlBackend) -> int:
    async with backend.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(cache_table)) or 0)


async def test_backend_satisfies_the_protocol(make_backend) -> None:
    """A SqlBackend is a CacheBackend named after its database."""
    backend = make_backend()
    assert isinstance(backend, CacheBackend)
    assert backend.name in {"sqlite", "postgresql"}


async def test_set_then_get_many_in_the_order_asked(make_backend) -> None:
    """Records come back in the order of the keys asked, with None for the absent ones."""
    backend = make_backend()
    await backend.set("quote:AAPL", b"a", 60)
    await backend.set("quote:MSFT", b"m", 60)
    got = await backend.get_many(["quote:MSFT", "quote:NOPE", "quote:AAPL", "quote:MSFT"])
    assert got == [b"m", None, b"a", b"m"]
    assert await backend.get_many([]) == []


async def test_get_many_of_100_keys_is_one_select(make_backend, statements) -> None:
    """A multi-get of 100 keys reads them with a single SELECT."""
    backend = make_backend()
    for i in range(0, 100, 2):
        await backend.set(f"k{i}", str(i).encode(), 60)
    keys = [f"k{i}" for i in range(100)]
    with statements(backend.engine) as seen:
        got = await backend.get_many(keys)
    assert len(seen.starting("SELECT")) == 1
    assert got == [str(i).encode() if i % 2 == 0 else None for i in range(100)]


async def test_expired_rows_are_not_served(make_backend, clock) -> None:
    """A record is served until its TTL passes on the context's wall clock, then not."""
    backend = make_backend()
    await backend.set("k", b"v", 10)
    await clock.advance(9.9)
    assert await backend.get_many(["k"]) == [b"v"]
    await clock.advance(0.1)
    assert await backend.get_many(["k"]) == [None]


async def test_set_upserts_record_and_expiry(make_backend, clock) -> None:
    """A second set replaces the record and the expiry of the key (one row)."""
    backend = make_backend()
    await backend.set("k", b"old", 5)
    await backend.set("k", b"new", 100)
    await clock.advance(50)
    assert await backend.get_many(["k"]) == [b"new"]
    assert await _rows(backend) == 1


async def test_set_with_no_ttl_removes_the_key(make_backend) -> None:
    """A record already expired when written leaves no older record behind."""
    backend = make_backend()
    await backend.set("k", b"old", 60)
    await backend.set("k", b"new", 0)
    assert await backend.get_many(["k"]) == [None]
    assert await _rows(backend) == 0


async def test_delete_removes_the_keys(make_backend) -> None:
    """delete removes exactly the keys given."""
    backend = make_backend()
    for key in ("a", "b", "c"):
        await backend.set(key, key.encode(), 60)
    await backend.delete(["a", "c", "zzz"])
    await backend.delete([])
    assert await backend.get_many(["a", "b", "c"]) == [None, b"b", None]


async def test_delete_pattern_matches_like_a_glob(make_backend) -> None:
    """``*`` and ``?`` are wildcards; ``%``, ``_`` and case are matched literally."""
    backend = make_backend()
    keys = [
        "quote:US:AAPL",
        "quote:US:MSFT",
        "quote:MX:AAPL",
        "Quote:US:AAPL",
        "quote_US_AAPL",
        "quote:US:100%",
        "bars:US:AAPL",
    ]
    for key in keys:
        await backend.set(key, b"x", 60)
    assert await backend.delete_pattern("quote:US:*") == 3
    assert await backend.get_many(keys) == [None, None, b"x", b"x", b"x", None, b"x"]
    assert await backend.delete_pattern("quote:??:AAPL") == 1  # not Quote:, not quote_US_
    assert await backend.delete_pattern("quote_*") == 1  # _ is literal
    assert await backend.delete_pattern("nothing:*") == 0
    assert await backend.get_many(keys) == [None, None, None, b"x", None, None, b"x"]


async def test_delete_pattern_escapes(make_backend) -> None:
    """A backslash makes a wildcard literal."""
    backend = make_backend()
    for key in ("a*b", "axb", "a%b"):
        await backend.set(key, b"x", 60)
    assert await backend.delete_pattern(r"a\*b") == 1
    assert await backend.delete_pattern("a%b") == 1
    assert await backend.get_many(["a*b", "axb", "a%b"]) == [None, b"x", None]


async def test_purge_expired_deletes_only_expired_rows(make_backend, clock) -> None:
    """purge_expired deletes the rows whose TTL has passed and counts them."""
    backend = make_backend(purge_interval=0)
    await backend.set("short", b"s", 10)
    await backend.set("long", b"l", 1000)
    await clock.advance(11)
    assert await backend.purge_expired() == 1
    assert await _rows(backend) == 1
    assert await backend.get_many(["long"]) == [b"l"]


async def test_periodic_purge_runs_on_the_clock_and_stops_on_close(
    make_backend, clock, eventually
) -> None:
    """The purge starts on first use, runs every interval of the clock, and close ends it."""
    backend = make_backend(purge_interval=60)
    await backend.set("k", b"v", 10)
    assert backend._purger is not None and not backend._purger.done()
    assert await _rows(backend) == 1
    await clock.advance(61)

    async def purged() -> bool:
        return await _rows(backend) == 0

    await eventually(purged)
    task = backend._purger
    await backend.close()
    assert task.done()


async def test_purge_interval_from_the_url(make_backend, database_url) -> None:
    """``?purge_interval=0`` in the URL turns the periodic purge off."""
    sep = "&" if "?" in database_url else "?"
    backend = make_backend(f"{database_url}{sep}purge_interval=0")
    await backend.set("k", b"v", 10)
    assert backend.purge_interval == 0 and backend._purger is None


async def test_record_decodes_into_the_dataset_schema(make_backend) -> None:
    """A Quote encoded with encode_record comes back from the tier as the same Quote."""
    backend = make_backend()
    quote = Quote(
        symbol="AAPL",
        price=187.25,
        currency="USD",
        timestamp=dt.datetime(2026, 1, 2, 15, 30, tzinfo=dt.UTC),
        volume=1_234_567,
    )
    await backend.set("quote:AAPL", encode_record(quote, "tiingo", 1_767_225_600.0), 60)
    (data,) = await backend.get_many(["quote:AAPL"])
    assert data is not None
    record = decode_record(data, Quote)
    assert record is not None
    assert (record.value, record.source, record.fetched_at) == (quote, "tiingo", 1_767_225_600.0)


async def test_operations_after_close_raise(make_backend) -> None:
    """A closed backend refuses work instead of reopening connections."""
    backend = make_backend()
    await backend.set("k", b"v", 10)
    await backend.close()
    await backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        await backend.get_many(["k"])


async def test_many_keys_are_read_and_deleted(make_backend) -> None:
    """More keys than one SQLite statement takes are read and deleted in full."""
    backend = make_backend()
    keys = [f"k{i}" for i in range(2000)]
    for key in keys[::100]:
        await backend.set(key, b"x", 60)
    got = await backend.get_many(keys)
    assert sum(value is not None for value in got) == 20
    await backend.delete(keys)
    assert await _rows(backend) == 0


@pytest.mark.parametrize(
    ("pattern", "like", "glob"),
    [
        ("quote:*", "quote:%", "quote:*"),
        ("a?c", "a_c", "a?c"),
        ("100%_x", "100\\%\\_x", "100%_x"),
        ("a\\*b", "a*b", "a[*]b"),
        ("a\\?\\\\", "a?\\\\", "a[?]\\"),
        ("x\\[y]", "x[y]", "x[[]y]"),
    ],
)
def test_glob_to_like(pattern: str, like: str, glob: str) -> None:
    """Globs become LIKE patterns with ``\\`` escapes and SQLite GLOB patterns."""
    assert glob_to_like(pattern) == (like, glob)


@pytest.mark.parametrize("pattern", ["quote:[ab]*", "trailing\\"])
def test_glob_to_like_rejects_what_like_cannot_say(pattern: str) -> None:
    """Character classes and a lone trailing backslash are refused."""
    with pytest.raises(ValueError, match="pattern"):
        glob_to_like(pattern)


@pytest.mark.parametrize(
    "key",
    [
        "quote:A\x00B",
        "quote:" + "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1000)),  # 3 KB of CJK
        "quote:" + base64.b64encode(random.Random(7).randbytes(3000)).decode(),  # incompressible
        "quote:\ud800",
    ],
    ids=["nul", "cjk-3kb", "random-4kb", "lone-surrogate"],
)
async def test_a_key_the_database_cannot_hold_is_a_miss_and_a_skipped_write(make_backend, key):
    """A NUL, over-long or non-Unicode key reads as a miss and writes nothing, never an error."""
    backend = make_backend()
    await backend.set("quote:OK", b"ok", 60)
    assert await backend.get_many([key, "quote:OK"]) == [None, b"ok"]
    await backend.set(key, b"odd", 60)
    assert await backend.get_many([key]) == [None]
    assert await _rows(backend) == 1
    await backend.delete([key])
    assert await backend.delete_pattern(key + "*") == 0
    assert await backend.get_many(["quote:OK"]) == [b"ok"]


async def test_the_longest_key_is_stored(make_backend) -> None:
    """A key of exactly MAX_KEY_BYTES of incompressible text is written and read back."""
    backend = make_backend()
    text = base64.b64encode(random.Random(3).randbytes(MAX_KEY_BYTES)).decode()
    key = text[:MAX_KEY_BYTES]
    await backend.set(key, b"v", 60)
    assert await backend.get_many([key]) == [b"v"]
