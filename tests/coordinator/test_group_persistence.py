"""Classic groups persisted as Kafka persists them (GroupMetadata records in __consumer_offsets)
and rebuilt by a fresh coordinator over the same logs."""

from __future__ import annotations

from coord_helpers import form_group, hb_req, run

from pystream.coordinator import records
from pystream.coordinator.group import GroupCoordinator, GroupState
from pystream.coordinator.offsets import OffsetStore
from pystream.coordinator.records import RecordType
from pystream.protocol.codec import encode_message, join
from pystream.protocol.error_codes import ErrorCode as E


def _fresh(offset_logs, clock) -> GroupCoordinator:
    """A new coordinator over the same __consumer_offsets logs, as after a broker restart."""
    offset_logs.close()
    return GroupCoordinator(OffsetStore(offset_logs, num_partitions=3), clock=clock, initial_rebalance_delay_ms=0)


def test_stable_group_is_rebuilt_with_its_members(make_coord, clock, offset_logs) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 3, version=5, instance_ids=["s0", "s1", "s2"])
        await coord.close()
        fresh = _fresh(offset_logs, clock)
        g = fresh.group("g")
        assert (g.state, g.generation_id, g.protocol_type, g.protocol_name, g.leader_id) == (
            GroupState.STABLE, gen, "consumer", "range", leader)
        assert list(g.members) == ids and g.static_members == {f"s{i}": m for i, m in enumerate(ids)}
        assert g.members[ids[2]].assignment == f"assign-{ids[2]}".encode()
        # Members go on heartbeating in their generation: no rebalance after a coordinator change.
        for m in ids:
            assert (await fresh.heartbeat(hb_req("g", m, gen), 3))["error_code"] == 0
        d = (await fresh.describe_groups({"groups": ["g"]}, 5))["groups"][0]
        assert (d["group_state"], d["protocol_data"], d["members"][0]["member_metadata"]) == ("Stable", "range", b"subscription")
        # Sessions restart at load: members that stay silent expire, and the group empties.
        clock.advance_ms(10001)
        fresh.tick()
        g = fresh.group("g")
        assert (g.state, g.generation_id, g.members) == (GroupState.EMPTY, gen + 1, {})

    run(body())


def test_empty_group_keeps_its_protocol_type_and_generation(make_coord, clock, offset_logs) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 2)
        await coord.leave_group({"group_id": "g", "members": [{"member_id": m, "group_instance_id": None} for m in ids]}, 3)
        g = coord.group("g")
        assert (g.state, g.protocol_type, g.generation_id) == (GroupState.EMPTY, "consumer", gen + 1)
        listed = (await coord.list_groups({}, 4))["groups"]
        assert listed == [{"group_id": "g", "protocol_type": "consumer", "group_state": "Empty", "group_type": "classic"}]
        await coord.close()
        fresh = _fresh(offset_logs, clock)
        assert (await fresh.list_groups({}, 4))["groups"] == listed
        g = fresh.group("g")
        assert (g.state, g.protocol_type, g.generation_id, g.members) == (GroupState.EMPTY, "consumer", gen + 1, {})
        # A stale member of the old generation is told to rejoin.
        assert (await fresh.heartbeat(hb_req("g", ids[0], gen), 3))["error_code"] == E.UNKNOWN_MEMBER_ID
        # Deleting the group tombstones its record: gone for the next coordinator as well.
        assert (await fresh.delete_groups({"groups_names": ["g"]}, 2))["results"] == [{"group_id": "g", "error_code": 0}]
        await fresh.close()
        again = _fresh(offset_logs, clock)
        assert again.group("g") is None and (await again.list_groups({}, 4))["groups"] == []

    run(body())


def test_unloaded_partition_drops_its_groups(make_coord, clock, store) -> None:
    async def body() -> None:
        coord = make_coord(initial_rebalance_delay_ms=3000)
        gen, leader, ids = await form_group(coord, clock, 1)
        assert "g" in coord._groups
        store.unload_partition(store.partition_for("g"))
        assert "g" not in coord._groups
        assert coord.group("g").state is GroupState.STABLE  # rebuilt from the log on next use

    run(body())


def test_group_metadata_value_versions_decode() -> None:
    """Kafka writes GroupMetadataValue v0-v4 (v4 flexible): every one decodes."""
    schema = records._VALUES[RecordType.GROUP_METADATA][0]
    member = {"member_id": "m", "group_instance_id": "i", "client_id": "c", "client_host": "/h",
              "rebalance_timeout": 300, "session_timeout": 100, "subscription": b"s", "assignment": b"a"}
    body = {"protocol_type": "consumer", "generation": 7, "protocol": "range", "leader": "m",
            "current_state_timestamp": 5, "members": [member]}
    for v in range(5):
        raw = v.to_bytes(2, "big") + join(encode_message(schema, v, body))
        got = records.decode_value(RecordType.GROUP_METADATA, raw)
        assert (got["generation"], got["protocol"], got["members"][0]["assignment"]) == (7, "range", b"a")
        assert got["members"][0]["group_instance_id"] == ("i" if v >= 3 else None)
