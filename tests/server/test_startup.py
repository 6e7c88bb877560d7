"""`pystream serve` start-up errors: one clear line saying what to do, exit status 1, nothing written.

Each case runs the real command line in a child process. An unwritable log
directory is a read-only tmpfs when running as root (root ignores file
permissions), else a directory without write permission.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMEOUT = 60.0


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pystream.cli", "serve", "--host", "127.0.0.1", *args],
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_one_line_error(res: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, res.stderr
    for f in fragments:
        assert f in errors[0], errors[0]


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_port_in_use_writes_nothing(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        res = serve("--port", str(port), "--data-dir", str(tmp_path / "new-data"))
    assert_one_line_error(res, f"cannot listen on 127.0.0.1:{port}", "already in use", "choose another --port")
    assert not (tmp_path / "new-data").exists()  # was: 53 entries created before the bind failed
    with socket.socket() as holder:  # the metrics endpoint's port, bound later, is checked first too
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        metrics = holder.getsockname()[1]
        res = serve("--port", str(free_port()), "--data-dir", str(tmp_path / "new-data"), "--override", f"metrics.port={metrics}")
    assert_one_line_error(res, f"cannot listen on 127.0.0.1:{metrics}", "choose another --override metrics.port")
    assert not (tmp_path / "new-data").exists()


@pytest.mark.parametrize(("line", "says"), [
    ("num.partitions=many", "Invalid value many for configuration num.partitions: Not a number of type INT"),
    ("log.retention.ms=-5", "Invalid value -5 for configuration log.retention.ms"),
])
def test_bad_config_value_writes_nothing(tmp_path: Path, line: str, says: str) -> None:
    props = tmp_path / "server.properties"
    props.write_text(f"log.dirs={tmp_path / 'data'}\n{line}\n")
    res = serve("--port", str(free_port()), "--config", str(props))
    assert_one_line_error(res, says, f"fix it in {props}")
    assert not (tmp_path / "data").exists()


@pytest.fixture
def running_broker(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    data, port = tmp_path / "data", free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pystream.cli", "serve", "--port", str(port), "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert proc.poll() is None, "the first broker exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the first broker did not start"
                time.sleep(0.05)
        yield data, port
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)


def test_log_dir_locked_by_a_running_broker(running_broker: tuple[Path, int], tmp_path: Path) -> None:
    data, _port = running_broker
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    other = tmp_path / "other"
    res = serve("--port", str(free_port()), "--data-dir", f"{other},{data}")
    assert_one_line_error(res, f"log directory {data} is in use by another running broker", "stop it or choose another directory")
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before
    assert not other.exists()  # the first of the two dirs was not created either


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot write: a read-only tmpfs as root, else mode 0o555."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True).returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here (needed as root: root ignores file permissions)")
        try:
            yield d
        finally:
            subprocess.run(["umount", str(d)], check=True)
    else:
        d.chmod(0o555)
        try:
            yield d
        finally:
            d.chmod(0o755)


def test_unwritable_log_dir_writes_nothing(unwritable: Path) -> None:
    res = serve("--port", str(free_port()), "--data-dir", str(unwritable))
    assert_one_line_error(res, f"log directory {unwritable} is not writable", "fix its permissions or choose another directory")
    res = serve("--port", str(free_port()), "--data-dir", str(unwritable / "sub" / "data"))
    assert_one_line_error(res, f"log directory {unwritable / 'sub' / 'data'} cannot be created ({unwritable} is not writable)")
    assert tree(unwritable) == []
