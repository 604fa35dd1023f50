"""The backend on a three-node Redis Cluster formed by ``redis-cli --cluster create``."""

from __future__ import annotations

import time

import pytest
import redis
import redis.exceptions
from redis.crc import key_slot

TIMEOUT = 0.5
"""Looser than a single server's: the first command reads the cluster's layout."""


def _slot(prefix: str, key: str) -> int:
    return key_slot(f"{prefix}:{key}".encode())


async def test_get_many_reads_tagged_and_untagged_keys_across_nodes(
    cluster, make_backend, wire, prefix
):
    """One key is a GET, tagged keys one MGET, untagged ones an MGET per slot (a write per node)."""
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}?prefix={prefix}"
    backend = make_backend(url, timeout=TIMEOUT)
    tagged = [f"{{quote:US}}:-:SYM{i}" for i in range(50)]
    untagged = [f"plain-{i}" for i in range(50)]
    for key in [*tagged, *untagged]:
        await backend.set(key, key.encode(), 60)
    slots = {_slot(prefix, key) for key in untagged}
    assert len(slots) > 3  # the untagged keys really are spread out

    wire.clear()
    assert await backend.get_many(tagged) == [key.encode() for key in tagged]
    assert wire.commands() == [[b"MGET", *(f"{prefix}:{key}".encode() for key in tagged)]]

    wire.clear()
    assert [await backend.get(key) for key in (tagged[0], untagged[0])] == [
        tagged[0].encode(),
        untagged[0].encode(),
    ]
    assert wire.commands() == [
        [b"GET", f"{prefix}:{key}".encode()] for key in (tagged[0], untagged[0])
    ]

    wire.clear()
    asked = [*untagged[:25], "absent", *tagged, *untagged[25:]]
    found = await backend.get_many(asked)

    assert found == [None if key == "absent" else key.encode() for key in asked]
    mgets = wire.commands(b"MGET")
    assert len(mgets) == len(slots | {_slot(prefix, "absent"), _slot(prefix, tagged[0])})
    assert all(len({key_slot(key) for key in mget[1:]}) == 1 for mget in mgets)
    assert len(wire.writes_with(b"MGET")) <= len(cluster)


async def test_set_delete_and_delete_pattern_span_every_node(cluster, make_backend, prefix):
    """TTLs hold, ``delete`` unlinks across slots, ``delete_pattern`` scans every primary."""
    url = f"redis+cluster://127.0.0.1:{cluster[0].port},127.0.0.1:{cluster[1].port}?prefix={prefix}"
    backend = make_backend(url, timeout=TIMEOUT)
    keys = [f"quote:K{i}" for i in range(60)]
    for key in keys:
        await backend.set(key, b"r", 30)
    await backend.set("bars:K0", b"r", 30)
    holders = set()
    for node in cluster:
        probe = redis.Redis(port=node.port, socket_timeout=2)
        try:
            held = probe.keys(f"{prefix}:quote:*")
            if held:
                holders.add(node.port)
                assert all(0 < probe.pttl(key) <= 30_000 for key in held)
        finally:
            probe.close()
    assert len(holders) == 3

    await backend.delete(keys[:10])
    assert await backend.get_many(keys[:11]) == [None] * 10 + [b"r"]

    assert await backend.delete_pattern("quote:*") == 50
    assert await backend.get_many([*keys, "bars:K0"]) == [None] * 60 + [b"r"]


async def test_delete_pattern_on_a_fresh_backend_reads_the_layout_first(
    cluster, make_backend, prefix
):
    """``delete_pattern`` as the very first call still finds every primary."""
    url = f"redis+cluster://127.0.0.1:{cluster[2].port}?prefix={prefix}"
    writer = make_backend(url, timeout=TIMEOUT)
    for i in range(20):
        await writer.set(f"k{i}", b"r", 30)

    fresh = make_backend(url, timeout=TIMEOUT)
    assert await fresh.delete_pattern("k*") == 20


async def test_a_frozen_node_costs_one_timeout_and_the_backend_recovers(
    cluster, make_backend, prefix
):
    """With a node frozen by SIGSTOP a lookup times out within 2x the timeout; after SIGCONT
    the same backend reads every key again."""
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}?prefix={prefix}"
    backend = make_backend(url, timeout=0.25)
    keys = [f"k{i}" for i in range(30)]
    for key in keys:
        await backend.set(key, b"r", 30)
    victim = cluster[2]
    victim.pause()
    try:
        started = time.perf_counter()
        with pytest.raises(redis.exceptions.TimeoutError):
            await backend.get_many(keys)
        assert time.perf_counter() - started < 2 * 0.25
    finally:
        victim.resume()

    assert await backend.get_many(keys) == [b"r"] * 30
