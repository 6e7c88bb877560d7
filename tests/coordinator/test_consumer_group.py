"""The consumer group protocol (KIP-848) in the coordinator, on a fake clock and real offset logs:
epochs, revoke-before-assign reconciliation, fencing, static members, offsets, persistence, and the
id space shared with classic groups."""

from __future__ import annotations

import uuid
from typing import Any, Optional

from coord_helpers import FakeClock, join_req, run

from pystream.coordinator.consumer_group import MemberState
from pystream.coordinator.group import GroupCoordinator
from pystream.coordinator.offsets import OffsetStore
from pystream.protocol.error_codes import ErrorCode as E


class Topics:
    """The broker's topics as the coordinator sees them: name -> (id, partitions)."""

    def __init__(self, **counts: int) -> None:
        self.topics = {name: (uuid.uuid4(), n) for name, n in counts.items()}

    def partitions(self) -> dict[str, int]:
        return {t: n for t, (_, n) in self.topics.items()}

    def id(self, name: str) -> uuid.UUID:
        return self.topics[name][0]

    def name(self, tid: uuid.UUID) -> str:
        return next(t for t, (i, _) in self.topics.items() if i == tid)

    def grow(self, name: str, n: int) -> None:
        self.topics[name] = (self.topics[name][0], n)


def coordinator(store: OffsetStore, clock: FakeClock, topics: Topics, **kw: Any) -> GroupCoordinator:
    kw.setdefault("consumer_session_timeout_ms", 45000)
    return GroupCoordinator(store, clock=clock, initial_rebalance_delay_ms=0, topic_partitions=topics.partitions,
                            topic_id=topics.id, consumer_heartbeat_interval_ms=5000, **kw)


class Member:
    """A consumer of the protocol, as librdkafka drives it: it owns what the last response assigned
    once it has revoked what it must; `hb()` sends what changed."""

    def __init__(self, coord: GroupCoordinator, topics: Topics, group: str, subs: list[str], *,
                 instance_id: Optional[str] = None, assignor: Optional[str] = None, member_id: str = "") -> None:
        self.coord, self.topics, self.group = coord, topics, group
        self.subs, self.instance_id, self.assignor = subs, instance_id, assignor
        self.member_id, self.epoch = member_id or uuid.uuid4().hex, 0
        self.owned: dict[str, set[int]] = {}

    def request(self, epoch: int, *, full: bool = False) -> dict:
        return {"group_id": self.group, "member_id": self.member_id, "member_epoch": epoch,
                "instance_id": self.instance_id, "rack_id": None,
                "rebalance_timeout_ms": 30000 if full or epoch == 0 else -1,
                "subscribed_topic_names": self.subs if full or epoch == 0 else None, "subscribed_topic_regex": None,
                "server_assignor": self.assignor if full or epoch == 0 else None,
                "topic_partitions": [{"topic_id": self.topics.id(t), "partitions": sorted(ps)}
                                     for t, ps in self.owned.items() if ps]}

    async def hb(self, epoch: Optional[int] = None, **kw: Any) -> dict:
        resp = await self.coord.consumer.heartbeat(self.request(self.epoch if epoch is None else epoch, **kw), 1, "cid", "/h")
        if resp["error_code"] == 0:
            self.epoch = resp["member_epoch"]
            if resp["assignment"] is not None:
                # The client revokes what is gone at once and takes what is new.
                self.owned = {self.topics.name(tp["topic_id"]): set(tp["partitions"])
                              for tp in resp["assignment"]["topic_partitions"]}
        return resp

    def parts(self) -> set[tuple[str, int]]:
        return {(t, p) for t, ps in self.owned.items() for p in ps}


def state(coord: GroupCoordinator, group: str, member: Member) -> tuple:
    m = coord.consumer.group(group).members[member.member_id]
    return m.member_epoch, m.state, {(t, p) for t, ps in m.assigned.items() for p in ps}


