"""The consumer group protocol of KIP-848 (``group.protocol=consumer``): the broker assigns.

Members send ConsumerGroupHeartbeat; the coordinator keeps, per group
(Kafka's GroupMetadataManager / ConsumerGroup / CurrentAssignmentBuilder):

- the **group epoch**, bumped whenever what the assignment depends on changes:
  a member joins or leaves or changes its subscription or assignor, or a
  subscribed topic changes (partitions added, topic created or deleted);
- the **target assignment** and its epoch, computed by a server-side assignor
  (`assignors.py`) whenever the group epoch is ahead of it;
- per member, its **member epoch** and current assignment, reconciled towards
  the target one heartbeat at a time, without a global barrier: a member first
  revokes what it must give up (it stays in its epoch, UNREVOKED_PARTITIONS),
  then moves to the target epoch with the partitions that are free; a
  partition still held by its previous owner is assigned only once that owner
  has released it (UNRELEASED_PARTITIONS until then). Members that do not
  have to change keep consuming.

A member is fenced (removed, the group epoch bumped) when its session times
out (``group.consumer.session.timeout.ms`` without a heartbeat) or when it does
not revoke within its rebalance timeout. It leaves with member epoch -1; a
static member (``group.instance.id``) leaves temporarily with -2, keeping its
partitions until its session times out or a new instance takes its place.

Every change is persisted as Kafka's records in ``__consumer_offsets``
(`records.py`: group epoch, member subscriptions, target assignment, current
member assignments; tombstones when a member or the group goes), so a new
coordinator (a restart, a leader change of the offsets partition) rebuilds the
group, its members keep their epochs and partitions, and their sessions start
again.

The group id space is shared with classic groups (group.py): an empty group of
the other kind is converted, a non-empty one refuses the other protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
import uuid
from base64 import urlsafe_b64encode
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Optional, Protocol

from pystream.coordinator import records
from pystream.coordinator.assignors import ASSIGNORS, MemberSpec, assignor_names
from pystream.coordinator.records import RecordType
from pystream.protocol.error_codes import ErrorCode

log = logging.getLogger(__name__)

__all__ = ["ConsumerGroup", "ConsumerGroupCoordinator", "ConsumerGroupMember", "ConsumerGroupState", "MemberState"]

CONSUMER_GROUP_TYPE = "consumer"
CONSUMER_PROTOCOL_TYPE = "consumer"
LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2
AUTHORIZED_OPERATIONS_OMITTED = -2147483648

# topic name -> partitions (never an empty set)
Partitions = dict[str, frozenset[int]]


class MemberState(IntEnum):
    """Kafka's MemberState (the values are what the CurrentMemberAssignment record stores)."""

    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2
    UNKNOWN = 127


