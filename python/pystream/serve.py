"""Running a broker (`pystream serve`): the composition root.

Checks first, writing nothing: the log directories can be created or written
and no running broker holds them, and the listening port can be bound (it is
bound then, and listened on only once the broker serves). A failed check is a
`StartupError`: one line saying what is wrong and what to do. Then it builds
the `Broker` over its log directories, makes it a cluster node when
zookeeper.connect is set (the only place that joins `pystream.server` and
`pystream.cluster`; in a cluster ACLs, SCRAM credentials and quotas live in
ZooKeeper), listens on every entry of ``listeners`` (``--host/--port``: one
PLAINTEXT listener), and serves until SIGTERM/SIGINT; then shuts down
cleanly. The security settings (listeners, TLS key stores, SASL, the
authorizer) are among the checks made before anything is written.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import signal
import socket
from pathlib import Path

from pystream.errors import LogDirectoryError, SecurityConfigError
from pystream.security.manager import SecurityManager
from pystream.server.apis import Apis
from pystream.server.broker import Broker, security_settings
from pystream.server.config import BrokerConfig
from pystream.server.connection import KafkaListener
from pystream.server.gc_policy import GcPolicy
from pystream.server.request_memory import RequestMemoryPool
from pystream.storage.manager import check_log_dirs

logger = logging.getLogger("pystream.server")
FDS_PER_PARTITION = 1  # an open partition log holds its active .log file (indexes are mapped, not held open)


class StartupError(Exception):
    """The broker cannot start; the message is one line saying why and what to do."""


def bind_listener(host: str, port: int, what: str = "--port") -> socket.socket:
    """A socket bound to host:port, not yet listening (serve listens once the broker is ready);
    `what` names the option that sets the port, for the error message."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise StartupError(f"cannot listen on {host}:{port}: unknown host ({e.strerror}); check --host") from None
    family, type_, proto, _name, addr = infos[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as e:
        sock.close()
        what = {
            errno.EADDRINUSE: f"the port is already in use (another broker or program holds it): stop it or choose another {what}",
            errno.EACCES: f"permission denied (ports below 1024 need privileges): choose another {what}",
            errno.EADDRNOTAVAIL: "no such address on this machine: check --host",
        }.get(e.errno or 0, f"{e.strerror or e}")
        raise StartupError(f"cannot listen on {host}:{port}: {what}") from None
    return sock


def _raise_fd_limit() -> int:
    """Every open partition holds a few files and every client a socket: allow as many file
    descriptors as the system permits (up to fs.nr_open when privileged, else the hard limit).
    Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        ceiling = int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        ceiling = hard
    for limit in (max(ceiling, hard), hard):
        if limit <= soft:
            return soft
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
        except (ValueError, OSError):
            continue  # not privileged: the hard limit is as far as it goes
    return soft


PID_FILE = "pystream.pid"


def _write_pid_file(path: Path) -> None:
    """This process's id in `path` (replaced atomically: a script never reads half a number)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


def _remove_pid_file(path: Path) -> None:
    """Removes `path` if it still names this process (another broker may have taken it over)."""
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


async def serve(config: BrokerConfig, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None,
                pid_file: Path | None = None, gc_policy: GcPolicy | None = None) -> None:
    """Serves until `stop` is set or SIGTERM/SIGINT arrives; then flushes and writes clean-shutdown markers.
    Raises StartupError, having written nothing, when a start-up check fails. Once listening it writes its
    process id to `pid_file` (default <first log dir>/pystream.pid), removed at a clean shutdown."""
    fd_limit = _raise_fd_limit()
    for warning in config.warnings:
        logger.warning("%s", warning)
    try:
        check_log_dirs(config.log_dirs)
    except LogDirectoryError as e:
        raise StartupError(str(e)) from None
    if config.get("metrics.port") > 0:  # the metrics server binds later: make sure it will be able to
        bind_listener(config.get("metrics.host"), config.get("metrics.port"), what="--override metrics.port").close()
    try:
        security = SecurityManager(security_settings(config), config.data_dir, config.host, config.port)
        if config.get("zookeeper.connect"):
            security.inter_broker_security()  # a bad inter-broker setting fails now, not at the first fetch
    except SecurityConfigError as e:
        raise StartupError(str(e)) from None
    socks: list[socket.socket] = []
    try:
        for e in security.listeners.listeners:
            socks.append(bind_listener(e.host or "0.0.0.0", e.port,
                                       what="--port" if config.get("listeners") is None else f"port in listeners ({e.url()})"))
        broker = Broker(config, security)
        broker.gc_policy = gc_policy
    except LogDirectoryError as e:
        for sock in socks:
            sock.close()
        raise StartupError(str(e)) from None
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    partitions = sum(broker.store.list_topics(include_internal=True).values())
    if FDS_PER_PARTITION * partitions > fd_limit:
        logger.warning("%d partitions need about %d file descriptors when all are open, but the limit is %d: "
                       "raise it (ulimit -n) or produce requests to some partitions will fail with KAFKA_STORAGE_ERROR",
                       partitions, FDS_PER_PARTITION * partitions, fd_limit)
    if config.get("zookeeper.connect"):
        from pystream.cluster.dynamic_config import ZkDynamicConfigStore
        from pystream.cluster.node import ClusterNode
        from pystream.cluster.security_store import ZkAclStore, ZkEntityConfigStore

        node = ClusterNode(broker, config.get("zookeeper.connect"))
        broker.attach_cluster(node)
        broker.use_dynamic_store(ZkDynamicConfigStore(node.zk, broker.node_id))  # Kafka's /config/brokers/<id>
        security.use_stores(ZkEntityConfigStore(node.zk), ZkAclStore(node.zk))  # /config/users, /kafka-acl
    await asyncio.get_running_loop().run_in_executor(None, security.start)  # ACLs, credentials, quotas
    apis = Apis(broker)
    memory = RequestMemoryPool(config.get("queued.max.request.bytes"))  # one pool for every listener
    listeners: list[KafkaListener] = []
    servers: list[asyncio.AbstractServer] = []
    for endpoint, sock in zip(security.listeners.listeners, socks):
        listener = KafkaListener(apis, config.get("socket.request.max.bytes"), idle_ms=config.get("connections.max.idle.ms"),
                                 endpoint=endpoint, memory=memory)
        servers.append(await listener.start(sock))  # not accepting yet
        listeners.append(listener)
        broker.listener_bound(endpoint.name, sock.getsockname()[1])
    await broker.start()
    if broker.cluster is not None:
        # Serving once started: a client never meets a cluster member that has not read the cluster's
        # metadata yet (a Metadata answer listing no broker leaves librdkafka waiting). Bounded.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not broker.cluster.brokers() and loop.time() < deadline:
            await asyncio.sleep(0.05)
    if gc_policy is not None:
        gc_policy.started()
    for server in servers:
        await server.start_serving()
    metrics_server = None
    if config.get("metrics.port") >= 0:
        from pystream.server.metrics_http import start_metrics_server

        metrics_server, _thread = start_metrics_server(broker, config.get("metrics.host"), config.get("metrics.port"))
        logger.info("metrics on http://%s:%d/metrics", config.get("metrics.host"), metrics_server.server_port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread
    logger.info("pystream broker %d listening on %s, data in %s", broker.node_id,
                ", ".join(f"{e.name}://{s.sockets[0].getsockname()[0]}:{s.sockets[0].getsockname()[1]} ({e.protocol})"
                          for e, s in zip(security.listeners.listeners, servers)), ", ".join(map(str, config.log_dirs)))
    pid_path = pid_file or Path(config.data_dir) / PID_FILE
    _write_pid_file(pid_path)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
        await broker.prepare_shutdown()
    finally:
        _remove_pid_file(pid_path)
        logger.info("shutting down")
        for server in servers:
            server.close()
        if metrics_server is not None:
            metrics_server.shutdown()
        for listener in listeners:
            await listener.close_all()  # before the broker closes its logs under them
        await broker.close()
        logger.info("clean shutdown complete")


def run(config: BrokerConfig, pid_file: Path | None = None) -> None:
    """Blocking entry point of `pystream serve` (uvloop when installed): a process of its own,
    whose garbage collector skips the broker's long-lived state (server/gc_policy.py)."""
    gc_policy = GcPolicy()
    gc_policy.install()
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.run(serve(config, pid_file=pid_file, gc_policy=gc_policy))
    except ImportError:
        asyncio.run(serve(config, pid_file=pid_file, gc_policy=gc_policy))
