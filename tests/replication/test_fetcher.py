"""ReplicaFetcher end to end against a tiny in-test leader speaking the Kafka protocol.

The leader serves ApiVersions, Fetch (replica fetches feed a LeaderState for
the HW) and OffsetForLeaderEpoch from a real pystream.Log and LeaderEpochCache.
"""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import pystream
from pystream._core import crc32c, encode_batch
from pystream.protocol import api_versions_entries, decode_request, encode_response
from pystream.replication import (
    FetchState,
    FollowerPartition,
    LeaderEpochCache,
    LeaderState,
    ReplicaFetcher,
    offset_for_leader_epoch,
)
from pystream.replication.leader import check_leader_epoch
from pystream.replication.connection import BrokerConnection
from pystream.storage.producer_state import ProducerState

TOPIC = "t"
LOG_CONFIG = dict(segment_bytes=64 * 1024, segment_ms=1 << 40, retention_ms=-1)
TEST_TIMEOUT = 30


class Leader:
    """A one-partition leader: broker 1, follower broker 2."""

    def __init__(self, directory: Path, epoch: int) -> None:
        self.log = pystream.Log(directory / f"{TOPIC}-0", **LOG_CONFIG)
        self.log.leader_epoch = epoch
        self.cache = LeaderEpochCache(self.log.path)
        self.producer_state = ProducerState(self.log.path)
        self.epoch = epoch
        self.state = LeaderState(1, [1, 2], [1], epoch)
        self.appended = asyncio.Event()
        self.not_leader = False
        self.requests: list[tuple[int, dict]] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        self.log.close()

    def append(self, batch: bytes) -> int:
        """Appends with fresh offsets under the current epoch (as the broker's produce path)."""
        if self.cache.latest_epoch() != self.epoch:
            self.cache.assign(self.epoch, self.log.end_offset)
        first = self.log.append_raw(batch, assign_offsets=True)
        count = struct.unpack_from(">i", batch, 57)[0]
        pid, pepoch, seq = struct.unpack_from(">qhi", batch, 43)
        self.producer_state.update(pid, pepoch, seq, count, first, first + count - 1)
        self.state.high_watermark(self.log.end_offset)
        self.appended.set()
        return first

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                hdr, body = decode_request(await reader.readexactly(size))
                self.requests.append((hdr.api_key, body))
                if hdr.api_key == 18:
                    resp = {"error_code": 0, "api_keys": api_versions_entries()}
                elif hdr.api_key == 1:
                    resp = await self._fetch(body)
                elif hdr.api_key == 23:
                    resp = self._offset_for_leader_epoch(body)
                else:
                    raise AssertionError(f"unexpected api key {hdr.api_key}")
                writer.writelines(encode_response(hdr.api_key, hdr.api_version, hdr.correlation_id, resp))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    def _partition_fetch(self, fp: dict, replica_id: int) -> dict:
        out = {"partition_index": fp["partition"], "high_watermark": -1, "records": None,
               "log_start_offset": self.log.start_offset}
        err = 6 if self.not_leader else check_leader_epoch(self.epoch, fp["current_leader_epoch"])
        offset = fp["fetch_offset"]
        if not err and not self.log.start_offset <= offset <= self.log.end_offset:
            err = 1
        if err:
            return dict(out, error_code=err)
        self.state.on_follower_fetch(replica_id, offset, self.log.end_offset)
        records = bytes(self.log.read(offset, fp["partition_max_bytes"])) if offset < self.log.end_offset else b""
        return dict(out, error_code=0, high_watermark=self.state.hw, records=records)

    async def _fetch(self, body: dict) -> dict:
        deadline = asyncio.get_running_loop().time() + body["max_wait_ms"] / 1000
        while True:
            self.appended.clear()
            parts = [self._partition_fetch(fp, body["replica_id"]) for t in body["topics"] for fp in t["partitions"]]
            remaining = deadline - asyncio.get_running_loop().time()
            if any(p["records"] or p["error_code"] for p in parts) or remaining <= 0:
                return {"error_code": 0, "responses": [{"topic": TOPIC, "partitions": parts}]}
            try:
                await asyncio.wait_for(self.appended.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _offset_for_leader_epoch(self, body: dict) -> dict:
        parts = []
        for t in body["topics"]:
            for p in t["partitions"]:
                err, epoch, end = offset_for_leader_epoch(self.cache, self.log.end_offset, self.epoch,
                                                          p["current_leader_epoch"], p["leader_epoch"])
                parts.append({"partition": p["partition"], "error_code": err, "leader_epoch": epoch, "end_offset": end})
        return {"topics": [{"topic": TOPIC, "partitions": parts}]}


def follower_partition(directory: Path, leader_epoch: int) -> FollowerPartition:
    log = pystream.Log(directory / f"{TOPIC}-0", **LOG_CONFIG)
    cache = LeaderEpochCache(log.path)
    cache.rebuild_from_log(log)
    ps = ProducerState(log.path)
    ps.load(log)
    return FollowerPartition(TOPIC, 0, log, ps, cache, leader_epoch, high_watermark=0)


def batch(base: int, values: list[bytes], epoch: int = -1, pid: int = -1, pepoch: int = -1, seq: int = -1) -> bytes:
    b = bytearray(encode_batch([(1_700_000_000_000 + base + i, None, v, None) for i, v in enumerate(values)],
                               base_offset=base, partition_leader_epoch=epoch))
    struct.pack_into(">qhi", b, 43, pid, pepoch, seq)
    struct.pack_into(">I", b, 17, crc32c(b[21:]))
    return bytes(b)


def segment_bytes(log_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(log_dir.glob("*.log"))}


async def wait_until(cond, timeout=TEST_TIMEOUT) -> None:
    async def loop():
        while not cond():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(loop(), timeout)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT + 10))


