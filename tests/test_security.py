"""The deployment secret: keyed tenant digests and pseudonyms, signatures, and the
configurations that need a secret."""

from __future__ import annotations

import pytest

from polysource import Orchestrator, load_config
from polysource.config import Secret
from polysource.connections import Connection
from polysource.datasets import ACCOUNTS, Accounts
from polysource.errors import ConfigError
from polysource.security import Keyring
from polysource.testing import FakeCacheBackends, FakeProvider

SECRET = "a-deployment-secret-of-enough-length-0123"


def test_processes_with_one_secret_agree_and_other_secrets_do_not():
    """Two keyrings of one secret give the same digest and pseudonym; another secret, or
    none, gives others."""
    one, two, other = Keyring(SECRET), Keyring(SECRET), Keyring(SECRET + "x")
    assert one.digest("alice") == two.digest("alice") != other.digest("alice")
    assert one.pseudonym("alice") == two.pseudonym("alice") != other.pseudonym("alice")
    assert len(one.digest("alice")) == 64 and one.pseudonym("alice").startswith("h:")
    assert Keyring().pseudonym("alice") != Keyring().pseudonym("alice")
    assert not Keyring().keyed and one.keyed


def test_a_signed_message_verifies_and_a_forged_or_altered_one_does_not():
    """``verify`` gives back the body of a message signed with the same secret only."""
    one = Keyring(SECRET)
    message = one.sign(b"body")
    assert one.verify(message) == b"body"
    assert Keyring(SECRET + "x").verify(message) is None
    assert one.verify(message[:-1] + b"X") is None
    assert one.verify(b"body") is None


def test_a_short_secret_is_a_config_error_that_does_not_quote_it():
    """A secret under 32 characters is refused, naming the key and not the value."""
    with pytest.raises(ConfigError) as error:
        Keyring.from_secret(Secret.of("hunter2-too-short"))
    assert error.value.path == "security.secret" and "hunter2" not in str(error.value)


def test_a_secret_from_a_missing_variable_names_the_variable():
    """``{ env = ... }`` naming an unset variable is a config error at ``security.secret``."""
    config = load_config(
        environ={}, overrides={"security": {"secret": {"env": "POLYSOURCE_TEST_UNSET_SECRET"}}}
    )
    with pytest.raises(ConfigError, match="POLYSOURCE_TEST_UNSET_SECRET") as error:
        Keyring.from_secret(config.security.secret)
    assert error.value.path == "security.secret"
    assert "********" in repr(config.security)


async def test_a_shared_tier_serving_private_data_needs_the_secret():
    """Without a secret, a shared tier with a private dataset a provider serves is refused."""
    config = load_config(environ={}, overrides={"cache": {"tiers": ["memory://", "fake://l2"]}})
    bank = FakeProvider("bank", datasets={"accounts"})
    orch = Orchestrator(config, plugins=[bank, FakeCacheBackends()], entry_points=False)
    with pytest.raises(ConfigError, match=r"accounts.*POLYSOURCE_SECRET") as error:
        await orch.start()
    assert error.value.path == "security.secret"


async def test_a_fleet_needs_the_secret():
    """Without a secret a fleet is refused: its messages could not be signed."""
    config = load_config(environ={}, overrides={"fleet": {"url": "redis://localhost:6379"}})
    orch = Orchestrator(config, plugins=[FakeProvider("a")], entry_points=False)
    with pytest.raises(ConfigError, match="POLYSOURCE_SECRET") as error:
        await orch.start()
    assert error.value.path == "security.secret"


async def test_memory_only_and_public_shared_data_need_no_secret(make_orchestrator, clock):
    """Private data in memory only, or public data in a shared tier, starts without a secret."""
    bank = FakeProvider("bank", datasets={"accounts"}, clock=clock).answer("all", Accounts(()))
    orch = await make_orchestrator(bank)
    await orch.connections.save(Connection("alice", "bank", "link"))
    assert (await orch.fetch(ACCOUNTS, "all", tenant="alice")).data == Accounts(())
    quotes = FakeProvider("q", clock=clock)
    await make_orchestrator(quotes, FakeCacheBackends(), cache={"tiers": ["memory://", "fake://x"]})
