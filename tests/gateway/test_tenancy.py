"""Tenancy from verified keys only, against the Plaid, Belvo and MX emulators; admin refusals;
no secret in any response."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

from polysource import ConfigError, Orchestrator, Secret, load_config
from polysource.emulation import Faults, serve
from polysource.gateway import create_app

SECRETS = {
    "plaid": {"client_id": "plaid-client-7f3a91", "secret": "plaid-secret-c0ffee42"},
    "belvo": {"secret_id": "belvo-id-5e1d77", "secret_password": "belvo-pass-9a8b7c"},
    "mx": {"client_id": "mx-client-31a7", "api_key": "mx-apikey-77ee01"},
}


class Recorder:
    """Every response's status, headers and body, for the canary scan."""

    def __init__(self, client):
        self.client = client
        self.seen: list[tuple[str, int, str, str]] = []

    async def call(self, method, path, **kwargs):
        response = await self.client.request(method, path, **kwargs)
        text = await response.text()
        self.seen.append((path, response.status, str(dict(response.headers)), text))
        return response.status, text


@pytest.fixture
async def bank_gateway(keys, serving):
    """The three bank emulators behind one orchestrator, served by the gateway."""
    import polysource_belvo
    import polysource_mx
    import polysource_plaid
    from polysource_belvo.emulator import create_app as belvo_app
    from polysource_mx.emulator import create_app as mx_app
    from polysource_plaid.emulator import create_app as plaid_app

    apps = {
        "plaid": plaid_app(Faults(seed=1)),
        "belvo": belvo_app(Faults(seed=2), **SECRETS["belvo"]),
        "mx": mx_app(Faults(seed=3), **SECRETS["mx"]),
    }
    async with AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(serve(app)) for name, app in apps.items()}
        providers = {
            name: {
                "base_url": urls[name],
                "credentials": {key: Secret.of(value) for key, value in SECRETS[name].items()},
                "retry": {"attempts": 1},
            }
            for name in apps
        }
        config = load_config(
            environ={},
            overrides={
                "providers": providers,
                "telemetry": {"log": False},
                "gateway": keys.section(),
            },
        )
        orch = Orchestrator(
            config,
            plugins=[polysource_plaid, polysource_belvo, polysource_mx],
            entry_points=False,
            environ={},
        )
        async with orch, serving(orch) as client:
            yield Recorder(client)


async def test_tenant_b_never_reads_tenant_a_data(bank_gateway, keys):
    """Bob's key reads none of Alice's accounts or transactions through any route."""
    gw = bank_gateway
    alice, bob = keys.auth(keys.alice), keys.auth(keys.bob)
    status, _ = await gw.call(
        "POST",
        "/v1/operations/create_link?region=US",
        json={"institution": "ins_109508"},
        headers=alice,
    )
    assert status == 200
    status, alice_accounts = await gw.call(
        "POST", "/v1/operations/get_accounts?region=US", headers=alice
    )
    assert status == 200
    status, alice_transactions = await gw.call(
        "GET", "/v1/transactions/all?region=US", headers=alice
    )
    assert status == 200
    import json

    account_ids = {a["account_id"] for a in json.loads(alice_accounts)["data"]["accounts"]}
    transaction_ids = {
        t["transaction_id"] for t in json.loads(alice_transactions)["data"]["transactions"]
    }
    assert account_ids and transaction_ids
    attempts = [
        ("GET", "/v1/transactions/all?region=US", {}),
        ("GET", "/v1/accounts/all?region=US", {}),
        ("POST", "/v1/transactions/batch?region=US", {"json": {"keys": ["all"]}}),
        ("POST", "/v1/transactions/merged/all?region=US", {}),
        ("POST", "/v1/operations/get_accounts?region=US", {}),
        ("POST", "/v1/operations/sync_transactions?region=US", {}),
    ]
    for method, path, extra in attempts:
        for headers in (bob, keys.auth(keys.public), {}):
            status, text = await gw.call(method, path, headers=headers, **extra)
            assert status != 200 or 'results":{}' in text, (path, status, text)
            for identifier in account_ids | transaction_ids:
                assert identifier not in text, (path, headers)
    # The tenant cannot be smuggled in through the query either.
    status, _ = await gw.call("GET", "/v1/transactions/all?region=US&tenant=tenant-a", headers=bob)
    assert status == 400
    # Alice still reads her own data from the cache.
    status, again = await gw.call("GET", "/v1/transactions/all?region=US", headers=alice)
    assert status == 200 and again == alice_transactions


