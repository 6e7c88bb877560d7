"""The listener: Kafka's size-prefixed framing over TCP, one request at a time
per connection (responses go out in request order, as Kafka requires)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pystream.protocol import codec
from pystream.protocol.schema_data import ApiKey
from pystream.server.apis import CLIENT_HOST, SUPPORTED_VERSIONS, Apis
from pystream.server.request_memory import RequestMemoryPool
from pystream.protocol.error_codes import ErrorCode

logger = logging.getLogger("pystream.server")
_SIZE = struct.Struct(">i")


class CloseConnection(Exception):
    """The request cannot be answered; the connection is closed (Kafka does the same)."""


class KafkaListener:
    """``max_request_bytes``: socket.request.max.bytes; ``queued_max_request_bytes``: what all
    requests being received may hold together (-1: no bound); ``idle_ms``:
    connections.max.idle.ms, how long a connection may send nothing — between requests or
    in the middle of one — before it is closed (-1: never)."""

    def __init__(self, apis: Apis, max_request_bytes: int, queued_max_request_bytes: int = -1, idle_ms: int = -1) -> None:
        self.apis = apis
        self.max_request_bytes = max_request_bytes
        self.memory = RequestMemoryPool(queued_max_request_bytes)
        self.idle_s = None if idle_ms < 0 else idle_ms / 1000
        self.tasks: set[asyncio.Task[Any]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        CLIENT_HOST.set(peer[0] if isinstance(peer, tuple) else str(peer))
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        metrics = self.apis.broker.metrics
        metrics.connections += 1
        metrics.connections_total += 1
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(4), self.idle_s)
                started = time.perf_counter()
                (size,) = _SIZE.unpack(head)
                if size < 0 or size > self.max_request_bytes:
                    logger.warning("closing connection from %s: request of %d bytes (socket.request.max.bytes=%d)",
                                   peer, size, self.max_request_bytes)
                    return
                # As in Kafka, a connection waiting for request memory is idle too: the whole
                # request (its turn in the pool, then its bytes) arrives within the idle time.
                async with contextlib.AsyncExitStack() as held:  # the memory, until the request is answered
                    async with asyncio.timeout(self.idle_s):
                        await held.enter_async_context(self.memory.reserve(size))
                        frame = await _read_body(reader, size)
                    chunks = await self.dispatch(frame, peer, started)
                    del frame
                if chunks:
                    for chunk in chunks:
                        writer.write(chunk)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.TimeoutError:
            logger.info("closing connection from %s: nothing received for connections.max.idle.ms=%d", peer,
                        int((self.idle_s or 0) * 1000))
        except CloseConnection as e:
            logger.warning("closing connection from %s: %s", peer, e)
        except asyncio.CancelledError:
            # Shutdown (close_all): end the handler normally; asyncio's stream-server
            # callback would otherwise log the cancellation as an error.
            pass
        except Exception:
            logger.exception("closing connection from %s after an internal error", peer)
        finally:
            metrics.connections -= 1
            if task is not None:
                self.tasks.discard(task)
            writer.close()

    async def close_all(self) -> None:
        """Stops every connection, cancelling requests in progress (a parked Fetch)."""
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def dispatch(self, frame: bytes, peer: Any, started: float | None = None) -> list[Any] | None:
        """Decodes, handles and encodes one request; `started` (perf_counter) is when its
        first byte arrived, for the request metrics."""
        # A request of thousands of partitions takes tens of ms to decode and its response to
        # encode (pure Python): that work runs in a thread, so the event loop gets the GIL back
        # every few ms and other connections are served in between.
        heavy = len(frame) >= HEAVY_REQUEST_BYTES
        try:
            if heavy:
                header, body = await asyncio.get_running_loop().run_in_executor(
                    _codec_pool(), functools.partial(codec.decode_request, frame, allow_trailing=True))
            else:
                header, body = codec.decode_request(frame, allow_trailing=True)
        except codec.UnsupportedVersionError as e:
            if e.api_key == ApiKey.API_VERSIONS:
                return self._api_versions_fallback(e.correlation_id)
            raise CloseConnection(str(e)) from None
        except codec.ProtocolError as e:
            head = bytes(frame[:96]).hex()
            raise CloseConnection(f"malformed request: {e}; first bytes {head}") from None
        key, version = header.api_key, header.api_version
        supported = SUPPORTED_VERSIONS.get(key)
        if supported is None or not supported[0] <= version <= supported[1]:
            if key == ApiKey.API_VERSIONS:
                return self._api_versions_fallback(header.correlation_id)
            raise CloseConnection(f"unsupported API key {key} version {version}")
        handling = time.perf_counter()
        response = await self.apis.handlers[key](body, header)
        if response is None:
            chunks = None
        elif heavy or key == ApiKey.FETCH and len(frame) >= HEAVY_REQUEST_BYTES // 8:
            chunks = await asyncio.get_running_loop().run_in_executor(
                _codec_pool(), codec.encode_response, key, version, header.correlation_id, response)
        else:
            chunks = codec.encode_response(key, version, header.correlation_id, response)
        if started is not None:
            self.apis.broker.metrics.request_done(key, (handling - started) * 1000, (time.perf_counter() - started) * 1000)
        return chunks

    def _api_versions_fallback(self, correlation_id: int) -> list[Any]:
        """KIP-511: a client asking ApiVersions at a version we do not know gets a v0
        response with UNSUPPORTED_VERSION and our ranges, and retries with one we do."""
        body = {"error_code": int(ErrorCode.UNSUPPORTED_VERSION),
                "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi} for k, (lo, hi) in sorted(SUPPORTED_VERSIONS.items())]}
        return codec.encode_response(ApiKey.API_VERSIONS, 0, correlation_id, body)


async def _read_body(reader: asyncio.StreamReader, size: int) -> bytes:
    """`size` bytes, read as they arrive: memory grows with what was received, not with what
    was announced (readexactly would also keep a second copy in the reader's buffer)."""
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = await reader.read(min(left, 1 << 20))
        if not chunk:
            raise asyncio.IncompleteReadError(b"".join(chunks), size)
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# Requests at least this large (a Produce to thousands of partitions) are decoded and answered
# off the event loop; so are Fetch requests an eighth of it (thousands of partitions named).
HEAVY_REQUEST_BYTES = 256 * 1024
_CODEC_POOL: ThreadPoolExecutor | None = None


def _codec_pool() -> ThreadPoolExecutor:
    global _CODEC_POOL
    if _CODEC_POOL is None:
        _CODEC_POOL = ThreadPoolExecutor(2, thread_name_prefix="codec")
    return _CODEC_POOL