async def replicate(tmp_path: Path, leader: Leader, fp: FollowerPartition, **kw) -> ReplicaFetcher:
    port = await leader.start()
    fetcher = ReplicaFetcher(2, "127.0.0.1", port, {(TOPIC, 0): fp}, max_wait_ms=100,
                             partition_max_bytes=16 * 1024, backoff_ms=20, **kw)
    fetcher.start()
    await wait_until(lambda: fp.log.end_offset == leader.log.end_offset and fp.high_watermark == leader.log.end_offset)
    return fetcher


def test_catch_up_10000_records_byte_identical(tmp_path):
    async def main():
        leader = Leader(tmp_path / "leader", epoch=3)
        for i in range(0, 10_000, 100):
            leader.append(batch(0, [b"value-%06d" % j for j in range(i, i + 100)]))
        leader.epoch = 4  # a second epoch mid-log
        leader.log.leader_epoch = 4
        for i in range(0, 500, 50):
            leader.append(batch(0, [b"late-%06d" % j for j in range(i, i + 50)]))
        fp = follower_partition(tmp_path / "follower", 4)
        appended = []
        fetcher = await replicate(tmp_path, leader, fp, on_append=lambda f: appended.append(f.log.end_offset))
        assert fp.log.end_offset == 10_500
        assert fp.state is FetchState.FETCHING
        assert fp.epoch_cache.entries == leader.cache.entries == [(3, 0), (4, 10_000)]
        assert appended and appended[-1] == 10_500
        # More data while following: the long-polling fetch picks it up.
        leader.append(batch(0, [b"tail"] * 7))
        await wait_until(lambda: fp.high_watermark == 10_507)
        assert leader.state.hw == 10_507
        await fetcher.stop()
        assert not any(k == 23 for k, _ in leader.requests)  # no epochs yet: truncation to the HW (0), as Kafka
        fp.log.close()
        await leader.close()
        a, b = segment_bytes(tmp_path / "leader" / f"{TOPIC}-0"), segment_bytes(tmp_path / "follower" / f"{TOPIC}-0")
        assert len(a) > 1 and a == b
        assert LeaderEpochCache(tmp_path / "follower" / f"{TOPIC}-0").entries == [(3, 0), (4, 10_000)]

    run(main())


