"""The emulated MX sandbox: institutions, users, members and their generated data.

Kept apart from the HTTP layer ([`polysource_mx.emulator`][polysource_mx.emulator]): this module
holds the state one
emulator application owns, builds the JSON of each resource with the types the official SDK's
strict models expect, and generates accounts and transactions from a seed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from attrs import define, field, frozen

from polysource.emulation import stable_random

__all__ = [
    "INSTITUTIONS",
    "Institution",
    "SandboxMember",
    "SandboxState",
    "SandboxUser",
    "aggregate",
    "connection_status_for",
    "credential_guid",
    "credential_json",
    "institution_json",
    "member_json",
    "status_json",
    "user_json",
]

_HISTORY_DAYS: Final = 240
_TEST_USERNAME: Final = "mxuser"
_STATUS_BY_PASSWORD: Final[Mapping[str, str]] = {
    "challenge": "CHALLENGED",
    "options": "CHALLENGED",
    "image": "CHALLENGED",
    "UNAUTHORIZED": "DENIED",
    "INVALID": "DENIED",
    "LOCKED": "LOCKED",
    "BAD_REQUEST": "FAILED",
    "SERVER_ERROR": "FAILED",
    "UNAVAILABLE": "FAILED",
}
_STATUS_MESSAGES: Final[Mapping[str, str]] = {
    "CONNECTED": "Connected to {name}.",
    "CHALLENGED": "To authenticate your connection to {name}, please answer the challenge.",
    "DENIED": "The credentials entered do not match your credentials at this institution.",
    "LOCKED": "Your account is locked. Please log in to the appropriate website.",
    "FAILED": "There was a problem validating your credentials with {name}.",
}


@frozen
class Institution:
    """One emulated institution and the credential fields it asks for."""

    code: str
    name: str
    url: str
    fields: tuple[tuple[str, str, str], ...] = (
        ("LOGIN", "TEXT", "Username"),
        ("PASSWORD", "PASSWORD", "Password"),
    )


INSTITUTIONS: Final[dict[str, Institution]] = {
    "mxbank": Institution("mxbank", "MX Bank", "https://www.mx.com"),
    "mxcu": Institution("mxcu", "MX Credit Union", "https://www.mx.com"),
    "mx_pin_bank": Institution(
        "mx_pin_bank",
        "Emulated Bank with PIN",
        "https://example.com",
        (
            ("LOGIN", "TEXT", "Username"),
            ("PASSWORD", "PASSWORD", "Password"),
            ("PIN", "PASSWORD", "PIN"),
        ),
    ),
}

_ACCOUNT_PLANS: Final = (
    ("Checking", "CHECKING", "NONE"),
    ("Savings", "SAVINGS", "NONE"),
    ("Visa Credit Card", "CREDIT_CARD", "NONE"),
)
_SPENDING: Final = (
    ("Whole Foods", "Groceries", "Food & Dining", 5411),
    ("Shell", "Gas", "Auto & Transport", 5541),
    ("Netflix", "Movies & DVDs", "Entertainment", 4899),
    ("Starbucks", "Coffee Shops", "Food & Dining", 5814),
    ("Amazon", "Shopping", "Shopping", 5942),
    ("Comcast", "Internet", "Bills & Utilities", 4899),
    ("Uber", "Ride Share", "Auto & Transport", 4121),
    ("Target", "Shopping", "Shopping", 5310),
)


# -- state ---------------------------------------------------------------------------------------


@define
class SandboxUser:
    """An MX user created by ``POST /users``."""

    guid: str
    partner_id: str | None
    email: str | None
    is_disabled: bool
    metadata: str | None


@define
class SandboxMember:
    """A member (bank login) with the accounts and transactions its aggregation produced."""

    guid: str
    user_guid: str
    partner_id: str | None
    institution: Institution
    metadata: str | None
    connection_status: str = "CREATED"
    aggregated_at: str | None = None
    successfully_aggregated_at: str | None = None
    accounts: list[dict[str, Any]] = field(factory=list)
    transactions: list[dict[str, Any]] = field(factory=list)


@define
class SandboxState:
    """Everything one emulator application holds: its seed, clock, credentials and objects."""

    seed: int
    clock: Callable[[], float]
    client_id: str | None
    api_key: str | None = field(repr=False)
    users: dict[str, SandboxUser] = field(factory=dict)
    members: dict[str, SandboxMember] = field(factory=dict)
    created: int = 0

    def guid(self, prefix: str, *parts: object) -> str:
        """A new guid, determined by the seed and the creation order."""
        self.created += 1
        rng = stable_random(self.seed, prefix, self.created, *parts)
        return f"{prefix}-{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    def now(self) -> dt.datetime:
        """The clock's wall time, to the second, in UTC."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).replace(microsecond=0)

    def today(self) -> dt.date:
        """The clock's date in UTC."""
        return self.now().date()


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def credential_guid(seed: int, code: str, name: str) -> str:
    """The guid of an institution's credential field (fixed by the seed)."""
    rng = stable_random(seed, "credential", code, name)
    return f"CRD-{uuid.UUID(int=rng.getrandbits(128), version=4)}"


