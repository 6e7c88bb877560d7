"""The group coordinator: Kafka's classic consumer-group protocol, committed offsets, the admin APIs.

Groups of KIP-848's consumer protocol are the part ``GroupCoordinator.consumer``
(consumer_group.py) handles; the two share the group id space, the offsets and
the admin APIs here (docs/groups.md). This broker coordinates every group (in a
cluster, the server sends it only the groups whose offsets partition it leads). The state machine follows Kafka's
``GroupCoordinator`` / ``GroupMetadata`` (Scala, 2.4–3.x):

    Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
      ▲                  ▲      │                                     │ leader's SyncGroup
      │                  │      └──no member left──▶ Empty            ▼
      └──last member─────┴───────── join / leave / expiry ◀──────── Stable
    any state ──DeleteGroups (when Empty)──▶ Dead (removed)

Requests and responses are plain dicts keyed by the snake_case field names of
Kafka's JSON message definitions. Parked requests (JoinGroup during a
rebalance, SyncGroup before the leader's) are asyncio futures completed by the
state machine; there are no threads and no busy waiting. Time-driven work
(session expiry, rebalance timeouts, the initial rebalance delay) is done by
:meth:`GroupCoordinator.tick`, which :meth:`GroupCoordinator.start` calls every
``tick_interval_ms`` (or the server calls it itself).

Assignment is client-side: the broker selects the protocol and passes the
leader's assignment bytes through untouched.

Each group is persisted as Kafka persists it: a GroupMetadata record in
``__consumer_offsets`` when a generation gets its assignment (the leader's
SyncGroup) and when the group empties; a tombstone when it is deleted. A
coordinator that meets a group id it does not hold in memory (after a restart,
or after becoming the leader of the group's offsets partition) rebuilds the
group from that record: Empty, or Stable with its members, whose sessions
start again (Kafka's loadGroup).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Optional

from pystream.coordinator import records
from pystream.coordinator.consumer_group import CONSUMER_GROUP_TYPE, ConsumerGroupCoordinator
from pystream.coordinator.offsets import OffsetAndMetadata
from pystream.coordinator.records import RecordType
from pystream.protocol.codec import ProtocolError, decode_message
from pystream.protocol.error_codes import ErrorCode

log = logging.getLogger(__name__)

__all__ = ["GroupCoordinator", "GroupState", "Group", "Member"]

# Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: a new member whose JoinGroup
# is parked this long (e.g. its client gave up and retries) is dropped.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000
# offset.metadata.max.bytes
OFFSET_METADATA_MAX_BYTES = 4096
# Kafka's classic groups report this type in ListGroups v5.
CLASSIC_GROUP_TYPE = "classic"


class GroupState(str, Enum):
    """Group states; the values are the names Kafka reports in Describe/ListGroups."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass
class Member:
    """One member of a group (MemberMetadata in Kafka)."""

    member_id: str
    group_instance_id: Optional[str]
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]  # in the member's order of preference
    assignment: bytes = b""
    # Parked JoinGroup / SyncGroup responses; None when the member is not awaiting one.
    join_future: Optional[asyncio.Future] = None
    sync_future: Optional[asyncio.Future] = None
    join_api_version: int = 0
    # True from the member's first JoinGroup until that join completes.
    is_new: bool = False
    last_heartbeat_ms: float = 0.0

    @property
    def awaiting_join(self) -> bool:
        return self.join_future is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_future is not None

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str) -> bytes:
        for name, meta in self.protocols:
            if name == protocol:
                return meta
        raise KeyError(protocol)

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        """Same protocols, same order, same metadata bytes."""
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among the candidates."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError("member supports none of the candidate protocols")

    def should_keep_alive(self, now_ms: float) -> bool:
        """Kafka's MemberMetadata.shouldKeepAlive for a heartbeat deadline of now."""
        if self.awaiting_join:
            return not self.is_new or self.last_heartbeat_ms + NEW_MEMBER_JOIN_TIMEOUT_MS > now_ms
        if self.awaiting_sync:
            return True
        return self.last_heartbeat_ms + self.session_timeout_ms > now_ms


@dataclass
class Group:
    """In-memory metadata of one group (GroupMetadata in Kafka).

    Invariants:
    - ``members`` is ordered by join time; ``leader_id`` is a key of ``members``
      or None when ``members`` is empty.
    - ``static_members`` maps group_instance_id -> member_id for every member
      that has an instance id, and nothing else.
    - ``protocol_name`` is set in CompletingRebalance and Stable, None in Empty.
    - ``generation_id`` only grows; it increments when a join phase completes.
    - ``pending_members`` holds member ids handed out with MEMBER_ID_REQUIRED that
      have not joined yet; they hold the join phase open like absent members.
    """

    group_id: str
    state: GroupState = GroupState.EMPTY
    generation_id: int = 0
    protocol_type: Optional[str] = None
    protocol_name: Optional[str] = None
    leader_id: Optional[str] = None
    members: dict[str, Member] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    pending_members: dict[str, float] = field(default_factory=dict)  # member id -> expiry ms
    # Join phase timer (DelayedJoin / InitialDelayedJoin in Kafka).
    join_deadline_ms: Optional[float] = None
    initial_delay_active: bool = False
    initial_delay_remaining_ms: int = 0
    new_member_added: bool = False
    # Members that got their JoinGroup response but have not sent SyncGroup yet,
    # and the time by which they must (Kafka's DelayedSync, KAFKA-13131).
    pending_sync: set[str] = field(default_factory=set)
    sync_deadline_ms: Optional[float] = None

    def is_(self, state: GroupState) -> bool:
        return self.state is state

    def has(self, member_id: str) -> bool:
        return member_id in self.members

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def can_rebalance(self) -> bool:
        return self.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY)

    def rebalance_timeout_ms(self) -> int:
        """The longest rebalance timeout of any member (the join phase lasts at most this)."""
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def add(self, member: Member) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if self.leader_id is None:
            self.leader_id = member.member_id

    def remove(self, member_id: str) -> None:
        member = self.members.pop(member_id, None)
        if member is None:
            return
        if member.group_instance_id is not None and self.static_members.get(member.group_instance_id) == member_id:
            del self.static_members[member.group_instance_id]
        self.pending_sync.discard(member_id)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)

    def all_members_joined(self) -> bool:
        return not self.pending_members and all(m.awaiting_join for m in self.members.values())

    def candidate_protocols(self) -> set[str]:
        """Protocols every member supports."""
        members = list(self.members.values())
        if not members:
            return set()
        candidates = set(members[0].protocol_names())
        for m in members[1:]:
            candidates &= set(m.protocol_names())
        return candidates

    def supports_protocols(self, protocol_type: str, protocols: list[tuple[str, bytes]]) -> bool:
        """Could a member with these protocols join (Kafka's supportsProtocols)?"""
        names = {name for name, _ in protocols}
        if self.is_(GroupState.EMPTY) or not self.members:
            return bool(protocol_type) and bool(names)
        return self.protocol_type == protocol_type and bool(self.candidate_protocols() & names)

    def select_protocol(self) -> str:
        """Every member votes for its preferred candidate; most votes wins.

        Ties go to the protocol the leader prefers (deterministic, unlike Kafka)."""
        candidates = self.candidate_protocols()
        if not candidates:
            raise ValueError(f"group {self.group_id}: no protocol supported by all members")
        votes: dict[str, int] = {c: 0 for c in candidates}
        for m in self.members.values():
            votes[m.vote(candidates)] += 1
        leader = self.members.get(self.leader_id) if self.leader_id else None
        order = leader.protocol_names() if leader else sorted(candidates)
        rank = {name: i for i, name in enumerate(order)}
        return max(candidates, key=lambda c: (votes[c], -rank.get(c, len(rank))))

    def maybe_elect_new_joined_leader(self) -> bool:
        """Make sure the leader is a member that rejoined; False if none rejoined."""
        leader = self.members.get(self.leader_id) if self.leader_id else None
        if leader is not None and leader.awaiting_join:
            return True
        for m in self.members.values():
            if m.awaiting_join:
                self.leader_id = m.member_id
                return True
        return False


