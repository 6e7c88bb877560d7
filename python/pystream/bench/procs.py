"""Servers in subprocesses for the benchmarks (brokers, ZooKeeper; always stopped), free ports, /proc readings."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
ZK_CLASSPATH = f"/etc/zookeeper/conf:{ZK_JAR}:/usr/share/java/*"

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class BenchError(RuntimeError):
    """A phase failed or timed out (the message says which and why)."""


def free_port() -> int:
    """A TCP port nothing listens on right now (bound, read and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def proc_rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """VmRSS (or another kB field of /proc/<pid>/status, e.g. RssAnon) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


class BrokerProcess:
    """A server (a broker, ZooKeeper) in a subprocess of its own session; ``stop()`` always ends it."""

    def __init__(self, name: str, cmd: list[str], port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.cmd = cmd
        self.port = port
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> BrokerProcess:
        """Start the process and return once its port accepts connections."""
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with code {self.proc.returncode} at start-up: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BenchError(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s: {self.log_tail()}")

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_bytes(self, field: str = "VmRSS") -> int:
        return proc_rss_bytes(self.pid, field)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean shutdown, which also writes a cProfile file), then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def pystream_broker(data_dir: Path, port: int, log_path: Path, cprofile: str | None = None, args: Sequence[str] = (),
                    name: str = "pystream broker") -> BrokerProcess:
    """``pystream serve`` on ``port`` (WARNING log level, no initial rebalance delay), plus ``args``."""
    prefix = [sys.executable] + (["-m", "cProfile", "-o", cprofile] if cprofile else [])
    cmd = [*prefix, "-m", "pystream.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
           "--log-level", "WARNING", "--override", "group.initial.rebalance.delay.ms=0", *args]
    return BrokerProcess(name, cmd, port, log_path)


def zookeeper_missing() -> str:
    """Why ZooKeeper cannot run here ("" when it can)."""
    if shutil.which("java") is None or not ZK_JAR.exists():
        return f"ZooKeeper not installed (java and {ZK_JAR}): apt-get install zookeeper"
    return ""


def start_zookeeper(data_dir: Path, log_path: Path, timeout: float = 30.0) -> BrokerProcess:
    """A standalone ZooKeeper on a free port (tick 200 ms) that serves sessions when this returns."""
    from kazoo.client import KazooClient

    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # "connection refused" until it listens
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = ["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-cp", ZK_CLASSPATH,
           "org.apache.zookeeper.server.ZooKeeperServerMain", str(port), str(data_dir), "200"]
    zk = BrokerProcess("ZooKeeper", cmd, port, log_path).start(timeout)
    client = KazooClient(hosts=zk.bootstrap)
    try:
        client.start(timeout=timeout)
        client.stop()
    except Exception as e:
        zk.stop()
        raise BenchError(f"ZooKeeper did not serve a session within {timeout:.0f} s ({e}): {zk.log_tail()}") from e
    finally:
        client.close()
    return zk
