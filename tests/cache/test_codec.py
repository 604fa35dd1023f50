"""The cache codec: round trips of every schema, rejected shapes and JSON types."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest

from polysource.cache.codec import (
    builder,
    converter,
    decode,
    encode,
    problem,
    roundtrip,
    structurer,
)
from polysource.cache.tiers import Record, decode_record, encode_record
from polysource.config import Secret
from polysource.datasets import (
    STANDARD_DATASETS,
    Account,
    Accounts,
    Bar,
    DailyBars,
    Fundamentals,
    Quote,
    Transaction,
    Transactions,
    WeaponMeta,
    WeaponProfile,
    WeaponStats,
)
from polysource.operations import (
    STANDARD_OPERATIONS,
    CreateLink,
    ExchangeToken,
    GetAccounts,
    Link,
    SyncTransactions,
)

STAMP = dt.datetime(2026, 1, 2, 15, 30, 0, 250_000, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
STATS = WeaponStats("m4", "M4", "mw2", "rifle", "pc", 40, ("scope", "grip"), "level 4", 28.5, 800)
META = WeaponMeta("m4", {"resurgence": "S", "ranked": "A"}, "M4", 0.52, 0.11)
TRANSACTION = Transaction(
    "t1", "a1", Decimal("-12.30"), "MXN", dt.date(2026, 1, 2), "Coffee", True, "Cafe", "food"
)
ACCOUNT = Account("a1", "Checking", "depository", "USD", "checking", "0001", Decimal("100.10"))

VALUES: list[Any] = [
    Quote("AAPL", 190.5, "USD", STAMP, 189.0, 189.5, 191.0, 188.0, 1000, 190.4, 190.6, 0.8),
    Quote("AAPL", 190.5),
    DailyBars("AAPL", [Bar(dt.date(2026, 1, 2), 1.0, 2.0, 0.5, 1.5, 10, 1.4)]),
    DailyBars("AAPL", []),
    Fundamentals("AAPL", "Apple", "NASDAQ", "USD", 3e12, 30.1, 40.2, 0.005, 4e11, "Phones"),
    Accounts([ACCOUNT, Account("a2", "Card", "credit", "USD", balance_current=Decimal("-5"))]),
    Transactions([TRANSACTION], removed=["t0"], cursor="c2"),
    STATS,
    META,
    WeaponProfile("m4", STATS, META),
    WeaponProfile("m4"),
    CreateLink("bank", products=["accounts"], language="es", redirect_uri="app://"),
    Link("plaid", "item-1", "pending", institution="bank"),
    GetAccounts(["a1", "a2"]),
    SyncTransactions(dt.date(2026, 1, 1), dt.date(2026, 1, 31), "c1"),
]


def test_the_values_cover_every_standard_schema():
    """The round-trip values below include each dataset's and operation's schema."""
    schemas = {ds.schema for ds in STANDARD_DATASETS}
    schemas |= {op.params for op in STANDARD_OPERATIONS} | {op.result for op in STANDARD_OPERATIONS}
    assert schemas <= {type(value) for value in VALUES} | {ExchangeToken}


@pytest.mark.parametrize("value", VALUES, ids=lambda value: type(value).__name__)
def test_every_schema_survives_a_round_trip(value):
    """Encoding then decoding gives an equal value of the same type, as cattrs alone would."""
    data = encode(value)
    again = roundtrip(value, type(value))
    assert again == value
    assert type(again) is type(value)
    assert again == converter.structure(orjson.loads(data), type(value))
    assert problem(orjson.loads(data), type(value)) is None


def test_round_trip_keeps_types_of_converted_fields():
    """Datetimes keep their zone, dates stay dates, Decimals stay exact, sequences are tuples."""
    quote = roundtrip(VALUES[0], Quote)
    transactions = roundtrip(Transactions([TRANSACTION], removed=["t0"]), Transactions)
    assert quote is not None and transactions is not None
    assert quote.timestamp == STAMP and quote.timestamp.utcoffset() == dt.timedelta(hours=-5)
    (transaction,) = transactions.transactions
    assert type(transaction.date) is dt.date
    assert transaction.amount == Decimal("-12.30") and str(transaction.amount) == "-12.30"
    assert transactions.removed == ("t0",)


def test_a_record_decodes_with_its_provenance():
    """``decode_record`` gives the value, the provider, the fetch time and the byte size."""
    quote = VALUES[0]
    data = encode_record(quote, "tiingo", 1_767_367_800.5)
    assert decode_record(data, Quote) == Record(quote, "tiingo", 1_767_367_800.5, len(data))


def encode_dict(value: Any) -> dict[str, Any]:
    """The unstructured form of ``value``, as the encoder writes it."""
    return orjson.loads(encode(value))  # type: ignore[no-any-return]


def _quote_dict(**changes: Any) -> dict[str, Any]:
    """The encoded quote with ``changes``; a change to ``...`` removes the field."""
    raw = encode_dict(VALUES[0])
    raw.update(changes)
    return {key: value for key, value in raw.items() if value is not ...}


@pytest.mark.parametrize(
    ("schema", "raw"),
    [
        (Quote, _quote_dict(symbol=...)),
        (Quote, _quote_dict(price=...)),
        (Quote, [["AAPL", 190.5]]),
        (Quote, "AAPL"),
        (Quote, None),
        (Quote, _quote_dict(timestamp="yesterday")),
        (Quote, _quote_dict(timestamp=12)),
        (DailyBars, {"symbol": "AAPL", "bars": {"date": "2026-01-02"}}),
        (DailyBars, {"symbol": "AAPL", "bars": "2026-01-02"}),
        (DailyBars, {"symbol": "AAPL", "bars": [{"open": 1.0}]}),
        (DailyBars, {"symbol": "AAPL", "bars": [["2026-01-02", 1.0, 2.0, 0.5, 1.5]]}),
        (Transactions, {"transactions": [], "removed": "t0"}),
        (Transactions, {"transactions": [{**encode_dict(TRANSACTION), "amount": "lots"}]}),
        (WeaponMeta, {"weapon_id": "m4", "tiers": ["S"]}),
        (WeaponProfile, {"weapon_id": "m4", "stats": {"name": "M4"}}),
        (Accounts, {"accounts": [{"account_id": "a1"}]}),
        (Quote, _quote_dict(price="190.5")),
        (Quote, _quote_dict(price={"value": 190.5})),
        (Quote, _quote_dict(price=[190.5])),
        (Quote, _quote_dict(price=True)),
        (Quote, _quote_dict(price=None)),
        (Quote, _quote_dict(symbol=1)),
        (Quote, _quote_dict(volume=1.5)),
        (Quote, _quote_dict(volume=True)),
        (Quote, _quote_dict(volume="1000")),
        (Quote, _quote_dict(bid="190.4")),
        (Quote, _quote_dict(currency=840)),
        (Quote, _quote_dict(timestamp=["2026-01-02"])),
        (DailyBars, {"symbol": "AAPL", "bars": [{**encode_dict(VALUES[2].bars[0]), "high": "2"}]}),
        (DailyBars, {"symbol": "AAPL", "bars": [{**encode_dict(VALUES[2].bars[0]), "date": 1}]}),
        (Transactions, {"transactions": [{**encode_dict(TRANSACTION), "amount": -12.3}]}),
        (Transactions, {"transactions": [{**encode_dict(TRANSACTION), "amount": "NaN"}]}),
        (Transactions, {"transactions": [{**encode_dict(TRANSACTION), "pending": 1}]}),
        (Transactions, {"transactions": [], "removed": "t0t1"}),
        (Accounts, {"accounts": [{**encode_dict(ACCOUNT), "balance_current": {"v": 1}}]}),
        (WeaponStats, {**encode_dict(STATS), "attachments": "scope"}),
        (WeaponMeta, {"weapon_id": "m4", "tiers": {"ranked": 1}}),
        (Link, {**encode_dict(VALUES[12]), "access_token": {"env": "HOME"}}),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_a_value_that_does_not_fit_is_a_miss(schema, raw):
    """A missing required field, a wrong shape, a value of another JSON type than the field
    declares (a string, object, list or bool for a number, ...) or an unparsable value
    decodes to None, and ``problem`` says so."""
    with pytest.raises(Exception):  # any error: the callers make it a miss
        structurer(schema)(raw)
    assert decode(orjson.dumps(raw), schema) is None
    envelope = orjson.dumps({"v": 1, "s": "tiingo", "t": 1.0, "d": raw})
    assert decode_record(envelope, schema) is None
    assert problem(raw, schema)


def test_a_problem_names_the_field_never_the_value():
    """The explanation of a rejected value has the field's path and the error, not the value."""
    found = problem(_quote_dict(price="secret-190.5"), Quote)
    assert found is not None and "$.price" in found and "secret" not in found
    bars = {"symbol": "A", "bars": [{**encode_dict(VALUES[2].bars[0]), "low": "x"}]}
    assert "$.bars[0].low" in (problem(bars, DailyBars) or "")
    assert "missing" in (problem(_quote_dict(price=...), Quote) or "")


