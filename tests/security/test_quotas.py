"""Quotas with real clients: a producer over its byte-rate quota is throttled to
within 10% of it while another client's latency stays the same; a consumer's
fetch quota; a request quota mutes a chatty client (throttle_time_ms in its
responses); max.connections.per.ip; quotas set and shown with `pystream quotas`."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer

from pystream.protocol.codec import decode_response, encode_request
from pystream.protocol.schema_data import ApiKey

from .conftest import started, SecureBroker
from .raw import Raw

QUOTA = 1 << 20  # bytes per second
VALUE = 16 * 1024
# Short quota windows so the initial allowance ((samples - 1) windows of quota) passes quickly.
WINDOWS = {"quota.window.num": "4", "quota.window.size.seconds": "1"}


def quotas_cli(broker: SecureBroker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pystream.cli", "quotas", *args, "-b", broker.addr("PLAINTEXT")],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SecureBroker]:
    b = SecureBroker(tmp_path_factory.mktemp("quotas"), {"PLAINTEXT": "PLAINTEXT"},
                     {**WINDOWS, "message.max.bytes": str(4 << 20)})
    started(request, b)
    try:
        for args in (["--client-id", "throttled", "--add", f"producer_byte_rate={QUOTA}"],
                     ["--client-id", "slow-reader", "--add", f"consumer_byte_rate={QUOTA}"],
                     ["--client-id", "chatty", "--add", "request_percentage=0.1"]):
            r = quotas_cli(b, "alter", *args)
            assert r.returncode == 0, r.stderr
        yield b
    finally:
        b.stop()


def test_quotas_are_described(broker: SecureBroker) -> None:
    r = quotas_cli(broker, "describe")
    assert r.returncode == 0, r.stderr
    assert "client-id=throttled" in r.stdout and "producer_byte_rate" in r.stdout and "1048576" in r.stdout
    r = quotas_cli(broker, "describe", "--client-id", "chatty")
    assert "request_percentage" in r.stdout and "throttled" not in r.stdout
    r = quotas_cli(broker, "alter", "--client-id", "x", "--add", "bogus_rate=1")
    assert r.returncode == 1 and "unknown quota key" in r.stderr


def _latencies(bootstrap: str, stop: threading.Event, out: list[float]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "client.id": "bystander", "linger.ms": 0})
    while not stop.is_set():
        t0 = time.perf_counter()
        p.produce("bystander", b"x" * 100)
        p.flush(10)
        out.append(time.perf_counter() - t0)
        time.sleep(0.02)


@pytest.mark.deadline(90)
def test_producer_is_throttled_to_its_quota_and_others_are_not(broker: SecureBroker) -> None:
    # The bystander's latency alone, then while the throttled producer floods.
    baseline: list[float] = []
    stop = threading.Event()
    t = threading.Thread(target=_latencies, args=(broker.addr("PLAINTEXT"), stop, baseline))
    t.start()
    time.sleep(3)
    stop.set()
    t.join()

    during: list[float] = []
    stop = threading.Event()
    bystander = threading.Thread(target=_latencies, args=(broker.addr("PLAINTEXT"), stop, during))
    acked: list[tuple[float, int]] = []
    # Batches of 64 KiB: with Kafka's formula, a throttle per request of B bytes settles the rate within
    # about B / (quota x window) of the quota (a 1 MiB batch against a 4 s window would overshoot ~20%).
    p = Producer({"bootstrap.servers": broker.addr("PLAINTEXT"), "client.id": "throttled", "linger.ms": 5,
                  "batch.size": 64 * 1024, "queue.buffering.max.kbytes": 4096})
    value = b"q" * VALUE

    def on_delivery(err: object, msg: object) -> None:
        if err is None:
            acked.append((time.monotonic(), VALUE))

    start = time.monotonic()
    bystander.start()
    try:
        while time.monotonic() - start < 14:
            try:
                p.produce("throttled", value, on_delivery=on_delivery)
            except BufferError:  # the local queue is full: the broker is holding us back
                p.poll(0.05)
            p.poll(0)
    finally:
        stop.set()
        bystander.join()
        p.flush(30)
    # Steady state: after the initial allowance has been spent ((samples - 1) windows).
    window = [b for ts, b in acked if start + 6 <= ts < start + 14]
    rate = sum(window) / 8.0
    p50_base, p50_during = statistics.median(baseline), statistics.median(during)
    print(f"throttled producer at {rate / QUOTA:.3f} x its quota; bystander p50 {p50_base * 1000:.2f} ms alone, "
          f"{p50_during * 1000:.2f} ms beside it")
    assert abs(rate - QUOTA) / QUOTA <= 0.10, f"throttled producer at {rate / QUOTA:.2f} x its quota"
    assert p50_during <= 2 * p50_base + 0.005, f"bystander p50 {p50_during * 1000:.1f} ms vs {p50_base * 1000:.1f} ms alone"


@pytest.mark.deadline(90)
def test_consumer_is_throttled_to_its_fetch_quota(broker: SecureBroker) -> None:
    total = 8 * QUOTA
    p = Producer({"bootstrap.servers": broker.addr("PLAINTEXT"), "linger.ms": 5, "batch.size": 1 << 20})
    for _ in range(total // VALUE):
        p.produce("to-read", b"r" * VALUE)
    assert p.flush(60) == 0
    c = Consumer({"bootstrap.servers": broker.addr("PLAINTEXT"), "client.id": "slow-reader", "group.id": "slow",
                  "auto.offset.reset": "earliest", "fetch.max.bytes": 1 << 20, "max.partition.fetch.bytes": 1 << 20})
    got = 0
    start = time.monotonic()
    try:
        c.subscribe(["to-read"])
        while got < total and time.monotonic() - start < 60:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got += len(m.value())
    finally:
        c.close()
    elapsed = time.monotonic() - start
    assert got == total
    # 3 windows of allowance, then 1 MiB/s: at least ~5 s for 8 MiB (unthrottled this takes well under 1 s).
    assert elapsed >= 0.9 * (total - 3 * QUOTA) / QUOTA, f"8 MiB read in {elapsed:.1f} s"


def test_request_quota_mutes_a_chatty_client(broker: SecureBroker) -> None:
    """request_percentage=0.1: a client sending Metadata requests back to back spends more than 0.1% of
    the loop's time; it gets throttle_time_ms and its next request waits that long (the connection is muted)."""
    throttle = 0
    with Raw(broker.ports["PLAINTEXT"]) as raw:
        deadline = time.monotonic() + 30
        i = 0
        while throttle < 200 and time.monotonic() < deadline:  # a throttle long enough to measure on a busy machine
            i += 1
            raw.sock.sendall(b"".join(bytes(x) for x in encode_request(ApiKey.METADATA, 9, i, "chatty",
                                                                        {"topics": None, "allow_auto_topic_creation": False})))
            frame = raw.recv_frame()
            assert frame is not None
            throttle = decode_response(ApiKey.METADATA, 9, frame)[1]["throttle_time_ms"]
        assert throttle >= 200, f"a client at 0.1% of a thread was throttled {throttle} ms at most after {i} requests"
        t0 = time.monotonic()
        raw.sock.sendall(b"".join(bytes(x) for x in encode_request(ApiKey.API_VERSIONS, 0, i + 1, "chatty", {})))
        assert raw.recv_frame() is not None
        assert time.monotonic() - t0 >= 0.5 * throttle / 1000, "the throttled connection was not muted"
    with Raw(broker.ports["PLAINTEXT"]) as raw:  # another client id: not throttled
        resp = raw.request(ApiKey.METADATA, 9, {"topics": None, "allow_auto_topic_creation": False})
        assert resp is not None and resp["throttle_time_ms"] == 0


def test_max_connections_per_ip(secure_broker) -> None:
    b = secure_broker({"PLAINTEXT": "PLAINTEXT"}, **{"max.connections.per.ip": "3"})
    port = b.ports["PLAINTEXT"]
    held = [Raw(port) for _ in range(3)]
    try:
        for r in held:
            assert r.request(ApiKey.API_VERSIONS, 0, {}) is not None
        with Raw(port) as extra:
            assert extra.request(ApiKey.API_VERSIONS, 0, {}) is None  # refused: closed at once
        held.pop().sock.close()
        time.sleep(0.3)
        with Raw(port) as again:
            assert again.request(ApiKey.API_VERSIONS, 0, {}) is not None
    finally:
        for r in held:
            r.sock.close()
    assert "max.connections.per.ip=3 reached for 127.0.0.1" in b.log_tail(20)