def test_join_assigns_everything_then_revoke_before_assign(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=4)
        coord = coordinator(store, clock, topics)
        a = Member(coord, topics, "g", ["t"])
        r = await a.hb()
        assert (r["error_code"], r["member_epoch"], r["heartbeat_interval_ms"]) == (0, 1, 5000)
        assert a.parts() == {("t", p) for p in range(4)}
        assert coord.consumer.group("g").state.value == "Stable"

        b = Member(coord, topics, "g", ["t"])
        r = await b.hb()
        # b is in epoch 2 but its partitions are still a's: it waits (UNRELEASED), gets nothing yet.
        assert r["member_epoch"] == 2 and b.parts() == set()
        assert state(coord, "g", b)[1] is MemberState.UNRELEASED_PARTITIONS
        assert coord.consumer.group("g").state.value == "Reconciling"
        target_b = coord.consumer.group("g").target[b.member_id]["t"]
        assert len(target_b) == 2

        # a must revoke two: it stays in epoch 1 and is told to keep the other two.
        r = await a.hb()
        assert r["member_epoch"] == 1 and a.parts() == {("t", p) for p in range(4) if p not in target_b}
        assert state(coord, "g", a)[1] is MemberState.UNREVOKED_PARTITIONS
        # b still waits: a has not said it released them (its heartbeat reported all four).
        r = await b.hb()
        assert b.parts() == set()
        # a's next heartbeat reports the two it kept: the revocation is done, a moves to epoch 2.
        r = await a.hb()
        assert r["member_epoch"] == 2 and state(coord, "g", a)[1] is MemberState.STABLE
        r = await b.hb()
        assert b.parts() == {("t", p) for p in target_b} and state(coord, "g", b)[1] is MemberState.STABLE
        assert coord.consumer.group("g").state.value == "Stable"

    run(body())


def test_member_epoch_checks(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=2)
        coord = coordinator(store, clock, topics)
        a = Member(coord, topics, "g", ["t"])
        await a.hb()
        assert (await a.hb(epoch=5))["error_code"] == E.FENCED_MEMBER_EPOCH
        b = Member(coord, topics, "g", ["t"])
        await b.hb()          # epoch 2
        await a.hb()          # a revokes one: UNREVOKED at 1
        await a.hb()          # revoked: a moves to 2, previous 1
        assert a.epoch == 2
        # The previous epoch with a subset of the assignment is accepted (a lost response) ...
        assert (await a.hb(epoch=1))["error_code"] == 0
        # ... but not with partitions it no longer has, nor an older epoch.
        a.owned = {"t": {0, 1}}
        assert (await a.hb(epoch=1))["error_code"] == E.FENCED_MEMBER_EPOCH
        # A fenced member rejoins with epoch 0 under the same id (KAFKA-19233): it gets its
        # current epoch and assignment back.
        a.owned = {}
        r = await a.hb(epoch=0)
        assert (r["error_code"], r["member_epoch"]) == (0, 2) and len(a.parts()) == 1
        ghost = Member(coord, topics, "g", ["t"])
        assert (await ghost.hb(epoch=3))["error_code"] == E.UNKNOWN_MEMBER_ID
        nobody = Member(coord, topics, "none", ["t"])
        assert (await nobody.hb(epoch=3))["error_code"] == E.GROUP_ID_NOT_FOUND

    run(body())


