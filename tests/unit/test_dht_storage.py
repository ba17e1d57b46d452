from __future__ import annotations

import pytest

from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.dht.rtt import PeerHealth, RttEstimator
from synthswarm.swarm.dht.storage import KEY_FULL, RecordStore, StoreLimits
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import DHTError

KEY = b"\x01" * 32


def test_records_by_subkey_replace_and_expire() -> None:
    store = RecordStore()
    assert store.put(KEY, Record(b"a", b"1", 10), now=100.0) == (True, "")
    assert store.put(KEY, Record(b"b", b"2", 50), now=100.0)[0]
    assert store.put(KEY, Record(b"a", b"1-new", 10), now=105.0)[0]
    assert sorted(r.value for r in store.get(KEY, now=106.0)) == [b"1-new", b"2"]
    assert [r.value for r in store.get(KEY, now=120.0)] == [b"2"]
    assert store.get(KEY, now=151.0) == []
    assert len(store) == 0
    assert store.bytes_held == 0


def test_limits_refuse_instead_of_growing() -> None:
    store = RecordStore(StoreLimits(max_keys=2, max_records_per_key=2, max_bytes=100))
    assert store.put(b"\x01" * 32, Record(b"1", b"x", 10), now=0)[0]
    assert store.put(b"\x02" * 32, Record(b"1", b"x", 10), now=0)[0]
    assert store.put(b"\x03" * 32, Record(b"1", b"x", 10), now=0) == (False, "too many keys")
    assert store.put(b"\x01" * 32, Record(b"2", b"x", 10), now=0)[0]
    assert store.put(b"\x01" * 32, Record(b"3", b"x", 10), now=0) == (
        False,
        "too many records under this key",
    )
    assert store.put(b"\x02" * 32, Record(b"2", b"x" * 200, 10), now=0) == (False, "store is full")


def test_dump_and_load_keep_live_records_only() -> None:
    store = RecordStore()
    store.put(KEY, Record(b"a", b"long", 100), now=0)
    store.put(KEY, Record(b"b", b"short", 5), now=0)
    restored = RecordStore()
    assert restored.load(store.dump(), now=10) == 1
    assert [r.value for r in restored.get(KEY, now=10)] == [b"long"]


def test_loading_garbage_is_a_dht_error() -> None:
    with pytest.raises(DHTError):
        RecordStore().load(b"\xc1")


def test_rtt_timeouts_follow_measurements_within_bounds() -> None:
    rtt = RttEstimator(initial_timeout_s=1.0, min_timeout_s=0.01, max_timeout_s=2.0)
    assert rtt.timeout() == 1.0
    for _ in range(20):
        rtt.observe(0.001)
    assert rtt.timeout() == 0.01
    for _ in range(20):
        rtt.observe(3.0)
    assert rtt.timeout() == 2.0


def test_failures_back_off_exponentially_and_success_resets() -> None:
    health = PeerHealth()
    health.failed(base_s=10)
    assert health.backed_off()
    first = health.backoff_until
    health.failed(base_s=10)
    assert health.backoff_until - first > 9
    health.succeeded(0.01)
    assert not health.backed_off()
    assert health.failures == 0
    health.failed(base_s=10)
    health.heard_from()  # a request from the peer proves it alive
    assert not health.backed_off()
    assert health.failures == 0


@pytest.mark.parametrize(
    ("field", "value"), [("k", 0), ("k", 65), ("alpha", 0), ("rpc_retries", -1), ("record_ttl_s", 0)]
)
def test_bad_dht_settings_name_the_key(field: str, value: int) -> None:
    from synthswarm.swarm.dht import DHTSettings
    from synthswarm.swarm.errors import ConfigError

    with pytest.raises(ConfigError, match=f"dht.{field}"):
        DHTSettings(**{field: value})  # type: ignore[arg-type]


def test_expire_scans_only_when_a_record_may_be_due() -> None:
    store = RecordStore()
    store.put(KEY, Record(b"a", b"1", 10), now=100.0)
    store.put(b"\x02" * 32, Record(b"b", b"2", 50), now=100.0)
    assert store.expire(now=105.0) == 0
    assert store.expire(now=111.0) == 1  # the first lapsed; the next scan waits for the second
    assert store.expire(now=140.0) == 0
    assert store.expire(now=151.0) == 1
    assert len(store) == 0


async def test_replicate_pushes_every_record_of_a_due_key_and_skips_when_none_is_due() -> None:
    async with launch_swarm(4) as nodes:
        holder = nodes[0]
        for subkey in (b"a", b"b", b"c"):
            holder.store.put(KEY, Record(subkey, b"v-" + subkey, 600))
        assert await holder.replicate(older_than_s=0.0) == 3
        for node in nodes[1:]:
            assert sorted(r.subkey for r in node.store.get(KEY)) == [b"a", b"b", b"c"]
        assert await holder.replicate(older_than_s=3600.0) == 0  # just replicated: nothing due


