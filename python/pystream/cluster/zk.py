"""`ClusterStore`: typed access to the cluster metadata kept in ZooKeeper.

The layout is Kafka's classic (pre-KRaft) one, under a chroot (default
``/pystream``); every value is JSON:

    /brokers/ids/<id>                          EPHEMERAL {"host", "port", "rack", "endpoints",
                                                          "listener_security_protocol_map"}
    /controller                                EPHEMERAL {"brokerid": id}
    /controller_epoch                          int, +1 on every election
    /brokers/topics/<name>                     {"topic_id", "partitions": {"0": [1, 2]}}
    /brokers/topics/<name>/partitions/<p>/state
                                               {"leader", "leader_epoch", "isr", "controller_epoch"}
    /admin/reassign_partitions                 {"partitions": [{"topic", "partition", "replicas"}]}
    /config/topics/<name>                      {"version": 1, "config": {key: string value}}
    /admin/controlled_shutdown/<id>            EPHEMERAL {"status": "requested"|"done", "remaining"}

Invariants the callers rely on:

* Every read-modify-write is conditional on the znode version read
  (``expected_version``); a lost race returns ``None`` and the caller re-reads.
  Nothing here retries a conditional write on its own.
* Writes made by the controller can be *fenced* (``fenced=True``): they go in a
  ZooKeeper multi-op together with a check that ``/controller_epoch`` still has
  the version this store saw when it won the election. A controller that was
  replaced therefore cannot write, even before it learns it was replaced
  (:class:`ControllerMovedError`).
* Watch and session callbacks run on kazoo's threads, never on an asyncio loop;
  see :func:`call_soon_threadsafe` to marshal them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from pystream.errors import PystreamError, TopicExistsError, UnknownTopicError

__all__ = [
    "BrokerIdTakenError",
    "BrokerInfo",
    "ClusterStore",
    "ControllerMovedError",
    "DEFAULT_CHROOT",
    "NO_LEADER",
    "PartitionState",
    "TopicInfo",
    "Watch",
    "call_soon_threadsafe",
    "parse_connect",
]

log = logging.getLogger(__name__)

DEFAULT_CHROOT = "/pystream"
NO_LEADER = -1  # PartitionState.leader of an offline partition (Kafka's LeaderAndIsr.NoLeader)

BROKER_IDS = "/brokers/ids"
TOPICS = "/brokers/topics"
CONTROLLER = "/controller"
CONTROLLER_EPOCH = "/controller_epoch"
REASSIGN = "/admin/reassign_partitions"
TOPIC_CONFIGS = "/config/topics"
CONTROLLED_SHUTDOWN = "/admin/controlled_shutdown"


class BrokerIdTakenError(PystreamError, RuntimeError):
    """register_broker of an id whose znode is held by another live ZooKeeper session."""


class ControllerMovedError(PystreamError, RuntimeError):
    """A fenced (controller) write was refused: another broker was elected since."""


@dataclass(frozen=True)
class BrokerInfo:
    """A live broker, as registered in /brokers/ids/<id>."""

    id: int
    host: str
    port: int
    rack: str | None = None
    # Listener name -> (host, port), from the "endpoints" list ("NAME://host:port").
    endpoints: dict[str, tuple[str, int]] = field(default_factory=dict, compare=False)


def _parse_endpoints(urls: Iterable[str]) -> dict[str, tuple[str, int]]:
    out = {}
    for url in urls:
        name, _, rest = url.partition("://")
        host, _, port = rest.rpartition(":")
        try:
            out[name] = (host.strip("[]"), int(port))
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class TopicInfo:
    """A topic's znode: id, replica assignment and config. ``version`` is the znode version."""

    name: str
    topic_id: str
    partitions: dict[int, list[int]]  # partition -> replicas; replicas[0] is the preferred leader
    config: dict[str, Any] = field(default_factory=dict)
    version: int = 0


