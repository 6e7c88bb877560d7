"""GroupCoordinator: JoinGroup / SyncGroup / Heartbeat / LeaveGroup state machine."""

from __future__ import annotations

import asyncio

from coord_helpers import FakeClock, form_group, hb_req, join_req, join_v4, run, settle, sync_req

from pystream.coordinator.group import GroupCoordinator, GroupState
from pystream.protocol.error_codes import ErrorCode as E


def test_single_member_join_sync_heartbeat(make_coord) -> None:
    async def body() -> None:
        coord = make_coord()
        j = await coord.join_group(join_req(protocols=[("range", b"sub")]), 3, "app")
        assert j["error_code"] == 0 and j["generation_id"] == 1
        assert j["member_id"].startswith("app-") and j["leader"] == j["member_id"]
        assert j["protocol_name"] == "range"
        assert j["members"] == [{"member_id": j["member_id"], "group_instance_id": None, "metadata": b"sub"}]
        s = await coord.sync_group(sync_req("g", j["member_id"], 1, {j["member_id"]: b"A"}), 3)
        assert s["error_code"] == 0 and s["assignment"] == b"A"
        h = await coord.heartbeat(hb_req("g", j["member_id"], 1), 3)
        assert h == {"error_code": 0}
        assert coord.group("g").state is GroupState.STABLE
        # A follower-style rejoin (not leader) would return the same generation; the
        # leader rejoining forces a new generation.
        j2 = await coord.join_group(join_req(member_id=j["member_id"], protocols=[("range", b"sub")]), 3, "app")
        assert j2["generation_id"] == 2 and j2["error_code"] == 0
        await coord.close()

    run(body())


def test_member_id_required_v4_plus(make_coord) -> None:
    async def body() -> None:
        coord = make_coord()
        first = await coord.join_group(join_req(), 4, "rdkafka")
        assert first["error_code"] == E.MEMBER_ID_REQUIRED
        assert first["member_id"].startswith("rdkafka-") and first["generation_id"] == -1
        assert first["members"] == []
        j = await coord.join_group(join_req(member_id=first["member_id"]), 4, "rdkafka")
        assert j["error_code"] == 0 and j["member_id"] == first["member_id"] and j["generation_id"] == 1
        # v7+: protocol_type is echoed; v9: skip_assignment false in a normal rebalance.
        coord2 = make_coord()
        t = await join_v4(coord2, join_req("h"), version=9)
        j9 = await t
        assert j9["protocol_type"] == "consumer" and j9["skip_assignment"] is False
        # Errors on v7+ carry a null protocol name.
        bad = await coord2.join_group(join_req("h", member_id="nope"), 9, "c")
        assert bad["error_code"] == E.UNKNOWN_MEMBER_ID and bad["protocol_name"] is None
        bad6 = await coord2.join_group(join_req("h", member_id="nope"), 6, "c")
        assert bad6["protocol_name"] == ""

    run(body())


def test_pending_member_expires_after_session_timeout(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord()
        first = await coord.join_group(join_req(session_timeout_ms=6000), 5, "c")
        assert coord.group("g").pending_members
        clock.advance_ms(6001)
        coord.tick()
        assert not coord.group("g").pending_members
        # The id is no longer valid.
        j = await coord.join_group(join_req(member_id=first["member_id"]), 5, "c")
        assert j["error_code"] == E.UNKNOWN_MEMBER_ID

    run(body())


def test_three_members_one_generation_and_assignments(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 3)
        assert gen == 1 and leader == ids[0] and len(set(ids)) == 3
        d = await coord.describe_groups({"groups": ["g"]}, 5)
        members = {m["member_id"]: m for m in d["groups"][0]["members"]}
        assert {m: members[m]["member_assignment"] for m in ids} == {m: f"assign-{m}".encode() for m in ids}
        assert members[ids[1]]["client_id"] == "client1" and members[ids[1]]["client_host"] == "/127.0.0.1"

    run(body())


def test_leader_gets_member_list_followers_do_not(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        t1 = asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=3000, protocols=[("range", b"m1")]), 3, "a"))
        await settle()
        t2 = asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=3000, protocols=[("range", b"m2")]), 3, "b"))
        await settle()
        clock.advance_ms(3000)
        coord.tick()
        r1, r2 = await asyncio.gather(t1, t2)
        assert r1["leader"] == r2["leader"] == r1["member_id"]
        assert [(m["member_id"], m["metadata"]) for m in r1["members"]] == [(r1["member_id"], b"m1"), (r2["member_id"], b"m2")]
        assert r2["members"] == []

    run(body())