def _err(code: ErrorCode) -> int:
    return int(code.value)


def partition_results(topics: list[dict], codes: Mapping[tuple[str, int], ErrorCode]) -> list[dict]:
    """``[{name, partitions: [{partition_index, error_code}]}]`` in the request's order."""
    return [{"name": t["name"], "partitions": [
        {"partition_index": int(p["partition_index"]), "error_code": _err(codes[(t["name"], int(p["partition_index"]))])}
        for p in t.get("partitions") or []]} for t in topics]


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class GroupCoordinator:
    """Group coordinator for every group on this broker (asyncio, single event loop).

    Public API: the async request methods ``join_group``, ``sync_group``,
    ``heartbeat``, ``leave_group``, ``offset_commit``, ``offset_fetch``,
    ``offset_delete``, ``list_groups``, ``describe_groups``, ``delete_groups``
    (each takes the decoded request dict and the API version and returns the
    response dict without ``throttle_time_ms``), ``consumer`` (the
    `ConsumerGroupCoordinator`: ``heartbeat``, ``describe``), ``tick()`` for
    time-driven work, and ``start()`` / ``close()`` for the background ticker.
    """

    def __init__(
        self,
        offset_store: Any,
        *,
        initial_rebalance_delay_ms: int = 3000,
        min_session_timeout_ms: int = 6000,
        max_session_timeout_ms: int = 1800000,
        clock: Callable[[], float] = time.monotonic,
        group_max_size: int = 2**31 - 1,
        offset_metadata_max_bytes: int = OFFSET_METADATA_MAX_BYTES,
        partition_exists: Optional[Callable[[str, int], bool]] = None,
        tick_interval_ms: int = 100,
        topic_partitions: Optional[Callable[[], Mapping[str, int]]] = None,
        topic_id: Callable[[str], uuid.UUID] = lambda name: uuid.UUID(int=0),
        consumer_heartbeat_interval_ms: int = 5000,
        consumer_session_timeout_ms: int = 45000,
        consumer_assignors: tuple[str, ...] = ("uniform", "range"),
        is_coordinator: Callable[[str], bool] = lambda group_id: True,
    ) -> None:
        """``clock`` returns seconds (monotonic). ``topic_partitions()`` gives the partition
        count of every topic the broker knows and ``topic_id(name)`` a topic's id: commits to
        unknown partitions then fail with UNKNOWN_TOPIC_OR_PARTITION (``partition_exists(topic,
        partition)`` overrides that check) and consumer groups (KIP-848, consumer_group.py, which
        this coordinator owns as ``consumer``) see the topics; ``consumer_*`` are Kafka's
        ``group.consumer.*`` broker settings. ``is_coordinator(group_id)`` says whether this broker
        coordinates a group (in a cluster: leads its offsets partition): groups of others are
        never loaded here, listed, or expired (their partitions' logs are followers' copies)."""
        if partition_exists is None and topic_partitions is not None:
            partition_exists = lambda t, p: 0 <= p < topic_partitions().get(t, 0)  # noqa: E731
        self.offset_store = offset_store
        self.initial_rebalance_delay_ms = initial_rebalance_delay_ms
        self.min_session_timeout_ms = min_session_timeout_ms
        self.max_session_timeout_ms = max_session_timeout_ms
        self.group_max_size = group_max_size
        self.offset_metadata_max_bytes = offset_metadata_max_bytes
        self.partition_exists = partition_exists
        self.tick_interval_ms = tick_interval_ms
        self._clock = clock
        self._groups: dict[str, Group] = {}
        self._ticker: Optional[asyncio.Task] = None
        self._closed = False
        listeners = getattr(offset_store, "unload_listeners", None)
        if listeners is not None:
            listeners.append(self._forget_partition)
        self.is_coordinator = is_coordinator
        self.consumer = ConsumerGroupCoordinator(
            offset_store, self, topic_partitions=topic_partitions or dict, topic_id=topic_id, clock=clock,
            is_coordinator=is_coordinator,
            heartbeat_interval_ms=consumer_heartbeat_interval_ms, session_timeout_ms=consumer_session_timeout_ms,
            assignors=tuple(consumer_assignors))

    # ------------------------------------------------------------------ lifecycle

    def _now_ms(self) -> float:
        return self._clock() * 1000.0

    def start(self) -> None:
        """Start the background task calling :meth:`tick` (needs a running loop)."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self.run_expirations())

    async def run_expirations(self) -> None:
        """Call :meth:`tick` every ``tick_interval_ms`` until :meth:`close`."""
        while not self._closed:
            try:
                self.tick()
            except Exception:  # a bug in one group must not stop expirations for all
                log.exception("group coordinator tick failed")
            await asyncio.sleep(self.tick_interval_ms / 1000.0)

    async def close(self) -> None:
        """Stop the ticker and answer every parked request with NOT_COORDINATOR."""
        self._closed = True
        self.consumer.closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        for group in self._groups.values():
            self._answer_parked(group, ErrorCode.NOT_COORDINATOR)

    def _answer_parked(self, group: Group, code: ErrorCode) -> None:
        for member in group.members.values():
            self._complete_join(member, self._join_error(member.member_id, code))
            self._complete_sync(member, code)

    def group(self, group_id: str) -> Optional[Group]:
        """The group, from memory or rebuilt from its record (for introspection and tests)."""
        return self._lookup(group_id)

    # ------------------------------------------------------------------ persistence

    def _lookup(self, group_id: str) -> Optional[Group]:
        """The classic group: in memory, or rebuilt from its GroupMetadata record (None: no such group)."""
        group = self._groups.get(group_id)
        if group is None and group_id and not self._closed and self.is_coordinator(group_id):
            value = self._stored_value(group_id, RecordType.GROUP_METADATA)
            if value is not None:
                group = self._groups[group_id] = self._restore(group_id, value)
        return group

    def _stored_value(self, group_id: str, record_type: RecordType) -> Optional[dict]:
        """The decoded value of the group's record of this (group-level) type, if the log has one."""
        key = records.encode_key(record_type, group_id)
        try:
            raw = self.offset_store.group_records(group_id).get(key)
            return None if raw is None else records.decode_value(record_type, raw)
        except Exception:
            log.exception("reading the %s record of group %s failed", record_type.name, group_id)
            return None

    def _restore(self, group_id: str, value: dict) -> Group:
        """Kafka's loadGroup: Empty, or Stable with the recorded members, each with a fresh session."""
        group = Group(group_id, generation_id=int(value["generation"]), protocol_type=value["protocol_type"] or None)
        now = self._now_ms()
        protocol = value["protocol"]
        for m in value["members"] if protocol else []:
            session = int(m["session_timeout"])
            member = Member(
                member_id=m["member_id"], group_instance_id=m["group_instance_id"], client_id=m["client_id"],
                client_host=m["client_host"], session_timeout_ms=session,
                rebalance_timeout_ms=int(m["rebalance_timeout"]) if m["rebalance_timeout"] >= 0 else session,
                protocol_type=group.protocol_type or "", protocols=[(protocol, bytes(m["subscription"]))],
                assignment=bytes(m["assignment"]), last_heartbeat_ms=now,
            )
            group.add(member)
        if group.members:
            group.state, group.protocol_name = GroupState.STABLE, protocol
            if value["leader"] in group.members:
                group.leader_id = value["leader"]
        log.info("loaded group %s: %s, generation %d, %d members", group_id, group.state.value,
                 group.generation_id, len(group.members))
        return group

    def _store_group(self, group: Group) -> None:
        """Kafka's storeGroup: the group's GroupMetadata record as it is now."""
        protocol = group.protocol_name
        value = records.encode_value(RecordType.GROUP_METADATA, {
            "protocol_type": group.protocol_type or "",
            "generation": group.generation_id,
            "protocol": protocol,
            "leader": group.leader_id,
            "current_state_timestamp": int(time.time() * 1000),
            "members": [
                {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
                 "client_host": m.client_host, "rebalance_timeout": m.rebalance_timeout_ms,
                 "session_timeout": m.session_timeout_ms,
                 "subscription": m.metadata(protocol) if protocol else b"", "assignment": m.assignment}
                for m in (group.members.values() if protocol else ())
            ],
        })
        self.write_records(group.group_id, [(records.encode_key(RecordType.GROUP_METADATA, group.group_id), value)])

    def write_records(self, group_id: str, entries: list[tuple[bytes, Optional[bytes]]]) -> bool:
        """Appends group records (durably); a failure is logged and the group goes on in memory."""
        try:
            self.offset_store.write(group_id, entries)
        except Exception:
            log.exception("writing the records of group %s failed", group_id)
            return False
        return True

    def remove_empty_classic_group(self, group_id: str) -> Optional[bool]:
        """For a consumer group joining on this id (KIP-848): None if there is no classic group,
        False if it has members, True if it was empty and is now gone (its record tombstoned,
        its offsets kept: the consumer group takes them over)."""
        group = self._lookup(group_id)
        if group is None or group.is_(GroupState.DEAD):
            return None
        if not group.is_(GroupState.EMPTY) or group.members or group.pending_members:
            return False
        self.write_records(group_id, [(records.encode_key(RecordType.GROUP_METADATA, group_id), None)])
        group.state = GroupState.DEAD
        del self._groups[group_id]
        return True

    def _forget_partition(self, partition: int) -> None:
        """The offset store forgot a partition of __consumer_offsets (this broker stopped
        coordinating its groups, or replays it): drop those groups; the next request rebuilds them."""
        for gid in [g for g in self._groups if self.offset_store.partition_for(g) == partition]:
            self._answer_parked(self._groups.pop(gid), ErrorCode.NOT_COORDINATOR)

    def tick(self) -> None:
        """Do everything that is due: pending/session expiry, join and sync timeouts (and the
        consumer groups' session and rebalance timeouts)."""
        self.consumer.tick()
        now = self._now_ms()
        for group in list(self._groups.values()):
            if group.is_(GroupState.DEAD) or not self.is_coordinator(group.group_id):
                continue  # (a group another broker coordinates now is dropped when its partition unloads)
            if (group.is_(GroupState.EMPTY) and group.generation_id == 0
                    and not group.members and not group.pending_members):
                # Never formed a generation (e.g. a refused or abandoned first join): no state to keep.
                del self._groups[group.group_id]
                continue
            # Pending members (MEMBER_ID_REQUIRED handed out, no rejoin yet).
            for member_id, expiry in list(group.pending_members.items()):
                if expiry <= now:
                    log.info("pending member %s of group %s expired", member_id, group.group_id)
                    self._remove_pending_member(group, member_id)
            # Session expiry.
            for member in list(group.members.values()):
                if group.has(member.member_id) and not member.should_keep_alive(now):
                    log.info("member %s of group %s failed its session, removing it", member.member_id, group.group_id)
                    self._remove_member_and_update_group(group, member)
            # Join phase deadline.
            if group.is_(GroupState.PREPARING_REBALANCE) and group.join_deadline_ms is not None and group.join_deadline_ms <= now:
                self._on_join_deadline(group)
            # Sync phase deadline: members that never sent SyncGroup are removed.
            if group.sync_deadline_ms is not None and group.sync_deadline_ms <= now:
                group.sync_deadline_ms = None
                if group.state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE) and group.pending_sync:
                    late = [group.members[m] for m in list(group.pending_sync) if m in group.members]
                    group.pending_sync.clear()
                    for member in late:
                        log.info("member %s of group %s did not sync in time, removing it", member.member_id, group.group_id)
                        group.remove(member.member_id)
                        self._complete_join(member, self._join_error(member.member_id, ErrorCode.UNKNOWN_MEMBER_ID))
                        self._complete_sync(member, ErrorCode.UNKNOWN_MEMBER_ID)
                    if late:
                        self._maybe_prepare_rebalance(group, "members failed to sync")

    # ------------------------------------------------------------------ helpers

    def _session_timeout_ok(self, ms: int) -> bool:
        return self.min_session_timeout_ms <= ms <= self.max_session_timeout_ms

    @staticmethod
    def _join_error(member_id: str, code: ErrorCode, api_version: int = 0) -> dict:
        return {
            "error_code": _err(code),
            "generation_id": -1,
            "protocol_type": None,
            "protocol_name": None if api_version >= 7 else "",
            "leader": "",
            "skip_assignment": False,
            "member_id": member_id,
            "members": [],
        }

    def _join_result(self, group: Group, member: Member, *, members: bool, skip_assignment: bool = False) -> dict:
        """A successful JoinGroup response for ``member`` of the current generation."""
        member_list = []
        if members and group.protocol_name is not None:
            member_list = [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "metadata": m.metadata(group.protocol_name),
                }
                for m in group.members.values()
            ]
        return {
            "error_code": _err(ErrorCode.NONE),
            "generation_id": group.generation_id,
            "protocol_type": group.protocol_type,
            "protocol_name": group.protocol_name,
            "leader": group.leader_id or "",
            "skip_assignment": skip_assignment,
            "member_id": member.member_id,
            "members": member_list,
        }

    @staticmethod
    def _complete_join(member: Member, response: dict) -> None:
        fut, member.join_future = member.join_future, None
        if fut is not None and not fut.done():
            fut.set_result(response)

    @staticmethod
    def _complete_sync(member: Member, code: ErrorCode) -> None:
        """Answer a parked SyncGroup with ``code`` (and the member's assignment on NONE)."""
        fut, member.sync_future = member.sync_future, None
        if fut is not None and not fut.done():
            fut.set_result((code, member.assignment if code == ErrorCode.NONE else b""))

    def _heartbeat(self, member: Member) -> None:
        member.last_heartbeat_ms = self._now_ms()

    @staticmethod
    def _new_future() -> asyncio.Future:
        return asyncio.get_running_loop().create_future()

    @staticmethod
    async def _await_join(fut: asyncio.Future, api_version: int) -> dict:
        resp = dict(await fut)
        if api_version < 7 and resp.get("protocol_name") is None:
            resp["protocol_name"] = ""
        if api_version < 9:
            resp["skip_assignment"] = False
        return resp

    def _validate_current_member(self, group: Group, member_id: str, instance_id: Optional[str]) -> Optional[ErrorCode]:
        """FENCED_INSTANCE_ID for a stale static member id, UNKNOWN_MEMBER_ID for an unknown one."""
        if instance_id is not None:
            current = group.static_members.get(instance_id)
            if current is not None and current != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if not group.has(member_id):
            return ErrorCode.UNKNOWN_MEMBER_ID
        return None

    # ------------------------------------------------------------------ rebalance machinery

    def _maybe_prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: Group, reason: str) -> None:
        # Members awaiting SyncGroup must rejoin.
        if group.is_(GroupState.COMPLETING_REBALANCE):
            for m in group.members.values():
                m.assignment = b""
                self._complete_sync(m, ErrorCode.REBALANCE_IN_PROGRESS)
        now = self._now_ms()
        if group.is_(GroupState.EMPTY):
            # InitialDelayedJoin: wait for more members before the first generation.
            # (a zero delay is a plain join phase: it completes once everyone is in)
            group.initial_delay_active = self.initial_rebalance_delay_ms > 0
            group.new_member_added = False
            group.join_deadline_ms = now + self.initial_rebalance_delay_ms
            group.initial_delay_remaining_ms = max(group.rebalance_timeout_ms() - self.initial_rebalance_delay_ms, 0)
        else:
            group.initial_delay_active = False
            group.join_deadline_ms = now + group.rebalance_timeout_ms()
        group.pending_sync.clear()
        group.sync_deadline_ms = None
        group.state = GroupState.PREPARING_REBALANCE
        log.info("preparing to rebalance group %s (generation %d): %s", group.group_id, group.generation_id, reason)
        self._maybe_complete_join(group)

    def _maybe_complete_join(self, group: Group) -> None:
        """DelayedJoin.tryComplete: finish the join phase early once everyone is in."""
        if group.is_(GroupState.PREPARING_REBALANCE) and not group.initial_delay_active and group.all_members_joined():
            self._complete_join_phase(group)

    def _on_join_deadline(self, group: Group) -> None:
        if group.initial_delay_active and group.new_member_added and group.initial_delay_remaining_ms > 0:
            # New members keep arriving: extend, but never past the rebalance timeout.
            delay = min(self.initial_rebalance_delay_ms, group.initial_delay_remaining_ms)
            group.initial_delay_remaining_ms = max(group.initial_delay_remaining_ms - self.initial_rebalance_delay_ms, 0)
            group.new_member_added = False
            group.join_deadline_ms = self._now_ms() + delay
            return
        self._complete_join_phase(group)

    def _complete_join_phase(self, group: Group) -> None:
        """Kafka's onCompleteJoin: drop absent dynamic members, start the next generation."""
        group.join_deadline_ms = None
        group.initial_delay_active = False
        for member in [m for m in group.members.values() if not m.awaiting_join and m.group_instance_id is None]:
            group.remove(member.member_id)
            self._complete_sync(member, ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_(GroupState.DEAD):
            return
        if group.members and not group.maybe_elect_new_joined_leader():
            # Only absent static members remain: wait another rebalance timeout
            # (their sessions expire meanwhile).
            group.join_deadline_ms = self._now_ms() + group.rebalance_timeout_ms()
            return
        group.generation_id += 1
        if not group.members:
            # Kafka keeps the protocol type of an empty group: it is still a "consumer" group.
            group.state = GroupState.EMPTY
            group.protocol_name = None
            group.leader_id = None
            log.info("group %s is now empty (generation %d)", group.group_id, group.generation_id)
            self._store_group(group)
            return
        group.protocol_name = group.select_protocol()
        group.state = GroupState.COMPLETING_REBALANCE
        now = self._now_ms()
        group.pending_sync = set()
        log.info("group %s: generation %d with %d members, protocol %s",
                 group.group_id, group.generation_id, len(group.members), group.protocol_name)
        for member in list(group.members.values()):
            if member.awaiting_join:
                group.pending_sync.add(member.member_id)
                self._complete_join(member, self._join_result(group, member, members=group.is_leader(member.member_id)))
            member.last_heartbeat_ms = now
            member.is_new = False
        group.sync_deadline_ms = now + group.rebalance_timeout_ms()

    def _add_member_and_rebalance(
        self, group: Group, member_id: str, request: dict, protocols: list[tuple[str, bytes]],
        client_id: str, client_host: str, api_version: int,
    ) -> asyncio.Future:
        session_timeout = int(request["session_timeout_ms"])
        rebalance_timeout = int(request.get("rebalance_timeout_ms", -1))
        if api_version == 0 or rebalance_timeout < 0:
            rebalance_timeout = session_timeout  # v0: the session timeout bounds the rebalance
        member = Member(
            member_id=member_id,
            group_instance_id=request.get("group_instance_id"),
            client_id=client_id,
            client_host=client_host,
            rebalance_timeout_ms=rebalance_timeout,
            session_timeout_ms=session_timeout,
            protocol_type=request["protocol_type"],
            protocols=protocols,
            is_new=True,
            join_api_version=api_version,
        )
        member.join_future = self._new_future()
        if group.is_(GroupState.PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        group.pending_members.pop(member_id, None)
        self._heartbeat(member)
        fut = member.join_future
        self._maybe_prepare_rebalance(group, f"adding member {member_id}")
        self._maybe_complete_join(group)
        return fut

    def _update_member_and_rebalance(
        self, group: Group, member: Member, request: dict, protocols: list[tuple[str, bytes]], api_version: int,
    ) -> asyncio.Future:
        self._update_member(member, request, protocols, api_version)
        fut = member.join_future
        assert fut is not None
        self._maybe_prepare_rebalance(group, f"updating metadata of member {member.member_id}")
        self._maybe_complete_join(group)
        return fut

    def _update_member(self, member: Member, request: dict, protocols: list[tuple[str, bytes]], api_version: int) -> None:
        member.protocols = protocols
        member.session_timeout_ms = int(request["session_timeout_ms"])
        rebalance_timeout = int(request.get("rebalance_timeout_ms", -1))
        member.rebalance_timeout_ms = member.session_timeout_ms if api_version == 0 or rebalance_timeout < 0 else rebalance_timeout
        member.join_api_version = api_version
        # A member rejoining replaces its previous parked JoinGroup (the client gave up on it).
        self._complete_join(member, self._join_error(member.member_id, ErrorCode.REBALANCE_IN_PROGRESS))
        member.join_future = self._new_future()

    def _remove_member_and_update_group(self, group: Group, member: Member) -> None:
        """Remove a member (leave or expiry) and rebalance or finish the join phase."""
        self._complete_join(member, self._join_error("", ErrorCode.UNKNOWN_MEMBER_ID))
        self._complete_sync(member, ErrorCode.UNKNOWN_MEMBER_ID)
        group.remove(member.member_id)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group, f"removing member {member.member_id}")
        elif group.is_(GroupState.PREPARING_REBALANCE):
            self._maybe_complete_join(group)

    def _remove_pending_member(self, group: Group, member_id: str) -> None:
        group.pending_members.pop(member_id, None)
        if group.is_(GroupState.PREPARING_REBALANCE):
            self._maybe_complete_join(group)

    def _replace_static_member(self, group: Group, instance_id: str, old_id: str, new_id: str) -> Member:
        """Give the static member ``instance_id`` a new member id; fence the old one."""
        member = group.members.pop(old_id)
        self._complete_join(member, self._join_error(old_id, ErrorCode.FENCED_INSTANCE_ID))
        self._complete_sync(member, ErrorCode.FENCED_INSTANCE_ID)
        member.member_id = new_id
        group.members[new_id] = member  # (moves it to the end of the join order)
        group.static_members[instance_id] = new_id
        if group.leader_id == old_id:
            group.leader_id = new_id
        if old_id in group.pending_sync:
            group.pending_sync.discard(old_id)
            group.pending_sync.add(new_id)
        return member

    # ------------------------------------------------------------------ JoinGroup

    async def join_group(self, request: dict, api_version: int, client_id: str, client_host: str = "") -> dict:
        """JoinGroup v0-9. Parks until the join phase completes for this member."""
        group_id = request.get("group_id") or ""
        member_id = request.get("member_id") or ""
        instance_id = request.get("group_instance_id") if api_version >= 5 else None
        protocol_type = request.get("protocol_type") or ""
        protocols = [(p["name"], bytes(p.get("metadata") or b"")) for p in request.get("protocols") or []]
        session_timeout = int(request.get("session_timeout_ms", 0))
        request = dict(request, group_instance_id=instance_id, protocol_type=protocol_type)

        if not group_id:
            return self._join_error(member_id, ErrorCode.INVALID_GROUP_ID, api_version)
        if self._closed:
            return self._join_error(member_id, ErrorCode.COORDINATOR_NOT_AVAILABLE, api_version)
        if not self._session_timeout_ok(session_timeout):
            return self._join_error(member_id, ErrorCode.INVALID_SESSION_TIMEOUT, api_version)

        group = self._lookup(group_id)
        if group is None or group.is_(GroupState.DEAD):
            # The id may belong to a consumer group (KIP-848): an empty one is converted.
            if self.consumer.remove_if_empty(group_id) is False:
                return self._join_error(member_id, ErrorCode.INCONSISTENT_GROUP_PROTOCOL, api_version)
            if member_id:
                return self._join_error(member_id, ErrorCode.UNKNOWN_MEMBER_ID, api_version)
            group = self._groups[group_id] = Group(group_id)

        if not member_id:
            result = self._join_new_member(group, request, protocols, client_id, client_host, api_version)
        else:
            result = self._join_current_member(group, member_id, request, protocols, client_id, client_host, api_version)
        if isinstance(result, dict):
            return result
        return await self._await_join(result, api_version)

    def _join_new_member(
        self, group: Group, request: dict, protocols: list[tuple[str, bytes]],
        client_id: str, client_host: str, api_version: int,
    ) -> dict | asyncio.Future:
        instance_id = request["group_instance_id"]
        if not group.supports_protocols(request["protocol_type"], protocols):
            return self._join_error("", ErrorCode.INCONSISTENT_GROUP_PROTOCOL, api_version)
        new_id = f"{client_id}-{uuid.uuid4()}"
        if instance_id is not None:
            old_id = group.static_members.get(instance_id)
            if old_id is not None:
                return self._rejoin_static_member(group, instance_id, old_id, new_id, request, protocols, api_version)
        if len(group.members) + len(group.pending_members) >= self.group_max_size:
            return self._join_error("", ErrorCode.GROUP_MAX_SIZE_REACHED, api_version)
        if instance_id is None and api_version >= 4:
            # KIP-394: hand out the id first; the member holds the join phase open
            # until it rejoins with it or its session timeout passes.
            group.pending_members[new_id] = self._now_ms() + int(request["session_timeout_ms"])
            return self._join_error(new_id, ErrorCode.MEMBER_ID_REQUIRED, api_version)
        return self._add_member_and_rebalance(group, new_id, request, protocols, client_id, client_host, api_version)

    def _rejoin_static_member(
        self, group: Group, instance_id: str, old_id: str, new_id: str, request: dict,
        protocols: list[tuple[str, bytes]], api_version: int,
    ) -> dict | asyncio.Future:
        """KIP-345: a static member restarted; it takes a new member id, the old one is fenced."""
        member = self._replace_static_member(group, instance_id, old_id, new_id)
        if group.is_(GroupState.STABLE) and member.matches(protocols):
            # Nothing changed: hand back the current generation without a rebalance.
            member.session_timeout_ms = int(request["session_timeout_ms"])
            self._heartbeat(member)
            self._store_group(group)  # the member id changed
            is_leader = group.is_leader(new_id)
            if is_leader and api_version < 9:
                # An old leader would compute an assignment the group then ignores (KIP-814):
                # let it see the member list, its SyncGroup returns the current assignment.
                return self._join_result(group, member, members=True)
            return self._join_result(group, member, members=is_leader, skip_assignment=is_leader)
        # Protocols changed, or a rebalance is under way: (re)join through a rebalance.
        return self._update_member_and_rebalance(group, member, request, protocols, api_version)

    def _join_current_member(
        self, group: Group, member_id: str, request: dict, protocols: list[tuple[str, bytes]],
        client_id: str, client_host: str, api_version: int,
    ) -> dict | asyncio.Future:
        instance_id = request["group_instance_id"]
        if not group.supports_protocols(request["protocol_type"], protocols):
            return self._join_error(member_id, ErrorCode.INCONSISTENT_GROUP_PROTOCOL, api_version)
        if member_id in group.pending_members:
            # Second JoinGroup of a KIP-394 member, with the id we handed out.
            if instance_id is not None:
                return self._join_error(member_id, ErrorCode.UNKNOWN_MEMBER_ID, api_version)
            return self._add_member_and_rebalance(group, member_id, request, protocols, client_id, client_host, api_version)
        error = self._validate_current_member(group, member_id, instance_id)
        if error is not None:
            return self._join_error(member_id, error, api_version)
        member = group.members[member_id]
        if group.is_(GroupState.PREPARING_REBALANCE):
            return self._update_member_and_rebalance(group, member, request, protocols, api_version)
        if group.is_(GroupState.COMPLETING_REBALANCE):
            if member.matches(protocols):
                # The member lost its JoinGroup response: send it again.
                self._heartbeat(member)
                return self._join_result(group, member, members=group.is_leader(member_id))
            return self._update_member_and_rebalance(group, member, request, protocols, api_version)
        if group.is_(GroupState.STABLE):
            if group.is_leader(member_id) or not member.matches(protocols):
                # The leader rejoins to force a rebalance (e.g. topic metadata changed).
                return self._update_member_and_rebalance(group, member, request, protocols, api_version)
            self._heartbeat(member)
            return self._join_result(group, member, members=False)
        return self._join_error(member_id, ErrorCode.UNKNOWN_MEMBER_ID, api_version)

    # ------------------------------------------------------------------ SyncGroup

    async def sync_group(self, request: dict, api_version: int) -> dict:
        """SyncGroup v0-5. Followers park until the leader's assignment arrives."""
        group_id = request.get("group_id") or ""
        member_id = request.get("member_id") or ""
        generation_id = int(request.get("generation_id", -1))
        instance_id = request.get("group_instance_id") if api_version >= 3 else None

        def resp(code: ErrorCode, assignment: bytes = b"", group: Optional[Group] = None) -> dict:
            ok = code == ErrorCode.NONE and group is not None
            return {
                "error_code": _err(code),
                "protocol_type": group.protocol_type if ok else None,
                "protocol_name": group.protocol_name if ok else None,
                "assignment": assignment,
            }

        if not group_id:
            return resp(ErrorCode.INVALID_GROUP_ID)
        if self._closed:
            return resp(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        group = self._lookup(group_id)
        if group is None:
            return resp(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_(GroupState.DEAD):
            return resp(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        error = self._validate_current_member(group, member_id, instance_id)
        if error is not None:
            return resp(error)
        if generation_id != group.generation_id:
            return resp(ErrorCode.ILLEGAL_GENERATION)
        if api_version >= 5:
            ptype, pname = request.get("protocol_type"), request.get("protocol_name")
            if (ptype is not None and ptype != group.protocol_type) or (pname is not None and pname != group.protocol_name):
                return resp(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if group.is_(GroupState.EMPTY):
            return resp(ErrorCode.UNKNOWN_MEMBER_ID)
        if group.is_(GroupState.PREPARING_REBALANCE):
            return resp(ErrorCode.REBALANCE_IN_PROGRESS)

        member = group.members[member_id]
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            group.sync_deadline_ms = None
        self._heartbeat(member)
        if group.is_(GroupState.STABLE):
            return resp(ErrorCode.NONE, member.assignment, group)

        # CompletingRebalance: park until the leader's assignment is in.
        self._complete_sync(member, ErrorCode.REBALANCE_IN_PROGRESS)  # a duplicate SyncGroup replaces the old one
        fut = member.sync_future = self._new_future()
        if group.is_leader(member_id):
            assignments = {a["member_id"]: bytes(a.get("assignment") or b"") for a in request.get("assignments") or []}
            # Members the leader left out get an empty assignment.
            for m in group.members.values():
                m.assignment = assignments.get(m.member_id, b"")
            group.state = GroupState.STABLE
            self._store_group(group)
            for m in group.members.values():
                self._complete_sync(m, ErrorCode.NONE)
                self._heartbeat(m)
        code, assignment = await fut
        return resp(code, assignment, group)

    # ------------------------------------------------------------------ Heartbeat

    async def heartbeat(self, request: dict, api_version: int) -> dict:
        """Heartbeat v0-4: keeps the session alive; REBALANCE_IN_PROGRESS means rejoin."""
        return {"error_code": _err(self._heartbeat_error(request, api_version))}

    def _heartbeat_error(self, request: dict, api_version: int) -> ErrorCode:
        group_id = request.get("group_id") or ""
        member_id = request.get("member_id") or ""
        generation_id = int(request.get("generation_id", -1))
        instance_id = request.get("group_instance_id") if api_version >= 3 else None
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        if self._closed:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        group = self._lookup(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_(GroupState.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = self._validate_current_member(group, member_id, instance_id)
        if error is not None:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        member = group.members[member_id]
        if group.is_(GroupState.EMPTY):
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._heartbeat(member)
        if group.is_(GroupState.PREPARING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE  # CompletingRebalance or Stable

    # ------------------------------------------------------------------ LeaveGroup

    async def leave_group(self, request: dict, api_version: int) -> dict:
        """LeaveGroup v0-5 (v3+: a batch of members by member id and/or instance id)."""
        group_id = request.get("group_id") or ""
        if api_version >= 3:
            identities = [
                {"member_id": m.get("member_id") or "", "group_instance_id": m.get("group_instance_id")}
                for m in request.get("members") or []
            ]
        else:
            identities = [{"member_id": request.get("member_id") or "", "group_instance_id": None}]

        def resp(top: ErrorCode, results: list[tuple[dict, ErrorCode]]) -> dict:
            if api_version < 3:
                # v0-2 carry one error: the member's, unless the request failed as a whole.
                code = top if top != ErrorCode.NONE or not results else results[0][1]
                return {"error_code": _err(code)}
            return {
                "error_code": _err(top),
                "members": [
                    {"member_id": ident["member_id"], "group_instance_id": ident["group_instance_id"], "error_code": _err(code)}
                    for ident, code in results
                ],
            }

        if not group_id:
            return resp(ErrorCode.INVALID_GROUP_ID, [])
        if self._closed:
            return resp(ErrorCode.COORDINATOR_NOT_AVAILABLE, [])
        group = self._lookup(group_id)
        if group is None:
            return resp(ErrorCode.NONE, [(i, ErrorCode.UNKNOWN_MEMBER_ID) for i in identities])
        if group.is_(GroupState.DEAD):
            return resp(ErrorCode.COORDINATOR_NOT_AVAILABLE, [])
        results = [(ident, self._leave_one(group, ident["member_id"], ident["group_instance_id"])) for ident in identities]
        return resp(ErrorCode.NONE, results)

    def _leave_one(self, group: Group, member_id: str, instance_id: Optional[str]) -> ErrorCode:
        if instance_id is not None:
            current = group.static_members.get(instance_id)
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if member_id and member_id != current:
                return ErrorCode.FENCED_INSTANCE_ID
            member_id = current
        if member_id in group.pending_members:
            self._remove_pending_member(group, member_id)
            return ErrorCode.NONE
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        log.info("member %s leaves group %s", member_id, group.group_id)
        self._remove_member_and_update_group(group, member)
        return ErrorCode.NONE

    # ------------------------------------------------------------------ offsets

    async def offset_commit(self, request: dict, api_version: int) -> dict:
        """OffsetCommit v0-9: validate membership/generation, then persist to the offset store.

        The checks are reusable pieces (TxnOffsetCommit makes the same ones): `commit_group_error`
        for the group and member, `check_commit_partitions` per partition."""
        group_id = request.get("group_id")
        member_id = (request.get("member_id") or "") if api_version >= 1 else ""
        generation_id = int(request.get("generation_id_or_member_epoch", -1)) if api_version >= 1 else -1
        instance_id = request.get("group_instance_id") if api_version >= 7 else None
        topics = request.get("topics") or []

        group_error = self.commit_group_error(group_id, member_id, generation_id, instance_id, api_version)
        codes, to_commit = self.check_commit_partitions(topics, group_error, leader_epochs=api_version >= 6)
        if to_commit:
            try:
                await _maybe_await(self.offset_store.commit(group_id, to_commit))
            except Exception:
                log.exception("committing offsets of group %s failed", group_id)
                for tp in to_commit:
                    codes[tp] = ErrorCode.UNKNOWN_SERVER_ERROR
        return {"topics": partition_results(topics, codes)}

    def check_commit_partitions(
        self, topics: list[dict], group_error: Optional[ErrorCode], *, leader_epochs: bool,
    ) -> tuple[dict[tuple[str, int], ErrorCode], dict[tuple[str, int], OffsetAndMetadata]]:
        """Per-partition checks of a commit: (error code of every partition, what may be stored).
        Unknown partitions are refused first (KafkaApis checks its metadata before the coordinator),
        then the group's error applies, then the metadata size and the offset."""
        to_commit: dict[tuple[str, int], OffsetAndMetadata] = {}
        codes: dict[tuple[str, int], ErrorCode] = {}
        for t in topics:
            for p in t.get("partitions") or []:
                tp = (t["name"], int(p["partition_index"]))
                metadata = p.get("committed_metadata")
                metadata = "" if metadata is None else metadata
                if self.partition_exists is not None and not self.partition_exists(*tp):
                    codes[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif group_error is not None:
                    codes[tp] = group_error
                elif len(metadata.encode("utf-8")) > self.offset_metadata_max_bytes:
                    codes[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
                elif int(p["committed_offset"]) < 0:
                    # Kafka stores any offset; our store refuses negative ones.
                    codes[tp] = ErrorCode.INVALID_COMMIT_OFFSET_SIZE
                else:
                    epoch = int(p.get("committed_leader_epoch", -1)) if leader_epochs else -1
                    to_commit[tp] = OffsetAndMetadata(int(p["committed_offset"]), metadata, leader_epoch=epoch)
                    codes[tp] = ErrorCode.NONE
        return codes, to_commit

    def commit_group_error(
        self, group_id: Optional[str], member_id: str, generation_id: int, instance_id: Optional[str], api_version: int,
    ) -> Optional[ErrorCode]:
        """Kafka's validateOffsetCommit; None means the commit may proceed. A consumer group
        (KIP-848) checks the member epoch instead of the generation."""
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        if self._closed:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        group = self._lookup(group_id)
        if group is None or group.is_(GroupState.DEAD):
            consumer_group = self.consumer.group(group_id)
            if consumer_group is not None:
                return self.consumer.validate_commit(consumer_group, member_id, generation_id, api_version)
            # A standalone consumer (no group management) may commit with generation -1;
            # from v9 an unknown group with a generation is GROUP_ID_NOT_FOUND.
            if generation_id < 0:
                return None
            return ErrorCode.GROUP_ID_NOT_FOUND if api_version >= 9 else ErrorCode.ILLEGAL_GENERATION
        if generation_id < 0 and group.is_(GroupState.EMPTY):
            return None
        if group.is_(GroupState.COMPLETING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        error = self._validate_current_member(group, member_id, instance_id)
        if error is not None:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        self._heartbeat(group.members[member_id])
        return None  # Stable, or PreparingRebalance (members commit while revoking)

    async def _fetch_offsets(self, group_id: str, topics: Optional[list[dict]]) -> tuple[list[dict], ErrorCode]:
        """Committed offsets of a group as response topics (-1 for partitions never committed)."""
        try:
            if topics is None:
                stored = await _maybe_await(self.offset_store.fetch(group_id))
            else:
                stored = {}
                for name in dict.fromkeys(t["name"] for t in topics):
                    stored.update(await _maybe_await(self.offset_store.fetch(group_id, name)))
        except Exception:
            log.exception("fetching offsets of group %s failed", group_id)
            return [], ErrorCode.UNKNOWN_SERVER_ERROR

        def part(index: int, entry: Any) -> dict:
            # entry: an OffsetAndMetadata (offset, metadata, commit_timestamp, leader_epoch) or None
            if entry is None:
                offset, metadata, epoch = -1, "", -1
            else:
                offset, metadata = entry[0], entry[1]
                epoch = getattr(entry, "leader_epoch", -1)
            return {"partition_index": index, "committed_offset": int(offset), "committed_leader_epoch": int(epoch),
                    "metadata": "" if metadata is None else metadata, "error_code": _err(ErrorCode.NONE)}

        if topics is None:
            by_topic: dict[str, list[dict]] = {}
            for (topic, partition), entry in sorted(stored.items()):
                by_topic.setdefault(topic, []).append(part(partition, entry))
            return [{"name": t, "partitions": ps} for t, ps in by_topic.items()], ErrorCode.NONE
        return [
            {"name": t["name"],
             "partitions": [part(int(i), stored.get((t["name"], int(i)))) for i in t.get("partition_indexes") or []]}
            for t in topics
        ], ErrorCode.NONE

    def _fetch_group_error(self, group_id: str, member_id: Optional[str], member_epoch: int) -> Optional[ErrorCode]:
        """OffsetFetch v9 names the member: a consumer group checks it (classic groups do not)."""
        if self._lookup(group_id) is None:
            consumer_group = self.consumer.group(group_id)
            if consumer_group is not None:
                return self.consumer.validate_fetch(consumer_group, member_id, member_epoch)
        return None

    async def offset_fetch(self, request: dict, api_version: int) -> dict:
        """OffsetFetch v0-9: v0-7 one group (topics None = all, v2+), v8+ a batch of groups."""
        # The decoder fills every field of the schema, so "groups" is present (empty)
        # in v0-7 requests too: the version alone decides the shape.
        if api_version >= 8:
            groups = []
            for g in request.get("groups") or []:
                code = self._fetch_group_error(g["group_id"], g.get("member_id"), int(g.get("member_epoch", -1))) \
                    if api_version >= 9 else None
                topics, code = ([], code) if code is not None else await self._fetch_offsets(g["group_id"], g.get("topics"))
                groups.append({"group_id": g["group_id"], "topics": topics, "error_code": _err(code)})
            return {"groups": groups}
        topics = request.get("topics")
        if topics is None and api_version < 2:
            topics = []
        result, code = await self._fetch_offsets(request.get("group_id") or "", topics)
        if api_version < 2 and code != ErrorCode.NONE:
            # v0-1 have no top-level error: report it on each partition.
            for t in result:
                for p in t["partitions"]:
                    p["error_code"] = _err(code)
        return {"topics": result, "error_code": _err(code)}

    async def offset_delete(self, request: dict, api_version: int) -> dict:
        """OffsetDelete v0 (Kafka's deleteOffsets): tombstones for the committed offsets of the given
        partitions. Refused as a whole for an unknown group (GROUP_ID_NOT_FOUND) and for an active
        group that is not a consumer group (NON_EMPTY_GROUP); per topic while members are
        subscribed to it (GROUP_SUBSCRIBED_TO_TOPIC)."""
        group_id = request.get("group_id") or ""
        topics = request.get("topics") or []

        def resp(code: ErrorCode, results: Optional[list[dict]] = None) -> dict:
            return {"error_code": _err(code), "topics": results or []}

        if not group_id:
            return resp(ErrorCode.INVALID_GROUP_ID)
        if self._closed:
            return resp(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        group = self._lookup(group_id)
        try:
            committed = await _maybe_await(self.offset_store.fetch(group_id))
        except Exception:
            log.exception("fetching offsets of group %s failed", group_id)
            return resp(ErrorCode.UNKNOWN_SERVER_ERROR)
        consumer_group = self.consumer.group(group_id) if group is None else None
        if consumer_group is not None:
            # A consumer group (KIP-848): offsets may go, but not those of topics a member subscribes to.
            subscribed = consumer_group.subscribed_topics(frozenset(self.consumer.topic_partitions()))
        else:
            if (group is None and not committed) or (group is not None and group.is_(GroupState.DEAD)):
                return resp(ErrorCode.GROUP_ID_NOT_FOUND)
            active = group is not None and not group.is_(GroupState.EMPTY)
            if active and group.protocol_type != "consumer":
                return resp(ErrorCode.NON_EMPTY_GROUP)
            subscribed = self._subscribed_topics(group) if active else set()
        codes: dict[tuple[str, int], ErrorCode] = {}
        for t in topics:
            for p in t.get("partitions") or []:
                tp = (t["name"], int(p["partition_index"]))
                if self.partition_exists is not None and not self.partition_exists(*tp):
                    codes[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif tp[0] in subscribed:
                    codes[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                else:
                    codes[tp] = ErrorCode.NONE
        to_delete = [tp for tp, code in codes.items() if code == ErrorCode.NONE and tp in committed]
        if to_delete:
            try:
                await _maybe_await(self.offset_store.delete_offsets(group_id, to_delete))
            except Exception:
                log.exception("deleting offsets of group %s failed", group_id)
                return resp(ErrorCode.UNKNOWN_SERVER_ERROR)
        return resp(ErrorCode.NONE, partition_results(topics, codes))

    @staticmethod
    def _subscribed_topics(group: Group) -> set[str]:
        """The topics the members of a "consumer" group subscribe to, from their ConsumerProtocolSubscription
        metadata (Kafka's computeSubscribedTopics: when one does not parse, none are known)."""
        topics: set[str] = set()
        for m in group.members.values():
            for _name, meta in m.protocols:
                try:
                    (version,) = struct.unpack_from(">h", meta, 0)
                    sub = decode_message("ConsumerProtocolSubscription", min(max(version, 0), 3), meta, 2, exact=False)
                except (struct.error, ProtocolError):
                    return set()
                topics.update(sub["topics"])
        return topics

    # ------------------------------------------------------------------ admin APIs

    async def _stored_groups(self) -> set[str]:
        """The groups this broker coordinates that the offset store knows of."""
        try:
            return {g for g in await _maybe_await(self.offset_store.groups()) if self.is_coordinator(g)}
        except Exception:
            log.exception("listing groups of the offset store failed")
            return set()

    async def list_groups(self, request: dict, api_version: int) -> dict:
        """ListGroups v0-5; v4+ filters by state, v5+ by type ("classic" or "consumer"), case-insensitively."""
        states = {s.lower() for s in request.get("states_filter") or []} if api_version >= 4 else set()
        types = {s.lower() for s in request.get("types_filter") or []} if api_version >= 5 else set()
        listed: dict[str, dict] = {}
        for gid in sorted(await self._stored_groups()):
            # A group with only committed offsets is an Empty "simple" group (no protocol type);
            # one with group records is rebuilt from them.
            if self._lookup(gid) is None:
                self.consumer.group(gid)
            listed[gid] = {"group_id": gid, "protocol_type": "", "group_state": GroupState.EMPTY.value,
                           "group_type": CLASSIC_GROUP_TYPE}
        for gid, g in self._groups.items():
            if g.is_(GroupState.DEAD) or not self.is_coordinator(gid):
                continue
            listed[gid] = {"group_id": gid, "protocol_type": g.protocol_type or "", "group_state": g.state.value,
                           "group_type": CLASSIC_GROUP_TYPE}
        for cg in self.consumer.groups():
            if not self.is_coordinator(cg.group_id):
                continue
            listed[cg.group_id] = {"group_id": cg.group_id, "protocol_type": CONSUMER_GROUP_TYPE,
                                   "group_state": cg.state.value, "group_type": CONSUMER_GROUP_TYPE}
        groups = [
            entry for entry in listed.values()
            if (not states or entry["group_state"].lower() in states)
            and (not types or entry["group_type"] in types)
        ]
        return {"error_code": _err(ErrorCode.NONE), "groups": groups}

    async def describe_groups(self, request: dict, api_version: int) -> dict:
        """DescribeGroups v0-5. Unknown groups are reported as Dead, and so are consumer groups
        (KIP-848), as Kafka does: ConsumerGroupDescribe describes those."""
        stored = None
        out = []
        for gid in request.get("groups") or []:
            g = self._lookup(gid)
            entry = {"error_code": _err(ErrorCode.NONE), "group_id": gid, "group_state": GroupState.DEAD.value,
                     "protocol_type": "", "protocol_data": "", "members": [],
                     "authorized_operations": -2147483648}
            if g is not None and not g.is_(GroupState.DEAD):
                stable = g.is_(GroupState.STABLE)
                entry.update(
                    group_state=g.state.value,
                    protocol_type=g.protocol_type or "",
                    protocol_data=(g.protocol_name or "") if stable else "",
                    members=[
                        {"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                         "client_id": m.client_id, "client_host": m.client_host,
                         "member_metadata": m.metadata(g.protocol_name) if stable and g.protocol_name else b"",
                         "member_assignment": m.assignment if stable else b""}
                        for m in g.members.values()
                    ],
                )
            elif self.consumer.group(gid) is None:
                if stored is None:
                    stored = await self._stored_groups()
                if gid in stored:
                    entry["group_state"] = GroupState.EMPTY.value
            out.append(entry)
        return {"groups": out}

    async def delete_groups(self, request: dict, api_version: int) -> dict:
        """DeleteGroups v0-2: only empty groups; their committed offsets go too."""
        stored = await self._stored_groups()
        results = []
        for gid in request.get("groups_names") or []:
            g = self._lookup(gid)
            consumer_group = self.consumer.group(gid) if g is None else None
            if g is not None and not g.is_(GroupState.DEAD):
                if not g.is_(GroupState.EMPTY) or g.members or g.pending_members:
                    results.append({"group_id": gid, "error_code": _err(ErrorCode.NON_EMPTY_GROUP)})
                    continue
            elif consumer_group is not None:
                if consumer_group.members:
                    results.append({"group_id": gid, "error_code": _err(ErrorCode.NON_EMPTY_GROUP)})
                    continue
            elif gid not in stored:
                results.append({"group_id": gid, "error_code": _err(ErrorCode.GROUP_ID_NOT_FOUND)})
                continue
            code = ErrorCode.NONE
            try:
                await _maybe_await(self.offset_store.delete_group(gid))
            except Exception:
                log.exception("deleting offsets of group %s failed", gid)
                code = ErrorCode.UNKNOWN_SERVER_ERROR
            if code == ErrorCode.NONE and g is not None:
                g.state = GroupState.DEAD
                del self._groups[gid]
            if code == ErrorCode.NONE:
                self.consumer.forget(gid)
            results.append({"group_id": gid, "error_code": _err(code)})
        return {"results": results}