# -- JSON shapes ---------------------------------------------------------------------------------


def user_json(user: SandboxUser) -> dict[str, Any]:
    """The ``user`` object."""
    return {
        "email": user.email,
        "guid": user.guid,
        "id": user.partner_id,
        "is_disabled": user.is_disabled,
        "metadata": user.metadata,
    }


def member_json(state: SandboxState, member: SandboxMember) -> dict[str, Any]:
    """The ``member`` object, every key of the SDK's ``MemberResponse`` present."""
    user = state.users[member.user_guid]
    message = _STATUS_MESSAGES.get(member.connection_status, "")
    return {
        "aggregated_at": member.aggregated_at,
        "background_aggregation_is_disabled": False,
        "connection_status": member.connection_status,
        "connection_status_message": message.format(name=member.institution.name) or None,
        "guid": member.guid,
        "id": member.partner_id,
        "institution_code": member.institution.code,
        "institution_guid": f"INS-{uuid.UUID(int=_stable_int(member.institution.code))}",
        "is_being_aggregated": False,
        "is_managed_by_user": False,
        "is_manual": False,
        "is_oauth": False,
        "metadata": member.metadata,
        "most_recent_job_detail_code": None,
        # typed as booleans by the spec (a bug), so the SDK accepts only null here
        "most_recent_job_detail_text": None,
        "most_recent_job_guid": None,
        "name": member.institution.name,
        "needs_updated_credentials": member.connection_status == "DENIED",
        "oauth_window_uri": None,
        "successfully_aggregated_at": member.successfully_aggregated_at,
        "use_cases": ["PFM"],
        "user_guid": member.user_guid,
        "user_id": user.partner_id,
    }


def _stable_int(text: str) -> int:
    """A stable 128-bit number for ``text`` (for guids that do not depend on state)."""
    return stable_random(0, "stable", text).getrandbits(128)


def status_json(member: SandboxMember) -> dict[str, Any]:
    """The ``member`` object of ``GET .../status``."""
    connected = member.connection_status == "CONNECTED"
    return {
        "aggregated_at": member.aggregated_at,
        "challenges": [],
        "connection_status": member.connection_status,
        "guid": member.guid,
        "has_processed_account_numbers": connected,
        "has_processed_accounts": connected,
        "has_processed_transactions": connected,
        "is_authenticated": connected,
        "is_being_aggregated": False,
        "successfully_aggregated_at": member.successfully_aggregated_at,
    }


def institution_json(institution: Institution) -> dict[str, Any]:
    """The ``institution`` object."""
    return {
        "code": institution.code,
        "forgot_password_url": f"{institution.url}/forgot-password",
        "forgot_username_url": f"{institution.url}/forgot-username",
        "instructional_text": None,
        "instructional_text_steps": None,
        "is_disabled_by_client": False,
        "iso_country_code": "US",
        "medium_logo_url": None,
        "name": institution.name,
        "small_logo_url": None,
        "supports_account_identification": True,
        "supports_account_statement": True,
        "supports_account_verification": True,
        "supports_oauth": False,
        "supports_tax_document": False,
        "supports_transaction_history": True,
        "trouble_signing_in_url": None,
        "url": institution.url,
    }


def credential_json(seed: int, institution: Institution, order: int) -> dict[str, Any]:
    """The ``order``-th credential field the institution asks for."""
    name, field_type, label = institution.fields[order]
    return {
        "display_order": order + 1,
        "field_name": name,
        "field_type": field_type,
        "guid": credential_guid(seed, institution.code, name),
        "label": label,
        "type": field_type,
    }


# -- generated data ------------------------------------------------------------------------------


