"""A member of a classic consumer group, as Kafka's consumer is one (`pystream consume -g`).

The protocol (all standard, so it works against Apache Kafka and beside Java, librdkafka
or kafka-python members of the same group):

- JoinGroup with protocol type "consumer" and one protocol, "range", whose metadata is a
  ConsumerProtocolSubscription (the topics). A v4+ broker first answers
  MEMBER_ID_REQUIRED with the member id to join with.
- The leader (the member the coordinator names) runs Kafka's RangeAssignor over every
  member's subscription and sends each member's ConsumerProtocolAssignment in SyncGroup;
  the others send none and receive theirs.
- Heartbeat every heartbeat.interval.ms, from the consuming loop (`poll`, called between
  fetches that wait at most a fraction of session.timeout.ms). REBALANCE_IN_PROGRESS,
  ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID mean "join again"; the caller commits what it
  printed first (an eager rebalance: every member gives up its partitions).
- OffsetCommit with the generation and member id; LeaveGroup when it stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from pystream.protocol.client import (
    KafkaClient,
    KafkaError,
    check,
    decode_consumer_assignment,
    decode_consumer_subscription,
    encode_consumer_assignment,
    encode_consumer_subscription,
)
from pystream.protocol.schema_data import ApiKey
from pystream.tools import ToolError

__all__ = ["PROTOCOL_TYPE", "RANGE", "GroupMember", "MemberConfig", "range_assign"]

logger = logging.getLogger("pystream.tools.group_member")

PROTOCOL_TYPE = "consumer"
RANGE = "range"
# Error codes of group membership (Kafka's Errors)
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS = 22, 25, 27
MEMBER_ID_REQUIRED, FENCED_INSTANCE_ID = 79, 82
_REJOIN = frozenset({ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS})


def range_assign(subscriptions: Mapping[str, Iterable[str]], partition_counts: Mapping[str, int]) -> dict[str, dict[str, list[int]]]:
    """Kafka's RangeAssignor: per topic, its subscribers sorted by member id each take a
    consecutive range; the first (partitions % subscribers) members take one more.
    Returns {member id: {topic: [partitions]}} (every member present, maybe with nothing)."""
    out: dict[str, dict[str, list[int]]] = {m: {} for m in subscriptions}
    by_topic: dict[str, list[str]] = {}
    for member, topics in subscriptions.items():
        for t in set(topics):
            by_topic.setdefault(t, []).append(member)
    for topic, members in sorted(by_topic.items()):
        n = partition_counts.get(topic, 0)
        members.sort()
        per, extra = divmod(n, len(members))
        for i, m in enumerate(members):
            start = per * i + min(i, extra)
            length = per + (1 if i < extra else 0)
            if length:
                out[m][topic] = list(range(start, start + length))
    return out


@dataclass
class MemberConfig:
    """Kafka's consumer settings of the group protocol (same names, same defaults)."""

    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000  # the rebalance timeout
    metadata_max_age_ms: int = 300_000  # how often the leader looks for new partitions
    group_instance_id: str | None = None  # static membership (KIP-345)

    KEYS: ClassVar[Mapping[str, str]] = MappingProxyType({
        "session.timeout.ms": "session_timeout_ms", "heartbeat.interval.ms": "heartbeat_interval_ms",
        "max.poll.interval.ms": "max_poll_interval_ms", "metadata.max.age.ms": "metadata_max_age_ms",
        "group.instance.id": "group_instance_id"})

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> MemberConfig:
        """From consumer properties (KEYS); ToolError for an unknown key or a bad value."""
        unknown = sorted(set(props) - set(cls.KEYS))
        if unknown:
            raise ToolError(f"unknown --consumer-property {unknown[0]} (known: {', '.join(cls.KEYS)})")
        c = cls()
        for key, attr in cls.KEYS.items():
            if key not in props:
                continue
            value = props[key]
            if attr == "group_instance_id":
                setattr(c, attr, value or None)
                continue
            try:
                n = int(value)
            except ValueError:
                n = 0
            if n <= 0:
                raise ToolError(f"--consumer-property {key}={value}: expected a positive number of milliseconds")
            setattr(c, attr, n)
        if c.heartbeat_interval_ms >= c.session_timeout_ms:
            raise ToolError(f"heartbeat.interval.ms ({c.heartbeat_interval_ms}) must be lower than "
                            f"session.timeout.ms ({c.session_timeout_ms})")
        return c


