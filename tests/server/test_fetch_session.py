"""The fetch session cache (KIP-227) on its own: eviction rules and epochs. The protocol
end to end, with real clients, is in tests/compat/test_fetch_sessions.py."""

from __future__ import annotations

from pystream.protocol.error_codes import ErrorCode
from pystream.server.fetch_session import EVICTION_MS, MAX_EPOCH, FetchSessionCache, next_epoch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def topics(n: int, topic: str = "t") -> list[dict]:
    return [{"topic": topic, "partitions": [{"partition": i, "fetch_offset": 0, "partition_max_bytes": 1} for i in range(n)]}]


def resp(i: int, hw: int = 0, records: bytes = b"", error: int = 0) -> dict:
    return {"partition_index": i, "error_code": error, "high_watermark": hw, "last_stable_offset": hw, "log_start_offset": 0,
            "records": records}


def open_session(cache: FetchSessionCache, n: int, privileged: bool = False) -> int:
    ctx = cache.new_context(0, 0, topics(n), [], privileged=privileged)
    err, sid, out = ctx.finish([resp(i) for i in range(n)])
    assert err == ErrorCode.NONE and len(out) == n
    return sid


def test_stale_session_evicted_by_any_new_one():
    clock = Clock()
    cache = FetchSessionCache(slots=2, clock=clock)
    _a, b = open_session(cache, 5), open_session(cache, 5)
    assert open_session(cache, 1) == 0 and cache.refused == 1  # full; a 1-partition session is worth less
    clock.now += EVICTION_MS / 1000 / 2
    cache.new_context(b, 1, [], [])  # b is used: a is the least recently used
    clock.now += EVICTION_MS / 1000 / 2 + 1
    c = open_session(cache, 1)
    assert c != 0 and set(cache.sessions) == {b, c} and cache.evicted == 1


def test_follower_sessions_evicted_only_by_followers():
    cache = FetchSessionCache(slots=1, clock=Clock())
    f = open_session(cache, 1, privileged=True)
    assert open_session(cache, 50) == 0  # a consumer's session never evicts a follower's
    g = open_session(cache, 2, privileged=True)
    assert g != 0 and set(cache.sessions) == {g} and f not in cache.sessions


def test_epochs_and_incremental_answers():
    cache = FetchSessionCache(slots=10, clock=Clock())
    sid = open_session(cache, 3)
    assert cache.new_context(sid, 2, [], []).error == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    ctx = cache.new_context(sid, 1, [], [])
    assert [fp["partition"] for _t, fp in ctx.partitions] == [0, 1, 2]
    # nothing changed but partition 1's high watermark
    err, got_sid, out = ctx.finish([resp(0), resp(1, hw=4, records=b"xx"), resp(2)])
    assert (err, got_sid, [r["partition_index"] for _t, r in out]) == (ErrorCode.NONE, sid, [1])
    # partition 1 returned records: it moved to the end of the order; forgetting 0 drops it
    ctx = cache.new_context(sid, 2, [], [{"topic": "t", "partitions": [0]}])
    assert [fp["partition"] for _t, fp in ctx.partitions] == [2, 1]
    # an error is always answered, and the partition again once the error clears
    err, _sid, out = ctx.finish([resp(2, error=3), resp(1, hw=4)])
    assert [r["partition_index"] for _t, r in out] == [2]
    _e, _s, out = cache.new_context(sid, 3, [], []).finish([resp(2), resp(1, hw=4)])
    assert [r["partition_index"] for _t, r in out] == [2]
    # a full fetch naming the session closes it
    cache.new_context(sid, -1, topics(1), [])
    assert cache.new_context(sid, 4, [], []).error == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_concurrent_use_of_one_epoch_is_refused():
    cache = FetchSessionCache(slots=10, clock=Clock())
    sid = open_session(cache, 1)
    first = cache.new_context(sid, 1, [], [])
    second = cache.new_context(sid, 2, [], [])  # overtakes the first before it answers
    assert first.finish([resp(0)])[0] == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    assert second.finish([resp(0)])[0] == ErrorCode.NONE


def test_epoch_wraps_to_one():
    assert next_epoch(MAX_EPOCH) == 1 and next_epoch(0) == 1 and next_epoch(7) == 8