def _account_json(
    state: SandboxState, member: SandboxMember, index: int, plan: tuple[str, str, str]
) -> dict[str, Any]:
    name, kind, subtype = plan
    rng = stable_random(state.seed, member.guid, "account", index)
    credit = kind == "CREDIT_CARD"
    balance = round(rng.uniform(200, 4000) if credit else rng.uniform(500, 25000), 2)
    limit = 5000.0 if credit else None
    stamp = _stamp(state.now())
    user = state.users[member.user_guid]
    return {
        "account_number": f"{rng.randrange(10**9, 10**10)}",
        "apr": round(rng.uniform(15, 28), 2) if credit else None,
        "apy": None if credit else round(rng.uniform(0.01, 4.5), 2),
        "available_balance": round(limit - balance, 2) if limit else balance,
        "available_credit": round(limit - balance, 2) if limit else None,
        "balance": balance,
        "cash_balance": None,
        "created_at": stamp,
        "credit_limit": limit,
        "currency_code": "USD",
        "day_payment_is_due": 15 if credit else None,
        "guid": state.guid("ACT", member.guid, index),
        "id": None,
        "imported_at": stamp,
        "institution_code": member.institution.code,
        "interest_rate": None,
        "is_closed": False,
        "is_hidden": False,
        "is_manual": False,
        "last_payment": None,
        "matures_on": None,
        "member_guid": member.guid,
        "member_id": member.partner_id,
        "member_is_managed_by_user": False,
        "metadata": None,
        "minimum_balance": None,
        "minimum_payment": 35.0 if credit else None,
        "name": name,
        "nickname": None,
        "original_balance": None,
        "payment_due_at": None,
        "payoff_balance": None,
        "started_on": None,
        "subtype": subtype,
        "type": kind,
        "updated_at": stamp,
        "user_guid": member.user_guid,
        "user_id": user.partner_id,
    }


def _transaction_json(
    state: SandboxState,
    member: SandboxMember,
    account: Mapping[str, Any],
    day: dt.date,
    rng: Any,
) -> dict[str, Any]:
    today = state.today()
    income = account["type"] == "CHECKING" and day.day in (1, 15)
    if income:
        description, category, top, mcc = "Payroll Deposit", "Paycheck", "Income", None
        amount, kind = round(rng.uniform(1800, 3200), 2), "CREDIT"
    else:
        description, category, top, mcc = rng.choice(_SPENDING)
        amount, kind = round(rng.uniform(3, 180), 2), "DEBIT"
    pending = (today - day).days < 2
    transacted = dt.datetime.combine(day, dt.time(12, 0), dt.UTC)
    posted = transacted + dt.timedelta(days=1)
    user = state.users[member.user_guid]
    return {
        "account_guid": account["guid"],
        "account_id": account["id"],
        "amount": amount,
        "category": category,
        "category_guid": f"CAT-{uuid.UUID(int=_stable_int(category))}",
        "check_number_string": None,
        "created_at": _stamp(posted),
        "currency_code": "USD",
        "date": day.isoformat(),
        "description": description,
        "extended_transaction_type": None,
        "guid": state.guid("TRN", account["guid"], day.toordinal()),
        "id": None,
        "is_bill_pay": False,
        "is_direct_deposit": income,
        "is_expense": not income,
        "is_fee": False,
        "is_income": income,
        "is_international": False,
        "is_manual": False,
        "is_overdraft_fee": False,
        "is_payroll_advance": False,
        "is_recurring": None,
        "is_subscription": description == "Netflix",
        "latitude": None,
        "localized_description": None,
        "localized_memo": None,
        "longitude": None,
        "member_guid": member.guid,
        "member_is_managed_by_user": False,
        "memo": None,
        "merchant_category_code": mcc,
        "merchant_guid": None if income else f"MCH-{uuid.UUID(int=_stable_int(description))}",
        "merchant_location_guid": None,
        "metadata": None,
        "original_description": description.upper(),
        "posted_at": None if pending else _stamp(posted),
        "status": "PENDING" if pending else "POSTED",
        "top_level_category": top,
        "transacted_at": _stamp(transacted),
        "type": kind,
        "updated_at": _stamp(posted),
        "user_guid": member.user_guid,
        "user_id": user.partner_id,
    }


def aggregate(state: SandboxState, member: SandboxMember) -> None:
    """Finish an aggregation at once: accounts and transactions appear when connected."""
    member.aggregated_at = _stamp(state.now())
    if member.connection_status != "CONNECTED" or member.accounts:
        return
    member.successfully_aggregated_at = member.aggregated_at
    today = state.today()
    for index, plan in enumerate(_ACCOUNT_PLANS):
        account = _account_json(state, member, index, plan)
        member.accounts.append(account)
        rng = stable_random(state.seed, member.guid, "transactions", index)
        day = today - dt.timedelta(days=_HISTORY_DAYS)
        while day <= today:
            member.transactions.append(_transaction_json(state, member, account, day, rng))
            day += dt.timedelta(days=rng.choice((1, 2, 3)) if plan[1] != "SAVINGS" else 14)
    member.transactions.sort(key=lambda t: (t["date"], t["guid"]), reverse=True)


def connection_status_for(values: Mapping[str, str]) -> str:
    """The ``connection_status`` a login reaches at the sandbox bank (by field name)."""
    if values.get("LOGIN") != _TEST_USERNAME:
        return "DENIED"
    return _STATUS_BY_PASSWORD.get(values.get("PASSWORD", ""), "CONNECTED")