async def test_replicate_pushes_others_records_under_a_key_this_node_also_published_under() -> None:
    async with launch_swarm(4) as nodes:
        holder = nodes[0]
        await holder.put(KEY, b"mine", subkey=b"own")  # republished by its owner, not replicated
        holder.store.put(KEY, Record(b"theirs", b"v", 600))  # another publisher's, held here
        assert await holder.replicate(older_than_s=0.0) == 1
        for node in nodes[1:]:
            assert sorted(r.subkey for r in node.store.get(KEY)) == [b"own", b"theirs"]
        assert await holder.replicate(older_than_s=3600.0) == 0


def test_a_keys_version_changes_with_its_live_records_only() -> None:
    store = RecordStore()
    assert store.version(b"k", now=0) == 0
    store.put(b"k", Record(b"a", b"1", 10), now=0)
    first = store.version(b"k", now=0)
    store.put(b"other", Record(b"a", b"1", 10), now=0)
    assert store.version(b"k", now=0) == first  # another key's store leaves it alone
    store.put(b"k", Record(b"b", b"2", 100), now=0)
    second = store.version(b"k", now=1)
    assert second != first
    assert store.version(b"k", now=50) not in (first, second)  # the first record expired
    assert store.version(b"k", now=500) == 0  # all gone
    refused = RecordStore(StoreLimits(max_records_per_key=1))
    refused.put(b"k", Record(b"a", b"1", 10), now=0)
    before = refused.version(b"k", now=0)
    assert not refused.put(b"k", Record(b"b", b"2", 10), now=0)[0]
    assert refused.version(b"k", now=0) == before  # a refused store changes nothing


def test_a_key_that_refused_for_being_full_says_so_for_a_while() -> None:
    store = RecordStore(StoreLimits(max_records_per_key=2))
    for i in range(2):
        store.put(b"k", Record(bytes([i]), b"v", 100), now=0)
    assert store.overflowed(b"k", within_s=50, now=0)  # full
    assert store.put(b"k", Record(b"x", b"v", 100), now=10) == (False, KEY_FULL)
    store.put(b"other", Record(b"a", b"v", 100), now=0)
    assert not store.overflowed(b"other", within_s=50, now=10)
    assert store.version(b"k", now=200) == 0  # both records expired: not full any more...
    assert not store.overflowed(b"k", within_s=50, now=200)  # ...and the refusal is old news
    store.put(b"k", Record(b"y", b"v", 100), now=0)
    assert store.put(b"k", Record(b"y2", b"v", 100), now=0)[0]
    assert not store.put(b"k", Record(b"z", b"v", 100), now=0)[0]
    store.version(b"k", now=150)  # expire both
    assert store.overflowed(b"k", within_s=200, now=150)  # refused recently: subscribers went deeper


def test_holds_sees_expiry_and_ignores_a_refused_first_store() -> None:
    store = RecordStore()
    store.put(KEY, Record(b"a", b"1", 10), now=100.0)
    store.put(b"\x02" * 32, Record(b"b", b"2", 50), now=100.0)
    assert store.holds(KEY, now=105.0)
    assert not store.holds(KEY, now=111.0)  # lapsed: the scan runs once a record may be due
    assert store.get(KEY, now=111.0) == []
    assert store.holds(b"\x02" * 32, now=111.0)
    tight = RecordStore(StoreLimits(max_bytes=2))
    assert not tight.put(KEY, Record(b"a", b"1234", 10), now=0)[0]
    assert not tight.holds(KEY, now=0)


def test_a_withdrawal_and_the_value_it_withdrew_keep_whichever_lives_longer() -> None:
    store = RecordStore()
    key = b"k" * 32
    store.put(key, Record(b"row", b"interest", 3600), now=1000.0)
    store.put(key, Record(b"row", b"", 3600), now=1010.0)  # withdrawn ten seconds later
    store.put(key, Record(b"row", b"interest", 3580), now=1020.0)  # a copy handed on (its expiry): ignored
    assert [r.value for r in store.get(key, now=1030.0)] == [b""]
    store.put(key, Record(b"row", b"again", 3600), now=1040.0)  # subscribed again, later: kept
    assert [r.value for r in store.get(key, now=1050.0)] == [b"again"]
    store.put(key, Record(b"row", b"", 3000), now=1060.0)  # a stale tombstone: ignored
    assert [r.value for r in store.get(key, now=1070.0)] == [b"again"]
    store.put(key, Record(b"row", b"changed", 60), now=1080.0)  # values replace values as before
    assert [r.value for r in store.get(key, now=1090.0)] == [b"changed"]


async def test_a_withdrawn_record_is_got_by_no_one() -> None:
    async with launch_swarm(5, seed=9) as nodes:
        key = b"\x07" * 32
        await nodes[0].put(key, b"kept", subkey=b"a", replicas=3)
        await nodes[0].put(key, b"taken back", subkey=b"b", replicas=3)
        result = await nodes[0].withdraw(key, subkey=b"b", replicas=3)
        assert result.stored >= 1
        assert nodes[0].published_records == 1  # no longer re-announced
        for node in nodes:
            assert [r.value for r in (await node.get(key)).records] == [b"kept"]