def test_divergent_tail_is_truncated_and_replaced(tmp_path):
    async def main():
        leader = Leader(tmp_path / "leader", epoch=3)
        fdir = tmp_path / "follower" / f"{TOPIC}-0"
        flog = pystream.Log(fdir, **LOG_CONFIG)
        common = [batch(o, [b"common-%d" % o] * 10, epoch=1) for o in range(0, 100, 10)]
        for b in common:
            leader.log.append_raw(b, assign_offsets=False)
            flog.append_raw(b, assign_offsets=False)
        leader.cache.assign(1, 0)
        for o in range(100, 150, 10):  # written by the old leader of epoch 2; never reached the new leader
            flog.append_raw(batch(o, [b"lost-%d" % o] * 10, epoch=2), assign_offsets=False)
        flog.close()
        for i in range(10):
            leader.append(batch(0, [b"new-%d" % i] * 10))
        fp = follower_partition(tmp_path / "follower", 3)
        assert fp.epoch_cache.entries == [(1, 0), (2, 100)]
        assert fp.log.end_offset == 150
        fetcher = await replicate(tmp_path, leader, fp)
        await fetcher.stop()
        assert fp.epoch_cache.entries == [(1, 0), (3, 100)]
        assert [r.value for r in fp.log.records(100, 1)] == [b"new-0"]
        fp.log.close()
        await leader.close()
        assert segment_bytes(tmp_path / "leader" / f"{TOPIC}-0") == segment_bytes(fdir)

    run(main())


def test_truncation_repeats_when_follower_lacks_the_leaders_epoch(tmp_path):
    """Leader epochs [(0,0),(1,40),(3,60)], follower [(0,0),(2,50)]: the first answer (1, 60) names an
    epoch the follower lacks, so it cuts to the end of its epoch 0 (50) and asks again: (0, 40)."""
    async def main():
        leader = Leader(tmp_path / "leader", epoch=3)
        fdir = tmp_path / "follower" / f"{TOPIC}-0"
        flog = pystream.Log(fdir, **LOG_CONFIG)
        for o in range(0, 40, 10):
            b = batch(o, [b"e0-%d" % o] * 10, epoch=0)
            leader.log.append_raw(b, assign_offsets=False)
            flog.append_raw(b, assign_offsets=False)
        for o in range(40, 60, 10):
            leader.log.append_raw(batch(o, [b"e1-%d" % o] * 10, epoch=1), assign_offsets=False)
        flog.append_raw(batch(40, [b"f0"] * 10, epoch=0), assign_offsets=False)
        for o in range(50, 80, 10):
            flog.append_raw(batch(o, [b"e2-%d" % o] * 10, epoch=2), assign_offsets=False)
        flog.close()
        leader.cache.assign(0, 0)
        leader.cache.assign(1, 40)
        leader.append(batch(0, [b"e3"] * 10))
        assert leader.cache.entries == [(0, 0), (1, 40), (3, 60)]
        fp = follower_partition(tmp_path / "follower", 3)
        assert fp.epoch_cache.entries == [(0, 0), (2, 50)]
        fetcher = await replicate(tmp_path, leader, fp)
        await fetcher.stop()
        asked = [p["leader_epoch"] for k, body in leader.requests if k == 23
                 for t in body["topics"] for p in t["partitions"]]
        assert asked == [2, 0]
        assert fp.epoch_cache.entries == leader.cache.entries
        fp.log.close()
        await leader.close()
        assert segment_bytes(tmp_path / "leader" / f"{TOPIC}-0") == segment_bytes(fdir)

    run(main())