class ConsumerGroupState(str, Enum):
    """The names Kafka reports for consumer groups in ListGroups and ConsumerGroupDescribe."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


class GroupError(Exception):
    """A request refused with a Kafka error code (and message)."""

    def __init__(self, code: ErrorCode, message: Optional[str] = None) -> None:
        super().__init__(message or code.name)
        self.code = code
        self.message = message


class ClassicGroups(Protocol):
    """What this coordinator asks of the classic one (group.py) about a shared group id."""

    def remove_empty_classic_group(self, group_id: str) -> Optional[bool]:
        """None: no classic group by that id; True: it was empty and is now gone; False: it has members."""
        ...


@dataclass
class ConsumerGroupMember:
    """A member of a consumer group (Kafka's ConsumerGroupMember)."""

    member_id: str
    instance_id: Optional[str] = None
    rack_id: Optional[str] = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: Optional[str] = None
    rebalance_timeout_ms: int = -1
    server_assignor: Optional[str] = None
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    assigned: Partitions = field(default_factory=dict)
    pending_revocation: Partitions = field(default_factory=dict)
    # Deadlines on the coordinator's clock (ms); the rebalance one only while UNREVOKED_PARTITIONS.
    session_deadline_ms: float = 0.0
    rebalance_deadline_ms: Optional[float] = None

    def metadata(self) -> tuple:
        """What the member metadata record holds (a change is written)."""
        return (self.instance_id, self.rack_id, self.client_id, self.client_host, self.subscribed_topic_names,
                self.subscribed_topic_regex, self.rebalance_timeout_ms, self.server_assignor)

    def subscription(self) -> tuple:
        """What the target assignment depends on (a change bumps the group epoch)."""
        return (frozenset(self.subscribed_topic_names), self.subscribed_topic_regex, self.server_assignor)

    def reconciliation(self) -> tuple:
        """What the current assignment record holds."""
        return (self.member_epoch, self.previous_member_epoch, self.state, self.assigned, self.pending_revocation)

    def held(self) -> set[tuple[str, int]]:
        """Partitions this member holds: assigned or still to revoke."""
        return {(t, p) for part in (self.assigned, self.pending_revocation) for t, ps in part.items() for p in ps}


@dataclass
class ConsumerGroup:
    """A consumer group (Kafka's ConsumerGroup).

    Invariants: ``owners`` maps every partition some member holds (assigned or
    pending revocation) to that member, and a partition has one holder at most;
    ``static_members`` maps the instance id of each static member to its member
    id; ``target`` has an entry for members that have a target assignment.
    """

    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    metadata_hash: int = 0
    members: dict[str, ConsumerGroupMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    target: dict[str, Partitions] = field(default_factory=dict)
    owners: dict[tuple[str, int], str] = field(default_factory=dict)
    # regex -> (the topic names it was resolved against, the matches)
    regexes: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)

    @property
    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(m.member_epoch != self.assignment_epoch or m.state != MemberState.STABLE for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def put(self, member: ConsumerGroupMember) -> None:
        """Adds or replaces a member (by member id), keeping ``owners`` and ``static_members`` right."""
        old = self.members.get(member.member_id)
        if old is not None:
            for tp in old.held():
                if self.owners.get(tp) == member.member_id:
                    del self.owners[tp]
        self.members[member.member_id] = member
        for tp in member.held():
            self.owners[tp] = member.member_id
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id

    def remove(self, member_id: str) -> Optional[ConsumerGroupMember]:
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        for tp in member.held():
            if self.owners.get(tp) == member_id:
                del self.owners[tp]
        if member.instance_id is not None and self.static_members.get(member.instance_id) == member_id:
            del self.static_members[member.instance_id]
        self.target.pop(member_id, None)
        return member

    def static_member(self, instance_id: str) -> Optional[ConsumerGroupMember]:
        member_id = self.static_members.get(instance_id)
        return None if member_id is None else self.members.get(member_id)

    def resolve(self, regex: Optional[str], topic_names: frozenset[str]) -> frozenset[str]:
        """The topics a subscription regex matches (whole names, Java-regex style), cached."""
        if not regex:
            return frozenset()
        cached = self.regexes.get(regex)
        if cached is not None and cached[0] == topic_names:
            return cached[1]
        pattern = re.compile(regex)
        matches = frozenset(t for t in topic_names if not t.startswith("__") and pattern.fullmatch(t))
        self.regexes[regex] = (topic_names, matches)
        return matches

    def subscribed(self, member: ConsumerGroupMember, topic_names: frozenset[str]) -> frozenset[str]:
        return frozenset(member.subscribed_topic_names) | self.resolve(member.subscribed_topic_regex, topic_names)

    def subscribed_topics(self, topic_names: frozenset[str]) -> set[str]:
        """Every topic some member subscribes to (by name or regex)."""
        out: set[str] = set()
        for m in self.members.values():
            out |= self.subscribed(m, topic_names)
        return out


def _kafka_uuid() -> str:
    """A member id in Kafka's form (Uuid.randomUuid().toString(): URL-safe base64, no padding)."""
    return urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _partitions(assignment: Mapping[str, Any]) -> Partitions:
    return {t: frozenset(ps) for t, ps in assignment.items() if ps}


def _hash_metadata(metadata: Mapping[str, tuple[uuid.UUID, int]]) -> int:
    """A stable int64 over the subscribed topics' names, ids and partition counts."""
    h = hashlib.sha256()
    for name in sorted(metadata):
        tid, n = metadata[name]
        h.update(f"{name}\0{tid}\0{n}\n".encode())
    return int.from_bytes(h.digest()[:8], "big", signed=True)


# ---------------------------------------------------------------------- reconciliation


def reconcile(member: ConsumerGroupMember, target_epoch: int, target: Partitions, subscribed: frozenset[str],
              owner_of: Callable[[str, int], Optional[str]], owned: Optional[Partitions]) -> ConsumerGroupMember:
    """Kafka's CurrentAssignmentBuilder: the member's next state towards the target assignment.

    ``owned`` is what the member reported owning in this heartbeat (None: not reported);
    ``owner_of`` gives the member currently holding a partition (None: free)."""

    def owns_any(parts: Partitions) -> bool:
        if owned is None:
            return True  # not reported: assume it still owns them
        return any(owned.get(t, frozenset()) & ps for t, ps in parts.items())

    def next_assignment() -> ConsumerGroupMember:
        unreleased = False
        keep_all: Partitions = {}
        revoke_all: Partitions = {}
        assign_all: Partitions = {}
        for topic in sorted(set(target) | set(member.assigned)):
            tgt = target.get(topic, frozenset()) if topic in subscribed else frozenset()
            cur = member.assigned.get(topic, frozenset())
            keep, revoke = cur & tgt, cur - tgt
            assign = set(tgt - keep)
            pending_mine = member.pending_revocation.get(topic, frozenset())
            held = {p for p in assign if owner_of(topic, p) not in (None, member.member_id) and p not in pending_mine}
            unreleased |= bool(held)
            assign -= held
            for out, ps in ((keep_all, keep), (revoke_all, revoke), (assign_all, assign)):
                if ps:
                    out[topic] = frozenset(ps)
        epoch = member.member_epoch
        if revoke_all and owns_any(revoke_all):
            # Revoke first: the member stays in its epoch until it has released them.
            return dataclasses.replace(member, state=MemberState.UNREVOKED_PARTITIONS, member_epoch=epoch,
                                       previous_member_epoch=epoch, assigned=keep_all, pending_revocation=revoke_all)
        for topic, ps in assign_all.items():
            keep_all[topic] = keep_all.get(topic, frozenset()) | ps
        state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
        return dataclasses.replace(member, state=state, member_epoch=target_epoch, previous_member_epoch=epoch,
                                   assigned=keep_all, pending_revocation={})

    if member.state == MemberState.STABLE:
        if member.member_epoch != target_epoch or any(t not in subscribed for t in member.assigned):
            return next_assignment()
        return member
    if member.state == MemberState.UNREVOKED_PARTITIONS:
        if owns_any(member.pending_revocation):
            return member
        return next_assignment()
    if member.state == MemberState.UNRELEASED_PARTITIONS:
        return next_assignment()
    # UNKNOWN (a state written by a newer version): fence unless it rejoins with nothing.
    if owned is None or any(owned.values()):
        raise GroupError(ErrorCode.FENCED_MEMBER_EPOCH, "The consumer group member is in an unknown state. "
                         "The member must abandon all its partitions and rejoin.")
    return next_assignment()


# ---------------------------------------------------------------------- the coordinator


class ConsumerGroupCoordinator:
    """Consumer groups of this broker (asyncio, one event loop; no request parks).

    ``topic_partitions()`` returns the partition count of every topic the broker
    or its cluster knows, ``topic_id(name)`` a topic's id (the heartbeat names
    topics by id). Configuration: Kafka's ``group.consumer.*`` broker keys.
    """

    def __init__(
        self,
        offset_store: Any,
        classic: ClassicGroups,
        *,
        topic_partitions: Callable[[], Mapping[str, int]],
        topic_id: Callable[[str], uuid.UUID],
        heartbeat_interval_ms: int = 5000,
        session_timeout_ms: int = 45000,
        assignors: tuple[str, ...] = ("uniform", "range"),
        clock: Callable[[], float] = time.monotonic,
        is_coordinator: Callable[[str], bool] = lambda group_id: True,
    ) -> None:
        self.is_coordinator = is_coordinator
        self.assignors = assignor_names(",".join(assignors))  # ValueError for an unknown one
        self.offset_store = offset_store
        self.classic = classic
        self.topic_partitions = topic_partitions
        self.topic_id = topic_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.session_timeout_ms = session_timeout_ms
        self._clock = clock
        self._groups: dict[str, ConsumerGroup] = {}
        self.closed = False
        listeners = getattr(offset_store, "unload_listeners", None)
        if listeners is not None:
            listeners.append(self._forget_partition)

    def _now_ms(self) -> float:
        return self._clock() * 1000.0

    # ------------------------------------------------------------------ lookup and persistence

    def group(self, group_id: str) -> Optional[ConsumerGroup]:
        """The consumer group: in memory, or rebuilt from its records (None: there is none)."""
        group = self._groups.get(group_id)
        if group is None and group_id and not self.closed and self.is_coordinator(group_id):
            group = self._load(group_id)
            if group is not None:
                self._groups[group_id] = group
        return group

    def groups(self) -> list[ConsumerGroup]:
        """The consumer groups in memory (call `group` first for ids only the log knows)."""
        return list(self._groups.values())

    def _forget_partition(self, partition: int) -> None:
        for gid in [g for g in self._groups if self.offset_store.partition_for(g) == partition]:
            del self._groups[gid]

    def _load(self, group_id: str) -> Optional[ConsumerGroup]:
        """Replays the group's records (Kafka's replay of ConsumerGroup* records)."""
        try:
            raw = self.offset_store.group_records(group_id)
        except Exception:
            log.exception("reading the records of group %s failed", group_id)
            return None
        decoded: dict[int, list[tuple[dict, dict]]] = {}
        for key, value in raw.items():
            rtype = records.group_of_key(key)[0]
            if RecordType.CONSUMER_GROUP_METADATA <= rtype <= RecordType.CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT:
                try:
                    decoded.setdefault(rtype, []).append((records.decode_key(key)[1], records.decode_value(rtype, value)))
                except Exception:
                    log.exception("skipping a bad record of group %s", group_id)
        if RecordType.CONSUMER_GROUP_METADATA not in decoded:
            return None
        names = self._names_by_id()

        def by_name(tps: list[dict]) -> Partitions:
            out: dict[str, frozenset[int]] = {}
            for tp in tps:
                name = names.get(tp["topic_id"])
                if name is not None and tp["partitions"]:
                    out[name] = frozenset(tp["partitions"])
            return out

        meta = decoded[RecordType.CONSUMER_GROUP_METADATA][0][1]
        group = ConsumerGroup(group_id, group_epoch=int(meta["epoch"]), metadata_hash=int(meta["metadata_hash"]))
        for _, v in decoded.get(RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA, []):
            group.assignment_epoch = int(v["assignment_epoch"])
        current = {k["member_id"]: v for k, v in decoded.get(RecordType.CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT, [])}
        now = self._now_ms()
        for k, v in decoded.get(RecordType.CONSUMER_GROUP_MEMBER_METADATA, []):
            member = ConsumerGroupMember(
                k["member_id"], instance_id=v["instance_id"], rack_id=v["rack_id"], client_id=v["client_id"],
                client_host=v["client_host"], subscribed_topic_names=tuple(v["subscribed_topic_names"]),
                subscribed_topic_regex=v["subscribed_topic_regex"], rebalance_timeout_ms=int(v["rebalance_timeout_ms"]),
                server_assignor=v["server_assignor"], session_deadline_ms=now + self.session_timeout_ms)
            c = current.get(member.member_id)
            if c is not None:
                member.member_epoch, member.previous_member_epoch = int(c["member_epoch"]), int(c["previous_member_epoch"])
                member.state = MemberState(c["state"]) if c["state"] in MemberState._value2member_map_ else MemberState.UNKNOWN
                member.assigned = by_name(c["assigned_partitions"])
                member.pending_revocation = by_name(c["partitions_pending_revocation"])
                if member.state == MemberState.UNREVOKED_PARTITIONS:
                    member.rebalance_deadline_ms = now + max(member.rebalance_timeout_ms, 0)
            group.put(member)
        for k, v in decoded.get(RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER, []):
            if k["member_id"] in group.members:
                group.target[k["member_id"]] = by_name(v["topic_partitions"])
        log.info("loaded consumer group %s: epoch %d, assignment epoch %d, %d members", group_id,
                 group.group_epoch, group.assignment_epoch, len(group.members))
        return group

    def _tid(self, name: str) -> Optional[uuid.UUID]:
        """The topic's id; None when it has none (any more)."""
        try:
            tid = self.topic_id(name)
        except Exception:  # deleted meanwhile
            return None
        return None if tid is None or tid.int == 0 else tid

    def _names_by_id(self) -> dict[uuid.UUID, str]:
        out: dict[uuid.UUID, str] = {}
        for name in self.topic_partitions():
            tid = self._tid(name)
            if tid is not None:
                out[tid] = name
        return out

    def _ids(self, parts: Partitions, ids: Mapping[str, uuid.UUID]) -> list[dict]:
        """An assignment as ``[{topic_id, partitions}]`` (topics without a known id are left out)."""
        by_id: dict[uuid.UUID, list[int]] = {}
        for t, ps in parts.items():
            tid = ids.get(t) or self._tid(t)
            if tid is not None:
                by_id[tid] = sorted(ps)
        return records.topic_partitions_field(by_id)

    @staticmethod
    def _key(rtype: RecordType, group_id: str, member_id: Optional[str] = None) -> bytes:
        return records.encode_key(rtype, group_id, member_id)

    def _member_records(self, group: ConsumerGroup, member: ConsumerGroupMember, ids: Mapping[str, uuid.UUID],
                        *, metadata: bool = False, target: bool = False, current: bool = False) -> list[tuple[bytes, bytes]]:
        gid, mid = group.group_id, member.member_id
        out = []
        if metadata:
            out.append((self._key(RecordType.CONSUMER_GROUP_MEMBER_METADATA, gid, mid),
                        records.encode_value(RecordType.CONSUMER_GROUP_MEMBER_METADATA, {
                            "instance_id": member.instance_id, "rack_id": member.rack_id, "client_id": member.client_id,
                            "client_host": member.client_host,
                            "subscribed_topic_names": list(member.subscribed_topic_names),
                            "subscribed_topic_regex": member.subscribed_topic_regex,
                            "rebalance_timeout_ms": member.rebalance_timeout_ms,
                            "server_assignor": member.server_assignor})))
        if target:
            out.append((self._key(RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER, gid, mid),
                        records.encode_value(RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER, {
                            "topic_partitions": self._ids(group.target.get(mid, {}), ids)})))
        if current:
            out.append((self._key(RecordType.CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT, gid, mid),
                        records.encode_value(RecordType.CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT, {
                            "member_epoch": member.member_epoch, "previous_member_epoch": member.previous_member_epoch,
                            "state": int(member.state), "assigned_partitions": self._ids(member.assigned, ids),
                            "partitions_pending_revocation": self._ids(member.pending_revocation, ids)})))
        return out

    def _member_tombstones(self, group_id: str, member_id: str) -> list[tuple[bytes, None]]:
        # Kafka's order: current assignment, target assignment, subscription.
        return [(self._key(t, group_id, member_id), None) for t in (
            RecordType.CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT, RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER,
            RecordType.CONSUMER_GROUP_MEMBER_METADATA)]

    def _epoch_record(self, group: ConsumerGroup) -> tuple[bytes, bytes]:
        return (self._key(RecordType.CONSUMER_GROUP_METADATA, group.group_id),
                records.encode_value(RecordType.CONSUMER_GROUP_METADATA,
                                     {"epoch": group.group_epoch, "metadata_hash": group.metadata_hash}))

    def _write(self, group_id: str, entries: list) -> None:
        """Appends the records of one change as one batch (durable before the response goes)."""
        if not entries:
            return
        try:
            self.offset_store.write(group_id, entries)
        except Exception:
            log.exception("writing the records of consumer group %s failed", group_id)

    def delete_records(self, group: ConsumerGroup) -> list[tuple[bytes, None]]:
        """Tombstones for every record of the group (not its offsets)."""
        out: list[tuple[bytes, None]] = []
        for member_id in group.members:
            out += self._member_tombstones(group.group_id, member_id)
        out += [(self._key(RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA, group.group_id), None),
                (self._key(RecordType.CONSUMER_GROUP_METADATA, group.group_id), None)]
        return out

    def remove_if_empty(self, group_id: str) -> Optional[bool]:
        """For a classic JoinGroup on this id: None if there is no consumer group, False if it has
        members, True if it was empty and is now deleted (its records tombstoned; offsets stay)."""
        group = self.group(group_id)
        if group is None:
            return None
        if group.members:
            return False
        self._write(group_id, self.delete_records(group))
        del self._groups[group_id]
        log.info("empty consumer group %s converted to a classic group", group_id)
        return True

    def forget(self, group_id: str) -> None:
        """Drops a deleted group from memory (DeleteGroups tombstoned its records)."""
        self._groups.pop(group_id, None)

    # ------------------------------------------------------------------ ConsumerGroupHeartbeat

    async def heartbeat(self, request: dict, api_version: int, client_id: str = "", client_host: str = "") -> dict:
        """ConsumerGroupHeartbeat v0-1: join (epoch 0), heartbeat, leave (-1, -2)."""
        try:
            return self._heartbeat(request, api_version, client_id, client_host)
        except GroupError as e:
            return {"error_code": int(e.code), "error_message": e.message, "member_id": None, "member_epoch": 0,
                    "heartbeat_interval_ms": 0, "assignment": None}

    def _validate(self, request: dict) -> None:
        """Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid."""
        epoch = int(request.get("member_epoch", 0))
        if not request.get("group_id"):
            raise GroupError(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if request.get("instance_id") == "":
            raise GroupError(ErrorCode.INVALID_REQUEST, "InstanceId can't be empty.")
        if request.get("rack_id") == "":
            raise GroupError(ErrorCode.INVALID_REQUEST, "RackId can't be empty.")
        if epoch != 0 and not request.get("member_id"):
            raise GroupError(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if epoch == 0:
            if int(request.get("rebalance_timeout_ms", -1)) == -1:
                raise GroupError(ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.")
            if request.get("topic_partitions"):
                raise GroupError(ErrorCode.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining.")
            if not request.get("subscribed_topic_names") and not request.get("subscribed_topic_regex"):
                raise GroupError(ErrorCode.INVALID_REQUEST,
                                 "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
        elif epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            if request.get("instance_id") is None:
                raise GroupError(ErrorCode.INVALID_REQUEST, "InstanceId can't be null.")
        elif epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise GroupError(ErrorCode.INVALID_REQUEST, "MemberEpoch is invalid.")
        regex = request.get("subscribed_topic_regex")
        if regex:
            try:
                re.compile(regex)
            except re.error as e:
                raise GroupError(ErrorCode.INVALID_REGULAR_EXPRESSION,
                                 f"SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}.") from None
        assignor = request.get("server_assignor")
        if assignor is not None and assignor not in self.assignors:
            raise GroupError(ErrorCode.UNSUPPORTED_ASSIGNOR,
                             f"ServerAssignor {assignor} is not supported. Supported assignors: {', '.join(self.assignors)}.")

    def _heartbeat(self, request: dict, api_version: int, client_id: str, client_host: str) -> dict:
        if self.closed:
            raise GroupError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        self._validate(request)
        group_id = request["group_id"]
        member_id = request.get("member_id") or ""
        epoch = int(request["member_epoch"])
        instance_id = request.get("instance_id")
        if epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            return self._leave(group_id, member_id, instance_id, epoch)

        now = self._now_ms()
        counts = dict(self.topic_partitions())
        topic_names = frozenset(counts)
        ids: dict[str, uuid.UUID] = {}
        entries: list = []
        group = self._get_or_create(group_id, create=epoch == 0)
        if not member_id:
            member_id = _kafka_uuid()
        owned = self._owned(request.get("topic_partitions"), group, counts)
        member, new = self._get_member(group, member_id, epoch, instance_id, owned, entries)

        # 1. The member, updated with what the request carries (None: unchanged).
        updated = dataclasses.replace(member, client_id=client_id, client_host=client_host)
        for field_name, key in (("instance_id", "instance_id"), ("rack_id", "rack_id"),
                                ("subscribed_topic_regex", "subscribed_topic_regex"), ("server_assignor", "server_assignor")):
            if request.get(key) is not None:
                setattr(updated, field_name, request[key])
        if request.get("subscribed_topic_names") is not None:
            updated.subscribed_topic_names = tuple(request["subscribed_topic_names"])
        if int(request.get("rebalance_timeout_ms", -1)) != -1:
            updated.rebalance_timeout_ms = int(request["rebalance_timeout_ms"])
        bump = group.group_epoch == 0
        if new or updated.metadata() != member.metadata():
            entries += self._member_records(group, updated, ids, metadata=True)
            bump |= new or updated.subscription() != member.subscription()
        group.put(updated)

        # 2. The subscribed topics' metadata: a change (partitions added, topic created or gone) bumps too.
        metadata = {}
        for t in sorted(group.subscribed_topics(topic_names)):
            tid = self._tid(t) if t in counts else None
            if tid is not None:
                ids[t] = tid
                metadata[t] = (tid, counts[t])
        digest = _hash_metadata(metadata)
        if digest != group.metadata_hash:
            group.metadata_hash = digest
            bump = True
        if bump:
            group.group_epoch += 1
            entries.append(self._epoch_record(group))
            log.info("consumer group %s: epoch %d (member %s)", group_id, group.group_epoch, member_id)

        # 3. A new target assignment when the group epoch moved past it.
        if group.group_epoch > group.assignment_epoch:
            self._assign(group, metadata, topic_names, entries)

        # 4. Reconcile this member towards its target.
        updated = group.members[member_id]
        reconciled = reconcile(updated, group.assignment_epoch, group.target.get(member_id, {}),
                               group.subscribed(updated, topic_names), lambda t, p: group.owners.get((t, p)), owned)
        reconciled.session_deadline_ms = now + self.session_timeout_ms
        if reconciled.reconciliation() != updated.reconciliation() or new:
            if reconciled.state == MemberState.UNREVOKED_PARTITIONS:
                if reconciled.reconciliation() != updated.reconciliation():
                    reconciled.rebalance_deadline_ms = now + max(reconciled.rebalance_timeout_ms, 0)
            else:
                reconciled.rebalance_deadline_ms = None
            entries += self._member_records(group, reconciled, ids, current=True)
            log.info("consumer group %s member %s: epoch %d, %s, %d partitions, %d to revoke", group_id, member_id,
                     reconciled.member_epoch, reconciled.state.name, sum(map(len, reconciled.assigned.values())),
                     sum(map(len, reconciled.pending_revocation.values())))
        group.put(reconciled)
        self._write(group_id, entries)

        response: dict[str, Any] = {"error_code": 0, "error_message": None, "member_id": member_id,
                                    "member_epoch": reconciled.member_epoch,
                                    "heartbeat_interval_ms": self.heartbeat_interval_ms, "assignment": None}
        full = epoch == 0 or (int(request.get("rebalance_timeout_ms", -1)) != -1
                              and (request.get("subscribed_topic_names") is not None
                                   or request.get("subscribed_topic_regex") is not None)
                              and request.get("topic_partitions") is not None)
        if full or reconciled.assigned != member.assigned:
            response["assignment"] = {"topic_partitions": [
                {"topic_id": tp["topic_id"], "partitions": tp["partitions"]} for tp in self._ids(reconciled.assigned, ids)]}
        return response

    def _get_or_create(self, group_id: str, *, create: bool) -> ConsumerGroup:
        group = self.group(group_id)
        if group is not None:
            return group
        if not create:
            raise GroupError(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
        classic = self.classic.remove_empty_classic_group(group_id)
        if classic is False:
            raise GroupError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
        group = self._groups[group_id] = ConsumerGroup(group_id)
        log.info("consumer group %s created%s", group_id, " (replacing an empty classic group)" if classic else "")
        return group

    def _owned(self, tps: Optional[list[dict]], group: ConsumerGroup, counts: Mapping[str, int]) -> Optional[Partitions]:
        """The request's owned partitions by topic name (unknown topic ids are left out)."""
        if tps is None:
            return None
        names: dict[uuid.UUID, str] = {}
        for m in group.members.values():
            for t in (*m.assigned, *m.pending_revocation):
                tid = self._tid(t)
                if tid is not None:
                    names.setdefault(tid, t)
        out: dict[str, frozenset[int]] = {}
        for tp in tps:
            tid = tp["topic_id"]
            if tid not in names:
                names = self._names_by_id()
            name = names.get(tid)
            if name is not None and tp["partitions"]:
                out[name] = out.get(name, frozenset()) | frozenset(tp["partitions"])
        return out

    def _get_member(self, group: ConsumerGroup, member_id: str, epoch: int, instance_id: Optional[str],
                    owned: Optional[Partitions], entries: list) -> tuple[ConsumerGroupMember, bool]:
        """Kafka's getOrMaybeSubscribe{Dynamic,Static}ConsumerGroupMember: (member, is it new)."""
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                if epoch != 0:
                    raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group.group_id}.")
                return ConsumerGroupMember(member_id), True
            self._check_epoch(member, epoch, owned)
            return member, False
        existing = group.static_member(instance_id)
        if epoch == 0:
            if existing is None:
                if member_id in group.members:  # a dynamic member turning static: its epoch decides
                    self._check_epoch(group.members[member_id], epoch, owned)
                    return group.members[member_id], False
                return ConsumerGroupMember(member_id, instance_id=instance_id), True
            if existing.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                raise GroupError(ErrorCode.UNRELEASED_INSTANCE_ID,
                                 f"Static member {member_id} with instance id {instance_id} cannot join the group "
                                 f"because the instance id is owned by {existing.member_id} member.")
            # A new instance replaces the one that left temporarily: it takes its partitions and target.
            target = group.target.get(existing.member_id, {})
            group.remove(existing.member_id)
            entries += self._member_tombstones(group.group_id, existing.member_id)
            replacement = dataclasses.replace(existing, member_id=member_id, member_epoch=0, previous_member_epoch=0,
                                              rebalance_deadline_ms=None)
            group.target[member_id] = target
            group.put(replacement)
            entries += self._member_records(group, replacement, {}, metadata=True, target=True, current=True)
            log.info("consumer group %s: static member %s (instance %s) replaces member %s", group.group_id,
                     member_id, instance_id, existing.member_id)
            return replacement, False
        if existing is None:
            raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
        if existing.member_id != member_id:
            raise GroupError(ErrorCode.FENCED_INSTANCE_ID, f"Static member {member_id} with instance id {instance_id} "
                             f"was fenced by member {existing.member_id}.")
        self._check_epoch(existing, epoch, owned)
        return existing, False

    @staticmethod
    def _check_epoch(member: ConsumerGroupMember, epoch: int, owned: Optional[Partitions]) -> None:
        """Kafka's throwIfConsumerGroupMemberEpochIsInvalid: the previous epoch is accepted when the
        member owns no more than its assignment (the response that bumped it may have been lost),
        and so is epoch 0: a fenced member rejoins under its id (KAFKA-19233)."""
        if epoch == 0:
            return
        if epoch > member.member_epoch:
            raise GroupError(ErrorCode.FENCED_MEMBER_EPOCH, f"The consumer group member has a greater member epoch ({epoch}) "
                             f"than the one known by the group coordinator ({member.member_epoch}). "
                             "The member must abandon all its partitions and rejoin.")
        if epoch < member.member_epoch:
            subset = owned is not None and all(ps <= member.assigned.get(t, frozenset()) for t, ps in owned.items())
            if epoch != member.previous_member_epoch or not subset:
                raise GroupError(ErrorCode.FENCED_MEMBER_EPOCH, f"The consumer group member has a smaller member epoch "
                                 f"({epoch}) than the one known by the group coordinator ({member.member_epoch}). "
                                 "The member must abandon all its partitions and rejoin.")

    def _assignor(self, group: ConsumerGroup) -> str:
        """The assignor most members ask for; the first configured one when none asks."""
        wanted = Counter(m.server_assignor for m in group.members.values() if m.server_assignor)
        if not wanted:
            return self.assignors[0]
        best = max(wanted.values())
        return next(a for a in (*self.assignors, *sorted(wanted)) if wanted.get(a) == best)

    def _assign(self, group: ConsumerGroup, metadata: Mapping[str, tuple[uuid.UUID, int]],
                topic_names: frozenset[str], entries: list) -> None:
        """Kafka's updateTargetAssignment: the assignor's answer becomes the target at the group epoch."""
        name = self._assignor(group)
        specs = {mid: MemberSpec(group.subscribed(m, topic_names), group.target.get(mid, {}))
                 for mid, m in group.members.items()}
        result = ASSIGNORS[name].assign(specs, {t: n for t, (_, n) in metadata.items()})
        ids = {t: tid for t, (tid, _) in metadata.items()}
        for mid, parts in result.items():
            parts = _partitions(parts)
            if parts != group.target.get(mid) or mid not in group.target:
                group.target[mid] = parts
                entries += self._member_records(group, group.members[mid], ids, target=True)
        group.assignment_epoch = group.group_epoch
        entries.append((self._key(RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA, group.group_id),
                        records.encode_value(RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA,
                                             {"assignment_epoch": group.assignment_epoch})))
        log.info("consumer group %s: target assignment at epoch %d by %s for %d members", group.group_id,
                 group.assignment_epoch, name, len(result))

    # ------------------------------------------------------------------ leaving and fencing

    def _leave(self, group_id: str, member_id: str, instance_id: Optional[str], epoch: int) -> dict:
        """Kafka's consumerGroupLeave: -1 removes the member; -2 keeps a static member's partitions
        until its session times out or a new instance replaces it."""
        group = self.group(group_id)
        if group is None:
            raise GroupError(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
            self.fence(group, member, "left the group")
        else:
            member = group.static_member(instance_id)
            if member is None:
                raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
            if member.member_id != member_id:
                raise GroupError(ErrorCode.FENCED_INSTANCE_ID, f"Static member {member_id} with instance id "
                                 f"{instance_id} was fenced by member {member.member_id}.")
            if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                left = dataclasses.replace(member, member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH, pending_revocation={},
                                           rebalance_deadline_ms=None)
                group.put(left)
                self._write(group_id, self._member_records(group, left, {}, current=True))
                log.info("consumer group %s: static member %s (instance %s) left temporarily", group_id, member_id, instance_id)
            else:
                self.fence(group, member, "left the group")
        return {"error_code": 0, "error_message": None, "member_id": member_id, "member_epoch": epoch,
                "heartbeat_interval_ms": 0, "assignment": None}

    def fence(self, group: ConsumerGroup, member: ConsumerGroupMember, reason: str) -> None:
        """Kafka's consumerGroupFenceMember: the member goes, its partitions are free, the epoch moves on
        (the next heartbeat computes the new target assignment)."""
        group.remove(member.member_id)
        group.group_epoch += 1
        entries: list = self._member_tombstones(group.group_id, member.member_id)
        entries.append(self._epoch_record(group))
        self._write(group.group_id, entries)
        log.info("consumer group %s: member %s %s; epoch %d", group.group_id, member.member_id, reason, group.group_epoch)

    def tick(self) -> None:
        """Session and rebalance timeouts."""
        now = self._now_ms()
        for group in list(self._groups.values()):
            if not self.is_coordinator(group.group_id):
                continue  # never write into a partition this broker only follows
            for member in list(group.members.values()):
                if member.session_deadline_ms <= now:
                    self.fence(group, member, "failed its session (group.consumer.session.timeout.ms)")
                elif (member.rebalance_deadline_ms is not None and member.rebalance_deadline_ms <= now
                      and member.state == MemberState.UNREVOKED_PARTITIONS):
                    self.fence(group, member, "did not revoke its partitions within its rebalance timeout")

    # ------------------------------------------------------------------ offsets, admin

    def validate_commit(self, group: ConsumerGroup, member_id: str, member_epoch: int, api_version: int) -> Optional[ErrorCode]:
        """Kafka's ConsumerGroup.validateOffsetCommit: None when the commit may proceed."""
        if member_epoch < 0 and not group.members:
            return None  # the admin client, or a consumer without group management
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if api_version < 9:
            return ErrorCode.UNSUPPORTED_VERSION  # members of the consumer protocol commit with v9+
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return None

    @staticmethod
    def validate_fetch(group: ConsumerGroup, member_id: Optional[str], member_epoch: int) -> Optional[ErrorCode]:
        """Kafka's ConsumerGroup.validateOffsetFetch (OffsetFetch v9 names the member)."""
        if member_id is None and member_epoch < 0:
            return None
        member = group.members.get(member_id or "")
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return None

    async def describe(self, request: dict, api_version: int) -> dict:
        """ConsumerGroupDescribe v0: members with their current and target assignments."""
        out = []
        counts = dict(self.topic_partitions())
        for gid in request.get("group_ids") or []:
            group = self.group(gid)
            entry: dict[str, Any] = {"error_code": 0, "error_message": None, "group_id": gid, "group_state": "",
                                     "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "", "members": [],
                                     "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED}
            if group is None:
                entry["error_code"] = int(ErrorCode.GROUP_ID_NOT_FOUND)
                entry["error_message"] = f"Group {gid} not found."
                entry["group_state"] = ConsumerGroupState.DEAD.value
                out.append(entry)
                continue

            def assignment(parts: Partitions) -> dict:
                tps = []
                for t in sorted(parts):
                    tid = self._tid(t) if t in counts else None
                    if tid is not None:
                        tps.append({"topic_id": tid, "topic_name": t, "partitions": sorted(parts[t])})
                return {"topic_partitions": tps}

            entry.update(group_state=group.state.value, group_epoch=group.group_epoch,
                         assignment_epoch=group.assignment_epoch, assignor_name=self._assignor(group),
                         members=[{"member_id": m.member_id, "instance_id": m.instance_id, "rack_id": m.rack_id,
                                   "member_epoch": m.member_epoch, "client_id": m.client_id, "client_host": m.client_host,
                                   "subscribed_topic_names": list(m.subscribed_topic_names),
                                   "subscribed_topic_regex": m.subscribed_topic_regex,
                                   "assignment": assignment(m.assigned),
                                   "target_assignment": assignment(group.target.get(m.member_id, {}))}
                                  for m in group.members.values()])
            out.append(entry)
        return {"groups": out}