def test_initial_delay_extends_while_members_arrive(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        t1 = asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=10000), 3, "a"))
        await settle()
        clock.advance_ms(2000)
        t2 = asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=10000), 3, "b"))
        await settle()
        clock.advance_ms(1000)
        coord.tick()  # first deadline: a member was added, so the delay is extended
        await settle()
        assert not t1.done() and not t2.done()
        clock.advance_ms(3000)
        coord.tick()  # nobody new: complete
        r1, r2 = await asyncio.gather(t1, t2)
        assert r1["generation_id"] == r2["generation_id"] == 1

    run(body())


def test_initial_delay_never_exceeds_rebalance_timeout(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        tasks = [asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=5000), 3, "a"))]
        await settle()
        for _ in range(4):  # keep adding members just before each deadline
            clock.advance_ms(2500)
            tasks.append(asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=5000), 3, "x")))
            await settle()
            clock.advance_ms(500)
            coord.tick()
            await settle()
        # 3000 + min(3000, 2000) = 5000 ms: the join completed at the second deadline.
        done = [t for t in tasks if t.done()]
        assert len(done) == 3 and {t.result()["generation_id"] for t in done} == {1}
        await coord.close()
        await asyncio.gather(*tasks)

    run(body())


def test_protocol_selection_by_vote(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        prefs = [[("range", b""), ("roundrobin", b""), ("sticky", b"")],
                 [("roundrobin", b""), ("range", b"")],
                 [("roundrobin", b""), ("range", b""), ("cooperative-sticky", b"")]]
        tasks = []
        for p in prefs:
            tasks.append(asyncio.ensure_future(coord.join_group(join_req(protocols=p, rebalance_timeout_ms=3000), 3, "c")))
            await settle()
        clock.advance_ms(3000)
        coord.tick()
        results = await asyncio.gather(*tasks)
        assert {r["protocol_name"] for r in results} == {"roundrobin"}
        # A newcomer that supports none of the group's common protocols is refused.
        bad = await coord.join_group(join_req(protocols=[("sticky", b"")]), 3, "c")
        assert bad["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
        bad = await coord.join_group(join_req(protocol_type="connect"), 3, "c")
        assert bad["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
        await coord.close()

    run(body())


def test_join_validation_errors(make_coord) -> None:
    async def body() -> None:
        coord = make_coord()
        assert (await coord.join_group(join_req(""), 5, "c"))["error_code"] == E.INVALID_GROUP_ID
        assert (await coord.join_group(join_req(session_timeout_ms=5999), 5, "c"))["error_code"] == E.INVALID_SESSION_TIMEOUT
        assert (await coord.join_group(join_req(session_timeout_ms=1800001), 5, "c"))["error_code"] == E.INVALID_SESSION_TIMEOUT
        assert (await coord.join_group(join_req(member_id="ghost"), 5, "c"))["error_code"] == E.UNKNOWN_MEMBER_ID
        assert (await coord.join_group(join_req(protocols=[]), 3, "c"))["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
        assert (await coord.join_group(join_req(protocol_type=""), 3, "c"))["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
        small = make_coord(group_max_size=1)
        assert (await small.join_group(join_req(), 3, "c"))["error_code"] == 0
        assert (await small.join_group(join_req(), 3, "c"))["error_code"] == E.GROUP_MAX_SIZE_REACHED

    run(body())


def test_sync_and_heartbeat_errors(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2)
        follower = ids[1]
        # Unknown group / unknown member / wrong generation.
        assert (await coord.heartbeat(hb_req("nogroup", follower, gen), 3))["error_code"] == E.UNKNOWN_MEMBER_ID
        assert (await coord.heartbeat(hb_req("g", "ghost", gen), 3))["error_code"] == E.UNKNOWN_MEMBER_ID
        assert (await coord.heartbeat(hb_req("g", follower, gen + 1), 3))["error_code"] == E.ILLEGAL_GENERATION
        assert (await coord.heartbeat(hb_req("", follower, gen), 3))["error_code"] == E.INVALID_GROUP_ID
        assert (await coord.sync_group(sync_req("g", follower, gen - 1), 3))["error_code"] == E.ILLEGAL_GENERATION
        assert (await coord.sync_group(sync_req("g", "ghost", gen), 3))["error_code"] == E.UNKNOWN_MEMBER_ID
        assert (await coord.sync_group(sync_req("nogroup", "ghost", gen), 3))["error_code"] == E.UNKNOWN_MEMBER_ID
        # Stable: SyncGroup again returns the stored assignment; v5 echoes protocol type and name.
        s = await coord.sync_group(sync_req("g", follower, gen, protocol_type="consumer", protocol_name="range"), 5)
        assert s == {"error_code": 0, "protocol_type": "consumer", "protocol_name": "range",
                     "assignment": f"assign-{follower}".encode()}
        s = await coord.sync_group(sync_req("g", follower, gen, protocol_type="consumer", protocol_name="sticky"), 5)
        assert s["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL and s["assignment"] == b""
        # During a rebalance: SyncGroup of the old generation says REBALANCE_IN_PROGRESS.
        rejoin = asyncio.ensure_future(coord.join_group(join_req(member_id=leader, rebalance_timeout_ms=3000), 3, "client0"))
        await settle()
        assert coord.group("g").state is GroupState.PREPARING_REBALANCE
        assert (await coord.sync_group(sync_req("g", follower, gen), 3))["error_code"] == E.REBALANCE_IN_PROGRESS
        assert (await coord.heartbeat(hb_req("g", follower, gen), 3))["error_code"] == E.REBALANCE_IN_PROGRESS
        await coord.close()
        assert (await rejoin)["error_code"] == E.NOT_COORDINATOR

    run(body())


def test_follower_rejoin_unchanged_in_stable_keeps_generation(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2)
        follower = ids[1]
        r = await coord.join_group(join_req(member_id=follower, rebalance_timeout_ms=3000), 3, "client1")
        assert r["error_code"] == 0 and r["generation_id"] == gen and r["members"] == []
        assert coord.group("g").state is GroupState.STABLE
        # With new metadata (e.g. a changed subscription) it triggers a rebalance.
        t = asyncio.ensure_future(coord.join_group(
            join_req(member_id=follower, rebalance_timeout_ms=3000, protocols=[("range", b"new")]), 3, "client1"))
        await settle()
        assert coord.group("g").state is GroupState.PREPARING_REBALANCE and not t.done()
        assert (await coord.heartbeat(hb_req("g", leader, gen), 3))["error_code"] == E.REBALANCE_IN_PROGRESS
        lj = await coord.join_group(join_req(member_id=leader, rebalance_timeout_ms=3000), 3, "client0")
        fj = await t
        assert lj["generation_id"] == fj["generation_id"] == gen + 1
        assert [m["metadata"] for m in lj["members"] if m["member_id"] == follower] == [b"new"]

    run(body())


def test_leave_triggers_rebalance_and_others_rejoin(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 3)
        # The leader leaves (v3+ batch form).
        r = await coord.leave_group({"group_id": "g", "members": [{"member_id": leader, "group_instance_id": None}]}, 3)
        assert r == {"error_code": 0, "members": [{"member_id": leader, "group_instance_id": None, "error_code": 0}]}
        for m in ids[1:]:
            assert (await coord.heartbeat(hb_req("g", m, gen), 3))["error_code"] == E.REBALANCE_IN_PROGRESS
        # Commits of the old generation are still allowed while revoking.
        c = await coord.offset_commit({"group_id": "g", "generation_id_or_member_epoch": gen, "member_id": ids[1],
                                       "topics": [{"name": "t", "partitions": [
                                           {"partition_index": 0, "committed_offset": 5, "committed_metadata": None}]}]}, 8)
        assert c["topics"][0]["partitions"][0]["error_code"] == 0
        t1 = asyncio.ensure_future(coord.join_group(join_req(member_id=ids[1], rebalance_timeout_ms=3000), 3, "client1"))
        await settle()
        assert not t1.done()  # waits for the third member
        r2 = await coord.join_group(join_req(member_id=ids[2], rebalance_timeout_ms=3000), 3, "client2")
        r1 = await t1
        assert r1["generation_id"] == r2["generation_id"] == gen + 1
        assert r1["leader"] == ids[1] and len(r1["members"]) == 2
        # The old leader is gone; v0 LeaveGroup for it is UNKNOWN_MEMBER_ID.
        assert (await coord.leave_group({"group_id": "g", "member_id": leader}, 0)) == {"error_code": E.UNKNOWN_MEMBER_ID}
        assert (await coord.leave_group({"group_id": "g", "member_id": ids[2]}, 1)) == {"error_code": 0}
        assert (await coord.leave_group({"group_id": "x", "member_id": ids[2]}, 1)) == {"error_code": E.UNKNOWN_MEMBER_ID}

    run(body())


def test_leave_during_completing_rebalance_cancels_parked_syncs(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        t = [asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=3000), 3, f"c{i}")) for i in range(2)]
        await settle()
        clock.advance_ms(3000)
        coord.tick()
        r = await asyncio.gather(*t)
        leader, follower = r[0]["member_id"], r[1]["member_id"]
        s = asyncio.ensure_future(coord.sync_group(sync_req("g", follower, 1), 3))
        await settle()
        assert not s.done()
        await coord.leave_group({"group_id": "g", "member_id": leader}, 2)
        assert (await s)["error_code"] == E.REBALANCE_IN_PROGRESS
        assert coord.group("g").state is GroupState.PREPARING_REBALANCE

    run(body())


def test_session_expiry_removes_silent_member(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2)
        alive, silent = ids
        clock.advance_ms(6000)
        assert (await coord.heartbeat(hb_req("g", alive, gen), 3))["error_code"] == 0
        clock.advance_ms(4001)  # silent member: 10001 ms > session timeout 10000
        coord.tick()
        g = coord.group("g")
        assert silent not in g.members and g.state is GroupState.PREPARING_REBALANCE
        assert (await coord.heartbeat(hb_req("g", alive, gen), 3))["error_code"] == E.REBALANCE_IN_PROGRESS
        assert (await coord.heartbeat(hb_req("g", silent, gen), 3))["error_code"] == E.UNKNOWN_MEMBER_ID
        r = await coord.join_group(join_req(member_id=alive, rebalance_timeout_ms=3000), 3, "client0")
        assert r["generation_id"] == gen + 1 and r["leader"] == alive and len(r["members"]) == 1
        # The last member's expiry leaves the group Empty.
        await coord.sync_group(sync_req("g", alive, gen + 1, {alive: b"x"}), 3)
        clock.advance_ms(10001)
        coord.tick()  # nobody left to wait for: the join phase completes at once
        assert g.state is GroupState.EMPTY and g.generation_id == gen + 2 and not g.members

    run(body())


def test_rebalance_timeout_drops_members_that_do_not_rejoin(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2)
        follower = ids[1]
        # The leader rejoins (forcing a rebalance); the follower never does.
        t = asyncio.ensure_future(coord.join_group(join_req(member_id=leader, rebalance_timeout_ms=3000), 3, "client0"))
        await settle()
        clock.advance_ms(2000)
        assert (await coord.heartbeat(hb_req("g", follower, gen), 3))["error_code"] == E.REBALANCE_IN_PROGRESS
        clock.advance_ms(999)
        coord.tick()
        await settle()
        assert not t.done()
        clock.advance_ms(1)
        coord.tick()
        r = await t
        assert r["error_code"] == 0 and r["generation_id"] == gen + 1
        assert r["leader"] == leader and [m["member_id"] for m in r["members"]] == [leader]
        assert (await coord.heartbeat(hb_req("g", follower, gen), 3))["error_code"] == E.UNKNOWN_MEMBER_ID

    run(body())


def test_member_that_never_syncs_is_removed(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        t = [asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=3000), 3, f"c{i}")) for i in range(2)]
        await settle()
        clock.advance_ms(3000)
        coord.tick()
        r = await asyncio.gather(*t)
        leader, follower = r[0]["member_id"], r[1]["member_id"]
        s = await coord.sync_group(sync_req("g", leader, 1, {leader: b"a", follower: b"b"}), 3)
        assert s["assignment"] == b"a"
        clock.advance_ms(3000)
        coord.tick()
        assert follower not in coord.group("g").members
        assert coord.group("g").state is GroupState.PREPARING_REBALANCE

    run(body())


def test_static_membership_rejoin_without_rebalance_and_fencing(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2, version=5, instance_ids=["i0", "i1"])
        old = ids[1]
        # Static members get their id at once even on v5 (no MEMBER_ID_REQUIRED).
        # "Restart" of i1: a new member id, same generation, no rebalance.
        r = await coord.join_group(join_req(rebalance_timeout_ms=3000, instance_id="i1"), 5, "client1")
        assert r["error_code"] == 0 and r["generation_id"] == gen and r["member_id"] != old
        assert r["members"] == [] and r["leader"] == leader
        assert coord.group("g").state is GroupState.STABLE
        new = r["member_id"]
        s = await coord.sync_group(sync_req("g", new, gen, instance_id="i1"), 5)
        assert s["error_code"] == 0 and s["assignment"] == f"assign-{old}".encode()
        # The stale member id is fenced.
        assert (await coord.heartbeat(hb_req("g", old, gen, "i1"), 3))["error_code"] == E.FENCED_INSTANCE_ID
        assert (await coord.sync_group(sync_req("g", old, gen, instance_id="i1"), 3))["error_code"] == E.FENCED_INSTANCE_ID
        fj = await coord.join_group(join_req(member_id=old, instance_id="i1"), 5, "client1")
        assert fj["error_code"] == E.FENCED_INSTANCE_ID
        c = await coord.offset_commit({"group_id": "g", "generation_id_or_member_epoch": gen, "member_id": old,
                                       "group_instance_id": "i1", "topics": [{"name": "t", "partitions": [
                                           {"partition_index": 0, "committed_offset": 1, "committed_metadata": ""}]}]}, 7)
        assert c["topics"][0]["partitions"][0]["error_code"] == E.FENCED_INSTANCE_ID
        assert (await coord.heartbeat(hb_req("g", new, gen, "i1"), 3))["error_code"] == 0
        # v9: a static leader rejoining learns the members but skips the assignment.
        lr = await coord.join_group(join_req(rebalance_timeout_ms=3000, instance_id="i0"), 9, "client0")
        assert lr["error_code"] == 0 and lr["skip_assignment"] is True and lr["generation_id"] == gen
        assert lr["leader"] == lr["member_id"] and len(lr["members"]) == 2
        assert coord.group("g").state is GroupState.STABLE
        # Changed protocols: the static member rejoins through a rebalance.
        t = asyncio.ensure_future(coord.join_group(
            join_req(rebalance_timeout_ms=3000, instance_id="i1", protocols=[("range", b"changed")]), 5, "client1"))
        await settle()
        assert coord.group("g").state is GroupState.PREPARING_REBALANCE and not t.done()
        # LeaveGroup by instance id (admin-style, v4+): a wrong member id is fenced.
        lv = await coord.leave_group({"group_id": "g", "members": [
            {"member_id": "wrong", "group_instance_id": "i0"},
            {"member_id": "", "group_instance_id": "nobody"}]}, 4)
        assert [m["error_code"] for m in lv["members"]] == [E.FENCED_INSTANCE_ID, E.UNKNOWN_MEMBER_ID]
        lv = await coord.leave_group({"group_id": "g", "members": [{"member_id": "", "group_instance_id": "i0"}]}, 4)
        assert lv["members"][0]["error_code"] == 0
        r = await t
        assert r["generation_id"] == gen + 1 and r["leader"] == r["member_id"]

    run(body())


def test_absent_static_member_kept_through_rebalance(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2, version=5, instance_ids=["i0", "i1"])
        t = asyncio.ensure_future(coord.join_group(join_req(member_id=leader, instance_id="i0", rebalance_timeout_ms=3000), 5, "c"))
        await settle()
        clock.advance_ms(3000)
        coord.tick()
        r = await t
        # The absent static member stays a member (it keeps its identity across restarts).
        assert r["generation_id"] == gen + 1 and ids[1] in coord.group("g").members
        assert (await coord.heartbeat(hb_req("g", ids[1], gen, "i1"), 3))["error_code"] == E.ILLEGAL_GENERATION

    run(body())


def test_background_ticker_with_real_clock(store) -> None:
    async def body() -> None:
        coord = GroupCoordinator(store, initial_rebalance_delay_ms=0, min_session_timeout_ms=10, tick_interval_ms=10)
        coord.start()
        j = await coord.join_group(join_req(session_timeout_ms=100, rebalance_timeout_ms=100), 3, "c")
        await coord.sync_group(sync_req("g", j["member_id"], 1, {j["member_id"]: b""}), 3)
        await asyncio.sleep(0.3)
        g = coord.group("g")
        assert g.state is GroupState.EMPTY and not g.members
        await coord.close()
        assert (await coord.heartbeat(hb_req("g", j["member_id"], 1), 3))["error_code"] == E.COORDINATOR_NOT_AVAILABLE

    run(body())


def test_cancelled_join_does_not_break_the_group(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        t1 = asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=3000), 3, "a"))
        t2 = asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=3000), 3, "b"))
        await settle()
        t2.cancel()  # the client disconnected
        await settle()
        clock.advance_ms(3000)
        coord.tick()
        r1 = await t1
        assert r1["error_code"] == 0 and r1["generation_id"] == 1

    run(body())