def test_producer_state_matches_leader_after_catch_up(tmp_path):
    async def main():
        leader = Leader(tmp_path / "leader", epoch=2)
        seqs = {1000: 0, 2000: 0}
        for i in range(30):
            pid = 1000 if i % 3 else 2000
            leader.append(batch(0, [b"x%d" % i] * 4, pid=pid, pepoch=5, seq=seqs[pid]))
            seqs[pid] += 4
        leader.append(batch(0, [b"plain"] * 3))
        fp = follower_partition(tmp_path / "follower", 2)
        fetcher = await replicate(tmp_path, leader, fp)
        await fetcher.stop()

        def snapshot(ps: ProducerState) -> dict:
            return {pid: (e.epoch, list(e.batches)) for pid, e in ps.producers.items()}

        assert snapshot(fp.producer_state) == snapshot(leader.producer_state)
        assert set(fp.producer_state.producers) == {1000, 2000}
        # A retried batch is recognised as a duplicate on the follower: idempotence survives failover.
        from pystream.storage.producer_state import SequenceCheck
        last = fp.producer_state.producers[1000].batches[-1]
        assert fp.producer_state.check(1000, 5, last.first_seq, 4) == (SequenceCheck.DUPLICATE, last.first_offset)
        fp.log.close()
        await leader.close()

    run(main())


def test_not_leader_reports_and_backs_off(tmp_path):
    async def main():
        leader = Leader(tmp_path / "leader", epoch=1)
        leader.append(batch(0, [b"a"]))
        leader.not_leader = True
        port = await leader.start()
        fp = follower_partition(tmp_path / "follower", 1)
        errors = []
        fetcher = ReplicaFetcher(2, "127.0.0.1", port, {(TOPIC, 0): fp}, max_wait_ms=50, backoff_ms=50,
                                 on_error=lambda tp, code, msg: errors.append((tp, code)))
        fetcher.start()
        await wait_until(lambda: len(errors) >= 2)
        assert errors[0] == ((TOPIC, 0), 6)
        n = len(leader.requests)
        await asyncio.sleep(0.02)
        assert len(leader.requests) <= n + 1  # backing off, not spinning
        leader.not_leader = False
        await wait_until(lambda: fp.log.end_offset == 1)
        await fetcher.stop()
        fp.log.close()
        await leader.close()

    run(main())


def test_a_back_off_that_ends_before_the_fetcher_idles_is_not_waited_on(tmp_path):
    # The fetch loop saw every partition backing off, then (preempted under load) reached its
    # idle wait after the last back-off had ended: it must fetch again, not wait for a wakeup
    # nobody sends (a follower then silently left the ISR for good).
    async def main():
        fp = follower_partition(tmp_path / "follower", 1)
        fetcher = ReplicaFetcher(2, "127.0.0.1", 1, {(TOPIC, 0): fp}, backoff_ms=50)
        fp.delayed_until = time.monotonic() - 0.001
        await asyncio.wait_for(fetcher._idle(), 1)  # returns at once
        fp.delayed_until = time.monotonic() + 0.05
        t0 = time.monotonic()
        await asyncio.wait_for(fetcher._idle(), 1)  # waits out the back-off, no longer
        assert 0.03 <= time.monotonic() - t0 < 0.9
        fp.log.close()

    run(main())


def test_fenced_epoch_goes_back_to_truncation(tmp_path):
    async def main():
        leader = Leader(tmp_path / "leader", epoch=5)
        leader.append(batch(0, [b"a"] * 5))
        port = await leader.start()
        fp = follower_partition(tmp_path / "follower", 4)  # stale epoch
        errors = []
        fetcher = ReplicaFetcher(2, "127.0.0.1", port, {(TOPIC, 0): fp}, max_wait_ms=50, backoff_ms=20,
                                 on_error=lambda tp, code, msg: errors.append(code))
        fetcher.start()
        await wait_until(lambda: 74 in errors)
        assert fp.log.end_offset == 0
        fp.leader_epoch = 5  # the controller told us the new epoch
        fetcher.add_partitions({(TOPIC, 0): fp})
        await wait_until(lambda: fp.log.end_offset == 5)
        await fetcher.stop()
        fp.log.close()
        await leader.close()

    run(main())


