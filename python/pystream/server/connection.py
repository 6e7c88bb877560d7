"""A listener: Kafka's size-prefixed framing over TCP or TLS, one request at a
time per connection (responses go out in request order, as Kafka requires).

Each configured listener (``listeners``) gets a `KafkaListener` with its
endpoint and security protocol:

* SSL / SASL_SSL: the server socket does TLS (asyncio ``start_server(ssl=...)``);
  a failed handshake (untrusted certificate, a plaintext client) never reaches
  `handle`. With a client certificate the principal is its mapped subject.
* SASL_PLAINTEXT / SASL_SSL: an `Authenticator` per connection; before the
  exchange completes only ApiVersions and the SASL requests are served, frames
  are limited to ``sasl.server.max.receive.size``, and a client that does not
  finish within ``connections.authentication.timeout.ms`` is closed.

Quotas: after each request the connection records its bytes and loop time
against the client's quotas; a client over quota gets ``throttle_time_ms`` in
its response and the connection is muted (no request is read) that long.
``max.connections.per.ip`` / ``max.connections`` refuse new connections.

Memory: the requests being received share ``queued.max.request.bytes`` (a
`RequestMemoryPool`, one for all listeners); a connection that sends nothing
for ``connections.max.idle.ms`` — between requests or in the middle of one —
is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pystream.errors import AuthenticationError
from pystream.protocol import codec
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.listeners import Endpoint
from pystream.security.principal import ANONYMOUS, KafkaPrincipal, Session, subject_dn
from pystream.security.quotas import FETCH, PRODUCE, REQUEST
from pystream.server.apis import CLIENT_HOST, SESSION, SUPPORTED_VERSIONS, Apis
from pystream.server.apis.security import AUTHENTICATOR
from pystream.server.authenticator import Authenticator, SaslState
from pystream.server.gc_policy import collector_paused
from pystream.server.request_memory import RequestMemoryPool

logger = logging.getLogger("pystream.server")
_SIZE = struct.Struct(">i")
# TLS: chunks smaller than this are joined before the write (one TLS record for many small pieces).
_COALESCE = 64 * 1024
# Requests that never count against request quotas (Kafka exempts them too).
_QUOTA_EXEMPT = frozenset({ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE})


class CloseConnection(Exception):
    """The request cannot be answered; the connection is closed (Kafka does the same)."""


class _Timed:
    """Awaits a coroutine and adds up the time its steps run on the loop (not the
    time it waits): what a request costs, for request quotas; and the longest single
    step: how long the request held the event loop (nobody else is served meanwhile)."""

    __slots__ = ("coro", "busy", "longest")

    def __init__(self, coro: Awaitable[Any]) -> None:
        self.coro = coro
        self.busy = 0.0
        self.longest = 0.0

    def __await__(self) -> Generator[Any, Any, Any]:
        coro: Any = self.coro
        send, value, exc = coro.send, None, None
        while True:
            t0 = time.perf_counter()
            try:
                fut = coro.throw(exc) if exc is not None else send(value)
            except StopIteration as stop:
                step = time.perf_counter() - t0
                self.busy += step
                self.longest = max(self.longest, step)
                return stop.value
            step = time.perf_counter() - t0
            self.busy += step
            if step > self.longest:
                self.longest = step
            try:
                value, exc = (yield fut), None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:  # noqa: BLE001 - thrown in by the task (cancellation): pass it on
                value, exc = None, e


class KafkaListener:
    """One listener. ``max_request_bytes``: socket.request.max.bytes; ``queued_max_request_bytes``:
    what all requests being received may hold together (-1: no bound; or a `memory` pool shared
    with the other listeners); ``idle_ms``: connections.max.idle.ms, how long a connection may
    send nothing — between requests or in the middle of one — before it is closed (-1: never)."""

    def __init__(self, apis: Apis, max_request_bytes: int, queued_max_request_bytes: int = -1, idle_ms: int = -1,
                 endpoint: Endpoint | None = None, memory: RequestMemoryPool | None = None) -> None:
        self.apis = apis
        self.max_request_bytes = max_request_bytes
        self.memory = memory if memory is not None else RequestMemoryPool(queued_max_request_bytes)
        self.idle_s = None if idle_ms < 0 else idle_ms / 1000
        self.security = apis.broker.security
        self.endpoint = endpoint or self.security.listeners.listeners[0]
        self.ssl_context = self.security.ssl_contexts.get(self.endpoint.name)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closing = False  # close_all began: no connection starts another request

    async def start(self, sock: socket.socket) -> asyncio.AbstractServer:
        """A server on `sock` (bound to the endpoint; TLS on SSL and SASL_SSL listeners) that accepts
        nothing until ``server.start_serving()``."""
        return await asyncio.start_server(
            self.handle, sock=sock, limit=1 << 20, backlog=1024, ssl=self.ssl_context,
            ssl_handshake_timeout=self.security.auth_timeout_ms / 1000 if self.ssl_context else None,
            start_serving=False)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        ip = peer[0] if isinstance(peer, tuple) else str(peer)
        where = f"{ip}:{peer[1]}" if isinstance(peer, tuple) else ip
        refused = self.security.connections.acquire(ip)
        if refused is not None:
            logger.info("refusing connection from %s on %s: %s", where, self.endpoint.name, refused)
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        metrics = self.apis.broker.metrics
        metrics.connections += 1
        metrics.connections_total += 1
        auth: Authenticator | None = None
        try:
            session = Session(client_host=ip, listener=self.endpoint.name, protocol=self.endpoint.protocol)
            if self.ssl_context is not None and not self.endpoint.sasl:
                session.principal = self._certificate_principal(writer)
            CLIENT_HOST.set(ip)
            SESSION.set(session)
            auth = Authenticator(self.security, session, where) if self.endpoint.sasl else None
            AUTHENTICATOR.set(auth)
            await self._serve(reader, writer, auth, where)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (CloseConnection, AuthenticationError) as e:
            logger.warning("closing connection from %s: %s", where, e)
        except asyncio.TimeoutError:
            if auth is not None and not auth.authenticated:
                logger.warning("closing connection from %s: SASL authentication not finished within "
                               "connections.authentication.timeout.ms=%d", where, self.security.auth_timeout_ms)
            else:
                logger.info("closing connection from %s: nothing received for connections.max.idle.ms=%d", where,
                            int((self.idle_s or 0) * 1000))
        except asyncio.CancelledError:
            # Shutdown (close_all): end the handler normally; asyncio's stream-server
            # callback would otherwise log the cancellation as an error.
            pass
        except Exception:
            logger.exception("closing connection from %s after an internal error", where)
        finally:
            metrics.connections -= 1
            self.security.connections.release(ip)
            if task is not None:
                self.tasks.discard(task)
            writer.close()

    def _certificate_principal(self, writer: asyncio.StreamWriter) -> KafkaPrincipal:
        """SSL listener: the client certificate's subject through ssl.principal.mapping.rules
        (ANONYMOUS without one); AuthenticationError when no rule applies."""
        cert = writer.get_extra_info("peercert")
        if not cert:
            return ANONYMOUS
        return KafkaPrincipal.user(self.security.principal_mappers[self.endpoint.name].name(subject_dn(cert)))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, auth: Authenticator | None,
                     where: str) -> None:
        loop = asyncio.get_running_loop()
        auth_deadline = loop.time() + self.security.auth_timeout_ms / 1000
        tls = self.ssl_context is not None
        decode_costs: dict[int, float] = {}  # api key -> seconds per byte its last large request took to decode
        while not self.closing:
            pending_auth = auth is not None and not auth.authenticated
            # Until authenticated the whole exchange has connections.authentication.timeout.ms;
            # after that, each request (its turn in the memory pool, then its bytes) the idle time.
            wait = max(0.0, auth_deadline - loop.time()) if pending_auth else self.idle_s
            async with asyncio.timeout(wait):  # (not wait_for: on Python 3.11 it can swallow a cancellation)
                head = await reader.readexactly(4)
            started = time.perf_counter()
            (size,) = _SIZE.unpack(head)
            limit = self.security.max_receive_before_auth if pending_auth else self.max_request_bytes
            if size < 0 or size > limit:
                key = "sasl.server.max.receive.size" if pending_auth else "socket.request.max.bytes"
                raise CloseConnection(f"request of {size} bytes ({key}={limit})")
            async with contextlib.AsyncExitStack() as held:  # the memory, until the request is answered
                async with asyncio.timeout(max(0.0, auth_deadline - loop.time()) if pending_auth else self.idle_s):
                    await held.enter_async_context(self.memory.reserve(size))
                    frame = await _read_body(reader, size)
                if auth is not None and auth.state == SaslState.RAW:
                    # SaslHandshake v0: the frame is a bare token, answered by a bare token.
                    token, _done = auth.evaluate(bytes(frame))
                    writer.write(_SIZE.pack(len(token)) + token)
                    await writer.drain()
                    continue
                served = _Timed(self.dispatch(frame, where, auth, started, decode_costs))
                chunks, throttle_ms = await served
                self.apis.broker.metrics.loop_held(int.from_bytes(frame[:2], "big"), served.longest * 1000)
                del frame
            if chunks:
                self._write(writer, chunks, tls)
                await writer.drain()
            if auth is not None and auth.close_after_response:
                await asyncio.sleep(self.security.failed_auth_delay_ms / 1000)
                return
            if throttle_ms > 0:
                await asyncio.sleep(throttle_ms / 1000)  # muted: Kafka reads nothing more from a throttled client

    @staticmethod
    def _write(writer: asyncio.StreamWriter, chunks: list[Any], tls: bool) -> None:
        if not tls:
            for chunk in chunks:
                writer.write(chunk)
            return
        # TLS encrypts every write into its own records: join the small pieces (headers,
        # partition fields) and pass the large record views (mmap'd segments) as they are.
        small: list[Any] = []
        for chunk in chunks:
            if len(chunk) < _COALESCE:
                small.append(chunk)
                continue
            if small:
                writer.write(b"".join(small))
                small = []
            writer.write(chunk)
        if small:
            writer.write(b"".join(small))

    async def close_all(self) -> None:
        """Stops every connection, cancelling requests in progress (a parked Fetch)."""
        self.closing = True
        tasks = list(self.tasks)
        while tasks:
            for t in tasks:
                t.cancel()
            # A cancellation that lands as a request completes can be lost; the handler then
            # sees `closing` after that request, or the next round cancels it again.
            _done, pending = await asyncio.wait(tasks, timeout=1.0)
            tasks = list(pending)

    async def dispatch(self, frame: bytes, peer: Any, auth: Authenticator | None = None,
                       started: float | None = None, decode_costs: dict[int, float] | None = None,
                       ) -> tuple[list[Any] | None, int]:
        """Decodes and serves one request: (response buffers or None, throttle time in ms);
        `started` (perf_counter) is when its first byte arrived, for the request metrics;
        `decode_costs` is the connection's memory of what its large requests cost to decode
        (seconds per byte, per API key)."""
        # A request of thousands of partitions takes tens of ms to decode and its response to
        # encode (pure Python): that work runs in a thread, so the event loop gets the GIL back
        # every few ms and other connections are served in between. Size alone does not tell:
        # a Produce of one partition and 1 MB of records decodes in microseconds, and the thread
        # hand-off would cost more than it saves. So a large request goes to a thread unless the
        # connection's large requests of that API decoded at a cost per byte that, for this
        # one's size, comes under CHEAP_DECODE_S.
        big = len(frame) >= HEAVY_REQUEST_BYTES
        api_key = int.from_bytes(frame[:2], "big") if big else -1
        heavy = big and decode_off_loop(api_key, len(frame), decode_costs)
        try:
            if heavy:
                (header, body), cost = await asyncio.get_running_loop().run_in_executor(
                    _codec_pool(), _decode_in_thread, frame)
            else:
                (header, body), cost = _timed_decode(frame) if big else (codec.decode_request(frame, allow_trailing=True), 0.0)
            if big and decode_costs is not None:
                decode_costs[api_key] = cost / len(frame)  # seconds per byte
        except codec.UnsupportedVersionError as e:
            if e.api_key == ApiKey.API_VERSIONS:
                return self._api_versions_fallback(e.correlation_id), 0
            raise CloseConnection(str(e)) from None
        except codec.ProtocolError as e:
            head = bytes(frame[:96]).hex()
            raise CloseConnection(f"malformed request: {e}; first bytes {head}") from None
        key, version = header.api_key, header.api_version
        if auth is not None:
            if not auth.allows(key):
                what = ApiKey(key).name if key in ApiKey._value2member_map_ else f"api key {key}"
                raise CloseConnection(f"unexpected {what} request during SASL authentication (state {auth.state.value})")
            if auth.authenticated and auth.expired and key != ApiKey.SASL_HANDSHAKE and not auth.reauthenticating:
                raise CloseConnection("SASL session expired (connections.max.reauth.ms) and the client did not re-authenticate")
        supported = SUPPORTED_VERSIONS.get(key)
        if supported is None or not supported[0] <= version <= supported[1]:
            if key == ApiKey.API_VERSIONS:
                return self._api_versions_fallback(header.correlation_id), 0
            raise CloseConnection(f"unsupported API key {key} version {version}")
        handling = time.perf_counter()
        handler = self.apis.handlers[key]
        quotas = self.security.quotas
        timed = _Timed(handler(body, header)) if quotas.enabled(REQUEST) and key not in _QUOTA_EXEMPT else None
        response = await (timed if timed is not None else handler(body, header))
        throttle_ms = self._throttle(key, header, body, len(frame), response, timed.busy if timed else 0.0)
        chunks = None
        if response is not None:
            if throttle_ms and "throttle_time_ms" in response:
                response["throttle_time_ms"] = max(response["throttle_time_ms"] or 0, throttle_ms)
            if heavy or key == ApiKey.FETCH and len(frame) >= HEAVY_REQUEST_BYTES // 4:
                chunks = await asyncio.get_running_loop().run_in_executor(
                    _codec_pool(), _encode_in_thread, key, version, header.correlation_id, response)
            else:
                chunks = codec.encode_response(key, version, header.correlation_id, response)
        if started is not None:
            self.apis.broker.metrics.request_done(key, (handling - started) * 1000, (time.perf_counter() - started) * 1000)
        return chunks, throttle_ms

    def _throttle(self, key: int, header: Any, body: dict[str, Any], request_bytes: int, response: dict[str, Any] | None,
                  busy: float) -> int:
        """Records the request against the client's quotas; the throttle time (0: none)."""
        quotas = self.security.quotas
        if key in _QUOTA_EXEMPT or (key == ApiKey.FETCH and body.get("replica_id", -1) >= 0):
            return 0  # replication traffic is not a client's
        session = SESSION.get()
        user, client = session.principal.name, header.client_id or ""
        now = time.monotonic() * 1000
        throttle = 0
        if key == ApiKey.PRODUCE and quotas.enabled(PRODUCE):
            throttle = quotas.record(PRODUCE, user, client, request_bytes, now)
        elif key == ApiKey.FETCH and quotas.enabled(FETCH) and response is not None:
            size = sum(len(p["records"]) for t in response.get("responses", []) for p in t["partitions"] if p.get("records") is not None)
            throttle = quotas.record(FETCH, user, client, size, now)
            if throttle:
                response["responses"] = []  # Kafka answers a throttled fetch with no data
        if busy:
            throttle = max(throttle, quotas.record(REQUEST, user, client, busy * 100, now))
        return throttle

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


