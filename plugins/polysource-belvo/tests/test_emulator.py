"""The Belvo emulator: paths, auth, validation, pagination, sandbox conveniences and faults."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource_belvo.emulator import INSTITUTIONS, create_app, error_body

WALL = 1_709_337_600.0  # 2024-03-02 00:00 UTC


def _auth(key_id: str = "sandbox-id", password: str = "sandbox-pw") -> dict[str, str]:
    token = base64.b64encode(f"{key_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Api:
    """A small client of the emulator for the tests."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def call(
        self, method: str, path: str, *, json: Any = None, headers: Any = None, **params: Any
    ) -> tuple[int, Any, Any]:
        target = path if path.startswith("http") else self.url + path
        async with self.session.request(
            method, target, json=json, params=params or None, headers=headers or _auth()
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body, resp.headers

    async def link(self, institution: str = "erebor_mx_retail", **fields: Any) -> dict[str, Any]:
        body = {"institution": institution, "username": "bnk100", "password": "full", **fields}
        status, link, _ = await self.call("POST", "/api/links/", json=body)
        assert status == 201, link
        return link


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """The emulator (seed 5, "now" 2024-03-02) and a client for it."""
    app = create_app(Faults(seed=5), clock=lambda: WALL)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        yield Api(session, url)


def _assert_error(body: Any, code: str) -> None:
    assert isinstance(body, list) and body[0]["code"] == code
    assert set(body[0]) >= {"code", "message", "request_id"}


async def test_api_root_needs_basic_auth(api) -> None:
    """``GET /api/`` (the SDK's login probe) answers with keys and 401 without."""
    status, body, _ = await api.call("GET", "/api/")
    assert status == 200 and body["links"] == f"{api.url}/api/links/"
    for headers in ({"Authorization": "Bearer x"}, _auth("id", ""), {"Authorization": "Basic !!"}):
        status, body, _ = await api.call("GET", "/api/", headers=headers)
        assert status == 401
        _assert_error(body, "authentication_failed")


async def test_configured_keys_are_the_only_ones_accepted() -> None:
    """With ``secret_id``/``secret_password`` set, other keys are 401."""
    app = create_app(secret_id="right-id", secret_password="right-pw")
    async with serve(app) as url, aiohttp.ClientSession() as session:
        api = Api(session, url)
        assert (await api.call("GET", "/api/", headers=_auth("right-id", "right-pw")))[0] == 200
        assert (await api.call("GET", "/api/", headers=_auth("right-id", "wrong")))[0] == 401


async def test_link_has_every_documented_key(api) -> None:
    """A new link is ``valid``, recurrent by default, with every key of Belvo's link object."""
    link = await api.link(external_id="tenant-1")
    assert set(link) == {
        "id",
        "institution",
        "access_mode",
        "last_accessed_at",
        "created_at",
        "external_id",
        "institution_user_id",
        "status",
        "created_by",
        "refresh_rate",
    }
    assert link["status"] == "valid" and link["access_mode"] == "recurrent"
    assert link["refresh_rate"] == "7d" and link["external_id"] == "tenant-1"
    status, listed, _ = await api.call("GET", "/api/links/", external_id="tenant-1")
    assert status == 200 and [item["id"] for item in listed["results"]] == [link["id"]]
    assert (await api.call("GET", f"/api/links/{link['id']}/"))[1] == link


async def test_same_seed_same_data() -> None:
    """Two apps with the same seed generate the same ids and amounts."""
    answers = []
    for _ in range(2):
        app = create_app(Faults(seed=9), clock=lambda: WALL)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            api = Api(session, url)
            link = await api.link()
            _, body, _ = await api.call("GET", "/api/transactions/", link=link["id"])
            answers.append((link["id"], [(t["id"], t["amount"]) for t in body["results"]]))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"institution": None}, 400, "required"),
        ({"username": ""}, 400, "required"),
        ({"password": None}, 400, "required"),
        ({"institution": "nowhere_mx_retail"}, 400, "invalid"),
        ({"access_mode": "forever"}, 400, "invalid"),
        ({"external_id": "ab"}, 400, "min_length"),
        ({"username": "user_invalid"}, 400, "login_error"),
        ({"password": "pass_invalid"}, 400, "login_error"),
        ({"username": "user_down"}, 400, "institution_down"),
        ({"username": "user_unavailable"}, 400, "institution_unavailable"),
        ({"username": "user_sessions"}, 400, "too_many_sessions"),
        ({"username": "user_unsupported"}, 400, "unsupported_operation"),
        ({"username": "user_timeout"}, 408, "request_timeout"),
        ({"username": "user_error"}, 500, "unexpected_error"),
    ],
)
async def test_link_creation_errors(api, fields, status, code) -> None:
    """Validation errors and the sandbox's failing users answer Belvo's error arrays."""
    body = {"institution": "erebor_mx_retail", "username": "bnk100", "password": "full", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    got, answer, _ = await api.call("POST", "/api/links/", json=body)
    assert got == status
    _assert_error(answer, code)


async def test_mfa_link_needs_a_token_then_resumes(api) -> None:
    """An MFA institution answers 428 with a session; ``PATCH /api/links/`` completes it."""
    body = {"institution": "gotham_mx_business", "username": "u", "password": "p"}
    status, answer, _ = await api.call("POST", "/api/links/", json=body)
    assert status == 428
    _assert_error(answer, "token_required")
    session, link_id = answer[0]["session"], answer[0]["link"]
    status, answer, _ = await api.call("POST", "/api/accounts/", json={"link": link_id})
    assert status == 400
    _assert_error(answer, "unconfirmed_link")
    status, link, _ = await api.call(
        "PATCH", "/api/links/", json={"session": session, "token": "1234ab", "link": link_id}
    )
    assert status == 200 and link["status"] == "valid"
    status, answer, _ = await api.call(
        "PATCH", "/api/links/", json={"session": session, "token": "1"}
    )
    assert status == 400
    _assert_error(answer, "session_expired")
    direct = await api.link("heimdall_br_retail", token="1234ab")
    assert direct["status"] == "valid"


async def test_lists_paginate_with_absolute_next_urls(api) -> None:
    """``next`` is an absolute URL on the request's own host; following it reads everything."""
    link = await api.link()
    url: str | None = f"{api.url}/api/transactions/?link={link['id']}&page_size=40"
    seen, pages = [], 0
    while url:
        status, body, _ = await api.call("GET", url)
        assert status == 200 and set(body) == {"count", "next", "previous", "results"}
        seen += [t["id"] for t in body["results"]]
        pages += 1
        url = body["next"]
        if url:
            assert URL(url).origin() == URL(api.url).origin()
            assert URL(url).query["page"] == str(pages + 1)
    assert len(seen) == len(set(seen)) == body["count"] > 100
    assert pages == -(-body["count"] // 40)


async def test_transaction_and_account_objects_have_every_key(api) -> None:
    """Transactions nest their account; both carry every documented key."""
    link = await api.link("erebor_br_retail")
    _, accounts, _ = await api.call("GET", "/api/accounts/", link=link["id"])
    assert [a["category"] for a in accounts["results"]] == [
        "CHECKING_ACCOUNT",
        "SAVINGS_ACCOUNT",
        "CREDIT_CARD",
    ]
    account = accounts["results"][0]
    assert account["currency"] == "BRL" and account["link"] == link["id"]
    assert {"balance", "credit_data", "loan_data", "funds_data", "balance_type"} <= set(account)
    _, body, _ = await api.call("GET", "/api/transactions/", link=link["id"], page_size=5)
    item = body["results"][0]
    assert {
        "id",
        "account",
        "value_date",
        "accounting_date",
        "amount",
        "balance",
        "currency",
        "description",
        "observations",
        "merchant",
        "category",
        "subcategory",
        "reference",
        "type",
        "status",
        "collected_at",
        "created_at",
        "credit_card_data",
        "internal_identification",
    } == set(item)
    assert item["type"] in ("INFLOW", "OUTFLOW") and item["amount"] > 0
    assert (await api.call("GET", f"/api/transactions/{item['id']}/"))[1]["id"] == item["id"]
    assert (await api.call("GET", f"/api/accounts/{account['id']}/"))[1]["id"] == account["id"]


async def test_transaction_filters(api) -> None:
    """``value_date__gte``/``__lte`` and ``account`` narrow the list."""
    link = await api.link()
    _, accounts, _ = await api.call("GET", "/api/accounts/", link=link["id"])
    checking = accounts["results"][0]["id"]
    _, body, _ = await api.call(
        "GET",
        "/api/transactions/",
        link=link["id"],
        account=checking,
        value_date__gte="2024-02-01",
        value_date__lte="2024-02-29",
        page_size=1000,
    )
    days = [t["value_date"] for t in body["results"]]
    assert days and all("2024-02-01" <= d <= "2024-02-29" for d in days)
    assert all(t["account"]["id"] == checking for t in body["results"])


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "required"),
        ({"link": "not-a-uuid"}, 400, "invalid"),
        ({"link": "LINK", "value_date__gte": "02/01/2024"}, 400, "invalid"),
        ({"link": "LINK", "page": "99"}, 404, "not_found"),
        ({"link": "LINK", "page": "x"}, 404, "not_found"),
    ],
)
async def test_transaction_list_validation(api, params, status, code) -> None:
    """``link`` is required and must be a UUID; bad dates and pages are rejected."""
    link = await api.link()
    params = {k: link["id"] if v == "LINK" else v for k, v in params.items()}
    got, body, _ = await api.call("GET", "/api/transactions/", **params)
    assert got == status
    _assert_error(body, code)


