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


def test_config_repr_masks_passwords_in_urls():
    """repr(Config) shows configured URLs with their passwords and secret query values masked."""
    config = load_config(
        environ={},
        overrides={
            "rate_limit_storage": "async+redis://user:pw-storage@redis:6379/0",
            "cache": {"tiers": ["memory://", "redis://:pw-tier@redis:6379/1"]},
            "audit": {"url": "postgresql://audit:pw-audit@db/audit"},
            "fleet": {"url": "rediss://:pw-fleet@redis:6380"},
            "telemetry": {"webhook_url": "https://hooks.test/x?token=pw-hook"},
            "providers": {"p": {"base_url": "https://key:pw-base@api.test"}},
        },
    )
    text = repr(config)
    for password in ("pw-storage", "pw-tier", "pw-audit", "pw-fleet", "pw-hook", "pw-base"):
        assert password not in text, password
    assert "async+redis://user:***@redis:6379/0" in text
    assert "'redis://:***@redis:6379/1'" in text and "postgresql://audit:***@db/audit" in text


@pytest.mark.parametrize(
    ("overrides", "path", "expected"),
    [
        (
            {"providers": {"a": {"retry": {"attempts": 2.7}}}},
            "providers.a.retry.attempts",
            "integer",
        ),
        (
            {"providers": {"a": {"retry": {"attempts": True}}}},
            "providers.a.retry.attempts",
            "integer",
        ),
        ({"deadline": True}, "deadline", "number"),
        ({"deadline": "5"}, "deadline", "number"),
        ({"cache": {"max_entries": 1.5}}, "cache.max_entries", "integer"),
        ({"providers": {"a": {"enabled": "no"}}}, "providers.a.enabled", "true or false"),
        ({"region": 5}, "region", "string"),
        ({"providers": {"a": {"rate_limits": [10]}}}, "providers.a.rate_limits", "string"),
        ({"plugins": {"only": 7}}, "plugins.only", "list of strings"),
        ({"datasets": {"quote": {"ttl": "900"}}}, "datasets.quote.ttl", "table of tier"),
        ({"datasets": {"quote": {"ttl": {"free": True}}}}, "datasets.quote.ttl", "number"),
    ],
    ids=[
        "float-for-int",
        "bool-for-int",
        "bool-for-float",
        "string-for-float",
        "float-for-int-in-section",
        "string-for-bool",
        "int-for-string",
        "int-in-string-list",
        "int-for-list",
        "string-ttl",
        "bool-ttl",
    ],
)
def test_a_value_of_the_wrong_type_is_a_config_error_naming_the_key(overrides, path, expected):
    """No value is coerced: a wrong TOML type is a ConfigError with the key path at load."""
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(environ={}, overrides=overrides)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("overrides", "read"),
    [
        ({"plugins": {"only": "tiingo"}}, lambda c: c.plugins.only),
        ({"plugins": {"block": "tiingo"}}, lambda c: c.plugins.block),
        ({"cache": {"tiers": "memory://"}}, lambda c: c.cache.tiers),
        (
            {"providers": {"a": {"rate_limits": "10/second"}}},
            lambda c: c.providers["a"].rate_limits,
        ),
    ],
    ids=["plugins.only", "plugins.block", "cache.tiers", "rate_limits"],
)
def test_one_string_where_a_list_is_expected_is_a_list_of_one(overrides, read):
    """A string given for a list of strings is that one string, never its letters."""
    (value,) = read(load_config(environ={}, overrides=overrides))
    assert len(value) > 1


async def test_plugins_block_as_a_string_blocks_that_plugin(make_orchestrator):
    """plugins.block = "fake:b" blocks the plugin fake:b (not the letters of its name)."""
    from polysource.testing import FakeProvider

    orch = await make_orchestrator(
        FakeProvider("a"), FakeProvider("b"), plugins={"block": "fake:b"}
    )
    assert set(orch.registry.providers) == {"a"}


def test_one_ttl_number_is_the_ttl_of_every_tier():
    """datasets.NAME.ttl = 900 sets 900 seconds for every tier."""
    config = load_config(environ={}, overrides={"datasets": {"quote": {"ttl": 900}}})
    assert config.datasets["quote"].ttl == {"free": 900.0, "basic": 900.0, "premium": 900.0}


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected"),
    [
        ("POLYSOURCE_DEADLINE", "3.5", lambda c: c.deadline, 3.5),
        ("POLYSOURCE_REGION", "MX", lambda c: c.region, "MX"),
        ("POLYSOURCE_TIER", "premium", lambda c: c.tier, "premium"),
        ("POLYSOURCE_BATCH_CONCURRENCY", "8", lambda c: c.batch_concurrency, 8),
        ("POLYSOURCE_RATE_LIMIT_STORAGE", "memory://", lambda c: c.rate_limit_storage, "memory://"),
    ],
    ids=["deadline", "region", "tier", "batch_concurrency", "rate_limit_storage"],
)
def test_top_level_values_are_overridden_by_the_environment(variable, value, read, expected):
    """POLYSOURCE_<KEY> overrides a top-level value, like the sectioned ones."""
    assert read(load_config(environ={variable: value})) == expected


def test_switches_that_are_not_config_values_are_not_read_as_config():
    """POLYSOURCE_STRICT_PLUGINS, POLYSOURCE_CONFIG and the like are left to their readers."""
    environ = {"POLYSOURCE_STRICT_PLUGINS": "1", "POLYSOURCE_CONFIG": "x.toml"}
    assert load_config(environ=environ) == Config()


@pytest.mark.parametrize(
    ("variable", "read"),
    [
        ("POLYSOURCE_ROUTING__QUOTE__US", lambda c: c.routing["quote"]["US"]),
        (
            "POLYSOURCE_PROVIDERS__TIINGO__REGIONS__MX",
            lambda c: c.providers["tiingo"].regions["MX"],
        ),
    ],
    ids=["routing", "provider-regions"],
)
def test_region_keys_from_the_environment_keep_their_case(variable, read):
    """A region written in a variable name (US, MX) is not lower-cased; names of sections are."""
    value = '["tiingo"]' if "ROUTING" in variable else "1"
    assert read(load_config(environ={variable: value}))


def test_an_environment_key_matches_the_file_key_in_any_case(tmp_path):
    """POLYSOURCE_ROUTING__QUOTE__GLOBAL overrides the file's routing.quote.global."""
    path = _write(tmp_path, '[routing.quote]\nglobal = ["a"]\n')
    config = load_config(path, environ={"POLYSOURCE_ROUTING__QUOTE__GLOBAL": '["b"]'})
    assert config.routing["quote"] == {"global": ("b",)}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"providers": {"fakee": {"timeout": 1.0}}},
            r"providers\.fakee: unknown provider 'fakee' \(did you mean 'fake'\?\)",
        ),
        (
            {"routing": {"quote": {"US": ["fak"]}}},
            r"routing\.quote\.US: unknown provider 'fak' \(did you mean 'fake'\?\)",
        ),
        (
            {"routing": {"quotes": {"US": ["fake"]}}},
            r"routing\.quotes: unknown dataset or operation 'quotes' \(did you mean 'quote'\?\)",
        ),
    ],
    ids=["provider-section", "routing-provider", "routing-dataset"],
)
async def test_unregistered_names_in_config_fail_the_start(make_orchestrator, overrides, message):
    """A provider or dataset name nobody registered is a ConfigError at start, with the nearest."""
    from polysource.testing import FakeProvider

    with pytest.raises(ConfigError, match=message):
        await make_orchestrator(FakeProvider("fake"), **overrides)
