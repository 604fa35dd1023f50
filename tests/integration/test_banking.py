"""Bank aggregation end to end: Plaid, Belvo and MX emulators behind one orchestrator.

Region routing and failover, sticky reads, tenant isolation, and a scan of everything the
engine emitted during the scenario for any secret.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
import structlog

from polysource import AllProvidersFailed, Orchestrator, Secret, load_config
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.operations import CreateLink
from polysource.testing import EventRecorder

SECRETS = {
    "plaid": {"client_id": "plaid-client-7f3a91", "secret": "plaid-secret-c0ffee42"},
    "belvo": {"secret_id": "belvo-id-5e1d77", "secret_password": "belvo-pass-9a8b7c"},
    "mx": {"client_id": "mx-client-31a7", "api_key": "mx-apikey-77ee01"},
}
BANK_PASSWORDS = ("full", "password")


@pytest.fixture
async def banking():
    """The three emulators (with fixed keys), and an orchestrator configured for them."""
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
    recorder = EventRecorder()
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
                "telemetry": {"log_level": "debug"},
            },
        )
        orch = Orchestrator(
            config,
            plugins=[polysource_plaid, polysource_belvo, polysource_mx, recorder],
            entry_points=False,
            environ={},
        )
        async with orch:
            yield orch, {name: app[EMULATOR_STATE] for name, app in apps.items()}, recorder


async def _scenario(orch, states):
    """Link and read in the US and in Mexico, with Plaid down half-way; return the outcomes."""
    outcomes = []
    us = await orch.execute(
        "create_link", CreateLink(institution="ins_109508"), tenant="alice", region="US"
    )
    outcomes.append(us)
    outcomes.append(await orch.execute("get_accounts", tenant="alice", region="US"))
    outcomes.append(await orch.execute("sync_transactions", tenant="alice", region="US"))
    outcomes.append(await orch.fetch("transactions", "all", tenant="alice", region="US"))
    states["plaid"].set_faults(Faults(outage=True))
    outcomes.append(
        await orch.execute(
            "create_link",
            CreateLink("mxbank", Secret.of("mxuser"), Secret.of("password")),
            tenant="bob",
            region="US",
        )
    )
    outcomes.append(await orch.execute("get_accounts", tenant="bob", region="US"))
    outcomes.append(
        await orch.execute(
            "create_link",
            CreateLink("erebor_mx_retail", Secret.of("bnk100"), Secret.of("full")),
            tenant="carla",
            region="MX",
        )
    )
    outcomes.append(await orch.execute("sync_transactions", tenant="carla", region="MX"))
    try:
        await orch.execute("get_accounts", tenant="alice", region="US")
    except AllProvidersFailed as failed:
        outcomes.append(failed)
    return outcomes


async def test_regions_failover_and_sticky_reads(banking):
    """US goes to Plaid, then to MX while Plaid is down; Mexico to Belvo; reads stay sticky."""
    orch, states, _ = banking
    outcomes = await _scenario(orch, states)
    us_link, accounts, sync, fetched, bob_link, bob_accounts, mx_link, mx_sync, alice_down = (
        outcomes
    )
    assert (us_link.provider, us_link.failover_used) == ("plaid", False)
    assert accounts.provider == "plaid" and accounts.data.accounts
    assert sync.data.transactions and fetched.source == "plaid"
    assert (bob_link.provider, bob_link.failover_used) == ("mx", True)
    assert bob_accounts.provider == "mx"
    assert [(e.provider, e.category) for e in bob_accounts.errors] == [("plaid", "auth")]
    assert (mx_link.provider, mx_sync.provider) == ("belvo", "belvo")
    # Alice is linked only at Plaid: with Plaid down her read does not go to MX.
    assert isinstance(alice_down, AllProvidersFailed)
    assert {e.provider: e.category for e in alice_down.errors} == {
        "plaid": "provider_down",
        "mx": "auth",
    }


async def test_tenants_never_see_each_others_data(banking):
    """Private datasets are cached per tenant; another tenant's read is denied, not served."""
    orch, _, _ = banking
    await orch.execute(
        "create_link", CreateLink(institution="ins_109508"), tenant="alice", region="US"
    )
    mine = await orch.fetch("accounts", "all", tenant="alice", region="US")
    again = await orch.fetch("accounts", "all", tenant="alice", region="US")
    assert again.cached and again.data == mine.data
    with pytest.raises(AllProvidersFailed) as caught:
        await orch.fetch("accounts", "all", tenant="mallory", region="US")
    assert {e.category for e in caught.value.errors} == {"auth"}
    with pytest.raises(Exception, match="tenant"):
        await orch.fetch("accounts", "all", region="US")


async def test_no_secret_in_anything_the_engine_emitted(banking):
    """Events, logs, errors, results' reprs, stats and health hold no credential or token."""
    orch, states, recorder = banking
    with structlog.testing.capture_logs() as logs:
        outcomes = await _scenario(orch, states)
    tokens = []
    for connection in [
        c for tenant in ("alice", "bob", "carla") for c in await orch.connections.list(tenant)
    ]:
        if connection.access_token is not None:
            tokens.append(connection.access_token.reveal())
    for outcome in outcomes:
        link = getattr(getattr(outcome, "data", None), "link_token", None)
        if link is not None:
            tokens.append(link.reveal())
    assert tokens, "the scenario should have produced tokens to look for"
    texts = [repr(e.to_dict()) for e in recorder.events] + [repr(line) for line in logs]
    texts += [repr(o) + str(o) for o in outcomes]
    texts += [str(e) + repr(e) for o in outcomes for e in getattr(o, "errors", ())]
    texts += [repr(orch.stats()), repr(orch.health()), repr(orch.connections)]
    emitted = "\n".join(texts)
    forbidden = [v for creds in SECRETS.values() for v in creds.values()]
    forbidden += list(BANK_PASSWORDS) + tokens
    for secret in forbidden:
        assert secret not in emitted, f"a secret leaked: {secret[:4]}..."
    with_tenant = [e.to_dict() for e in recorder.events if e.tenant]
    assert with_tenant and all(e["tenant"].startswith("h:") for e in with_tenant)
    assert "alice" not in repr(with_tenant)
