"""GroupCoordinator: OffsetCommit / OffsetFetch through a real OffsetStore, and the admin APIs."""

from __future__ import annotations

import asyncio

from coord_helpers import form_group, join_req, run, settle, sync_req

from pystream.coordinator.group import GroupCoordinator, GroupState
from pystream.coordinator.offsets import OffsetStore
from pystream.protocol.error_codes import ErrorCode as E


def commit_req(group: str, offsets: dict, *, generation: int = -1, member_id: str = "",
               instance_id: str | None = None) -> dict:
    """offsets: {(topic, partition): (offset, metadata)}"""
    topics: dict[str, list] = {}
    for (t, p), (off, meta) in offsets.items():
        topics.setdefault(t, []).append({"partition_index": p, "committed_offset": off,
                                         "committed_leader_epoch": 7, "committed_metadata": meta})
    return {"group_id": group, "generation_id_or_member_epoch": generation, "member_id": member_id,
            "group_instance_id": instance_id, "retention_time_ms": -1,
            "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]}


def errors(resp: dict) -> dict:
    return {(t["name"], p["partition_index"]): p["error_code"] for t in resp["topics"] for p in t["partitions"]}


def offsets_of(topics: list) -> dict:
    return {(t["name"], p["partition_index"]): (p["committed_offset"], p["metadata"], p["error_code"])
            for t in topics for p in t["partitions"]}


def test_standalone_commit_and_fetch_both_shapes(make_coord, store) -> None:
    async def body() -> None:
        coord = make_coord()
        r = await coord.offset_commit(commit_req("solo", {("t", 0): (10, "m0"), ("t", 1): (20, None), ("u", 0): (5, "")}), 8)
        assert set(errors(r).values()) == {0}
        assert store.fetch("solo")[("t", 0)].offset == 10 and store.fetch("solo")[("t", 0)].leader_epoch == 7
        # v1 shape: explicit partitions, unknown ones are -1.
        f = await coord.offset_fetch({"group_id": "solo", "topics": [{"name": "t", "partition_indexes": [0, 1, 2]},
                                                                      {"name": "nope", "partition_indexes": [0]}]}, 1)
        assert offsets_of(f["topics"]) == {("t", 0): (10, "m0", 0), ("t", 1): (20, "", 0), ("t", 2): (-1, "", 0),
                                           ("nope", 0): (-1, "", 0)}
        # v2+: topics None means all committed partitions.
        f = await coord.offset_fetch({"group_id": "solo", "topics": None, "require_stable": False}, 7)
        assert f["error_code"] == 0
        assert offsets_of(f["topics"]) == {("t", 0): (10, "m0", 0), ("t", 1): (20, "", 0), ("u", 0): (5, "", 0)}
        assert {p["committed_leader_epoch"] for t in f["topics"] for p in t["partitions"]} == {7}
        # v8+: the groups array, several groups per request, unknown group -> no offsets.
        f = await coord.offset_fetch({"groups": [
            {"group_id": "solo", "topics": [{"name": "u", "partition_indexes": [0, 9]}]},
            {"group_id": "solo", "topics": None},
            {"group_id": "other", "topics": None}], "require_stable": True}, 8)
        g = f["groups"]
        assert [x["group_id"] for x in g] == ["solo", "solo", "other"] and {x["error_code"] for x in g} == {0}
        assert offsets_of(g[0]["topics"]) == {("u", 0): (5, "", 0), ("u", 9): (-1, "", 0)}
        assert len(offsets_of(g[1]["topics"])) == 3 and g[2]["topics"] == []

    run(body())


def test_commit_checks_membership_and_generation(make_coord, clock, store) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2)
        ok = await coord.offset_commit(commit_req("g", {("t", 0): (1, "")}, generation=gen, member_id=ids[1]), 8)
        assert errors(ok) == {("t", 0): 0}
        cases = [
            (dict(generation=gen + 1, member_id=ids[1]), E.ILLEGAL_GENERATION),
            (dict(generation=gen, member_id="ghost"), E.UNKNOWN_MEMBER_ID),
            (dict(generation=-1, member_id=""), E.UNKNOWN_MEMBER_ID),  # standalone commit into an active group
        ]
        for kw, code in cases:
            r = await coord.offset_commit(commit_req("g", {("t", 0): (2, ""), ("t", 1): (2, "")}, **kw), 8)
            assert set(errors(r).values()) == {code}, kw
        # Unknown group with a generation: a stale consumer.
        r = await coord.offset_commit(commit_req("never", {("t", 0): (2, "")}, generation=3, member_id="m"), 8)
        assert errors(r) == {("t", 0): E.ILLEGAL_GENERATION}
        # Metadata too large and negative offsets are per partition.
        r = await coord.offset_commit(commit_req("g", {("t", 0): (3, "x" * 5000), ("t", 1): (-5, ""), ("t", 2): (3, "")},
                                                 generation=gen, member_id=ids[0]), 8)
        assert errors(r) == {("t", 0): E.OFFSET_METADATA_TOO_LARGE, ("t", 1): E.INVALID_COMMIT_OFFSET_SIZE, ("t", 2): 0}
        assert store.fetch("g", "t") and store.fetch("g", "t")[("t", 0)].offset == 1
        # CompletingRebalance: commits are refused until the new assignment is known.
        t = [asyncio.ensure_future(coord.join_group(join_req(member_id=m, rebalance_timeout_ms=3000), 3, "c")) for m in ids]
        results = await asyncio.gather(*t)
        assert coord.group("g").state is GroupState.COMPLETING_REBALANCE
        r = await coord.offset_commit(commit_req("g", {("t", 0): (9, "")}, generation=gen + 1, member_id=ids[1]), 8)
        assert errors(r) == {("t", 0): E.REBALANCE_IN_PROGRESS}
        assert results[0]["generation_id"] == gen + 1
        # v0 (no generation, no member): only for groups without members.
        r = await coord.offset_commit({"group_id": "solo0", "topics": [{"name": "t", "partitions": [
            {"partition_index": 0, "committed_offset": 4, "committed_metadata": "v0"}]}]}, 0)
        assert errors(r) == {("t", 0): 0}
        r = await coord.offset_commit({"group_id": "", "topics": [{"name": "t", "partitions": [
            {"partition_index": 0, "committed_offset": 4, "committed_metadata": ""}]}]}, 2)
        assert errors(r) == {("t", 0): E.INVALID_GROUP_ID}

    run(body())


