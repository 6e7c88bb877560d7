"""Running a broker (`pystream serve`): the composition root.

Builds the `Broker` over its data directory, makes it a cluster node when
zookeeper.connect is set (the only place that joins `pystream.server` and
`pystream.cluster`; in a cluster ACLs, SCRAM credentials and quotas live in
ZooKeeper), opens one listener per entry of ``listeners`` (``--host/--port``:
one PLAINTEXT listener), and serves until SIGTERM/SIGINT; then shuts down
cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
from pathlib import Path

from pystream.server.apis import Apis
from pystream.server.broker import Broker
from pystream.server.config import BrokerConfig
from pystream.server.connection import KafkaListener
from pystream.server.request_memory import RequestMemoryPool

logger = logging.getLogger("pystream.server")
FDS_PER_PARTITION = 4  # an open partition log: its directory lock, .log, .index and .timeindex


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


async def serve(config: BrokerConfig, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Serves until `stop` is set or SIGTERM/SIGINT arrives; then flushes and writes clean-shutdown markers."""
    fd_limit = _raise_fd_limit()
    broker = Broker(config)
    security = broker.security
    partitions = sum(broker.store.list_topics(include_internal=True).values())
    if FDS_PER_PARTITION * partitions > fd_limit:
        logger.warning("%d partitions need about %d file descriptors when all are open, but the limit is %d: "
                       "raise it (ulimit -n) or produce requests to some partitions will fail with KAFKA_STORAGE_ERROR",
                       partitions, FDS_PER_PARTITION * partitions, fd_limit)
    if config.get("zookeeper.connect"):
        from pystream.cluster.node import ClusterNode
        from pystream.cluster.security_store import ZkAclStore, ZkEntityConfigStore

        security.inter_broker_security()  # a bad inter-broker setting fails now, not at the first fetch
        node = ClusterNode(broker, config.get("zookeeper.connect"))
        broker.attach_cluster(node)
        security.use_stores(ZkEntityConfigStore(node.zk), ZkAclStore(node.zk))
    await asyncio.get_running_loop().run_in_executor(None, security.start)  # ACLs, credentials, quotas
    apis = Apis(broker)
    memory = RequestMemoryPool(config.get("queued.max.request.bytes"))  # one pool for every listener
    listeners, servers = [], []
    for endpoint in security.listeners.listeners:
        listener = KafkaListener(apis, config.get("socket.request.max.bytes"), idle_ms=config.get("connections.max.idle.ms"),
                                 endpoint=endpoint, memory=memory)
        server = await listener.start(start_serving=False)  # bound (port 0 resolved), not accepting yet
        listeners.append(listener)
        servers.append(server)
        broker.listener_bound(endpoint.name, server.sockets[0].getsockname()[1])
    await broker.start()
    if broker.cluster is not None:
        # As Kafka, serve clients once this broker knows the cluster: a Metadata answer listing no
        # broker leaves librdkafka waiting. Bounded: a slow ZooKeeper does not stop the start.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not broker.cluster.brokers() and loop.time() < deadline:
            await asyncio.sleep(0.05)
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
                          for e, s in zip(security.listeners.listeners, servers)), config.data_dir)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        logger.info("shutting down")
        for server in servers:
            server.close()
        if metrics_server is not None:
            metrics_server.shutdown()
        for listener in listeners:
            await listener.close_all()  # before the broker closes its logs under them
        await broker.close()
        logger.info("clean shutdown complete")


def run(config: BrokerConfig) -> None:
    """Blocking entry point of `pystream serve` (uvloop when installed)."""
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.run(serve(config))
    except ImportError:
        asyncio.run(serve(config))
