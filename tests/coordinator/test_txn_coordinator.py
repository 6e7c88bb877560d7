"""The transaction coordinator (KIP-98) over real ``__transaction_state`` logs: state machine,
fencing, durability and recovery, timeouts, expiry; and the TransactionLog record codec."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import pytest

from coord_helpers import FakeClock, OffsetLogs, run, settle
from pystream.coordinator.transactions import TransactionCoordinator, TxnConfig
from pystream.coordinator.txn_log import (
    TXN_STATE_TOPIC,
    TxnLogValue,
    TxnStatus,
    decode_txn_key,
    decode_txn_value,
    encode_txn_key,
    encode_txn_value,
)
from pystream.protocol.error_codes import ErrorCode as E

N = 3  # __transaction_state partitions


class Markers:
    """Records the markers the coordinator asks for; `fail` partitions answer an error."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, bool, list[tuple[str, int]]]] = []
        self.fail: dict[tuple[str, int], E] = {}

    async def __call__(self, pid: int, epoch: int, commit: bool, coordinator_epoch: int,
                       partitions: list[tuple[str, int]]) -> dict[tuple[str, int], E]:
        self.calls.append((pid, epoch, commit, list(partitions)))
        return {tp: self.fail.get(tp, E.NONE) for tp in partitions}


class Env:
    def __init__(self, root: Path, clock: FakeClock) -> None:
        self.root, self.clock = root, clock
        self.logs = OffsetLogs(root, TXN_STATE_TOPIC)
        self.markers = Markers()
        self.next_pid = 100
        self.owned: int | None = 0
        self.coord = self.make()

    def make(self, **config: Any) -> TransactionCoordinator:
        async def allocate() -> int:
            self.next_pid += 1
            return self.next_pid

        return TransactionCoordinator(self.logs, N, allocate_producer_id=allocate, write_markers=self.markers,
                                      owns=lambda p: self.owned, partition_exists=lambda t, i: t != "missing",
                                      offsets_partition=lambda g: ("__consumer_offsets", 7),
                                      config=TxnConfig(**config), clock=self.clock)

    def restart(self, **config: Any) -> TransactionCoordinator:
        """A new coordinator over the same logs (the broker restarted)."""
        self.logs.close()
        self.coord = self.make(**config)
        return self.coord

    def records(self, tid: str) -> list[TxnLogValue | None]:
        log = self.logs(self.coord.partition_for(tid))
        key = encode_txn_key(tid)
        return [None if r.value is None else decode_txn_value(r.value) for r in log.records(0) if r.key == key]


@pytest.fixture
def env(tmp_path: Path) -> Any:
    e = Env(tmp_path, FakeClock())
    yield e
    e.logs.close()


def test_log_record_codec_round_trip_and_kafka_layout() -> None:
    assert encode_txn_key("tx") == b"\x00\x00\x00\x02tx"
    v = TxnLogValue(5, 3, 60000, TxnStatus.ONGOING, {"a": [1, 0], "b": [2]}, 1234, 1000)
    data = encode_txn_value(v)
    assert data[:2] == b"\x00\x00"  # version 0
    assert struct.unpack_from(">qhib", data, 2) == (5, 3, 60000, 1)
    back = decode_txn_value(data)
    assert (back.producer_id, back.producer_epoch, back.timeout_ms, back.status) == (5, 3, 60000, TxnStatus.ONGOING)
    assert back.partitions == {"a": [0, 1], "b": [2]} and (back.last_update_ms, back.start_ms) == (1234, 1000)
    assert decode_txn_key(encode_txn_key("tx")) == "tx"
    assert TxnStatus.PREPARE_COMMIT.display == "PrepareCommit"


