"""Helpers of the CLI tests: a real `pystream serve` child process and a CliRunner wrapper."""

from __future__ import annotations

import itertools
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner, Result

from pystream.cli import main

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
_names = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{time.monotonic_ns() % 1_000_000}"


class Broker:
    """`python -m pystream.cli serve` on a free port; start() waits for the port, stop() sends SIGTERM."""

    def __init__(self, base: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = base / "data"
        self.log_path = base / "broker.log"
        self.port = port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "pystream.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
               "--override", "group.initial.rebalance.delay.ms=0", "--log-level", "WARNING", *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait(5)
        raise RuntimeError(f"broker did not listen within {START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def cli(bootstrap: str, *args: str, input: str | bytes | None = None) -> Result:
    """Run `pystream ARGS -b BOOTSTRAP` in process; stdout and stderr stay separate."""
    return CliRunner().invoke(main, [*args, "-b", bootstrap], input=input, catch_exceptions=False)