def test_invalid_requests(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=1)
        coord = coordinator(store, clock, topics)
        a = Member(coord, topics, "g", ["t"])
        base = a.request(0)
        cases = [
            (dict(group_id=""), E.INVALID_REQUEST, "GroupId can't be empty."),
            (dict(rebalance_timeout_ms=-1), E.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request."),
            (dict(subscribed_topic_names=[]), E.INVALID_REQUEST,
             "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."),
            (dict(topic_partitions=[{"topic_id": topics.id("t"), "partitions": [0]}]), E.INVALID_REQUEST,
             "TopicPartitions must be empty when (re-)joining."),
            (dict(member_epoch=-2), E.INVALID_REQUEST, "InstanceId can't be null."),
            (dict(member_epoch=-3), E.INVALID_REQUEST, "MemberEpoch is invalid."),
            (dict(member_epoch=3, member_id=""), E.INVALID_REQUEST, "MemberId can't be empty."),
            (dict(instance_id=""), E.INVALID_REQUEST, "InstanceId can't be empty."),
            (dict(server_assignor="sticky"), E.UNSUPPORTED_ASSIGNOR, None),
            (dict(subscribed_topic_regex="(", subscribed_topic_names=None), E.INVALID_REGULAR_EXPRESSION, None),
        ]
        for change, code, message in cases:
            r = await coord.consumer.heartbeat({**base, **change}, 1)
            assert r["error_code"] == code, change
            if message is not None:
                assert r["error_message"] == message
            assert r["member_epoch"] == 0 and r["assignment"] is None
        assert coord.consumer.group("g") is None  # nothing was created by refused requests

    run(body())


def test_session_and_rebalance_timeouts_fence(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=4)
        coord = coordinator(store, clock, topics, consumer_session_timeout_ms=10000)
        a, b = Member(coord, topics, "g", ["t"]), Member(coord, topics, "g", ["t"])
        await a.hb()
        await b.hb()
        await a.hb()
        await a.hb()
        await b.hb()
        assert len(a.parts()) == len(b.parts()) == 2
        # b goes silent: after the session timeout it is fenced, a gets everything.
        clock.advance_ms(6000)
        await a.hb()
        clock.advance_ms(4001)
        coord.tick()
        assert b.member_id not in coord.consumer.group("g").members
        await a.hb()
        assert a.parts() == {("t", p) for p in range(4)}
        assert (await b.hb())["error_code"] == E.UNKNOWN_MEMBER_ID
        # A member that never revokes is fenced after its rebalance timeout (30 s in these requests).
        c = Member(coord, topics, "g", ["t"])
        await c.hb()
        await a.hb()  # told to revoke two
        assert state(coord, "g", a)[1] is MemberState.UNREVOKED_PARTITIONS
        for _ in range(4):  # it keeps heartbeating, still owning the four
            clock.advance_ms(7600)
            a.owned = {"t": {0, 1, 2, 3}}
            await a.hb(epoch=a.epoch)
            await c.hb()
            coord.tick()
        assert a.member_id not in coord.consumer.group("g").members
        await c.hb()
        assert c.parts() == {("t", p) for p in range(4)}

    run(body())


def test_leave_static_members_and_replacement(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=4)
        coord = coordinator(store, clock, topics)
        a = Member(coord, topics, "g", ["t"], instance_id="ia")
        b = Member(coord, topics, "g", ["t"], instance_id="ib")
        for m in (a, b, a, a, b):
            await m.hb()
        mine = a.parts()
        assert len(mine) == 2
        # Temporary leave: the member stays with epoch -2 and keeps its partitions.
        r = await a.hb(epoch=-2)
        assert (r["error_code"], r["member_epoch"]) == (0, -2)
        assert state(coord, "g", a) == (-2, MemberState.STABLE, mine)
        await b.hb()
        assert len(b.parts()) == 2
        # Another instance id cannot take "ia"'s place while it is held; the same id can.
        dup = Member(coord, topics, "g", ["t"], instance_id="ib")
        assert (await dup.hb())["error_code"] == E.UNRELEASED_INSTANCE_ID
        a2 = Member(coord, topics, "g", ["t"], instance_id="ia")
        r = await a2.hb()
        assert r["error_code"] == 0 and a2.parts() == mine and a.member_id not in coord.consumer.group("g").members
        assert (await a.hb(epoch=3))["error_code"] == E.FENCED_INSTANCE_ID
        # A dynamic member leaving (-1) goes at once; its partitions go to the others.
        c = Member(coord, topics, "g", ["t"])
        await c.hb()
        r = await c.hb(epoch=-1)
        assert (r["error_code"], r["member_epoch"]) == (0, -1)
        assert c.member_id not in coord.consumer.group("g").members
        assert (await c.hb(epoch=-1))["error_code"] == E.UNKNOWN_MEMBER_ID

    run(body())


def test_new_partitions_and_subscription_changes_bump_the_epoch(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=2, u=2)
        coord = coordinator(store, clock, topics)
        a = Member(coord, topics, "g", ["t"])
        await a.hb()
        assert coord.consumer.group("g").group_epoch == 1
        await a.hb()
        assert coord.consumer.group("g").group_epoch == 1  # nothing changed
        topics.grow("t", 3)
        await a.hb()
        assert coord.consumer.group("g").group_epoch == 2 and a.parts() == {("t", 0), ("t", 1), ("t", 2)}
        a.subs = ["u"]
        await a.hb(full=True)
        assert coord.consumer.group("g").group_epoch == 3
        assert a.parts() == set() and state(coord, "g", a)[1] is MemberState.UNREVOKED_PARTITIONS
        await a.hb()
        assert a.parts() == {("u", 0), ("u", 1)}

    run(body())


def test_range_assignor_on_request(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=4, u=4)
        coord = coordinator(store, clock, topics)
        members = [Member(coord, topics, "g", ["t", "u"], assignor="range", member_id=f"m{i}") for i in range(2)]
        for m in (*members, *members, *members):
            await m.hb()
        assert members[0].parts() == {("t", 0), ("t", 1), ("u", 0), ("u", 1)}
        assert members[1].parts() == {("t", 2), ("t", 3), ("u", 2), ("u", 3)}
        d = (await coord.consumer.describe({"group_ids": ["g", "nope"]}, 0))["groups"]
        assert (d[0]["assignor_name"], d[0]["group_state"], d[1]["error_code"]) == ("range", "Stable", E.GROUP_ID_NOT_FOUND)

    run(body())


def _commit(group: str, member_id: str, epoch: int, topic: str = "t") -> dict:
    return {"group_id": group, "generation_id_or_member_epoch": epoch, "member_id": member_id, "group_instance_id": None,
            "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 5,
                                                        "committed_leader_epoch": -1, "committed_metadata": ""}]}]}


