"""The [gateway] section of polysource.toml."""

from __future__ import annotations

import pytest

from polysource import ConfigError, load_config
from polysource.gateway import __all__ as gateway_all


def test_gateway_section_reads_keys_as_secrets(tmp_path):
    """API keys are read from the environment; their value never shows in the config's repr."""
    path = tmp_path / "polysource.toml"
    path.write_text(
        '[gateway]\nport = 9000\n[gateway.api_keys.shop]\nkey = { env = "SHOP_KEY" }\n'
        'tenant = "shop-42"\n'
    )
    config = load_config(path, environ={})
    assert config.gateway.port == 9000
    assert config.gateway.api_keys["shop"].tenant == "shop-42"
    assert "SHOP_KEY" in repr(config.gateway.api_keys["shop"].key)


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"api_keys": {"shop": {"key": "literal-key"}}}, "gateway.api_keys.shop.key"),
        ({"api_keys": {"shop": {"key": {"env": "K"}, "tier": "gold"}}}, "gateway.api_keys"),
        ({"max_batch": 0}, "gateway.max_batch"),
        ({"port": 70000}, "gateway.port"),
        ({"deadlines": 3}, "gateway"),
    ],
)
def test_bad_gateway_values_name_their_key(section, path):
    """A literal key, an unknown tier, a bad bound or a misspelt key is a ConfigError."""
    with pytest.raises(ConfigError) as info:
        load_config(environ={}, overrides={"gateway": section})
    assert path in str(info.value)


def test_gateway_all_is_sorted():
    """The gateway package's __all__ is sorted."""
    assert list(gateway_all) == sorted(gateway_all)


def test_prometheus_switch_without_an_exporter_plugin_is_a_config_error():
    """[telemetry] prometheus = true with no plugin answering metrics_exporter fails to start."""
    from polysource.gateway.metrics import exporters

    config = load_config(
        environ={},
        overrides={"telemetry": {"prometheus": True}, "plugins": {"block": ["prometheus"]}},
    )
    with pytest.raises(ConfigError, match=r"telemetry\.prometheus"):
        exporters(config)
