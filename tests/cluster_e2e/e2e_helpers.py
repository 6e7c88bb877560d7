"""Client-side helpers of the end-to-end cluster tests (real librdkafka clients)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

confluent_kafka = __import__("pytest").importorskip("confluent_kafka")


def make_value(seq: int) -> bytes:
    return b"seq-%08d" % seq


def parse_value(value: bytes) -> int:
    assert value.startswith(b"seq-"), value
    return int(value[4:])


class ProducerRun:
    """An idempotent acks=all producer sending `seq-N` values round-robin over partitions in a thread.

    Delivery callbacks record what was acknowledged: `acked[(partition, offset)] = seq`
    and `acked_seq[seq] = (partition, offset)`; failures go to `failed[seq] = error`.
    Sends at most `limit` records, paced at about `rate` per second, until `stop()`.
    """

    def __init__(self, bootstrap: str, topic: str, partitions: int, limit: int = 4000, rate: float = 400.0,
                 only_partition: int | None = None, **config: Any) -> None:
        conf = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60000,
            "retry.backoff.ms": 100,
            "socket.timeout.ms": 5000,
            "metadata.max.age.ms": 2000,
            "topic.metadata.refresh.interval.ms": 1000,
            **config,
        }
        if os.environ.get("E2E_RDKAFKA_DEBUG"):  # e.g. eos,protocol: librdkafka's log on stderr
            conf["debug"] = os.environ["E2E_RDKAFKA_DEBUG"]
        self.producer = confluent_kafka.Producer(conf)
        self.topic = topic
        self.partitions = partitions
        self.only_partition = only_partition  # every record to this partition (else round robin)
        self.limit = limit
        self.rate = rate
        self.sent = 0
        self.acked: dict[tuple[int, int], int] = {}
        self.ack_times: list[float] = []  # time.monotonic() of every acknowledgement, in order
        self.acked_seq: dict[int, tuple[int, int]] = {}
        self.failed: dict[int, str] = {}
        self.fatal: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"producer-{topic}", daemon=True)

    def start(self) -> ProducerRun:
        self._thread.start()
        return self

    def _on_delivery(self, err: Any, msg: Any) -> None:
        seq = parse_value(msg.value())
        with self._lock:
            if err is not None:
                self.failed[seq] = str(err)
                if err.fatal():
                    self.fatal.append(str(err))
            else:
                key = (msg.partition(), msg.offset())
                assert key not in self.acked, f"offset {key} acknowledged twice ({self.acked[key]} and {seq})"
                self.acked[key] = seq
                self.acked_seq[seq] = key
                self.ack_times.append(time.monotonic())

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_t = time.monotonic()
        while not self._stop.is_set() and self.sent < self.limit:
            seq = self.sent
            try:
                partition = seq % self.partitions if self.only_partition is None else self.only_partition
                self.producer.produce(self.topic, make_value(seq), partition=partition, on_delivery=self._on_delivery)
            except BufferError:
                self.producer.poll(0.05)
                continue
            self.sent += 1
            self.producer.poll(0)
            next_t += interval
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.producer.poll(0)

    def wait_acked(self, count: int, timeout: float = 30.0) -> None:
        """Until at least `count` more records are acknowledged than now (or fail)."""
        with self._lock:
            target = len(self.acked) + count
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.acked) >= target:
                    return
            time.sleep(0.05)
        raise AssertionError(f"producer: fewer than {count} new acks within {timeout} s "
                             f"(sent {self.sent}, acked {len(self.acked)}, failed {len(self.failed)}: "
                             f"{list(self.failed.values())[:3]})")

    def stop(self, flush_timeout: float = 60.0) -> int:
        """Stop sending, flush; returns the number of records still unresolved."""
        self._stop.set()
        self._thread.join(timeout=30)
        return self.producer.flush(flush_timeout)

    def acked_by_partition(self) -> dict[int, list[tuple[int, int]]]:
        """partition -> [(offset, seq)] sorted by offset."""
        out: dict[int, list[tuple[int, int]]] = defaultdict(list)
        with self._lock:
            for (p, off), seq in self.acked.items():
                out[p].append((off, seq))
        return {p: sorted(v) for p, v in out.items()}


def read_partitions(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0) -> dict[int, list[tuple[int, int]]]:
    """Every record of `topic` from the beginning up to the high watermark: partition -> [(offset, seq)]."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.monotonic_ns()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": False, "socket.timeout.ms": 5000})
    try:
        highs = {}
        deadline = time.monotonic() + timeout
        for p in range(partitions):
            while (marks := c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)) is None:
                if time.monotonic() > deadline:  # (None: no answer in time, e.g. the leader just moved)
                    raise AssertionError(f"no watermarks for {topic}-{p} within {timeout} s")
            highs[p] = marks[1]
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out: dict[int, list[tuple[int, int]]] = {p: [] for p in range(partitions)}
        done = {p for p in range(partitions) if highs[p] == 0}
        deadline = time.monotonic() + timeout
        while len(done) < partitions:
            if time.monotonic() > deadline:
                raise AssertionError(f"read of {topic} incomplete after {timeout} s: "
                                     f"{ {p: (len(out[p]), highs[p]) for p in range(partitions)} }")
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise AssertionError(f"consumer error: {msg.error()}")
            p = msg.partition()
            out[p].append((msg.offset(), parse_value(msg.value())))
            if msg.offset() + 1 >= highs[p]:
                done.add(p)
        return out
    finally:
        c.close()


def check_exactly_once(run: ProducerRun, read: dict[int, list[tuple[int, int]]]) -> dict[str, int]:
    """Every acknowledged record is in the log exactly once, at its acknowledged offset, in seq order per partition."""
    acked = run.acked_by_partition()
    problems = []
    total_read = 0
    for p, records in read.items():
        total_read += len(records)
        seqs = [s for _, s in records]
        offsets = [o for o, _ in records]
        dupes = {s for s, n in Counter(seqs).items() if n > 1}
        if dupes:
            problems.append(f"partition {p}: duplicated seqs {sorted(dupes)[:10]}")
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            problems.append(f"partition {p}: offsets not strictly increasing")
        if seqs != sorted(seqs):
            bad = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
            problems.append(f"partition {p}: out of order at offset {offsets[bad]}: {seqs[bad - 1]} then {seqs[bad]}")
        at = dict(records)
        for off, seq in acked.get(p, []):
            if at.get(off) != seq:
                problems.append(f"partition {p}: acked seq {seq} at offset {off}, log has {at.get(off)!r}"
                                + ("" if seq in seqs else " (seq missing from log: LOST)"))
                if len(problems) > 20:
                    break
    assert not problems, "\n".join(problems[:30])
    return {"acked": len(run.acked), "read": total_read, "failed": len(run.failed)}


def replica_records(data_dir: Path, topic: str, partition: int, upto: int | None = None) -> tuple[int, bytes, list[Any]]:
    """A stopped broker's replica: (log start offset, the batches' bytes up to `upto` (default:
    the log end), the records)."""
    from pystream.storage.log import Log

    with Log.open(data_dir / f"{topic}-{partition}") as log:
        end = log.end_offset if upto is None else min(upto, log.end_offset)
        data = bytes(log.read(log.start_offset, 1 << 30, end)) if end > log.start_offset else b""
        return log.start_offset, data, log.records(log.start_offset, max_offset=end)
