"""`pystream serve` writes its process id for scripts (<data-dir>/pystream.pid or --pid-file);
the tools name PYSTREAM_BOOTSTRAP_SERVER in their help."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from click.testing import CliRunner
from cli_helpers import Broker

from pystream.cli import main


def _wait_gone(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still running")


def test_pid_file_in_the_data_dir_stops_that_broker(tmp_path: Path) -> None:
    b = Broker(tmp_path)
    b.start()
    try:
        assert b.proc is not None
        pid_file = b.data_dir / "pystream.pid"
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(pid_file.read_text())
        assert pid == b.proc.pid
        os.kill(pid, signal.SIGTERM)  # what a stop script does
        assert b.proc.wait(15) == 0
        assert not pid_file.exists()  # removed at the clean shutdown
    finally:
        b.stop()


def test_pid_file_option(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "broker.pid"
    pid_file.parent.mkdir()
    b = Broker(tmp_path, extra_args=("--pid-file", str(pid_file)))
    b.start()
    try:
        assert b.proc is not None
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert int(pid_file.read_text()) == b.proc.pid
        assert not (b.data_dir / "pystream.pid").exists()
        b.stop()
        _wait_gone(b.proc.pid)
        assert not pid_file.exists()
    finally:
        b.stop()


def test_bootstrap_env_var_is_in_help_and_used(bootstrap: str) -> None:
    for command in (["topics", "list"], ["produce", "t"], ["consume", "t"], ["groups", "describe", "g"]):
        r = CliRunner().invoke(main, [*command, "--help"])
        assert "PYSTREAM_BOOTSTRAP_SERVER" in r.output, command
    r = CliRunner().invoke(main, ["topics", "list", "-q"], env={"PYSTREAM_BOOTSTRAP_SERVER": bootstrap})
    assert r.exit_code == 0, r.output