async def test_page_size_is_clamped(api) -> None:
    """``page_size`` above 1000 is 1000; below 1 falls back to the default."""
    link = await api.link()
    _, body, _ = await api.call("GET", "/api/transactions/", link=link["id"], page_size=5000)
    assert body["next"] is None
    _, body, _ = await api.call("GET", "/api/transactions/", link=link["id"], page_size=0)
    assert len(body["results"]) == 100


async def test_single_link_stores_data_after_retrieval(api) -> None:
    """A single link lists nothing until ``POST`` retrievals (201, arrays) store its data."""
    link = await api.link(access_mode="single")
    _, body, _ = await api.call("GET", "/api/accounts/", link=link["id"])
    assert body["count"] == 0
    status, accounts, _ = await api.call("POST", "/api/accounts/", json={"link": link["id"]})
    assert status == 201 and isinstance(accounts, list) and len(accounts) == 3
    body_ = {"link": link["id"], "date_from": "2024-02-01", "date_to": "2024-02-10"}
    status, items, _ = await api.call("POST", "/api/transactions/", json=body_)
    assert status == 201 and isinstance(items, list)
    assert all("2024-02-01" <= t["value_date"] <= "2024-02-10" for t in items)
    _, body, _ = await api.call("GET", "/api/accounts/", link=link["id"])
    assert body["count"] == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"date_from": "2024-02-01", "date_to": "2024-02-10"}, "required"),
        ({"link": "LINK", "date_to": "2024-02-10"}, "required"),
        ({"link": "LINK", "date_from": "2024-02-11", "date_to": "2024-02-10"}, "invalid_period"),
        ({"link": "LINK", "date_from": "2024-02-01", "date_to": "2030-01-01"}, "invalid"),
        (
            {
                "link": "5722d0ba-69d7-42dc-8ff5-33767b83c5d6",
                "date_from": "2024-02-01",
                "date_to": "2024-02-02",
            },
            "does_not_exist",
        ),
    ],
)
async def test_transaction_retrieval_validation(api, body, code) -> None:
    """``POST /api/transactions/`` needs link and both dates, in order, not in the future."""
    link = await api.link()
    body = {k: link["id"] if v == "LINK" else v for k, v in body.items()}
    status, answer, _ = await api.call("POST", "/api/transactions/", json=body)
    assert status == 400
    _assert_error(answer, code)