def test_value_version_1_flexible_is_read() -> None:
    """Kafka 4 writes TransactionLogValue v1: compact strings/arrays and tagged fields."""
    body = struct.pack(">hqhib", 1, 9, 2, 30000, 4)
    body += bytes([2]) + bytes([2]) + b"t" + bytes([2]) + struct.pack(">i", 3) + bytes([0])  # [{topic "t", [3]}]
    body += struct.pack(">qq", 77, 66)
    body += bytes([1, 2, 1, 2])  # one tagged field: tag 2 (ClientTransactionVersion), 1 byte
    v = decode_txn_value(body)
    assert (v.producer_id, v.producer_epoch, v.status, v.partitions, v.last_update_ms, v.start_ms) == \
        (9, 2, TxnStatus.COMPLETE_COMMIT, {"t": [3]}, 77, 66)


def test_init_commit_and_recovery(env: Env) -> None:
    async def body() -> None:
        c = env.coord
        assert await c.init_producer_id("tx", 60000) == (E.NONE, 101, 0)
        assert await c.init_producer_id("tx", 60000) == (E.NONE, 101, 1)  # a restarted producer: epoch bump
        errs = await c.add_partitions("tx", 101, 1, [("t", 0), ("t", 1)])
        assert set(errs.values()) == {E.NONE}
        assert c.metadata("tx").state is TxnStatus.ONGOING
        assert await c.add_offsets("tx", 101, 1, "group") == E.NONE
        assert await c.end_txn("tx", 101, 1, commit=True) == E.NONE
        assert env.markers.calls == [(101, 1, True, [("__consumer_offsets", 7), ("t", 0), ("t", 1)])]
        assert c.metadata("tx").state is TxnStatus.COMPLETE_COMMIT and not c.metadata("tx").partitions
        assert await c.end_txn("tx", 101, 1, commit=True) == E.NONE  # a retry
        assert await c.end_txn("tx", 101, 1, commit=False) == E.INVALID_TXN_STATE
        statuses = [v.status for v in env.records("tx") if v is not None]
        assert statuses == [TxnStatus.EMPTY, TxnStatus.EMPTY, TxnStatus.ONGOING, TxnStatus.ONGOING,
                            TxnStatus.PREPARE_COMMIT, TxnStatus.COMPLETE_COMMIT]
        await c.close()
        c = env.restart()
        assert c.describe("tx")["transaction_state"] == "CompleteCommit"
        assert await c.init_producer_id("tx", 60000) == (E.NONE, 101, 2)

    run(body())


def test_a_new_producer_fences_an_open_transaction(env: Env) -> None:
    async def body() -> None:
        c = env.coord
        _, pid, epoch = await c.init_producer_id("tx", 60000)
        await c.add_partitions("tx", pid, epoch, [("t", 0)])
        assert await c.init_producer_id("tx", 60000) == (E.NONE, pid, epoch + 2)
        # The open transaction was aborted with the bumped epoch, so the partition fences the old producer.
        assert env.markers.calls == [(pid, epoch + 1, False, [("t", 0)])]
        assert set((await c.add_partitions("tx", pid, epoch, [("t", 1)])).values()) == {E.PRODUCER_FENCED}
        assert await c.end_txn("tx", pid, epoch, commit=True) == E.PRODUCER_FENCED
        assert set((await c.add_partitions("tx", pid + 1, epoch + 2, [("t", 1)])).values()) == {E.INVALID_PRODUCER_ID_MAPPING}
        assert c.verify("tx", pid, epoch + 2, ("t", 0)) == E.INVALID_TXN_STATE  # not in a transaction yet
        await c.add_partitions("tx", pid, epoch + 2, [("t", 0)])
        assert c.verify("tx", pid, epoch + 2, ("t", 0)) == E.NONE
        assert c.verify("tx", pid, epoch + 2, ("t", 1)) == E.INVALID_TXN_STATE

    run(body())


