"""Running a broker (`pystream serve`): the composition root.

Checks first, writing nothing: the log directories can be created or written
and no running broker holds them, and the listening port can be bound (it is
bound then, and listened on only once the broker serves). A failed check is a
`StartupError`: one line saying what is wrong and what to do. Then it builds
the `Broker` over its log directories, makes it a cluster node when
zookeeper.connect is set (the only place that joins `pystream.server` and
`pystream.cluster`), listens, and serves until SIGTERM/SIGINT; then shuts
down cleanly.
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

from pystream.errors import LogDirectoryError
from pystream.server.apis import Apis
from pystream.server.broker import Broker
from pystream.server.config import BrokerConfig
from pystream.server.connection import KafkaListener
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
                pid_file: Path | None = None) -> None:
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
    sock = bind_listener(config.host, config.port)
    try:
        broker = Broker(config)
    except LogDirectoryError as e:
        sock.close()
        raise StartupError(str(e)) from None
    except BaseException:
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

        node = ClusterNode(broker, config.get("zookeeper.connect"))
        broker.attach_cluster(node)
        broker.use_dynamic_store(ZkDynamicConfigStore(node.zk, broker.node_id))  # Kafka's /config/brokers/<id>
    listener = KafkaListener(Apis(broker), config.get("socket.request.max.bytes"), config.get("queued.max.request.bytes"),
                             config.get("connections.max.idle.ms"))
    if config.port == 0:
        broker.advertised_port = sock.getsockname()[1]
    # Serving once started: a client never meets a cluster member that has not read the
    # cluster's metadata yet (the port is bound already, for the registration).
    server = await asyncio.start_server(listener.handle, sock=sock, limit=1 << 20, backlog=1024, start_serving=False)
    await broker.start()
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
    logger.info("pystream broker %d listening on %s:%d, data in %s", broker.node_id, config.host, broker.advertised_port,
                ", ".join(map(str, config.log_dirs)))
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
        server.close()
        if metrics_server is not None:
            metrics_server.shutdown()
        await listener.close_all()  # before the broker closes its logs under them
        await broker.close()
        logger.info("clean shutdown complete")


def run(config: BrokerConfig, pid_file: Path | None = None) -> None:
    """Blocking entry point of `pystream serve` (uvloop when installed)."""
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.run(serve(config, pid_file=pid_file))
    except ImportError:
        asyncio.run(serve(config, pid_file=pid_file))