def test_offsets_of_a_consumer_group(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=1)
        coord = coordinator(store, clock, topics)
        a = Member(coord, topics, "g", ["t"])
        await a.hb()

        def code(resp: dict) -> int:
            return resp["topics"][0]["partitions"][0]["error_code"]

        assert code(await coord.offset_commit(_commit("g", a.member_id, a.epoch), 9)) == 0
        assert code(await coord.offset_commit(_commit("g", a.member_id, a.epoch - 1), 9)) == E.STALE_MEMBER_EPOCH
        assert code(await coord.offset_commit(_commit("g", a.member_id, a.epoch + 1), 9)) == E.STALE_MEMBER_EPOCH
        assert code(await coord.offset_commit(_commit("g", "ghost", a.epoch), 9)) == E.UNKNOWN_MEMBER_ID
        assert code(await coord.offset_commit(_commit("g", "", -1), 9)) == E.UNKNOWN_MEMBER_ID  # not while it has members
        assert code(await coord.offset_commit(_commit("g", a.member_id, a.epoch), 8)) == E.UNSUPPORTED_VERSION
        assert code(await coord.offset_commit(_commit("nope", "m", 3), 9)) == E.GROUP_ID_NOT_FOUND
        assert code(await coord.offset_commit(_commit("nope", "m", 3), 8)) == E.ILLEGAL_GENERATION

        def fetch(member_id: Optional[str], epoch: int) -> dict:
            return {"groups": [{"group_id": "g", "member_id": member_id, "member_epoch": epoch, "topics": None}],
                    "require_stable": False}

        ok = (await coord.offset_fetch(fetch(a.member_id, a.epoch), 9))["groups"][0]
        assert ok["error_code"] == 0 and ok["topics"][0]["partitions"][0]["committed_offset"] == 5
        assert (await coord.offset_fetch(fetch(a.member_id, a.epoch + 1), 9))["groups"][0]["error_code"] == E.STALE_MEMBER_EPOCH
        assert (await coord.offset_fetch(fetch("ghost", 1), 9))["groups"][0]["error_code"] == E.UNKNOWN_MEMBER_ID
        assert (await coord.offset_fetch(fetch(None, -1), 9))["groups"][0]["error_code"] == 0  # the admin client
        # OffsetDelete: not for a subscribed topic.
        od = await coord.offset_delete({"group_id": "g", "topics": [{"name": "t", "partitions": [{"partition_index": 0}]}]}, 0)
        assert od["topics"][0]["partitions"][0]["error_code"] == E.GROUP_SUBSCRIBED_TO_TOPIC
        # Once empty: the admin client may commit, and DeleteGroups removes it all.
        dg = await coord.delete_groups({"groups_names": ["g"]}, 2)
        assert dg["results"] == [{"group_id": "g", "error_code": E.NON_EMPTY_GROUP}]
        await a.hb(epoch=-1)
        assert code(await coord.offset_commit(_commit("g", "", -1), 9)) == 0
        dg = await coord.delete_groups({"groups_names": ["g"]}, 2)
        assert dg["results"] == [{"group_id": "g", "error_code": 0}]
        assert coord.consumer.group("g") is None and store.fetch("g") == {} and store.group_records("g") == {}

    run(body())