def test_join_v0_and_abandoned_groups_are_dropped(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord()
        req = join_req("v0")
        del req["rebalance_timeout_ms"], req["group_instance_id"], req["reason"]
        j = await coord.join_group(req, 0, "old-client")
        assert j["error_code"] == 0 and j["generation_id"] == 1
        assert coord.group("v0").members[j["member_id"]].rebalance_timeout_ms == 10000  # = session timeout
        bad = await coord.join_group(join_req("refused", protocols=[]), 3, "c")
        assert bad["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
        first = await coord.join_group(join_req("abandoned", session_timeout_ms=6000), 5, "c")
        assert first["error_code"] == E.MEMBER_ID_REQUIRED
        clock.advance_ms(6001)
        coord.tick()
        coord.tick()
        assert coord.group("refused") is None and coord.group("abandoned") is None
        assert coord.group("v0") is not None

    run(body())


def test_close_answers_parked_sync(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        t = [asyncio.ensure_future(coord.join_group(join_req(rebalance_timeout_ms=3000), 3, f"c{i}")) for i in range(2)]
        await settle()
        clock.advance_ms(3000)
        coord.tick()
        r = await asyncio.gather(*t)
        s = asyncio.ensure_future(coord.sync_group(sync_req("g", r[1]["member_id"], 1), 3))
        await settle()
        assert not s.done()
        await coord.close()
        assert (await s)["error_code"] == E.NOT_COORDINATOR

    run(body())