def test_reconnects_after_leader_restart(tmp_path):
    async def main():
        leader = Leader(tmp_path / "leader", epoch=1)
        leader.append(batch(0, [b"a"] * 5))
        port = await leader.start()
        fp = follower_partition(tmp_path / "follower", 1)
        fetcher = ReplicaFetcher(2, "127.0.0.1", port, {(TOPIC, 0): fp}, max_wait_ms=50, backoff_ms=20)
        fetcher.start()
        await wait_until(lambda: fp.log.end_offset == 5)
        assert leader.server is not None
        leader.server.close()
        for t in list(asyncio.all_tasks()):  # drop the served connection too
            if t.get_coro().__name__ == "_serve":
                t.cancel()
        await asyncio.sleep(0.1)
        leader.server = await asyncio.start_server(leader._serve, "127.0.0.1", port)
        leader.append(batch(0, [b"b"] * 5))
        await wait_until(lambda: fp.log.end_offset == 10)
        await fetcher.stop()
        fp.log.close()
        await leader.close()

    run(main())


def test_connection_pipelining_and_errors(tmp_path):
    async def main():
        leader = Leader(tmp_path / "leader", epoch=1)
        leader.append(batch(0, [b"a"] * 3))
        port = await leader.start()
        conn = await BrokerConnection.connect("127.0.0.1", port)
        assert conn.version_for(1, 12) == 12
        body = {"replica_id": 2, "topics": [{"topic": TOPIC, "partitions": [
            {"partition": 0, "current_leader_epoch": 1, "leader_epoch": 1}]}]}
        rs = await asyncio.gather(*(conn.request(23, 4, body) for _ in range(20)))
        assert all(r["topics"][0]["partitions"][0]["end_offset"] == 3 for r in rs)
        await conn.close()
        try:
            await conn.request(23, 4, body)
        except ConnectionError as e:
            assert "closed" in str(e)
        else:
            raise AssertionError("request on a closed connection")
        await leader.close()
        try:
            await BrokerConnection.connect("127.0.0.1", port, timeout=2)
        except ConnectionError as e:
            assert str(port) in str(e)
        else:
            raise AssertionError("connected to a closed port")

    run(main())


def test_follower_below_leader_log_start_starts_over_there(tmp_path):
    """Kafka's truncateFullyAndStartAt: a follower whose log ends below the leader's log start
    (it was away while the leader deleted records) empties its log and fetches from that start."""
    async def main():
        leader = Leader(tmp_path / "leader", epoch=3)
        fp = follower_partition(tmp_path / "follower", 3)
        for i in range(0, 300, 10):
            b = batch(0, [b"v-%04d" % j for j in range(i, i + 10)])
            first = leader.append(b)
            if first < 50:  # the follower had the first 50 records, with the leader's epochs
                fp.log.append_raw(leader.log.read(first, 1 << 20, first + 10), assign_offsets=False)
        fp.epoch_cache.assign(3, 0)
        assert leader.log.delete_records_before(200) == 200
        fetcher = await replicate(tmp_path, leader, fp)
        assert (fp.log.start_offset, fp.log.end_offset) == (200, 300)
        assert fp.high_watermark == 300 and fp.state is FetchState.FETCHING
        assert bytes(fp.log.read(200, 1 << 20)) == bytes(leader.log.read(200, 1 << 20))
        assert [r.offset for r in fp.log.records(200, 3)] == [200, 201, 202]
        await fetcher.stop()
        fp.log.close()
        await leader.close()

    run(main())