def test_an_int_is_accepted_where_a_float_is_declared():
    """JSON ``1`` for a float field is the float 1.0 (the one widening the types allow)."""
    assert decode(b'{"symbol": "AAPL", "price": 190}', Quote) == Quote("AAPL", 190.0)
    assert type(decode(b'{"symbol": "AAPL", "price": 190}', Quote).price) is float  # type: ignore[union-attr]


def test_a_record_without_defaulted_fields_takes_the_defaults():
    """Fields with a default (a value or a factory) may be absent: the class default is used."""
    assert decode(b'{"symbol": "AAPL", "price": 1.5}', Quote) == Quote("AAPL", 1.5)
    assert decode(b'{"weapon_id": "m4"}', WeaponMeta) == WeaponMeta("m4")
    assert decode(b'{"transactions": []}', Transactions) == Transactions([])
    assert decode(b'{"weapon_id": "m4", "meta": null}', WeaponProfile) == WeaponProfile("m4")


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Tagged:
    """A schema with the shapes the standard ones lack."""

    colour: Colour
    when: dt.date
    nested: tuple[Quote | None, ...] = ()
    by_name: dict[str, Bar] = attrs.Factory(dict)
    options: list[str] = attrs.Factory(list)
    extra: Any = None
    label: str = attrs.field(default="x", kw_only=True)