async def test_private_reads_need_a_key_with_a_tenant(bank_gateway, keys):
    """No key is 401; a key without a tenant is 403; an unknown key is 401."""
    gw = bank_gateway
    assert (await gw.call("GET", "/v1/accounts/all"))[0] == 401
    assert (await gw.call("GET", "/v1/accounts/all", headers=keys.auth(keys.public)))[0] == 403
    assert (await gw.call("GET", "/v1/accounts/all", headers=keys.auth("nope-nope")))[0] == 401
    assert (await gw.call("GET", "/v1/accounts/all", headers={"Authorization": "Basic x"}))[
        0
    ] == 401


ADMIN_ROUTES = [
    ("GET", "/v1/admin/stats", {}),
    ("DELETE", "/v1/admin/cache", {}),
    ("DELETE", "/v1/admin/cache/accounts", {}),
    ("POST", "/v1/admin/prefetch", {"json": {"dataset": "quote", "keys": ["AAPL"]}}),
    ("POST", "/v1/admin/providers/plaid/disable", {}),
    ("POST", "/v1/admin/providers/plaid/reset", {}),
    ("POST", "/v1/admin/providers/plaid/rank", {"json": {"region": "US", "rank": 1}}),
]


async def test_admin_routes_refuse_missing_wrong_and_truncated_tokens(bank_gateway, keys):
    """Every admin route is 401 without, with a wrong, a truncated or an API key as token."""
    gw = bank_gateway
    refused = [
        {},
        keys.auth("wrong-token-wrong-token"),
        keys.auth(keys.admin[:-1]),
        keys.auth(keys.admin[:8]),
        keys.auth(keys.admin + "x"),
        keys.auth(keys.alice),
        {"Authorization": keys.admin},
    ]
    for method, path, extra in ADMIN_ROUTES:
        for headers in refused:
            status, _ = await gw.call(method, path, headers=headers, **extra)
            assert status == 401, (path, headers)
    status, text = await gw.call("GET", "/v1/admin/stats", headers=keys.auth(keys.admin))
    assert status == 200 and "plaid" in text
    status, _ = await gw.call(
        "POST", "/v1/admin/providers/plaid/disable", headers=keys.auth(keys.admin)
    )
    assert status == 200
    health = await gw.call("GET", "/health")
    assert '"enabled":false' in health[1]


async def test_admin_routes_are_off_without_a_token(make_orchestrator, serving, keys):
    """Without [gateway] admin_token, every admin route is 404, whatever is sent."""
    config = load_config(
        environ={},
        overrides={"telemetry": {"log": False}, "gateway": keys.section(admin_token=None)},
    )
    orch = await make_orchestrator(config=config)
    async with serving(orch) as client:
        for method, path, extra in ADMIN_ROUTES:
            response = await client.request(method, path, headers=keys.auth(keys.admin), **extra)
            assert response.status == 404, path


async def test_a_short_admin_token_is_refused_at_start(make_orchestrator, keys):
    """An admin token under 16 characters is a ConfigError when the app is built."""
    config = load_config(
        environ={},
        overrides={"gateway": keys.section(admin_token=Secret.of("short"))},
    )
    orch = await make_orchestrator(config=config)
    with pytest.raises(ConfigError, match="admin_token"):
        create_app(orch)


async def test_no_secret_in_any_response(bank_gateway, keys):
    """A scenario over every route: no credential, key or token in any body or header."""
    gw = bank_gateway
    alice, admin = keys.auth(keys.alice), keys.auth(keys.admin)
    await gw.call(
        "POST",
        "/v1/operations/create_link?region=US",
        json={"institution": "ins_109508"},
        headers=alice,
    )
    await gw.call(
        "POST",
        "/v1/operations/create_link?region=MX",
        json={"institution": "erebor_mx_retail", "username": "bnk100", "password": "full"},
        headers=alice,
    )
    for method, path, extra in [
        ("GET", "/v1/transactions/all?region=US", {"headers": alice}),
        ("POST", "/v1/operations/get_accounts?region=MX", {"headers": alice}),
        ("GET", "/v1/accounts/all?region=US", {"headers": keys.auth(keys.bob)}),
        ("GET", "/v1/accounts/all", {"headers": keys.auth(keys.admin[:-2])}),
        ("GET", "/health", {}),
        ("GET", "/stats", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/v1/providers", {}),
        ("GET", "/v1/admin/stats", {"headers": admin}),
        ("GET", "/v1/admin/stats", {"headers": alice}),
    ]:
        await gw.call(method, path, **extra)
    canaries = [v for creds in SECRETS.values() for v in creds.values()]
    canaries += [keys.alice, keys.bob, keys.public, keys.admin, "full"]
    for path, _, headers, body in gw.seen:
        for canary in canaries:
            if canary == "full":  # the bank password, in any encoding of a JSON string
                assert '"full"' not in body, path
                continue
            assert canary not in body and canary not in headers, (path, canary)
