"""Configuration: TOML loading, environment overrides, key-path errors and masked secrets."""

from __future__ import annotations

import pytest

from polysource.config import Config, Secret, load_config
from polysource.errors import ConfigError

GOOD = """
region = "US"
tier = "basic"
deadline = 4.0
selection = "priority"

[cache]
tiers = ["memory://"]
max_bytes = 1048576

[providers.tiingo]
timeout = 2.5
base_url = "http://127.0.0.1:8001"
rate_limits = ["50/hour", "1000/day"]
cost_per_call = 0.01
budget = { limit = 10.0, period = "day" }
credentials = { api_key = { env = "TIINGO_API_KEY" } }

[providers.tiingo.breaker]
failure_threshold = 3

[routing.quote]
US = ["tiingo", "yahoo"]

[datasets.quote]
ttl = { free = 30, premium = 2 }
"""


def _write(tmp_path, text):
    path = tmp_path / "polysource.toml"
    path.write_text(text)
    return path


def test_good_file_structures_into_config(tmp_path):
    """Every section of a valid file lands in the typed config."""
    config = load_config(_write(tmp_path, GOOD), environ={})
    tiingo = config.providers["tiingo"]
    assert (config.region, config.tier, config.deadline) == ("US", "basic", 4.0)
    assert tiingo.timeout == 2.5 and tiingo.breaker.failure_threshold == 3
    assert tiingo.rate_limits == ("50/hour", "1000/day")
    assert tiingo.budget is not None and tiingo.budget.limit == 10.0
    assert tiingo.credentials["api_key"] == Secret(env="TIINGO_API_KEY")
    assert config.routing["quote"]["US"] == ("tiingo", "yahoo")
    assert config.datasets["quote"].ttl == {"free": 30, "premium": 2}


def test_defaults_need_no_file():
    """load_config with no file gives the defaults."""
    assert load_config(environ={}) == Config()


def test_env_override_with_double_underscore_path(tmp_path):
    """POLYSOURCE_SECTION__KEY overrides a value, parsed as TOML where it parses."""
    env = {
        "POLYSOURCE_PROVIDERS__TIINGO__TIMEOUT": "9.5",
        "POLYSOURCE_REGION": "ignored-without-double-underscore",
        "POLYSOURCE_CACHE__TIERS": '["memory://", "redis://localhost"]',
        "POLYSOURCE_TELEMETRY__LOG_LEVEL": "debug",
    }
    config = load_config(_write(tmp_path, GOOD), environ=env)
    assert config.providers["tiingo"].timeout == 9.5
    assert config.region == "US"
    assert config.cache.tiers == ("memory://", "redis://localhost")
    assert config.telemetry.log_level == "debug"


def test_unknown_key_names_path_and_nearest_key(tmp_path):
    """A misspelled key gives its path and the nearest valid key."""
    path = _write(tmp_path, "[providers.tiingo]\ntimeuot = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.path == "providers.tiingo"
    assert "'timeuot'" in str(caught.value) and "did you mean 'timeout'" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('deadline = "soon"', "deadline"),
        ("deadline = -1", "deadline"),
        ('tier = "gold"', "tier"),
        ("[providers.x]\ntimeout = 0", "providers.x.timeout"),
        ('[providers.x]\nrate_limits = ["lots"]', "providers.x.rate_limits"),
        ("[providers.x.retry]\nattempts = 0", "providers.x.retry.attempts"),
        ("[datasets.quote]\nttl = { gold = 3 }", "datasets.quote.ttl"),
        ('[cache]\ntiers = ["memory"]', "cache.tiers"),
        ('[providers.x.budget]\nlimit = 1\nperiod = "fortnight"', "providers.x.budget.period"),
        ('[providers.x.budget]\nperiod = "day"', "providers.x.budget.limit"),
    ],
)
def test_each_kind_of_bad_value_names_its_key(tmp_path, text, path):
    """Wrong types, ranges, enums, missing keys and bad limits raise ConfigError with the path."""
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ={})
    assert caught.value.path == path, str(caught.value)


def test_literal_secret_is_rejected_without_echoing_it(tmp_path):
    """A secret written as a literal is refused, and the error does not repeat the value."""
    text = '[providers.tiingo.credentials]\napi_key = "sk-live-supersecret"\n'
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ={})
    assert "sk-live-supersecret" not in str(caught.value)
    assert caught.value.path == "providers.tiingo.credentials.api_key"


def test_secret_reads_env_and_file_and_masks_repr(tmp_path, monkeypatch):
    """Secrets resolve from env or file; repr and str never show the value."""
    monkeypatch.setenv("PS_TEST_KEY", "abc-very-secret")
    secret_file = tmp_path / "key"
    secret_file.write_text("from-file-secret\n")
    env_secret, file_secret = Secret(env="PS_TEST_KEY"), Secret(file=str(secret_file))
    assert env_secret.reveal() == "abc-very-secret"
    assert file_secret.reveal() == "from-file-secret"
    for secret in (env_secret, file_secret, Secret.of("inline-value-xyz")):
        for text in (repr(secret), str(secret), f"{secret}"):
            for value in ("abc-very-secret", "from-file-secret", "inline-value-xyz"):
                assert value not in text


def test_missing_secret_env_names_the_variable_not_a_value():
    """A secret whose variable is unset raises ConfigError naming the variable."""
    with pytest.raises(ConfigError, match="PS_DEFINITELY_UNSET"):
        Secret(env="PS_DEFINITELY_UNSET").reveal()


def test_missing_file_and_bad_toml(tmp_path):
    """A missing file or invalid TOML is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "region = "), environ={})


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"fleet": {"url": "localhost:6379"}}, "fleet.url"),
        ({"fleet": {"lease": 0}}, "fleet.lease"),
        ({"fleet": {"timeout": -1}}, "fleet.timeout"),
        ({"fleet": {"failure_window": 0}}, "fleet.failure_window"),
    ],
)
def test_bad_fleet_settings_name_their_key(overrides, path):
    with pytest.raises(ConfigError) as error:
        load_config(environ={}, overrides=overrides)
    assert error.value.path == path


async def test_a_fleet_url_no_plugin_serves_is_a_config_error():
    from polysource import Orchestrator

    config = load_config(
        environ={},
        overrides={
            "fleet": {"url": "nats://localhost:4222"},
            "security": {"secret": Secret.of("s" * 32)},
        },
    )
    orch = Orchestrator(config, entry_points=False, environ={})
    with pytest.raises(ConfigError, match="no installed plugin serves fleet nats://") as error:
        await orch.start()
    assert error.value.path == "fleet.url"
