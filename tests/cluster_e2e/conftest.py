"""End-to-end cluster tests: real ZooKeeper and real `pystream serve` processes.

One ZooKeeper server per test session (Debian's `zookeeper` package, a short
tick so sessions can time out in a few seconds); each test gets its own
chroot, its own brokers on free loopback ports and its own data dirs. The
`cluster` fixture starts/stops/kills/pauses brokers by id; at teardown it
SIGCONTs and terminates everything it started (SIGKILL after a grace period).
Broker stderr goes to `<tmp>/broker-<id>.log`; when a test fails, the tail of
each log is printed (pytest shows it with the failure report).

Skipped only when java or the ZooKeeper jar is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
ZK_CLASSPATH = f"/etc/zookeeper/conf:{ZK_JAR}:/usr/share/java/*"
ZK_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
ZK_TICK_MS = 200
SKIP_REASON = "ZooKeeper not installed: apt-get install zookeeper; .ci/run installs it"

# Broker settings that make failure detection and recovery fast enough for tests.
FAST_OVERRIDES = {
    "group.initial.rebalance.delay.ms": "0",
    "replica.lag.time.max.ms": "2000",
    "zookeeper.session.timeout.ms": "4000",
    "offsets.topic.num.partitions": "3",
    "offsets.topic.replication.factor": "3",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll `cond` until it returns something truthy (exceptions count as falsy); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as e:  # a broker may be restarting
            last_exc = e
        if time.monotonic() > deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            pytest.fail(f"{what} not met within {timeout} s{extra}")
        time.sleep(interval)


def _zk_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"ruok")
            return s.recv(16) == b"imok"
    except OSError:
        return False


def _zk_session_ok(hosts: str) -> bool:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts)
    try:
        client.start(timeout=1.0)
        client.get_children("/")
        return True
    except Exception:
        return False
    finally:
        try:
            client.stop()
            client.close()
        except Exception:
            pass


ZK_PROCS: dict[str, subprocess.Popen[bytes]] = {}  # hosts -> the ZooKeeper server process (fault tests pause it)


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """"127.0.0.1:<port>" of a running ZooKeeper server."""
    java = shutil.which("java")
    if java is None or not ZK_JAR.exists():
        pytest.skip(SKIP_REASON)
    data = tmp_path_factory.mktemp("zookeeper")
    port = free_port()
    log = open(data / "zookeeper.log", "wb")
    proc = subprocess.Popen(
        [java, "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-cp", ZK_CLASSPATH, ZK_MAIN, str(port), str(data / "data"), str(ZK_TICK_MS)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ZOO_LOG_DIR": str(data)},
        start_new_session=True,
    )
    hosts = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _zk_session_ok(hosts):
            if proc.poll() is not None:
                pytest.fail(f"ZooKeeper exited with {proc.returncode}: "
                            f"{(data / 'zookeeper.log').read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"ZooKeeper did not answer on {hosts} within 30 s")
            time.sleep(0.2)
        ZK_PROCS[hosts] = proc
        yield hosts
    finally:
        ZK_PROCS.pop(hosts, None)
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=10)
        log.close()


class Broker:
    """One `pystream serve` subprocess (restartable on the same data dir and port)."""

    def __init__(self, broker_id: int, port: int, data_dir: Path, log_path: Path, zk: str,
                 overrides: dict[str, str]) -> None:
        self.id = broker_id
        self.port = port
        self.data_dir = data_dir
        self.log_path = log_path
        self.zk = zk
        self.overrides = overrides
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"broker {self.id} already running"
        cmd = [sys.executable, "-m", "pystream.cli", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--broker-id", str(self.id), "--zookeeper", self.zk]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        self.paused = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def listening(self) -> bool:
        if not self.alive():
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL (no clean shutdown, no ZooKeeper session close)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.paused = False

    def pause(self) -> None:
        assert self.alive()
        self.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Cluster:
    """Brokers of one test, on one ZooKeeper chroot."""

    def __init__(self, zk: str, root: Path) -> None:
        self.zk = zk
        self.root = root
        self.brokers: dict[int, Broker] = {}

    # ----- lifecycle ---------------------------------------------------------------------

    def add_broker(self, broker_id: int, start: bool = True, **overrides: str) -> Broker:
        merged = {**FAST_OVERRIDES, **{k.replace("_", "."): v for k, v in overrides.items()}}
        b = Broker(broker_id, free_port(), self.root / f"data-{broker_id}", self.root / f"broker-{broker_id}.log",
                   self.zk, merged)
        self.brokers[broker_id] = b
        if start:
            b.start()
        return b

    def start(self, n: int = 3, timeout: float = 30.0) -> Cluster:
        for i in range(1, n + 1):
            self.add_broker(i)
        self.wait_brokers(list(self.brokers), timeout)
        return self

    def wait_brokers(self, ids: list[int], timeout: float = 30.0) -> None:
        """Every broker in `ids` listening and registered in the cluster metadata."""
        def ok() -> bool:
            for i in ids:
                b = self.brokers[i]
                if not b.alive():
                    pytest.fail(f"broker {i} exited with {b.proc.returncode if b.proc else '?'}:\n{b.log_tail()}")
                if not b.listening():
                    return False
            return set(ids) <= set(self.metadata()["brokers"])
        wait_until(ok, timeout, what=f"brokers {ids} up and registered")

    def restart(self, broker_id: int, timeout: float = 30.0) -> None:
        b = self.brokers[broker_id]
        b.kill()
        b.start()
        self.wait_brokers([broker_id], timeout)

    def shutdown(self) -> None:
        for b in self.brokers.values():
            b.resume()
        for b in self.brokers.values():
            if b.proc is not None and b.proc.poll() is None:
                b.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for b in self.brokers.values():
            if b.proc is None:
                continue
            try:
                b.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                b.proc.kill()
                b.proc.wait(timeout=10)

    # ----- views -------------------------------------------------------------------------

    def live(self) -> list[Broker]:
        return [b for b in self.brokers.values() if b.alive() and not b.paused]

    @property
    def bootstrap(self) -> str:
        """Bootstrap list of every broker (clients skip the dead ones)."""
        return ",".join(b.address for b in self.brokers.values())

    def live_bootstrap(self) -> str:
        return ",".join(b.address for b in self.live())

    def client(self, timeout: float = 5.0) -> Any:
        from pystream.protocol.client import KafkaClient

        return KafkaClient(self.live_bootstrap(), timeout=timeout, retries=3)

    def metadata(self, topics: list[str] | None = None) -> dict[str, Any]:
        """{"brokers": {id: addr}, "controller": id, "topics": {name: {p: {"leader", "replicas", "isr", "error"}}}}.

        Asked of one live (not paused) broker.
        """
        last: BaseException | None = None
        for b in self.live():
            from pystream.protocol.client import KafkaClient

            try:
                with KafkaClient(b.address, timeout=3.0, retries=0) as c:
                    resp = c.metadata(topics)
            except Exception as e:
                last = e
                continue
            out: dict[str, Any] = {"brokers": {x["node_id"]: f"{x['host']}:{x['port']}" for x in resp["brokers"]},
                                   "controller": resp.get("controller_id"), "topics": {}}
            for t in resp["topics"]:
                out["topics"][t["name"]] = {p["partition_index"]: {
                    "leader": p["leader_id"], "replicas": list(p["replica_nodes"]), "isr": list(p["isr_nodes"]),
                    "error": p["error_code"]} for p in t["partitions"]}
            return out
        raise RuntimeError(f"no live broker answered Metadata: {last!r}")

    def partitions(self, topic: str) -> dict[int, dict[str, Any]]:
        return self.metadata([topic])["topics"].get(topic, {})

    def leader(self, topic: str, partition: int) -> int:
        return int(self.partitions(topic)[partition]["leader"])

    def create_topic(self, name: str, partitions: int = 1, rf: int = 3, configs: dict[str, str] | None = None,
                     timeout: float = 20.0) -> None:
        with self.client() as c:
            c.create_topic(name, partitions, rf, configs or {})
        self.wait_isr_full(name, timeout)

    def wait_isr_full(self, topic: str, timeout: float = 20.0, what: str | None = None) -> dict[int, dict[str, Any]]:
        """Every partition of `topic` has a live leader and ISR == replicas."""
        def ok() -> Any:
            parts = self.partitions(topic)
            if not parts:
                return None
            for p in parts.values():
                if p["error"] or p["leader"] < 0 or sorted(p["isr"]) != sorted(p["replicas"]):
                    return None
            return parts
        return wait_until(ok, timeout, what=what or f"{topic}: full ISR on every partition")

    def zk_get(self, path: str) -> Any:
        """The JSON value of a znode under this cluster's chroot (None when it does not exist)."""
        import json

        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.zk)
        client.start(timeout=10)
        try:
            if client.exists(path) is None:
                return None
            data, _ = client.get(path)
            return json.loads(data.decode()) if data else None
        finally:
            client.stop()
            client.close()

    def zk_state(self, topic: str, partition: int) -> dict[str, Any]:
        """The partition's leader/ISR znode as ZooKeeper holds it."""
        return self.zk_get(f"/brokers/topics/{topic}/partitions/{partition}/state")

    def logs(self, lines: int = 40) -> str:
        out = []
        for b in self.brokers.values():
            state = "running" if b.alive() else f"exited {b.proc.returncode if b.proc else '-'}"
            out.append(f"----- broker {b.id} ({b.address}, {state}{', paused' if b.paused else ''}) "
                       f"{b.log_path} -----\n{b.log_tail(lines)}")
        return "\n".join(out)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def cluster(zk_server: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A Cluster on a fresh chroot (no broker started: call `cluster.start(3)`)."""
    c = Cluster(f"{zk_server}/pystream-e2e-{uuid.uuid4().hex[:10]}", tmp_path)
    try:
        yield c
    finally:
        rep = getattr(request.node, "rep_call", None)
        failed = rep is not None and rep.failed
        c.shutdown()
        if failed:
            print(f"\n===== broker log tails (test failed) =====\n{c.logs()}", file=sys.stderr)
