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

from pystream.server.apis import Apis
from pystream.server.broker import Broker
from pystream.server.config import BrokerConfig
from pystream.server.connection import KafkaListener

logger = logging.getLogger("pystream.server")


def _raise_fd_limit() -> None:
    """Idle clients each hold a socket: allow as many as the hard limit permits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(config: BrokerConfig, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Serves until `stop` is set or SIGTERM/SIGINT arrives; then flushes and writes clean-shutdown markers."""
    _raise_fd_limit()
    broker = Broker(config)
    security = broker.security
    if config.get("zookeeper.connect"):
        from pystream.cluster.node import ClusterNode
        from pystream.cluster.security_store import ZkAclStore, ZkEntityConfigStore

        security.inter_broker_security()  # a bad inter-broker setting fails now, not at the first fetch
        node = ClusterNode(broker, config.get("zookeeper.connect"))
        broker.attach_cluster(node)
        security.use_stores(ZkEntityConfigStore(node.zk), ZkAclStore(node.zk))
    await asyncio.get_running_loop().run_in_executor(None, security.start)  # ACLs, credentials, quotas
    apis = Apis(broker)
    listeners, servers = [], []
    for endpoint in security.listeners.listeners:
        listener = KafkaListener(apis, config.get("socket.request.max.bytes"), endpoint)
        server = await listener.start()
        listeners.append(listener)
        servers.append(server)
        broker.listener_bound(endpoint.name, server.sockets[0].getsockname()[1])
    await broker.start()
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