def test_requests_checked(env: Env) -> None:
    async def body() -> None:
        c = env.coord
        assert (await c.init_producer_id("tx", 10**9))[0] == E.INVALID_TRANSACTION_TIMEOUT
        assert (await c.init_producer_id("", 1000))[0] == E.INVALID_REQUEST
        _, pid, epoch = await c.init_producer_id("tx", 60000)
        assert await c.end_txn("tx", pid, epoch, commit=True) == E.INVALID_TXN_STATE  # nothing open
        errs = await c.add_partitions("tx", pid, epoch, [("t", 0), ("missing", 0)])
        assert errs == {("t", 0): E.OPERATION_NOT_ATTEMPTED, ("missing", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
        assert c.describe("nope")["error_code"] == E.TRANSACTIONAL_ID_NOT_FOUND
        env.owned = None  # another broker coordinates these partitions now
        assert (await c.init_producer_id("tx", 60000))[0] == E.NOT_COORDINATOR
        assert c.metadata("tx") is None  # its state was dropped

    run(body())


def test_prepared_transaction_completes_after_a_restart(env: Env) -> None:
    async def body() -> None:
        c = env.coord
        _, pid, epoch = await c.init_producer_id("tx", 60000)
        await c.add_partitions("tx", pid, epoch, [("t", 0), ("u", 0)])
        env.markers.fail[("u", 0)] = E.NOT_LEADER_OR_FOLLOWER  # one partition's leader is away
        end = asyncio.ensure_future(c.end_txn("tx", pid, epoch, commit=True))
        while len(env.markers.calls) < 2:
            await asyncio.sleep(0.01)
        assert c.metadata("tx").state is TxnStatus.PREPARE_COMMIT
        end.cancel()
        await c.close()  # the broker dies with the commit prepared, markers half written
        env.markers.fail.clear()
        env.markers.calls.clear()
        c = env.restart()
        c.maintain_ownership(max_loads=None)  # loading resumes the completion
        for _ in range(100):
            if c.metadata("tx").state is TxnStatus.COMPLETE_COMMIT:
                break
            await asyncio.sleep(0.01)
        assert c.metadata("tx").state is TxnStatus.COMPLETE_COMMIT
        assert env.markers.calls[0][:3] == (pid, epoch, True) and set(env.markers.calls[0][3]) == {("t", 0), ("u", 0)}

    run(body())


def test_timed_out_transactions_are_aborted_and_idle_ids_expire(env: Env) -> None:
    async def body() -> None:
        c = env.coord
        _, pid, epoch = await c.init_producer_id("tx", 5000)
        await c.add_partitions("tx", pid, epoch, [("t", 0)])
        env.clock.advance_ms(4000)
        assert await c.abort_timed_out() == 0
        env.clock.advance_ms(2000)
        assert await c.abort_timed_out() == 1
        await settle()
        await asyncio.sleep(0.05)
        assert env.markers.calls == [(pid, epoch + 1, False, [("t", 0)])]
        assert c.metadata("tx").state is TxnStatus.COMPLETE_ABORT
        assert await c.end_txn("tx", pid, epoch, commit=True) == E.PRODUCER_FENCED  # the zombie is fenced
        await c.close()
        c = env.restart(id_expiration_ms=60000)
        c.maintain_ownership(max_loads=None)
        assert await c.expire_ids() == 0
        env.clock.advance_ms(61000)
        assert await c.expire_ids() == 1
        assert c.metadata("tx") is None and env.records("tx")[-1] is None  # a tombstone
        c = env.restart()
        assert c.describe("tx")["error_code"] == E.TRANSACTIONAL_ID_NOT_FOUND

    run(body())


def test_list_transactions_filters(env: Env) -> None:
    async def body() -> None:
        c = env.coord
        for tid in ("a", "b"):
            _, pid, epoch = await c.init_producer_id(tid, 60000)
        await c.add_partitions("b", pid, epoch, [("t", 0)])
        unknown, listed = c.list(["Ongoing", "Bogus"])
        assert unknown == ["Bogus"] and [t["transactional_id"] for t in listed] == ["b"]
        assert {t["transactional_id"] for t in c.list()[1]} == {"a", "b"}
        assert [t["transactional_id"] for t in c.list(producer_ids=[pid])[1]] == ["b"]

    run(body())
