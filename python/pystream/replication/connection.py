"""An asyncio Kafka-protocol connection for broker-to-broker traffic (replica fetchers).

`BrokerConnection.connect(host, port)` opens the socket and negotiates
ApiVersions (KIP-511: an UNSUPPORTED_VERSION answer comes as a v0 body listing
what the broker knows; retry with that). `request(api_key, version, body)`
sends one request and awaits its response; requests may be pipelined from
several tasks: a reader task matches responses to requests by correlation id.

Errors: network failures, timeouts, a closed connection and undecodable
responses raise `KafkaConnectionError` and close the connection (every pending
request fails with it); version problems raise `KafkaError(35)`. Kafka error
codes inside a response body are the caller's business.

Invariants: correlation ids are unique among pending requests; each pending
future is resolved exactly once; after `close()` nothing is pending.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from typing import Any

from pystream.protocol.client import KafkaConnectionError, KafkaError, sasl_exchange
from pystream.protocol.codec import SUPPORTED_VERSIONS, ProtocolError, decode_response, encode_request
from pystream.protocol.schema_data import ApiKey
from pystream.security.client import PLAINTEXT, ClientSecurity

__all__ = ["BrokerConnection", "KafkaConnectionError", "KafkaError", "connect"]

DEFAULT_TIMEOUT = 30.0
UNSUPPORTED_VERSION = 35
_SIZE = struct.Struct(">i")
_CORR_ERR = struct.Struct(">ih")
MAX_FRAME = 1 << 30


def _api_name(api_key: int) -> str:
    try:
        return "".join(w.capitalize() for w in ApiKey(api_key).name.split("_"))
    except ValueError:
        return f"api key {api_key}"


class BrokerConnection:
    """One asyncio connection to one broker. Create with `await BrokerConnection.connect(...)`."""

    def __init__(self, host: str, port: int, client_id: str = "pystream-replica",
                 timeout: float = DEFAULT_TIMEOUT, security: ClientSecurity = PLAINTEXT) -> None:
        self.host, self.port = host, int(port)
        self.security = security
        self._reconnect_at: float | None = None  # monotonic time the SASL session must be renewed (KIP-368)
        self.client_id = client_id
        self.timeout = timeout
        self.broker_versions: dict[int, tuple[int, int]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._pending: dict[int, tuple[int, int, asyncio.Future[bytes]]] = {}
        self._corr = 0
        self._error: KafkaConnectionError | None = None
        self._abandoned: set[int] = set()  # correlation ids whose caller stopped waiting

    def __repr__(self) -> str:
        return f"<BrokerConnection {self.host}:{self.port} {'closed' if self.closed else 'open'}>"

    @classmethod
    async def connect(cls, host: str, port: int, client_id: str = "pystream-replica",
                      timeout: float = DEFAULT_TIMEOUT, security: ClientSecurity | None = None) -> BrokerConnection:
        conn = cls(host, port, client_id, timeout, security or PLAINTEXT)
        await conn._open()
        return conn

    @property
    def session_expired(self) -> bool:
        """The SASL session is due for renewal: the owner reconnects (the broker would close it)."""
        return self._reconnect_at is not None and asyncio.get_running_loop().time() >= self._reconnect_at

    @property
    def closed(self) -> bool:
        return self._writer is None

    async def _open(self) -> None:
        tls = self.security.ssl_context if self.security.tls else None
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=tls, server_hostname=self.host if tls else None), self.timeout)
        except asyncio.TimeoutError:
            raise KafkaConnectionError(f"cannot connect to {self.host}:{self.port}: timed out") from None
        except OSError as e:  # ssl.SSLError included: an untrusted certificate, a plaintext port
            raise KafkaConnectionError(f"cannot connect to {self.host}:{self.port}: {e.strerror or e}") from None
        self._error = None
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())
        try:
            await self._negotiate()
            if self.security.sasl:
                await self._authenticate()
        except BaseException:
            await self.close()
            raise

    async def _authenticate(self) -> None:
        exchange = sasl_exchange(self.security, self.broker_versions, f"{self.host}:{self.port}")
        try:
            key, version, body = next(exchange)
            while True:
                key, version, body = exchange.send(await self.request(key, version, body))
        except StopIteration as done:
            lifetime = done.value
            loop = asyncio.get_running_loop()
            self._reconnect_at = loop.time() + lifetime * 0.85 / 1000 if lifetime else None

    async def close(self) -> None:
        """Closes the socket; pending requests fail with KafkaConnectionError."""
        self._fail(KafkaConnectionError(f"connection to {self.host}:{self.port} closed"))
        task, self._read_task = self._read_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def _fail(self, err: KafkaConnectionError) -> None:
        if self._error is None:
            self._error = err
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        pending, self._pending = self._pending, {}
        for _, _, fut in pending.values():
            if not fut.done():
                fut.set_exception(err)

    # ----- versions ----------------------------------------------------------------

    async def _negotiate(self) -> None:
        key = int(ApiKey.API_VERSIONS)
        version = SUPPORTED_VERSIONS[key][1]
        for _ in range(2):
            body = {"client_software_name": "pystream", "client_software_version": "0"}
            frame = await self._roundtrip(key, version, body, self.timeout)
            code = _CORR_ERR.unpack_from(frame, 0)[1] if len(frame) >= 6 else 0
            if code == UNSUPPORTED_VERSION:
                resp = self._decode(key, 0, frame)
                theirs = {e["api_key"]: e["max_version"] for e in resp["api_keys"]}
                if key not in theirs or theirs[key] >= version:
                    raise KafkaError(UNSUPPORTED_VERSION, f"broker {self.host}:{self.port} refused ApiVersions v{version}")
                version = min(theirs[key], SUPPORTED_VERSIONS[key][1])
                continue
            resp = self._decode(key, version, frame)
            if resp["error_code"]:
                raise KafkaError(resp["error_code"], f"ApiVersions from {self.host}:{self.port}")
            self.broker_versions = {e["api_key"]: (e["min_version"], e["max_version"]) for e in resp["api_keys"]}
            return
        raise KafkaError(UNSUPPORTED_VERSION, f"cannot agree on an ApiVersions version with {self.host}:{self.port}")

    def version_for(self, api_key: int, max_version: int | None = None) -> int:
        """The highest version of `api_key` both sides support, capped by `max_version`."""
        name = _api_name(api_key)
        theirs = self.broker_versions.get(int(api_key))
        ours = SUPPORTED_VERSIONS.get(int(api_key))
        if theirs is None:
            raise KafkaError(UNSUPPORTED_VERSION, f"broker {self.host}:{self.port} does not support {name}")
        if ours is None:
            raise KafkaError(UNSUPPORTED_VERSION, f"this client cannot encode {name}")
        hi = min(theirs[1], ours[1], 0x7FFF if max_version is None else max_version)
        lo = max(theirs[0], ours[0])
        if hi < lo:
            raise KafkaError(UNSUPPORTED_VERSION, f"no common version of {name} with {self.host}:{self.port}: "
                             f"broker {theirs[0]}-{theirs[1]}, client {ours[0]}-{hi}")
        return hi

    # ----- requests ----------------------------------------------------------------

    async def request(self, api_key: int, version: int | None, body: Mapping[str, Any],
                      timeout: float | None = None) -> dict[str, Any]:
        """Sends one request and returns the decoded response body.

        `version` None = the negotiated (highest common) version. `timeout`
        bounds the wait for the response (default: the connection's timeout;
        a long-polling Fetch should pass max_wait + margin). A timeout closes
        the connection (its response would otherwise arrive out of context).
        """
        if version is None:
            version = self.version_for(api_key)
        frame = await self._roundtrip(int(api_key), version, body, self.timeout if timeout is None else timeout)
        return self._decode(int(api_key), version, frame)

    async def _roundtrip(self, api_key: int, version: int, body: Mapping[str, Any], timeout: float) -> bytes:
        what = f"{_api_name(api_key)} v{version} to {self.host}:{self.port}"
        writer = self._writer
        if writer is None:
            raise KafkaConnectionError(f"{what}: {self._error or 'connection is closed'}")
        self._corr = (self._corr + 1) & 0x7FFFFFFF
        while self._corr in self._pending or self._corr in self._abandoned:
            self._corr = (self._corr + 1) & 0x7FFFFFFF
        corr = self._corr
        buffers = encode_request(api_key, version, corr, self.client_id, body)  # ProtocolError: caller's bug
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[corr] = (api_key, version, fut)
        try:
            writer.writelines(buffers)
            await writer.drain()
        except (OSError, RuntimeError) as e:
            self._fail(KafkaConnectionError(f"{what} failed: {e}"))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            self._fail(KafkaConnectionError(f"{what}: no response within {timeout:g} s"))
            raise KafkaConnectionError(f"{what}: no response within {timeout:g} s") from None
        except KafkaConnectionError as e:
            raise KafkaConnectionError(f"{what} failed: {e}") from None
        finally:
            self._pending.pop(corr, None)
            if not fut.done():  # cancelled or timed out: its response, if any, is dropped
                fut.cancel()
                self._abandoned.add(corr)

    def _decode(self, api_key: int, version: int, frame: bytes) -> dict[str, Any]:
        try:
            return decode_response(api_key, version, frame)[1]
        except ProtocolError as e:
            self._fail(KafkaConnectionError(f"bad response from {self.host}:{self.port}: {e}"))
            raise KafkaConnectionError(f"bad {_api_name(api_key)} v{version} response from "
                                       f"{self.host}:{self.port}: {e}") from None

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        try:
            while True:
                head = await reader.readexactly(4)
                (size,) = _SIZE.unpack(head)
                if not 4 <= size <= MAX_FRAME:
                    raise KafkaConnectionError(f"invalid response size {size} from {self.host}:{self.port}")
                frame = await reader.readexactly(size)
                (corr,) = _SIZE.unpack_from(frame, 0)
                entry = self._pending.get(corr)
                if entry is None and corr in self._abandoned:
                    self._abandoned.discard(corr)
                    continue
                if entry is None:
                    raise KafkaConnectionError(f"response with unknown correlation id {corr} from {self.host}:{self.port}")
                fut = entry[2]
                if not fut.done():
                    fut.set_result(frame)
        except asyncio.IncompleteReadError:
            self._fail(KafkaConnectionError(f"{self.host}:{self.port} closed the connection"))
        except KafkaConnectionError as e:
            self._fail(e)
        except OSError as e:
            self._fail(KafkaConnectionError(f"reading from {self.host}:{self.port} failed: {e.strerror or e}"))
        except asyncio.CancelledError:
            raise


async def connect(host: str, port: int, client_id: str = "pystream-replica",
                  timeout: float = DEFAULT_TIMEOUT, security: ClientSecurity | None = None) -> BrokerConnection:
    """Opens a `BrokerConnection` with ApiVersions negotiated (and TLS / SASL as `security` says)."""
    return await BrokerConnection.connect(host, port, client_id, timeout, security)