@dataclass(frozen=True)
class PartitionState:
    """Leader and ISR of one partition (Kafka's LeaderIsrAndControllerEpoch).

    ``leader`` is NO_LEADER (-1) when the partition is offline. ``leader_epoch``
    only grows; it is bumped on every leader change. ``controller_epoch`` is the
    epoch of the controller that last wrote the state.
    """

    leader: int
    leader_epoch: int
    isr: list[int]
    controller_epoch: int

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "isr": list(self.isr),
            "controller_epoch": self.controller_epoch,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PartitionState:
        return cls(int(d["leader"]), int(d["leader_epoch"]), [int(b) for b in d["isr"]],
                   int(d["controller_epoch"]))


def parse_connect(connect: str) -> tuple[str, str]:
    """Split "host:port,host:port/chroot" into (hosts, chroot); chroot defaults to /pystream."""
    hosts, slash, chroot = connect.partition("/")
    chroot = "/" + chroot.strip("/") if slash and chroot.strip("/") else DEFAULT_CHROOT
    return hosts, chroot


def call_soon_threadsafe(loop: asyncio.AbstractEventLoop,
                         callback: Callable[..., Any]) -> Callable[..., None]:
    """Wrap ``callback`` so that calling the wrapper (from any thread, e.g. kazoo's
    watch thread) schedules ``callback(*args)`` on ``loop``. Calls after the loop
    closed are dropped (the broker is shutting down)."""

    def wrapper(*args: Any) -> None:
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # loop closed
            log.debug("event loop closed; dropping ZooKeeper notification")

    return wrapper


class Watch:
    """Handle of a watch set up by ClusterStore; ``cancel()`` stops further callbacks.

    (ZooKeeper cannot remove a watch; after cancel() the next event is swallowed
    and the kazoo recipe is told to stop re-arming.)"""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data.decode()) if data else None


def _tx_error(results: list[Any]) -> Exception | None:
    """The first real error of a failed multi-op (the others are RolledBack/RuntimeInconsistency)."""
    errors = [r for r in results if isinstance(r, Exception)]
    return errors[0] if errors else None