def test_unknown_partitions_rejected_when_the_broker_says_so(store, clock) -> None:
    async def body() -> None:
        coord = GroupCoordinator(store, clock=clock, partition_exists=lambda t, p: t == "t" and p < 2)
        r = await coord.offset_commit(commit_req("s", {("t", 0): (1, ""), ("t", 2): (1, ""), ("x", 0): (1, "")}), 8)
        assert errors(r) == {("t", 0): 0, ("t", 2): E.UNKNOWN_TOPIC_OR_PARTITION, ("x", 0): E.UNKNOWN_TOPIC_OR_PARTITION}

    run(body())


def test_offsets_survive_a_new_coordinator(make_coord, offset_logs) -> None:
    async def body() -> None:
        coord = make_coord()
        await coord.offset_commit(commit_req("durable", {("t", 3): (33, "meta")}), 8)
        await coord.close()
        offset_logs.close()
        fresh = GroupCoordinator(OffsetStore(offset_logs, num_partitions=3))
        f = await fresh.offset_fetch({"group_id": "durable", "topics": None}, 5)
        assert offsets_of(f["topics"]) == {("t", 3): (33, "meta", 0)}
        lg = await fresh.list_groups({}, 3)
        assert lg["groups"] == [{"group_id": "durable", "protocol_type": "", "group_state": "Empty", "group_type": "classic"}]

    run(body())


def test_describe_list_delete_groups(make_coord, clock) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2)
        await coord.offset_commit(commit_req("g", {("t", 0): (1, "")}, generation=gen, member_id=leader), 8)
        await coord.offset_commit(commit_req("standalone", {("t", 0): (1, "")}), 8)

        d = await coord.describe_groups({"groups": ["g", "standalone", "unknown"], "include_authorized_operations": False}, 5)
        g, s, u = d["groups"]
        assert (g["error_code"], g["group_state"], g["protocol_type"], g["protocol_data"]) == (0, "Stable", "consumer", "range")
        assert [m["member_id"] for m in g["members"]] == ids
        assert g["members"][0]["member_metadata"] == b"subscription"
        assert g["members"][0]["member_assignment"] == f"assign-{leader}".encode()
        assert g["members"][0]["client_id"] == "client0" and g["members"][0]["group_instance_id"] is None
        assert (s["group_state"], s["members"]) == ("Empty", [])
        assert (u["error_code"], u["group_state"], u["protocol_type"]) == (0, "Dead", "")

        lg = await coord.list_groups({}, 0)
        assert lg["error_code"] == 0
        assert {(x["group_id"], x["protocol_type"], x["group_state"]) for x in lg["groups"]} == {
            ("g", "consumer", "Stable"), ("standalone", "", "Empty")}
        lg = await coord.list_groups({"states_filter": ["stable"]}, 4)
        assert [x["group_id"] for x in lg["groups"]] == ["g"]
        lg = await coord.list_groups({"states_filter": [], "types_filter": ["consumer"]}, 5)
        assert lg["groups"] == []
        lg = await coord.list_groups({"states_filter": ["Empty"], "types_filter": ["classic"]}, 5)
        assert [x["group_id"] for x in lg["groups"]] == ["standalone"]

        dg = await coord.delete_groups({"groups_names": ["g", "standalone", "unknown"]}, 2)
        assert dg["results"] == [{"group_id": "g", "error_code": E.NON_EMPTY_GROUP},
                                 {"group_id": "standalone", "error_code": 0},
                                 {"group_id": "unknown", "error_code": E.GROUP_ID_NOT_FOUND}]
        # Everyone leaves: the group goes Empty (a new, empty generation) and can be deleted.
        await coord.leave_group({"group_id": "g", "members": [{"member_id": m, "group_instance_id": None} for m in ids]}, 3)
        assert coord.group("g").state is GroupState.EMPTY
        dg = await coord.delete_groups({"groups_names": ["g"]}, 1)
        assert dg["results"] == [{"group_id": "g", "error_code": 0}]
        assert coord.group("g") is None
        f = await coord.offset_fetch({"group_id": "g", "topics": None}, 7)
        assert f["topics"] == []
        assert (await coord.list_groups({}, 3))["groups"] == []
        dg = await coord.delete_groups({"groups_names": ["g"]}, 1)
        assert dg["results"] == [{"group_id": "g", "error_code": E.GROUP_ID_NOT_FOUND}]
        # The deleted group id can be used again from scratch.
        t = asyncio.ensure_future(coord.join_group(join_req("g"), 3, "again"))
        await settle()
        clock.advance_ms(3000)
        coord.tick()
        j = await t
        assert j["error_code"] == 0 and j["generation_id"] == 1

    run(body())


