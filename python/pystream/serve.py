"""Running a broker (`pystream serve`): the composition root.

Builds the `Broker` over its data directory, makes it a cluster node when
zookeeper.connect is set (the only place that joins `pystream.server` and
`pystream.cluster`), listens, and serves until SIGTERM/SIGINT; then shuts
down cleanly.
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
    if config.get("zookeeper.connect"):
        from pystream.cluster.node import ClusterNode

        broker.attach_cluster(ClusterNode(broker, config.get("zookeeper.connect")))
    listener = KafkaListener(Apis(broker), config.get("socket.request.max.bytes"))
    server = await asyncio.start_server(listener.handle, config.host, config.port, limit=1 << 20, backlog=1024)
    if config.port == 0:
        broker.advertised_port = server.sockets[0].getsockname()[1]
    await broker.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread
    logger.info("pystream broker %d listening on %s:%d, data in %s", broker.node_id, config.host, broker.advertised_port, config.data_dir)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
        await broker.prepare_shutdown()
    finally:
        logger.info("shutting down")
        server.close()
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