# Requests at least this large (a Produce or Metadata naming thousands of partitions or topics)
# are decoded and answered off the event loop; so are Fetch requests a quarter of it (some
# hundreds of partitions named: their responses are the large ones).
HEAVY_REQUEST_BYTES = 64 * 1024
CHEAP_DECODE_S = 0.002
_CODEC_POOL: ThreadPoolExecutor | None = None


def decode_off_loop(api_key: int, size: int, decode_costs: dict[int, float] | None) -> bool:
    """Should a request of `size` bytes (at least HEAVY_REQUEST_BYTES) be decoded in a codec
    thread? Yes unless the connection's last large request of that API decoded at a cost per
    byte (`decode_costs`) that, for this size, comes under CHEAP_DECODE_S."""
    if decode_costs is None or api_key not in decode_costs:
        return True
    return decode_costs[api_key] * size >= CHEAP_DECODE_S


def _timed_decode(frame: bytes) -> tuple[tuple[Any, dict[str, Any]], float]:
    """The decoded request and the seconds the decoding took."""
    t0 = time.perf_counter()
    decoded = codec.decode_request(frame, allow_trailing=True)
    return decoded, time.perf_counter() - t0


def _decode_in_thread(frame: bytes) -> tuple[tuple[Any, dict[str, Any]], float]:
    """`_timed_decode` in a codec thread, the collector paused (server/gc_policy.py)."""
    with collector_paused():
        return _timed_decode(frame)


def _encode_in_thread(key: int, version: int, correlation_id: int, response: dict[str, Any]) -> list[Any]:
    with collector_paused():
        return codec.encode_response(key, version, correlation_id, response)


def _codec_pool() -> ThreadPoolExecutor:
    global _CODEC_POOL
    if _CODEC_POOL is None:
        _CODEC_POOL = ThreadPoolExecutor(2, thread_name_prefix="codec")
    return _CODEC_POOL
