"""Limits of a real broker process: memory held by requests being received, idle
connections, running out of file descriptors, and thousands of partitions."""

from __future__ import annotations

import os
import resource
import socket
import struct
import time
from pathlib import Path

import pytest
from compat_helpers import RawClient, confluent_roundtrip_check

from pystream.protocol.error_codes import ErrorCode

MB = 1 << 20


def _rss_anon(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon")


def _attack(port: int, announced: int, sent: int) -> socket.socket:
    """A connection that announces a request of `announced` bytes and sends `sent` of them."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    payload = struct.pack(">i", announced) + b"\0" * sent
    view = memoryview(payload)
    deadline = time.monotonic() + 20
    while view and time.monotonic() < deadline:
        try:
            n = s.send(view)
            view = view[n:]
        except BlockingIOError:  # the broker does not read it (yet): its bytes wait in the kernel
            break
    return s


@pytest.mark.deadline(120)
def test_half_sent_huge_requests_hold_bounded_memory_and_others_are_served(broker_factory) -> None:
    # Eight connections each announce a 60 MB request and send all but one byte: with
    # queued.max.request.bytes=64 MB only one of them is buffered by the broker.
    b = broker_factory(**{"queued.max.request.bytes": str(64 * MB), "socket.request.max.bytes": str(100 * MB),
                          "connections.max.idle.ms": "8000"})
    before = _rss_anon(b.proc.pid)
    attackers = [_attack(b.port, 60 * MB, 60 * MB - 1) for _ in range(8)]
    try:
        time.sleep(2)
        grown = _rss_anon(b.proc.pid) - before
        assert grown < 200 * MB, f"the broker buffered {grown / MB:.0f} MB of unfinished requests"
        confluent_roundtrip_check(b.bootstrap)  # everyone else is still served
        # The stalled connections are closed once idle for connections.max.idle.ms.
        deadline = time.monotonic() + 30
        closed = 0
        for s in attackers:
            s.setblocking(True)
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while s.recv(65536):
                    pass
                closed += 1
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            except socket.timeout:
                pass
        assert closed == len(attackers), f"only {closed} of {len(attackers)} stalled connections were closed"
    finally:
        for s in attackers:
            s.close()
    assert b.alive()


def test_idle_connection_is_closed(broker_factory) -> None:
    b = broker_factory(**{"connections.max.idle.ms": "1000"})
    with RawClient(b.host, b.port) as c:
        c.request(18, 0, {})  # ApiVersions: the connection works
        assert c.closed_by_peer(timeout=10), "an idle connection outlived connections.max.idle.ms"


@pytest.mark.skipif(os.geteuid() != 0, reason="lowering another process's file-descriptor limit (prlimit) needs root; "
                    ".ci/run runs as root")
@pytest.mark.deadline(120)
def test_out_of_file_descriptors_answers_storage_error_not_a_timeout(broker) -> None:
    from pystream.protocol.client import KafkaClient, KafkaError

    topics = [f"fd{i}" for i in range(60)]
    with KafkaClient(broker.bootstrap) as client:
        client.create_topics([{"name": t, "num_partitions": 1, "replication_factor": 1} for t in topics])
        pid = broker.proc.pid
        open_fds = len(os.listdir(f"/proc/{pid}/fd"))
        # Room for a few more partitions (a descriptor each, plus what opening one needs briefly).
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (open_fds + 20, open_fds + 20))
        from pystream._core import encode_batch

        records = encode_batch([(0, None, b"v", None)])
        errors = []
        t0 = time.monotonic()
        for t in topics:
            try:
                client.produce(t, 0, records, acks=-1)
                errors.append(ErrorCode.NONE)
            except KafkaError as e:
                errors.append(e.code)
        took = time.monotonic() - t0
    assert took < 30, f"produce requests took {took:.0f} s: they should fail at once, not time out"
    assert ErrorCode.KAFKA_STORAGE_ERROR in errors, f"no storage error among {errors}"
    assert ErrorCode.NONE in errors
    assert set(errors) <= {ErrorCode.NONE, ErrorCode.KAFKA_STORAGE_ERROR}, errors
    assert broker.alive()


@pytest.mark.deadline(300)
def test_thousands_of_partitions_create_serve_and_restart(broker) -> None:
    """3,000 single-partition topics: one batched CreateTopics, Metadata of all, a produce and
    consume round over every partition, a clean restart that keeps them all."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    n = 3000
    names = [f"many{i:04d}" for i in range(n)]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    t0 = time.monotonic()
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in names], request_timeout=60, operation_timeout=60).values():
        f.result(60)
    created_s = time.monotonic() - t0
    assert created_s < 60, f"creating {n} topics took {created_s:.0f} s"
    assert set(names) <= set(admin.list_topics(timeout=30).topics)

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True})
    for t in names:
        p.produce(t, t.encode(), partition=0)
    assert p.flush(120) == 0

    broker.restart()  # clean shutdown of 3,000 open partitions, then start-up

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "many", "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 0) for t in names])
    got: dict[str, bytes] = {}
    deadline = time.monotonic() + 120
    while len(got) < n and time.monotonic() < deadline:
        for m in c.consume(1000, 1.0):
            assert m.error() is None, m.error()
            got[m.topic()] = m.value()
    c.close()
    assert got == {t: t.encode() for t in names}
