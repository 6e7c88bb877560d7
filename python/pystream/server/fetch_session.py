"""Incremental fetch sessions (KIP-227), as Kafka's FetchManager / FetchSessionCache.

A client that sends a full Fetch with session id 0 and epoch 0 asks for a session:
the broker remembers the request's partitions (with their fetch offsets) and the
high watermark and log start offset it last sent for each, and answers with a
session id. The client's next requests (epoch 1, 2, ...) carry only the partitions
whose fetch position changed, plus `forgotten_topics_data`; the broker reads every
partition of the session and answers only those with something new: records, a
moved high watermark or log start offset, an error.

Request metadata (session_id, session_epoch):
  (0, -1)  sessionless full fetch (Fetch v4-6 always, and librdkafka);
  (0, 0)   full fetch creating a session when the cache has room;
  (X, 0)   closes session X, then as (0, 0);   (X, -1) closes X, then sessionless;
  (X, n>0) incremental: FETCH_SESSION_ID_NOT_FOUND when X is unknown (evicted),
           INVALID_FETCH_SESSION_EPOCH when n is not the epoch X expects.

The cache holds at most `max.incremental.fetch.session.cache.slots` sessions. When
full, a new session evicts (as Kafka) the least recently used session if it has been
idle for EVICTION_MS, else the least valuable one (non-follower before follower,
then fewest partitions) provided the new session is worth more; else the client
gets session id 0 and keeps doing full fetches. The candidate is found by a scan
(at most `slots` entries, and only when the cache is full).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pystream.protocol.error_codes import ErrorCode

INVALID_SESSION_ID = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
MAX_EPOCH = 0x7FFFFFFF
# Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: a session idle this long may be evicted by any new one.
EVICTION_MS = 120_000

TopicPartition = tuple[str, int]
# A finished response: (top-level error, session id, the (topic, partition response) pairs to send).
Finished = tuple[ErrorCode, int, list[tuple[str, dict[str, Any]]]]


def next_epoch(epoch: int) -> int:
    """The epoch after `epoch` (it wraps to 1, never back to the initial 0)."""
    return 1 if epoch >= MAX_EPOCH else epoch + 1


@dataclass
class CachedPartition:
    """A session's partition: the client's last fetch position and what the broker last sent."""

    request: dict[str, Any]  # a Fetch request partition (partition, fetch_offset, partition_max_bytes, ...)
    high_watermark: int = -1
    log_start_offset: int = -1

    def must_respond(self, resp: dict[str, Any]) -> bool:
        """Whether a partition's response is news to the client (records, moved offsets,
        an error, a diverging epoch); updates what the session remembers sending."""
        news = len(resp["records"]) > 0
        if resp["high_watermark"] != self.high_watermark:
            self.high_watermark = resp["high_watermark"]
            news = True
        if resp["log_start_offset"] != self.log_start_offset:
            self.log_start_offset = resp["log_start_offset"]
            news = True
        if resp["error_code"]:
            self.high_watermark = -1  # the partition is sent again once the error clears
            news = True
        if resp.get("diverging_epoch") or resp.get("preferred_read_replica", -1) >= 0:
            news = True
        return news


@dataclass
class FetchSession:
    id: int
    privileged: bool  # a follower's session (replica_id >= 0): evicted last
    # Fetch order: insertion order, partitions that returned records move to the end (no starvation).
    partitions: dict[TopicPartition, CachedPartition]
    epoch: int  # the epoch the next request must carry
    last_used: float

    def update(self, topics: Iterable[dict[str, Any]], forgotten: Iterable[dict[str, Any]]) -> None:
        """Adds or updates the request's partitions; drops the forgotten ones."""
        for t in topics:
            for fp in t["partitions"]:
                key = (t["topic"], fp["partition"])
                cached = self.partitions.get(key)
                if cached is None:
                    self.partitions[key] = CachedPartition(fp)
                else:
                    cached.request = fp
        for t in forgotten:
            for i in t["partitions"]:
                self.partitions.pop((t["topic"], i), None)


@dataclass
class FetchContext:
    """What one Fetch request reads and how its response is cut.

    `partitions`: (topic, request partition) to read, in order. `cached`: for an
    incremental fetch, what the session last sent of each (a reader may skip a partition
    whose position, high watermark and log start offset are all as sent: it has no news).
    `finish(responses)` takes the partition responses read, in the same order (None for
    a skipped one), and returns (error, session id, the (topic, response) pairs to send)."""

    partitions: list[tuple[str, dict[str, Any]]]
    error: ErrorCode = ErrorCode.NONE
    cached: list[CachedPartition] | None = None
    _finish: Callable[[list[tuple[str, dict[str, Any]]]], Finished] | None = None

    def finish(self, responses: list[dict[str, Any] | None]) -> Finished:
        read = [(topic, resp) for (topic, _fp), resp in zip(self.partitions, responses) if resp is not None]
        if self._finish is None:
            return self.error, INVALID_SESSION_ID, read
        return self._finish(read)