class GroupMember:
    """One member of `group` subscribed to `topics`. Not thread-safe: one consuming loop drives it
    (`ensure_joined`, `poll`, `commit`, `leave`) over the loop's own KafkaClient."""

    def __init__(self, client: KafkaClient, group: str, topics: Iterable[str], config: MemberConfig | None = None) -> None:
        self.client = client
        self.group = group
        self.topics = sorted(set(topics))
        self.config = config or MemberConfig()
        self.member_id = ""
        self.generation = -1
        self.leader = False
        self.assignment: dict[str, list[int]] = {}
        self.needs_join = True
        self._last_heartbeat = 0.0
        self._partition_counts: dict[str, int] = {}  # what the leader assigned from
        self._last_metadata = 0.0

    # ----- joining ----------------------------------------------------------------------

    def ensure_joined(self) -> bool:
        """Joins (again) when needed; True when it did, i.e. `assignment` may have changed."""
        if not self.needs_join:
            return False
        self._join()
        return True

    def _join(self) -> None:
        c = self.config
        # JoinGroup waits until every member has joined (up to the rebalance timeout): wait that long and more
        wait = c.max_poll_interval_ms / 1000 + self.client.timeout
        subscription = encode_consumer_subscription(self.topics)
        while True:
            body = {"group_id": self.group, "session_timeout_ms": c.session_timeout_ms,
                    "rebalance_timeout_ms": c.max_poll_interval_ms, "member_id": self.member_id,
                    "group_instance_id": c.group_instance_id, "protocol_type": PROTOCOL_TYPE,
                    "protocols": [{"name": RANGE, "metadata": subscription}], "reason": None}
            resp = self.client.coordinator_request(self.group, ApiKey.JOIN_GROUP, body, timeout=wait)
            code = resp["error_code"]
            if code == MEMBER_ID_REQUIRED:  # KIP-394: join again with the id the coordinator chose
                self.member_id = resp["member_id"]
                continue
            if code == UNKNOWN_MEMBER_ID:
                self.member_id = ""
                continue
            if code == REBALANCE_IN_PROGRESS:
                time.sleep(0.1)
                continue
            check(code, None, f"joining group {self.group!r}")
            if resp.get("protocol_name") not in (None, RANGE):
                raise KafkaError(23, f"group {self.group!r} chose assignor {resp['protocol_name']!r}; this consumer knows {RANGE!r}")
            self.member_id, self.generation = resp["member_id"], resp["generation_id"]
            self.leader = resp["leader"] == self.member_id
            assignments = self._assign(resp["members"]) if self.leader and not resp.get("skip_assignment") else []
            sync = {"group_id": self.group, "generation_id": self.generation, "member_id": self.member_id,
                    "group_instance_id": c.group_instance_id, "protocol_type": PROTOCOL_TYPE, "protocol_name": RANGE,
                    "assignments": assignments}
            resp = self.client.coordinator_request(self.group, ApiKey.SYNC_GROUP, sync, timeout=wait)
            code = resp["error_code"]
            if code in _REJOIN:  # another member came or went meanwhile
                if code == UNKNOWN_MEMBER_ID:
                    self.member_id = ""
                continue
            check(code, None, f"syncing group {self.group!r}")
            self.assignment = decode_consumer_assignment(resp["assignment"])
            self.needs_join = False
            self._last_heartbeat = time.monotonic()
            logger.info("joined group %r generation %d as %s%s: %s", self.group, self.generation, self.member_id,
                        " (leader)" if self.leader else "", self.assignment)
            return

    def _assign(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The leader's SyncGroup assignments: the range assignor over every member's subscription."""
        subscriptions = {m["member_id"]: decode_consumer_subscription(m["metadata"]) for m in members}
        topics = sorted({t for ts in subscriptions.values() for t in ts})
        counts = self._counts(topics)
        self._partition_counts, self._last_metadata = counts, time.monotonic()
        plan = range_assign(subscriptions, counts)
        return [{"member_id": m, "assignment": encode_consumer_assignment(a)} for m, a in sorted(plan.items())]

    def _counts(self, topics: Iterable[str]) -> dict[str, int]:
        """Partition counts of the topics that exist."""
        names = sorted(topics)
        if not names:
            return {}
        return {t["name"]: len(t["partitions"]) for t in self.client.metadata(names)["topics"] if t["error_code"] == 0}

    # ----- staying in the group -----------------------------------------------------------

    def poll(self) -> None:
        """Heartbeats when heartbeat.interval.ms has passed; a rebalance sets `needs_join`. The leader
        also looks for added partitions every metadata.max.age.ms and rejoins to assign them, as
        Kafka's consumer does."""
        if self.needs_join:
            return
        now = time.monotonic()
        if self.leader and now - self._last_metadata >= self.config.metadata_max_age_ms / 1000:
            self._last_metadata = now
            if self._counts(self._partition_counts) != self._partition_counts:
                logger.info("group %r: partitions were added: rebalancing", self.group)
                self.needs_join = True
                return
        if now - self._last_heartbeat < self.config.heartbeat_interval_ms / 1000:
            return
        body = {"group_id": self.group, "generation_id": self.generation, "member_id": self.member_id,
                "group_instance_id": self.config.group_instance_id}
        resp = self.client.coordinator_request(self.group, ApiKey.HEARTBEAT, body)
        self._last_heartbeat = time.monotonic()
        self._rejoin_on(resp["error_code"], "heartbeat")

    def _rejoin_on(self, code: int, what: str) -> bool:
        """True (and `needs_join`) for the errors that mean "join again"; raises for others."""
        if code in _REJOIN:
            logger.info("group %r: %s answered %s: joining again", self.group, what,
                        {ILLEGAL_GENERATION: "ILLEGAL_GENERATION", UNKNOWN_MEMBER_ID: "UNKNOWN_MEMBER_ID"}
                        .get(code, "REBALANCE_IN_PROGRESS"))
            if code == UNKNOWN_MEMBER_ID:
                self.member_id = ""
            self.needs_join = True
            return True
        check(code, None, f"group {self.group!r} {what}")
        return False

    def commit(self, offsets: Mapping[tuple[str, int], int]) -> bool:
        """Commits {(topic, partition): next offset} as this generation's member. False when the
        group moved on (a rebalance: the partitions may be another member's now; not committed)."""
        if not offsets:
            return True
        try:
            self.client.offset_commit(self.group, offsets, self.generation, self.member_id)
        except KafkaError as e:
            if self._rejoin_on(e.code, "offset commit"):
                return False
            raise
        return True

    def leave(self) -> None:
        """LeaveGroup: the others rebalance at once instead of after session.timeout.ms."""
        if not self.member_id or self.config.group_instance_id is not None:
            return  # a static member keeps its place (KIP-345): it does not leave on a restart
        body = {"group_id": self.group, "member_id": self.member_id,
                "members": [{"member_id": self.member_id, "group_instance_id": None, "reason": "the consumer is closing"}]}
        try:
            resp = self.client.coordinator_request(self.group, ApiKey.LEAVE_GROUP, body)
            if resp["error_code"] not in (0, UNKNOWN_MEMBER_ID):
                logger.warning("leaving group %r: error %d", self.group, resp["error_code"])
        finally:
            self.member_id, self.generation, self.assignment, self.needs_join = "", -1, {}, True