class ClusterStore:
    """Typed layer over one kazoo session (one per broker).

    Blocking: every method is a synchronous ZooKeeper round trip; call them from
    an executor when on an asyncio loop.
    """

    def __init__(self, connect: str = "127.0.0.1:2181", *, timeout: float = 10.0,
                 session_timeout: float = 10.0) -> None:
        self.hosts, self.chroot = parse_connect(connect)
        self._ensure_chroot(timeout)
        self.client = KazooClient(hosts=self.hosts + self.chroot, timeout=session_timeout)
        self.client.start(timeout=timeout)
        # Version of /controller_epoch when this session won the election; fenced
        # writes check it. None while this store is not the controller.
        self._fence_version: int | None = None
        for path in (BROKER_IDS, TOPICS, "/admin", TOPIC_CONFIGS, CONTROLLED_SHUTDOWN):
            self.client.ensure_path(path)

    def _ensure_chroot(self, timeout: float) -> None:
        # kazoo cannot create its own chroot (makepath fails under it): use a
        # short-lived un-chrooted session.
        boot = KazooClient(hosts=self.hosts)
        boot.start(timeout=timeout)
        try:
            boot.ensure_path(self.chroot)
        finally:
            boot.stop()
            boot.close()

    def close(self) -> None:
        """End the session: this broker's ephemeral znodes (registration, /controller) vanish."""
        self._fence_version = None
        self.client.stop()
        self.client.close()

    def __enter__(self) -> ClusterStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def session_id(self) -> int:
        return int(self.client.client_id[0]) if self.client.client_id else 0

    # -- session --------------------------------------------------------------

    def on_session_lost(self, callback: Callable[[str], None]) -> Callable[[str], bool]:
        """Call ``callback(state)`` ("SUSPENDED" or "LOST") when the session is in doubt
        or gone. On SUSPENDED a leader must stop accepting acks=all writes until
        reconnected; on LOST its ephemerals are gone and it must re-register and
        stop acting as leader or controller. Runs on kazoo's connection thread:
        do not block or call ZooKeeper from it (marshal with call_soon_threadsafe).
        Returns the listener, for ``client.remove_listener``."""

        def listener(state: str) -> bool:
            if state in (KazooState.LOST, KazooState.SUSPENDED):
                if state == KazooState.LOST:
                    self._fence_version = None
                callback(str(state))
            return False  # keep listening

        self.client.add_listener(listener)
        return listener

    def on_state_change(self, callback: Callable[[str], None]) -> Callable[[str], bool]:
        """Call ``callback(state)`` for every kazoo state (CONNECTED, SUSPENDED, LOST)."""

        def listener(state: str) -> bool:
            if state == KazooState.LOST:
                self._fence_version = None
            callback(str(state))
            return False

        self.client.add_listener(listener)
        return listener

    # -- brokers --------------------------------------------------------------

    def register_broker(self, broker_id: int, host: str, port: int, rack: str | None = None,
                        endpoints: Mapping[str, tuple[str, int, str]] | None = None) -> None:
        """Create /brokers/ids/<id> (ephemeral). Idempotent for this session;
        raises BrokerIdTakenError if another live session holds the id.
        `endpoints`: listener name -> (host, port, security protocol), as Kafka registers them."""
        path = f"{BROKER_IDS}/{broker_id}"
        info: dict[str, Any] = {"host": host, "port": port, "rack": rack, "version": 1}
        if endpoints:
            info["endpoints"] = [f"{n}://{f'[{h}]' if ':' in h else h}:{p}" for n, (h, p, _) in endpoints.items()]
            info["listener_security_protocol_map"] = {n: proto for n, (_, _, proto) in endpoints.items()}
            info["version"] = 5
        value = _dumps(info)
        try:
            self.client.create(path, value, ephemeral=True, makepath=True)
        except NodeExistsError:
            try:
                _, stat = self.client.get(path)
            except NoNodeError:  # the other session just died: try once more
                self.client.create(path, value, ephemeral=True, makepath=True)
                return
            if stat.ephemeralOwner == self.session_id:
                self.client.set(path, value)
                return
            raise BrokerIdTakenError(
                f"broker id {broker_id} is already registered by another live ZooKeeper "
                f"session (0x{stat.ephemeralOwner:x}); set a unique broker.id") from None

    def live_brokers(self) -> dict[int, BrokerInfo]:
        """The registered (live) brokers by id."""
        out: dict[int, BrokerInfo] = {}
        for child in self.client.get_children(BROKER_IDS):
            try:
                data, _ = self.client.get(f"{BROKER_IDS}/{child}")
            except NoNodeError:
                continue  # vanished between list and read
            d = _loads(data)
            out[int(child)] = BrokerInfo(int(child), d["host"], int(d["port"]), d.get("rack"),
                                         _parse_endpoints(d.get("endpoints") or []))
        return dict(sorted(out.items()))

    def watch_brokers(self, callback: Callable[[set[int]], None]) -> Watch:
        """Call ``callback(live_ids)`` now and on every change of /brokers/ids (kazoo thread)."""
        handle = Watch()

        def fn(children: list[str]) -> bool | None:
            if handle.cancelled:
                return False
            callback({int(c) for c in children})
            return None

        ChildrenWatch(self.client, BROKER_IDS, fn)
        return handle

    # -- controller -----------------------------------------------------------

    def controller_epoch(self) -> int:
        """The current controller epoch (0 before any election)."""
        try:
            data, _ = self.client.get(CONTROLLER_EPOCH)
        except NoNodeError:
            return 0
        return int(_loads(data))

    def controller_id(self) -> int | None:
        """The id in /controller, or None when there is no controller."""
        try:
            data, _ = self.client.get(CONTROLLER)
        except NoNodeError:
            return None
        return int(_loads(data)["brokerid"])

    def try_become_controller(self, broker_id: int) -> int | None:
        """Try to create /controller for ``broker_id``. Returns the new controller
        epoch when elected (or the current one when this session already is the
        controller), None when another session holds /controller.

        /controller and the +1 of /controller_epoch are one multi-op, so each epoch
        has exactly one controller."""
        try:
            self.client.create(CONTROLLER_EPOCH, _dumps(0))
        except NodeExistsError:
            pass
        while True:
            try:
                data, stat = self.client.get(CONTROLLER)
            except NoNodeError:
                pass
            else:
                if stat.ephemeralOwner == self.session_id and int(_loads(data)["brokerid"]) == broker_id:
                    epoch_data, epoch_stat = self.client.get(CONTROLLER_EPOCH)
                    self._fence_version = epoch_stat.version
                    return int(_loads(epoch_data))
                return None
            epoch_data, epoch_stat = self.client.get(CONTROLLER_EPOCH)
            epoch = int(_loads(epoch_data)) + 1
            tx = self.client.transaction()
            tx.create(CONTROLLER, _dumps({"brokerid": broker_id, "version": 1}), ephemeral=True)
            tx.set_data(CONTROLLER_EPOCH, _dumps(epoch), version=epoch_stat.version)
            err = _tx_error(tx.commit())
            if err is None:
                self._fence_version = epoch_stat.version + 1
                return epoch
            if isinstance(err, NodeExistsError):
                return None
            if not isinstance(err, BadVersionError):
                raise err
            # someone bumped the epoch concurrently (and will own /controller): re-check

    def resign_controller(self, broker_id: int) -> None:
        """Delete /controller if this session holds it (graceful shutdown)."""
        self._fence_version = None
        try:
            data, stat = self.client.get(CONTROLLER)
        except NoNodeError:
            return
        if stat.ephemeralOwner == self.session_id and int(_loads(data)["brokerid"]) == broker_id:
            try:
                self.client.delete(CONTROLLER, version=stat.version)
            except (NoNodeError, BadVersionError):
                pass

    def watch_controller(self, callback: Callable[[int | None], None]) -> Watch:
        """Call ``callback(controller_id or None)`` now and whenever /controller changes
        (kazoo thread). A broker calls Controller.elect() when it sees None."""
        handle = Watch()

        def fn(data: bytes | None, stat: Any) -> bool | None:
            if handle.cancelled:
                return False
            callback(int(_loads(data)["brokerid"]) if data else None)
            return None

        DataWatch(self.client, CONTROLLER, fn)
        return handle

    def _fenced(self, fenced: bool, ops: Callable[[Any], None]) -> Exception | None:
        """Run ``ops(tx)`` as one multi-op, with the controller-epoch check when fenced.
        Returns the first failing op's exception (ControllerMovedError when the fence failed)."""
        tx = self.client.transaction()
        if fenced:
            if self._fence_version is None:
                raise ControllerMovedError("this broker is not the controller")
            tx.check(CONTROLLER_EPOCH, self._fence_version)
        ops(tx)
        results = tx.commit()
        err = _tx_error(results)
        if fenced and isinstance(results[0], (BadVersionError, NoNodeError)):
            self._fence_version = None
            return ControllerMovedError("a newer controller was elected")
        return err

    # -- topics ---------------------------------------------------------------

    def create_topic(self, name: str, assignment: Mapping[int, list[int]],
                     config: Mapping[str, Any] | None = None,
                     topic_id: str | None = None) -> TopicInfo:
        """Create /brokers/topics/<name>; TopicExistsError if it exists. Partition
        states are created by the controller when it sees the topic."""
        if not assignment or sorted(assignment) != list(range(len(assignment))):
            raise ValueError(f"partitions must be 0..n-1, got {sorted(assignment)}")
        info = TopicInfo(name, topic_id or str(uuid.uuid4()),
                         {int(p): [int(b) for b in r] for p, r in sorted(assignment.items())},
                         {k: str(v) for k, v in (config or {}).items() if v is not None}, 0)
        # The topic and its config in one transaction: a broker that sees the topic finds its config.
        for _ in range(3):
            tx = self.client.transaction()
            tx.create(f"{TOPICS}/{name}", self._topic_bytes(info))
            tx.create(f"{TOPIC_CONFIGS}/{name}", _dumps({"version": 1, "config": info.config}))
            results = tx.commit()
            if _tx_error(results) is None:
                return info
            if isinstance(results[0], NodeExistsError):
                raise TopicExistsError(f"topic {name!r} already exists")
            if not isinstance(results[1], NodeExistsError):
                raise _tx_error(results)  # type: ignore[misc]
            try:  # a config left by an interrupted deletion: not part of any topic
                self.client.delete(f"{TOPIC_CONFIGS}/{name}")
            except NoNodeError:
                pass
        raise RuntimeError(f"could not create topic {name!r}: its config znode keeps reappearing")

    # -- topic configs (Kafka's /config/topics/<name>) --------------------------

    def _write_topic_config(self, name: str, config: Mapping[str, str], expected_version: int = -1) -> int | None:
        value = _dumps({"version": 1, "config": dict(config)})
        path = f"{TOPIC_CONFIGS}/{name}"
        try:
            if expected_version == -1:
                try:
                    self.client.create(path, value, makepath=True)
                    return 0
                except NodeExistsError:
                    return self.client.set(path, value).version
            return self.client.set(path, value, version=expected_version).version
        except BadVersionError:
            return None
        except NoNodeError:
            return self._write_topic_config(name, config) if expected_version == -1 else None

    def topic_config(self, name: str) -> tuple[dict[str, str], int]:
        """The topic's config overrides (string values, as Kafka stores them) and the znode
        version (-1: no znode; a topic created before configs moved there keeps its old ones)."""
        try:
            data, stat = self.client.get(f"{TOPIC_CONFIGS}/{name}")
        except NoNodeError:
            info = self.topic(name)
            return ({k: str(v) for k, v in info.config.items() if v is not None} if info else {}), -1
        return {k: str(v) for k, v in ((_loads(data) or {}).get("config") or {}).items()}, stat.version

    def alter_topic_config(self, name: str, changes: Mapping[str, Any]) -> dict[str, str]:
        """Applies {key: value, or None to remove} to the topic's overrides (conditional write,
        re-read on a race); returns the new overrides. UnknownTopicError if there is no topic."""
        for _ in range(50):
            if self.client.exists(f"{TOPICS}/{name}") is None:
                raise UnknownTopicError(f"unknown topic {name!r}")
            config, version = self.topic_config(name)
            new = {k: v for k, v in config.items() if k not in changes}
            new.update({k: str(v) for k, v in changes.items() if v is not None})
            if self._write_topic_config(name, new, version) is not None:
                return new
        raise RuntimeError(f"could not update the config of {name!r}: too much contention")

    @staticmethod
    def _topic_bytes(info: TopicInfo) -> bytes:
        # (Configs live in /config/topics/<name>, as in Kafka; "config" here is read only from
        # topics written before they moved there.)
        return _dumps({
            "version": 3,
            "topic_id": info.topic_id,
            "partitions": {str(p): r for p, r in info.partitions.items()},
        })

    def topics(self) -> list[str]:
        """Names of all topics, sorted."""
        return sorted(self.client.get_children(TOPICS))

    def topic(self, name: str) -> TopicInfo | None:
        """The topic's znode, or None if it does not exist."""
        try:
            data, stat = self.client.get(f"{TOPICS}/{name}")
        except NoNodeError:
            return None
        d = _loads(data)
        return TopicInfo(name, d["topic_id"],
                         {int(p): [int(b) for b in r] for p, r in sorted(d["partitions"].items(),
                                                                         key=lambda kv: int(kv[0]))},
                         d.get("config") or {}, stat.version)

    def delete_topic(self, name: str) -> None:
        """Delete the topic and its partition states (UnknownTopicError if absent)."""
        # (kazoo's recursive delete ignores a missing node: check first)
        if self.client.exists(f"{TOPICS}/{name}") is None:
            raise UnknownTopicError(f"unknown topic {name!r}")
        for _ in range(10):
            try:
                self.client.delete(f"{TOPICS}/{name}", recursive=True)
                try:
                    self.client.delete(f"{TOPIC_CONFIGS}/{name}")
                except NoNodeError:
                    pass
                return
            except NoNodeError:
                raise UnknownTopicError(f"unknown topic {name!r}") from None
            except NotEmptyError:  # a state znode created concurrently: again
                continue
        raise RuntimeError(f"could not delete topic {name!r}: children keep appearing")

    def set_assignment(self, name: str, assignment: Mapping[int, list[int]],
                       expected_version: int, *, fenced: bool = False) -> int | None:
        """Replace the topic's replica assignment if its znode is still at
        ``expected_version``; returns the new version, or None on a version conflict."""
        info = self.topic(name)
        if info is None:
            raise UnknownTopicError(f"unknown topic {name!r}")
        new = TopicInfo(name, info.topic_id, {int(p): list(r) for p, r in sorted(assignment.items())},
                        info.config, info.version)
        err = self._fenced(fenced, lambda tx: tx.set_data(f"{TOPICS}/{name}", self._topic_bytes(new),
                                                          version=expected_version))
        if err is None:
            return expected_version + 1
        if isinstance(err, BadVersionError):
            return None
        if isinstance(err, NoNodeError):
            raise UnknownTopicError(f"unknown topic {name!r}")
        raise err

    def set_assignment_and_state(self, name: str, assignment: Mapping[int, list[int]], expected_version: int,
                                 partition: int, state: PartitionState, expected_state_version: int,
                                 *, fenced: bool = False) -> bool:
        """The end of a reassignment, atomically: the new assignment and the partition's state (its
        ISR within the new replicas). False on a version conflict (re-read, recompute)."""
        info = self.topic(name)
        if info is None:
            raise UnknownTopicError(f"unknown topic {name!r}")
        new = TopicInfo(name, info.topic_id, {int(p): list(r) for p, r in sorted(assignment.items())},
                        info.config, info.version)

        def ops(tx: Any) -> None:
            tx.set_data(f"{TOPICS}/{name}", self._topic_bytes(new), version=expected_version)
            tx.set_data(self._state_path(name, partition), _dumps(state.to_json()), version=expected_state_version)

        err = self._fenced(fenced, ops)
        if err is None:
            return True
        if isinstance(err, (BadVersionError, NoNodeError)):
            return False
        raise err

    def watch_path(self, path: str, callback: Callable[[], None], known_version: int | None) -> Watch:
        """Call ``callback()`` (kazoo thread) whenever the znode at ``path`` is created, changed
        or deleted; the znode need not exist yet. ``known_version`` is the version the caller
        last read (None: it did not exist): if the znode changed between that read and this
        watch, the callback runs at once too. Re-armed after a reconnection by kazoo. Cancel
        when no longer wanted."""
        handle = Watch()
        first = True

        def fn(data: bytes | None, stat: Any) -> bool | None:
            nonlocal first
            if handle.cancelled:
                return False
            if not first or (stat.version if stat is not None else None) != known_version:
                callback()
            first = False
            return None

        DataWatch(self.client, path, fn)
        return handle

    def state_path(self, topic: str, partition: int) -> str:
        return self._state_path(topic, partition)

    @staticmethod
    def topic_path(name: str) -> str:
        return f"{TOPICS}/{name}"

    @staticmethod
    def topic_config_path(name: str) -> str:
        return f"{TOPIC_CONFIGS}/{name}"

    def watch_topics(self, callback: Callable[[list[str]], None]) -> Watch:
        """Call ``callback(sorted topic names)`` now and when topics are created or deleted."""
        handle = Watch()

        def fn(children: list[str]) -> bool | None:
            if handle.cancelled:
                return False
            callback(sorted(children))
            return None

        ChildrenWatch(self.client, TOPICS, fn)
        return handle

    def watch_topic(self, name: str, callback: Callable[[TopicInfo | None], None]) -> Watch:
        """Call ``callback(TopicInfo or None)`` now and on every change of the topic znode
        (assignment changes: reassignment). Stops after the topic is deleted."""
        handle = Watch()

        def fn(data: bytes | None, stat: Any) -> bool | None:
            if handle.cancelled:
                return False
            callback(self.topic(name) if data is not None else None)
            return None

        DataWatch(self.client, f"{TOPICS}/{name}", fn)
        return handle

    # -- partition state ------------------------------------------------------

    @staticmethod
    def _state_path(topic: str, partition: int) -> str:
        return f"{TOPICS}/{topic}/partitions/{partition}/state"

    def partition_state(self, topic: str, partition: int) -> tuple[PartitionState, int] | None:
        """(state, znode version), or None when the state znode does not exist yet."""
        try:
            data, stat = self.client.get(self._state_path(topic, partition))
        except NoNodeError:
            return None
        return PartitionState.from_json(_loads(data)), stat.version

    def partition_states(self, topic: str) -> dict[int, tuple[PartitionState, int]]:
        """Every existing state znode of the topic: partition -> (state, version)."""
        try:
            children = self.client.get_children(f"{TOPICS}/{topic}/partitions")
        except NoNodeError:
            return {}
        out = {}
        for p in sorted(int(c) for c in children):
            got = self.partition_state(topic, p)
            if got is not None:
                out[p] = got
        return out

    def create_partition_state(self, topic: str, partition: int, state: PartitionState,
                               *, fenced: bool = False) -> int | None:
        """Create the state znode; returns its version (0), or None if it already exists.
        Never recreates a deleted topic (parents are created without makepath)."""
        base = f"{TOPICS}/{topic}"
        for path in (f"{base}/partitions", f"{base}/partitions/{partition}"):
            try:
                self.client.create(path, b"")
            except NodeExistsError:
                pass
            except NoNodeError:
                raise UnknownTopicError(f"unknown topic {topic!r}") from None
        err = self._fenced(fenced, lambda tx: tx.create(self._state_path(topic, partition),
                                                        _dumps(state.to_json())))
        if err is None:
            return 0
        if isinstance(err, NodeExistsError):
            return None
        if isinstance(err, NoNodeError):
            raise UnknownTopicError(f"unknown topic {topic!r}")
        raise err

    def update_partition_state(self, topic: str, partition: int, new_state: PartitionState,
                               expected_version: int, *, fenced: bool = False) -> int | None:
        """Write ``new_state`` if the znode is still at ``expected_version``.
        Returns the new version, or None if someone else changed it (re-read, retry).
        Leaders use it (unfenced) to change the ISR; the controller (fenced) to elect."""
        err = self._fenced(fenced, lambda tx: tx.set_data(self._state_path(topic, partition),
                                                          _dumps(new_state.to_json()),
                                                          version=expected_version))
        if err is None:
            return expected_version + 1
        if isinstance(err, BadVersionError):
            return None
        if isinstance(err, NoNodeError):
            raise UnknownTopicError(f"no state for {topic}-{partition}")
        raise err

    def watch_partition_state(self, topic: str, partition: int,
                              callback: Callable[[PartitionState | None, int], None]) -> Watch:
        """Call ``callback(state or None, version)`` now and on every change of the
        partition's state znode (kazoo thread). Brokers watch the partitions they
        replicate to learn leader changes."""
        handle = Watch()

        def fn(data: bytes | None, stat: Any) -> bool | None:
            if handle.cancelled:
                return False
            if data is None or stat is None:
                callback(None, -1)
            else:
                callback(PartitionState.from_json(_loads(data)), stat.version)
            return None

        DataWatch(self.client, self._state_path(topic, partition), fn)
        return handle

    # -- reassignment ---------------------------------------------------------

    def _read_reassign(self) -> tuple[dict[tuple[str, int], list[int]], int | None]:
        try:
            data, stat = self.client.get(REASSIGN)
        except NoNodeError:
            return {}, None
        d = _loads(data) or {}
        return ({(e["topic"], int(e["partition"])): [int(b) for b in e["replicas"]]
                 for e in d.get("partitions", [])}, stat.version)

    @staticmethod
    def _reassign_bytes(entries: Mapping[tuple[str, int], list[int]]) -> bytes:
        return _dumps({"version": 1, "partitions": [
            {"topic": t, "partition": p, "replicas": list(r)} for (t, p), r in sorted(entries.items())]})

    def request_reassignment(self, moves: Mapping[tuple[str, int], Iterable[int]]) -> None:
        """Add {(topic, partition): target replicas} to /admin/reassign_partitions.
        A new target for a partition already pending replaces the old target."""
        for _ in range(50):
            entries, version = self._read_reassign()
            entries.update({(t, int(p)): [int(b) for b in r] for (t, p), r in moves.items()})
            try:
                if version is None:
                    self.client.create(REASSIGN, self._reassign_bytes(entries), makepath=True)
                else:
                    self.client.set(REASSIGN, self._reassign_bytes(entries), version=version)
                return
            except (NodeExistsError, BadVersionError, NoNodeError):
                continue  # concurrent change: re-read
        raise RuntimeError("could not update /admin/reassign_partitions: too much contention")

    def pending_reassignments(self) -> dict[tuple[str, int], list[int]]:
        """{(topic, partition): target replicas} of reassignments not yet completed."""
        return self._read_reassign()[0]

    def complete_reassignment(self, topic: str, partition: int, *, fenced: bool = False) -> None:
        """Remove the entry (the znode is deleted when it becomes empty). Idempotent."""
        for _ in range(50):
            entries, version = self._read_reassign()
            if version is None or entries.pop((topic, partition), None) is None:
                return
            if entries:
                err = self._fenced(fenced, lambda tx: tx.set_data(
                    REASSIGN, self._reassign_bytes(entries), version=version))
            else:
                err = self._fenced(fenced, lambda tx: tx.delete(REASSIGN, version=version))
            if err is None:
                return
            if isinstance(err, ControllerMovedError):
                raise err
            if not isinstance(err, (BadVersionError, NoNodeError)):
                raise err
        raise RuntimeError("could not update /admin/reassign_partitions: too much contention")

    def watch_reassignments(self, callback: Callable[[dict[tuple[str, int], list[int]]], None]) -> Watch:
        """Call ``callback(pending)`` now and whenever /admin/reassign_partitions changes."""
        handle = Watch()

        def fn(data: bytes | None, stat: Any) -> bool | None:
            if handle.cancelled:
                return False
            d = _loads(data) if data else {}
            callback({(e["topic"], int(e["partition"])): [int(b) for b in e["replicas"]]
                      for e in (d or {}).get("partitions", [])})
            return None

        DataWatch(self.client, REASSIGN, fn)
        return handle

    # -- controlled shutdown ----------------------------------------------------

    def request_controlled_shutdown(self, broker_id: int) -> None:
        """Ask the controller to move leadership off ``broker_id`` (ephemeral request znode,
        gone with the session); the controller answers in the same znode."""
        path = f"{CONTROLLED_SHUTDOWN}/{broker_id}"
        value = _dumps({"version": 1, "status": "requested"})
        try:
            self.client.create(path, value, ephemeral=True, makepath=True)
        except NodeExistsError:
            self.client.set(path, value)

    def controlled_shutdown_status(self, broker_id: int) -> dict[str, Any] | None:
        try:
            data, _ = self.client.get(f"{CONTROLLED_SHUTDOWN}/{broker_id}")
        except NoNodeError:
            return None
        return _loads(data)

    def shutting_down_brokers(self) -> dict[int, dict[str, Any]]:
        """Brokers in a controlled shutdown: id -> their request znode."""
        out = {}
        for child in self.client.get_children(CONTROLLED_SHUTDOWN):
            try:
                data, _ = self.client.get(f"{CONTROLLED_SHUTDOWN}/{child}")
            except NoNodeError:
                continue
            out[int(child)] = _loads(data) or {}
        return out

    def answer_controlled_shutdown(self, broker_id: int, remaining: list[tuple[str, int]], *,
                                   fenced: bool = False) -> None:
        """The controller's answer: the partitions ``broker_id`` still leads (none: done)."""
        value = _dumps({"version": 1, "status": "done", "remaining": [[t, p] for t, p in remaining]})
        err = self._fenced(fenced, lambda tx: tx.set_data(f"{CONTROLLED_SHUTDOWN}/{broker_id}", value))
        if err is not None and not isinstance(err, NoNodeError):
            raise err

    def watch_controlled_shutdowns(self, callback: Callable[[list[int]], None]) -> Watch:
        """Call ``callback(ids)`` now and whenever a broker requests (or ends) a controlled shutdown."""
        handle = Watch()

        def fn(children: list[str]) -> bool | None:
            if handle.cancelled:
                return False
            callback(sorted(int(c) for c in children))
            return None

        ChildrenWatch(self.client, CONTROLLED_SHUTDOWN, fn)
        return handle
