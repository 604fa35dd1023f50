"""Tier URLs are read into settings; bad ones raise ConfigError without showing the password."""

from __future__ import annotations

import pytest

from polysource.errors import ConfigError
from polysource_redis import RedisSettings, parse_url

PASSWORD = "s3cr3t-p@ss/w?rd"
ENCODED = "s3cr3t-p%40ss%2Fw%3Frd"


def test_defaults_follow_the_tier_timeout() -> None:
    """A bare URL gives db 0, prefix ``ps``, one retry and timeouts equal to the tier timeout."""
    settings = parse_url("redis://cache.internal", timeout=0.1)
    assert settings == RedisSettings(
        nodes=(("cache.internal", 6379),), socket_timeout=0.1, connect_timeout=0.1
    )
    assert settings.prefix == "ps"
    assert settings.retries == 1
    assert not settings.tls
    assert not settings.cluster


def test_every_option_is_read() -> None:
    """Host, port, db, user and every query option land in their fields."""
    settings = parse_url(
        "rediss://app@cache:6380/2?prefix=polysource&name=l2&socket_timeout=0.5"
        "&connect_timeout=1.5&max_connections=32&retries=0&ssl_ca_certs=/etc/ca.pem"
        "&scan_count=100&max_scan_steps=7"
    )
    assert settings == RedisSettings(
        nodes=(("cache", 6380),),
        tls=True,
        db=2,
        username="app",
        prefix="polysource",
        name="l2",
        socket_timeout=0.5,
        connect_timeout=1.5,
        max_connections=32,
        retries=0,
        ssl_ca_certs="/etc/ca.pem",
        scan_count=100,
        max_scan_steps=7,
    )


def test_cluster_url_takes_several_start_up_nodes() -> None:
    """``redis+cluster://`` lists start-up nodes, IPv6 included; the default port is 6379."""
    settings = parse_url("redis+cluster://10.0.0.1:7000,10.0.0.2,[::1]:7002?prefix=c")
    assert settings.cluster
    assert settings.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert settings.url == "redis+cluster://10.0.0.1:7000,10.0.0.2:6379,[::1]:7002"
    assert settings.retries == 0  # redis-py's cluster client would retry timeouts too
    assert parse_url("rediss+cluster://n1:7000").tls


def test_password_from_the_url_is_percent_decoded_and_masked() -> None:
    """A password in the URL is decoded, usable, and absent from every repr."""
    settings = parse_url(f"redis://user:{ENCODED}@cache:6379/0")
    assert settings.password is not None
    assert settings.password.reveal() == PASSWORD
    assert settings.username == "user"
    for text in (repr(settings), str(settings), repr(settings.password), settings.url):
        assert PASSWORD not in text
        assert ENCODED not in text


def test_password_from_an_environment_variable() -> None:
    """``password_env`` names the variable holding the password; the value stays masked."""
    settings = parse_url(
        "redis://cache?password_env=REDIS_PASSWORD", environ={"REDIS_PASSWORD": PASSWORD}
    )
    assert settings.password is not None
    assert settings.password.reveal() == PASSWORD
    assert PASSWORD not in repr(settings)
    assert "REDIS_PASSWORD" in repr(settings.password)


def test_unset_password_env_is_a_config_error() -> None:
    """A ``password_env`` naming an unset variable fails at start-up, naming the variable."""
    with pytest.raises(ConfigError, match="REDIS_PASSWORD") as caught:
        parse_url("redis://cache?password_env=REDIS_PASSWORD", environ={})
    assert caught.value.path == "cache.tiers"


def test_password_in_url_and_env_at_once_is_refused_without_showing_it() -> None:
    """Both a password and ``password_env`` is ambiguous; the message masks the password."""
    with pytest.raises(ConfigError, match="both a password and password_env") as caught:
        parse_url(f"redis://:{ENCODED}@cache?password_env=X", environ={"X": "y"})
    assert ENCODED not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cache:6379", "is not a Redis URL"),
        ("cache:6379", "is not a Redis URL"),
        ("redis://", "names no host"),
        ("redis://a:1,b:2", "use redis\\+cluster://"),
        ("redis://cache:port", "bad host or port"),
        ("redis://cache:99999", "bad host or port"),
        ("redis://cache/zero", "is not a number"),
        ("redis+cluster://cache/1", "only database 0"),
        ("redis://cache?prefix=", "must not be empty"),
        ("redis://cache?socket_timeout=0", "positive number of seconds"),
        ("redis://cache?socket_timeout=nan", "positive number of seconds"),
        ("redis://cache?connect_timeout=soon", "could not convert"),
        ("redis://cache?max_connections=0", "positive whole number"),
        ("redis://cache?retries=3", "between 0 and 1"),
        ("redis://cache?timeout=1", "unknown option 'timeout'"),
        ("redis://cache?prefix=a&prefix=b", "given twice"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    """Each malformed URL or option raises ConfigError naming the problem and the tier key."""
    with pytest.raises(ConfigError, match=message) as caught:
        parse_url(url)
    assert caught.value.path == "cache.tiers"


@pytest.mark.parametrize(
    "url",
    [
        f"redis://user:{ENCODED}@cache:port",
        f"redis://user:{ENCODED}@cache?retries=9",
        f"redis://user:{PASSWORD}@cache?bogus=1",
        f"redis://:{PASSWORD}@cache/x",
        f"ftp://user:{PASSWORD}@cache",
    ],
)
def test_errors_never_show_the_password(url: str) -> None:
    """Whatever is wrong with a URL, the error's text holds no part of its password."""
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    for text in (str(caught.value), repr(caught.value)):
        assert "s3cr3t" not in text
        assert "***" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://cache:6379/0?bogus=1", "redis://cache:6379/0?bogus=1"),
        ("redis://user:pw@cache?bogus=1", "redis://user:***@cache?bogus=1"),
        ("redis://:pw@cache?bogus=1", "redis://:***@cache?bogus=1"),
        ("redis://lonely@cache?bogus=1", "redis://***@cache?bogus=1"),
        (f"redis://u:{PASSWORD}@cache/0?bogus=1", "redis://u:***@cache/0?bogus=1"),
        (f"redis://u:{ENCODED}@cache/0?bogus=1", "redis://u:***@cache/0?bogus=1"),
    ],
)
def test_errors_show_the_url_with_its_credentials_masked(url: str, shown: str) -> None:
    """An error quotes the URL as polysource.redaction.mask_url shows it: the credentials run
    to the last ``@`` and are masked whole, raw or percent-encoded."""
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    assert repr(shown) in str(caught.value)
