"""Stream-processing libraries against a real `pystream serve`: Quix Streams (a stateful windowed count)
and Faust (an agent with a Table), their applications in stream_apps/ run unchanged as processes,
SIGKILLed mid-stream and restarted: state comes back from the changelog topics and, under
exactly-once, nothing is counted twice.

They need compacted changelog topics (a broker refusing cleanup.policy=compact makes them skip, saying
so), not the cleaner itself: nothing needs compacting during a test. Quix Streams is installed with
`pip install --no-deps quixstreams` (it pins an older confluent-kafka); without it its tests skip.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from compat_helpers import read_records, unique_topic
from confluent_kafka import KafkaException, Producer

APPS = Path(__file__).parent / "stream_apps"
KEYS = 3
TOTAL, RATE = 150, 15.0  # input records, per second: the input lasts longer than a commit interval


def mid_transaction(count: Callable[[str], int]) -> bool:
    """Some output committed, and more written by a transaction still open."""
    committed = count("read_committed")
    return committed >= 10 and count("read_uncommitted") >= committed + 3


@pytest.fixture
def compacted_broker(broker_factory: Any) -> Any:
    """A broker that aborts abandoned transactions soon after their timeout, once it is known
    to accept compacted topics."""
    from confluent_kafka.admin import AdminClient, NewTopic

    broker = broker_factory(**{"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000"})
    name = unique_topic("compact-probe")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fut = admin.create_topics([NewTopic(name, 1, 1, config={"cleanup.policy": "compact"})], request_timeout=15)[name]
    try:
        fut.result(15)
    except KafkaException as e:  # INVALID_CONFIG: compaction not accepted yet
        pytest.skip(f"the broker does not accept cleanup.policy=compact yet: {e}")
    return broker


class App:
    """A stream-processing application process: start, SIGKILL, SIGTERM; its output in a log file."""

    def __init__(self, script: str, args: list[str], log: Path) -> None:
        self.cmd = [sys.executable, str(APPS / script), *args]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(self.cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"the application died:\n{self.tail()}"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@pytest.fixture
def apps() -> Iterator[Callable[..., App]]:
    made: list[App] = []

    def make(script: str, args: list[str], log: Path) -> App:
        a = App(script, args, log)
        made.append(a)
        return a

    yield make
    for a in made:
        a.stop()


class Feeder:
    """Produces `total` records to `topic` in the background, `rate` per second, keys k0..k2."""

    def __init__(self, bootstrap: str, topic: str, total: int, rate: float, value: Callable[[int], bytes],
                 key: Callable[[int], bytes], timestamp: Callable[[int], int] | None = None) -> None:
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
        self.topic, self.total, self.rate = topic, total, rate
        self.value, self.key, self.timestamp = value, key, timestamp
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(self.total):
            kw = {"timestamp": self.timestamp(i)} if self.timestamp else {}
            self.p.produce(self.topic, key=self.key(i), value=self.value(i), **kw)
            self.p.poll(0)
            self.sent = i + 1
            time.sleep(1 / self.rate)
        assert self.p.flush(30) == 0

    def start(self) -> Feeder:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive()


def wait_for(cond: Callable[[], Any], timeout: float, what: str, app: App) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout} s; application log:\n{app.tail()}")


# ----- Quix Streams ----------------------------------------------------------------------------


def _quix(broker: Any, tmp_path: Path, apps: Callable[..., App], guarantee: str, kill: bool) -> dict[str, list[int]]:
    pytest.importorskip("quixstreams", reason="pip install --no-deps quixstreams (see pyproject.toml)")
    src, dst, group = unique_topic("words"), unique_topic("counts"), unique_topic("quix")
    state = tmp_path / "state"
    app = apps("quix_window_count.py", [broker.bootstrap, group, str(state), src, dst, guarantee], tmp_path / "quix.log")
    base_ts = 1_700_000_000_000  # every record in one one-hour window
    feeder = Feeder(broker.bootstrap, src, TOTAL, rate=RATE, key=lambda i: b"k%d" % (i % KEYS),
                    value=lambda i: json.dumps({"i": i}).encode(), timestamp=lambda i: base_ts + i)
    feeder.start()
    app.start()

    def counts(isolation: str = "read_committed") -> dict[str, list[int]]:
        per: dict[str, list[int]] = {}
        try:
            for k, v in read_records(broker.bootstrap, dst, isolation, timeout=5):
                per.setdefault(k.decode(), []).append(json.loads(v)["count"])
        except KafkaException:  # the output topic does not exist yet
            return {}
        return per

    if kill:
        # Kill it with a transaction open: some updates committed, more written but not yet committed.
        wait_for(lambda: mid_transaction(lambda iso: sum(map(len, counts(iso).values()))), 60,
                 "updates written in an open transaction", app)
        app.kill9()
        shutil.rmtree(state)  # the restarted instance must restore its state from the changelog
        app.start()
    feeder.join()
    return wait_for(lambda: (c := counts()) and sum(map(len, c.values())) >= TOTAL and c, 90,
                    f"{TOTAL} window updates", app)


@pytest.mark.deadline(180)
def test_quix_streams_windowed_count_exactly_once_across_a_sigkill(compacted_broker, tmp_path, apps):
    per = _quix(compacted_broker, tmp_path, apps, "exactly-once", kill=True)
    # Every input counted exactly once, in order, across the kill and the restore from the changelog.
    assert per == {f"k{k}": list(range(1, TOTAL // KEYS + 1)) for k in range(KEYS)}


@pytest.mark.deadline(120)
def test_quix_streams_windowed_count_default_settings(compacted_broker, tmp_path, apps):
    per = _quix(compacted_broker, tmp_path, apps, "at-least-once", kill=False)
    assert per == {f"k{k}": list(range(1, TOTAL // KEYS + 1)) for k in range(KEYS)}


# ----- Faust ----------------------------------------------------------------------------------


def _faust(broker: Any, tmp_path: Path, apps: Callable[..., App], guarantee: str) -> tuple[dict[str, int], dict[str, int]]:
    """Counts before the SIGKILL and at the end (the table's changelog, read_committed)."""
    pytest.importorskip("faust")
    src, app_id = unique_topic("words"), unique_topic("faust")
    app = apps("faust_table_count.py", [broker.bootstrap, app_id, str(tmp_path / "faust-data"), src, guarantee],
               tmp_path / "faust.log")
    feeder = Feeder(broker.bootstrap, src, TOTAL, rate=RATE, key=lambda i: b"k%d" % i,
                    value=lambda i: json.dumps(f"w{i % KEYS}").encode())
    feeder.start()
    app.start()
    changelog = f"{app_id}-counts-changelog"

    def table(isolation: str = "read_committed") -> dict[str, int]:
        latest: dict[str, int] = {}
        try:
            for k, v in read_records(broker.bootstrap, changelog, isolation, timeout=5):
                latest[json.loads(k)] = json.loads(v)
        except (KafkaException, ValueError):  # the changelog topic does not exist yet
            return {}
        return latest

    if guarantee == "exactly_once":
        wait_for(lambda: mid_transaction(lambda iso: len(read_records(broker.bootstrap, changelog, iso, timeout=5))), 90,
                 "table updates written in an open transaction", app)
    else:
        wait_for(lambda: sum(table().values()) >= 10, 90, "first table updates", app)
    before = table()
    app.kill9()
    app.start()  # memory store: the table comes back from its changelog
    feeder.join()
    after = wait_for(lambda: (t := table()) and sum(t.values()) >= TOTAL and t, 120, f"{TOTAL} counted words", app)
    return before, after


@pytest.mark.deadline(240)
def test_faust_table_exactly_once_across_a_sigkill(compacted_broker, tmp_path, apps):
    _before, after = _faust(compacted_broker, tmp_path, apps, "exactly_once")
    assert after == {f"w{k}": TOTAL // KEYS for k in range(KEYS)}


@pytest.mark.deadline(240)
def test_faust_table_default_settings_across_a_sigkill(compacted_broker, tmp_path, apps):
    """At-least-once (Faust's default): the table is restored, not reset; a record processed but
    not yet committed before the kill may be counted again."""
    before, after = _faust(compacted_broker, tmp_path, apps, "at_least_once")
    assert set(after) == {f"w{k}" for k in range(KEYS)}
    assert all(after[w] >= TOTAL // KEYS and after[w] >= before.get(w, 0) for w in after)
