"""A real ZooKeeper server for the cluster tests.

One standalone server (Debian's `zookeeper` package) per test session, on a
free port with a temporary data dir; each test gets its own chroot, so tests do
not see each other's znodes. Skipped only when java or the ZooKeeper jar is
missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
# /usr/share/java/* brings ZooKeeper's dependencies (slf4j, netty, jute, ...).
ZK_CLASSPATH = f"/etc/zookeeper/conf:{ZK_JAR}:/usr/share/java/*"
ZK_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
TICK_MS = 200  # short ticks: session timeouts negotiate down to 0.4-4 s
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    """Poll ``cond`` until truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """"127.0.0.1:<port>" of a running ZooKeeper server."""
    java = shutil.which("java")
    if java is None or not ZK_JAR.exists():
        pytest.skip("ZooKeeper not installed: apt-get install zookeeper; .ci/run installs it")
    from kazoo.client import KazooClient
    from kazoo.handlers.threading import KazooTimeoutError

    data = tmp_path_factory.mktemp("zookeeper")
    port = _free_port()
    log = open(data / "zookeeper.log", "wb")
    proc = subprocess.Popen(
        [java, "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-cp", ZK_CLASSPATH, ZK_MAIN, str(port), str(data / "data"), str(TICK_MS)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ZOO_LOG_DIR": str(data)},
    )
    hosts = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"ZooKeeper exited with {proc.returncode}: "
                            f"{(data / 'zookeeper.log').read_text(errors='replace')[-2000:]}")
            client = KazooClient(hosts=hosts)
            try:
                client.start(timeout=1.0)
                client.get_children("/")
                break
            except KazooTimeoutError:
                if time.monotonic() > deadline:
                    pytest.fail(f"ZooKeeper did not answer on {hosts} within {START_TIMEOUT} s")
            finally:
                client.stop()
                client.close()
        yield hosts
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def zk_connect(zk_server: str) -> str:
    """A connect string with a chroot unique to this test."""
    return f"{zk_server}/pystream-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_store(zk_connect: str) -> Iterator[Callable[..., object]]:
    """Factory of ClusterStore sessions on this test's chroot; all closed at teardown."""
    from pystream.cluster import ClusterStore

    stores: list[ClusterStore] = []

    def make(**kwargs: object) -> ClusterStore:
        store = ClusterStore(zk_connect, timeout=5.0, session_timeout=2.0, **kwargs)  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield make
    for store in stores:
        try:
            store.close()
        except Exception:  # already closed
            pass