@dataclass
class FetchSessionCache:
    slots: int  # max.incremental.fetch.session.cache.slots
    eviction_ms: int = EVICTION_MS
    clock: Callable[[], float] = time.monotonic
    sessions: dict[int, FetchSession] = field(default_factory=dict)
    # counters (tests, benchmarks): sessions created, evicted, refused for want of room
    created: int = 0
    evicted: int = 0
    refused: int = 0

    def __len__(self) -> int:
        return len(self.sessions)

    def new_context(self, session_id: int, epoch: int, topics: list[dict[str, Any]], forgotten: list[dict[str, Any]],
                    privileged: bool = False) -> FetchContext:
        """The context of one Fetch request (Kafka's FetchManager.newContext)."""
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != INVALID_SESSION_ID:
                self.sessions.pop(session_id, None)  # a full fetch closes the session it names
            parts = [(t["topic"], fp) for t in topics for fp in t["partitions"]]
            if epoch == FINAL_EPOCH:
                return FetchContext(parts)
            return FetchContext(parts, _finish=lambda read: self._create(parts, read, privileged))
        session = self.sessions.get(session_id)
        if session is None:
            return FetchContext([], ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != epoch:
            return FetchContext([], ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        session.update(topics, forgotten)
        if not session.partitions:
            del self.sessions[session.id]  # nothing left to fetch: the session closes
            return FetchContext([])
        session.last_used = self.clock()
        session.epoch = expected = next_epoch(epoch)
        return FetchContext([(key[0], c.request) for key, c in session.partitions.items()], cached=list(session.partitions.values()),
                            _finish=lambda read: self._incremental(session, expected, read))

    def _create(self, parts: list[tuple[str, dict[str, Any]]], read: list[tuple[str, dict[str, Any]]],
                privileged: bool) -> Finished:
        """Full response of an epoch-0 request: a new session remembering what it sent, if there is room."""
        now = self.clock()
        if len(self.sessions) >= self.slots and not self._evict_for(privileged, len(read), now):
            self.refused += 1
            return ErrorCode.NONE, INVALID_SESSION_ID, read
        sid = self._new_id()
        cached: dict[TopicPartition, CachedPartition] = {}
        for (topic, fp), (_topic, resp) in zip(parts, read):
            c = cached[(topic, fp["partition"])] = CachedPartition(fp)
            c.must_respond(resp)
        self.sessions[sid] = FetchSession(sid, privileged, cached, next_epoch(INITIAL_EPOCH), now)
        self.created += 1
        return ErrorCode.NONE, sid, read

    def _incremental(self, session: FetchSession, expected: int, read: list[tuple[str, dict[str, Any]]]) -> Finished:
        if session.epoch != expected or self.sessions.get(session.id) is not session:
            # another request used (or closed) the session meanwhile
            return ErrorCode.INVALID_FETCH_SESSION_EPOCH, session.id, []
        out = []
        for topic, resp in read:
            key = (topic, resp["partition_index"])
            cached = session.partitions.get(key)
            if cached is None or not cached.must_respond(resp):
                continue
            out.append((topic, resp))
            if len(resp["records"]) > 0:
                session.partitions[key] = session.partitions.pop(key)  # to the end of the fetch order
        return ErrorCode.NONE, session.id, out

    def _new_id(self) -> int:
        while True:
            sid = random.randint(1, MAX_EPOCH)
            if sid not in self.sessions:
                return sid

    def _evict_for(self, privileged: bool, size: int, now: float) -> bool:
        """Makes room for a new session of `size` partitions (Kafka's FetchSessionCache.tryEvict)."""
        if not self.sessions or self.slots <= 0:
            return False
        stale = min(self.sessions.values(), key=lambda s: s.last_used)
        if (now - stale.last_used) * 1000 > self.eviction_ms:
            victim = stale
        else:
            # the least valuable session a new one may evict: a follower's only by a follower's
            candidates = [s for s in self.sessions.values() if privileged or not s.privileged]
            if not candidates:
                return False
            victim = min(candidates, key=lambda s: (s.privileged, len(s.partitions), s.id))
            if (privileged, size) <= (victim.privileged, len(victim.partitions)):
                return False
        del self.sessions[victim.id]
        self.evicted += 1
        return True
