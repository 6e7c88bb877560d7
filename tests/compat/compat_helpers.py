"""Helpers for the compatibility tests, shared by conftest.py and the test files:
BrokerProcess (a real `pystream serve` child process), topic creation, kcat
lookup and a confluent-kafka "broker still serves" round trip.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

# Small group delays so consumer groups form quickly; everything else is Kafka's default.
BASE_OVERRIDES = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class BrokerProcess:
    """One `pystream serve` child process on a fixed port and data dir (both survive restarts)."""

    host = "127.0.0.1"

    def __init__(self, base: Path, overrides: dict[str, str] | None = None) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.data_dir = base / "data"
        self.log_path = base / "broker.log"
        self.port = free_port()
        self.overrides = {**BASE_OVERRIDES, **(overrides or {})}
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "pystream.cli", "serve", "--host", self.host, "--port", str(self.port),
               "--data-dir", str(self.data_dir)]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        return cmd

    def start(self, timeout: float = START_TIMEOUT) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts} {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            if port_open(self.host, self.port):
                return
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"broker did not accept connections within {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise RuntimeError(f"broker ignored SIGTERM for {timeout}s; killed:\n{self.log_tail()}")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        rc = self.stop()
        assert rc == 0, f"clean shutdown should exit 0, got {rc}:\n{self.log_tail()}"
        self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------
# Small helpers shared by the client test files


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, timeout: float = 15.0) -> None:
    """Create a topic with the given partition count through the Admin API (confluent-kafka)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                              operation_timeout=timeout, request_timeout=timeout)[name]
    fut.result(timeout=timeout)
    # Wait until metadata shows all partitions.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            return
        time.sleep(0.1)
    raise TimeoutError(f"topic {name} with {partitions} partitions not visible in metadata")


class LogCollector(logging.Handler):
    """Collects a client's log lines (librdkafka's through the client's `logger`, kafka-python's)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def parse_failures(self) -> list[str]:
        """librdkafka's complaints about a response it cannot parse."""
        return [x for x in self.lines if "parse failure" in x.lower() or "MessageSetSize" in x]


def kcat_path() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.skip("kcat not installed: apt-get install kcat; .ci/run installs it")
    return path


def confluent_roundtrip_check(bootstrap: str, n: int = 20, timeout: float = 30.0) -> None:
    """Produce n records to a fresh topic and consume them back with confluent-kafka: the broker still works."""
    from confluent_kafka import Consumer, Producer

    topic = unique_topic("alive")
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": int(timeout * 1000)})
    for i in range(n):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
    assert p.flush(timeout) == 0, "producer could not deliver: broker not serving"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m.value())
        assert got == [b"v%d" % i for i in range(n)]
    finally:
        c.close()





# ---------------------------------------------------------------------------
# Raw Kafka protocol over a socket (pystream.protocol's codec)


class RawClient:
    """A blocking socket speaking size-prefixed Kafka frames; every read has a timeout."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.corr = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self.recv_exact(4))
        return self.recv_exact(size)

    def request(self, api_key: int, version: int, body: dict) -> dict:
        from pystream.protocol import decode_response, encode_request, join

        self.corr += 1
        self.send_raw(join(encode_request(api_key, version, self.corr, "compat-raw", body)))
        corr, resp = decode_response(api_key, version, self.recv_frame())
        assert corr == self.corr, f"correlation id {corr} != {self.corr}"
        return resp

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True if the broker closes the connection (EOF/reset) within timeout without sending anything."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return data == b""