async def test_delete_link_forgets_its_data(api) -> None:
    """``DELETE /api/links/{id}/`` answers 204 and removes the link's data; again 404."""
    link = await api.link()
    assert (await api.call("DELETE", f"/api/links/{link['id']}/"))[0] == 204
    assert (await api.call("DELETE", f"/api/links/{link['id']}/"))[0] == 404
    _, body, _ = await api.call("GET", "/api/transactions/", link=link["id"])
    assert body["count"] == 0


async def test_unknown_paths_and_methods_answer_belvo_errors(api) -> None:
    """Unknown paths are 404 and wrong methods 405, both as error arrays."""
    status, body, _ = await api.call("GET", "/api/nothing/")
    assert status == 404
    _assert_error(body, "not_found")
    status, body, _ = await api.call("PUT", "/api/transactions/")
    assert status == 405
    _assert_error(body, "method_not_allowed")
    status, body, _ = await api.call("POST", "/api/links/", json=[1])
    assert status == 400


async def test_injected_rate_limit_carries_retry_after(api) -> None:
    """An injected 429 carries ``Retry-After`` and Belvo's error array."""
    faults = {"rate_limit_rate": 1.0, "retry_after": 3}
    async with api.session.post(f"{api.url}/_emulator/faults", json=faults) as resp:
        assert resp.status == 200
    status, body, headers = await api.call("GET", "/api/")
    assert status == 429 and headers["Retry-After"] == "3"
    _assert_error(body, "too_many_requests")


def test_error_body_shapes() -> None:
    """The fault middleware's bodies are Belvo arrays with the matching code."""
    for status, code in (
        (500, "unexpected_error"),
        (503, "service_unavailable"),
        (429, "too_many_requests"),
        (418, "invalid"),
    ):
        content_type, raw = error_body(status, "x")
        assert content_type == "application/json"
        _assert_error(orjson.loads(raw), code)


async def test_outage_and_malformed_faults() -> None:
    """An outage answers 503; a malformed fault truncates a JSON success."""
    app = create_app(Faults(outage=True), clock=lambda: WALL)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        api = Api(session, url)
        status, body, _ = await api.call("GET", "/api/")
        assert status == 503
        _assert_error(body, "service_unavailable")
        app[EMULATOR_STATE].set_faults(Faults(malformed_rate=1.0))
        async with session.get(f"{url}/api/", headers=_auth()) as resp:
            raw = await resp.read()
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(raw)


def test_institutions_cover_the_regions() -> None:
    """Demo institutions exist for Mexico, Colombia and Brazil, some with MFA."""
    countries = {i.country for i in INSTITUTIONS.values()}
    assert countries == {"MX", "CO", "BR"}
    assert any(i.mfa for i in INSTITUTIONS.values())