def test_enums_mappings_of_classes_and_keyword_only_fields_round_trip():
    """Enums, dicts of attrs classes, optional items, ``Any`` and kw-only fields survive."""
    value = Tagged(
        Colour.BLUE,
        dt.date(2026, 1, 2),
        (VALUES[1], None),
        {"a": Bar(dt.date(2026, 1, 2), 1.0, None, None, None)},
        ["o"],
        {"free": [1, "form"]},
        label="y",
    )
    assert roundtrip(value, Tagged) == value
    assert decode(b'{"colour": "green", "when": "2026-01-02"}', Tagged) is None


@attrs.frozen
class Checked:
    """A schema whose class checks and derives values: it must be built through its __init__."""

    amount: int = attrs.field(validator=attrs.validators.ge(0))
    doubled: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "doubled", self.amount * 2)


def test_a_class_with_validators_and_post_init_is_built_through_its_init():
    """Validators reject (a miss) and post-init hooks run, as they would when cattrs builds it."""
    assert decode(b'{"amount": 2}', Checked) == Checked(2)
    assert roundtrip(Checked(3), Checked) == Checked(3)
    assert decode(b'{"amount": -1}', Checked) is None


def test_builder_makes_what_the_class_makes():
    """A builder fills the named fields, the fixed ones and the defaults, as ``__init__`` would."""
    from polysource.models import Result

    build = builder(Result, ("data", "source", "tier"), cached=True)
    made = build(VALUES[1], "tiingo", "redis")
    expected = Result(VALUES[1], "tiingo", cached=True, tier="redis")
    assert type(made) is Result
    assert attrs.asdict(made, recurse=False) == attrs.asdict(expected, recurse=False)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.stale = True  # type: ignore[misc]


def test_builder_calls_a_class_that_checks_its_values():
    """For a class with validators or hooks the builder calls the class, so they still run."""
    build = builder(Checked, ("amount",))
    assert build(4) == Checked(4) and build(4).doubled == 8
    with pytest.raises(ValueError, match="amount"):
        build(-1)
    with pytest.raises(TypeError, match="needs a value"):
        builder(Checked, ())


def test_decode_many_reads_each_record_and_misses_the_rest():
    """One loop over a batch: absent, garbage and other-format records are misses."""
    from polysource.cache.tiers import decode_many, encode_record
    from polysource.datasets import Quote

    good = encode_record(Quote("AAPL", 1.5), "p", 100.0)
    other = good.replace(b'"v":1', b'"v":99')
    records = decode_many([good, None, b"{not json", other, b'{"v":1}'], Quote)
    assert records[0] is not None and records[0].value == Quote("AAPL", 1.5)
    assert (records[0].source, records[0].fetched_at, records[0].size) == ("p", 100.0, len(good))
    assert records[1:] == [None, None, None, None]


@pytest.mark.parametrize(
    "raw",
    [{"env": "HOME"}, {"file": "/etc/hostname"}, {"value": "x"}, 5, None],
    ids=["env", "file", "object", "number", "null"],
)
def test_a_secret_parameter_is_read_only_from_a_string(raw):
    """Caller input never makes the process read its environment or files into a Secret."""
    with pytest.raises(Exception):  # any error: the callers make it invalid input
        converter.structure({"public_token": raw}, ExchangeToken)
    token = converter.structure({"public_token": "public-sandbox-1"}, ExchangeToken).public_token
    assert token.reveal() == "public-sandbox-1"


@pytest.mark.parametrize(
    "value",
    [ExchangeToken(Secret.of("public")), Link("plaid", "i", "ok", access_token=Secret.of("t"))],
    ids=["params", "result"],
)
def test_a_secret_is_never_encoded(value):
    """Encoding a value that holds a Secret fails instead of writing the plain token."""
    with pytest.raises(TypeError, match="Secret is not encoded"):
        encode(value)


@pytest.mark.parametrize("text", ["1_0", " 10 ", "1E+999999999", "1e3", "NaN", "-Infinity", "0x10"])
def test_a_decimal_is_read_only_as_plain_digits(text):
    """An amount comes back only as the plain digits the encoder writes (no exponent, no
    spaces or underscores: ``1E+999999999`` would exhaust memory when formatted)."""
    with pytest.raises(Exception):  # any error: the callers make it a miss
        converter.structure(text, Decimal)


@pytest.mark.parametrize("text", ["0.00000001", "-12.30", "1E+2", "123456789.123456789"])
def test_a_decimal_is_written_as_plain_digits_and_read_back(text):
    """Small and large amounts are written without an exponent and read back equal."""
    written = converter.unstructure(Decimal(text))
    assert "E" not in written
    assert converter.structure(written, Decimal) == Decimal(text)