def _subscription(*topics: str) -> bytes:
    from pystream.protocol.codec import encode_message, join

    return b"\x00\x01" + join(encode_message("ConsumerProtocolSubscription", 1, {
        "topics": list(topics), "user_data": None, "owned_partitions": []}))


def test_offset_delete_rules(make_coord, clock, store) -> None:
    """Kafka's deleteOffsets: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for an active non-consumer group,
    GROUP_SUBSCRIBED_TO_TOPIC for the topics an active consumer group subscribes to."""
    from coord_helpers import settle

    def req(group: str, tps: list) -> dict:
        topics: dict[str, list] = {}
        for t, p in tps:
            topics.setdefault(t, []).append({"partition_index": p})
        return {"group_id": group, "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]}

    def codes(resp: dict) -> dict:
        return {(t["name"], p["partition_index"]): p["error_code"] for t in resp["topics"] for p in t["partitions"]}

    async def body() -> None:
        coord = make_coord(partition_exists=lambda t, p: t in ("a", "b") and p < 2)
        assert (await coord.offset_delete(req("nobody", [("a", 0)]), 0)) == {"error_code": E.GROUP_ID_NOT_FOUND, "topics": []}
        assert (await coord.offset_delete(req("", [("a", 0)]), 0))["error_code"] == E.INVALID_GROUP_ID
        # A group with only offsets (simple): everything may go; unknown partitions are refused.
        await coord.offset_commit(commit_req("s", {("a", 0): (1, ""), ("a", 1): (2, ""), ("b", 0): (3, "")}), 8)
        r = await coord.offset_delete(req("s", [("a", 0), ("b", 1), ("zz", 0)]), 0)
        assert r["error_code"] == 0 and codes(r) == {("a", 0): 0, ("b", 1): 0, ("zz", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
        assert set(store.fetch("s")) == {("a", 1), ("b", 0)}
        # An active consumer group subscribed to "a".
        first = await coord.join_group(join_req("c", protocols=[("range", _subscription("a"))]), 3, "c1")
        assert first["error_code"] == 0
        await coord.sync_group(sync_req("c", first["member_id"], first["generation_id"], {first["member_id"]: b""}), 3)
        await coord.offset_commit(commit_req("c", {("a", 0): (5, ""), ("b", 0): (6, "")},
                                             generation=first["generation_id"], member_id=first["member_id"]), 8)
        r = await coord.offset_delete(req("c", [("a", 0), ("b", 0)]), 0)
        assert codes(r) == {("a", 0): E.GROUP_SUBSCRIBED_TO_TOPIC, ("b", 0): 0}
        assert set(store.fetch("c")) == {("a", 0)}
        # An active group of another protocol type (e.g. Kafka Connect): refused as a whole.
        j = await coord.join_group(join_req("w", protocol_type="connect"), 3, "w1")
        await coord.offset_commit(commit_req("w", {("a", 0): (1, "")}, generation=j["generation_id"], member_id=j["member_id"]), 8)
        assert (await coord.offset_delete(req("w", [("a", 0)]), 0)) == {"error_code": E.NON_EMPTY_GROUP, "topics": []}
        await settle()

    run(body())