def test_consumer_group_survives_a_new_coordinator(store, clock, offset_logs) -> None:
    async def body() -> None:
        topics = Topics(t=4)
        coord = coordinator(store, clock, topics)
        a, b = Member(coord, topics, "g", ["t"], instance_id="ia"), Member(coord, topics, "g", ["t"])
        for m in (a, b, a, a, b):
            await m.hb()
        before = coord.consumer.group("g")
        snapshot = (before.group_epoch, before.assignment_epoch, dict(before.target),
                    {mid: (m.member_epoch, m.previous_member_epoch, m.state, m.assigned, m.instance_id, m.subscribed_topic_names)
                     for mid, m in before.members.items()})
        await coord.close()
        offset_logs.close()
        fresh = coordinator(OffsetStore(offset_logs, num_partitions=3), clock, topics)
        after = fresh.consumer.group("g")
        assert (after.group_epoch, after.assignment_epoch, dict(after.target),
                {mid: (m.member_epoch, m.previous_member_epoch, m.state, m.assigned, m.instance_id, m.subscribed_topic_names)
                 for mid, m in after.members.items()}) == snapshot
        for m in (a, b):
            m.coord = fresh
            r = await m.hb()
            assert r["error_code"] == 0 and r["member_epoch"] == snapshot[3][m.member_id][0]
        assert fresh.consumer.group("g").group_epoch == snapshot[0]  # no rebalance
        listed = (await fresh.list_groups({"states_filter": [], "types_filter": []}, 5))["groups"]
        assert listed == [{"group_id": "g", "protocol_type": "consumer", "group_state": "Stable", "group_type": "consumer"}]

    run(body())


def test_shared_group_ids_with_classic_groups(store, clock) -> None:
    async def body() -> None:
        topics = Topics(t=2)
        coord = coordinator(store, clock, topics)
        a = Member(coord, topics, "g", ["t"])
        await a.hb()
        # A classic JoinGroup on a live consumer group is refused ...
        j = await coord.join_group(join_req("g"), 3, "classic")
        assert j["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
        # ... and the classic API sees no such group (DescribeGroups: Dead, as Kafka answers).
        d = (await coord.describe_groups({"groups": ["g"]}, 5))["groups"][0]
        assert (d["error_code"], d["group_state"]) == (0, "Dead")
        await a.hb(epoch=-1)
        # Empty: a classic member converts it (the consumer group's records are tombstoned).
        j = await coord.join_group(join_req("g"), 3, "classic")
        assert j["error_code"] == 0 and coord.consumer.group("g") is None
        # A consumer member cannot join the live classic group ...
        b = Member(coord, topics, "g", ["t"])
        r = await b.hb()
        assert (r["error_code"], r["error_message"]) == (E.GROUP_ID_NOT_FOUND, "Group g is not a consumer group.")
        await coord.leave_group({"group_id": "g", "members": [{"member_id": j["member_id"], "group_instance_id": None}]}, 3)
        # ... until it is empty.
        r = await b.hb()
        assert r["error_code"] == 0 and coord.group("g") is None and b.parts() == {("t", 0), ("t", 1)}
        types = {g["group_id"]: g["group_type"] for g in (await coord.list_groups({}, 5))["groups"]}
        assert types == {"g": "consumer"}

    run(body())


def test_groups_of_other_coordinators_are_not_loaded_listed_or_expired(store, clock, offset_logs) -> None:
    """In a cluster the store also replays partitions this broker only follows: their groups stay
    out of this coordinator (no listing, no loading, no session expiry writing into them)."""
    async def body() -> None:
        topics = Topics(t=2)
        coord = coordinator(store, clock, topics)
        for gid in ("mine", "theirs"):
            await Member(coord, topics, gid, ["t"]).hb()
        await coord.close()
        offset_logs.close()
        fresh = coordinator(OffsetStore(offset_logs, num_partitions=3), clock, topics,
                            is_coordinator=lambda gid: gid == "mine")
        listed = {g["group_id"] for g in (await fresh.list_groups({}, 5))["groups"]}
        assert listed == {"mine"}
        assert fresh.consumer.group("theirs") is None and fresh.consumer.group("mine") is not None
        clock.advance_ms(60000)
        fresh.tick()  # "mine" expires (and writes); "theirs" is not touched
        assert fresh.offset_store.group_records("theirs") == store.group_records("theirs") != {}

    run(body())
