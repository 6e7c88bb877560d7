"""A small synchronous Kafka protocol client: blocking sockets, no threads.

Two layers:

- `KafkaConnection`: one TCP connection to one broker. On connect it asks
  ApiVersions and keeps, per API key, the highest version both the broker and
  this codec support (`version_for`). `request(api_key, body)` sends one
  request and returns the decoded response body (a dict, as everywhere in
  `pystream.protocol`). Requests are strictly sequential (one in flight).
- `KafkaClient`: the cluster seen through Metadata. It keeps a connection per
  broker, knows partition leaders and group coordinators, sends partition
  requests (Produce, Fetch, ListOffsets) to the leader, and refreshes its
  metadata and retries when a broker answers NOT_LEADER_OR_FOLLOWER,
  UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE or a connection drops.

Errors: Kafka error codes become `KafkaError(code, name, message)`; network
failures and timeouts become `KafkaConnectionError`. Retries are
at-least-once: a Produce retried after a dropped connection may have been
appended already (as with a Kafka producer without idempotence). Only the Kafka protocol
is used, so everything here works against Apache Kafka too.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
import uuid
from collections.abc import Generator, Iterable, Mapping
from typing import Any

from pystream.errors import PystreamError
from pystream.protocol.codec import (
    SUPPORTED_VERSIONS,
    ProtocolError,
    decode_message,
    decode_response,
    encode_message,
    encode_request,
    join,
)
from pystream.protocol.schema_data import ApiKey
from pystream.security.client import PLAINTEXT, ClientSecurity

__all__ = [
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "KafkaClient",
    "KafkaConnection",
    "KafkaConnectionError",
    "KafkaError",
    "error_name",
    "parse_bootstrap",
]

DEFAULT_TIMEOUT = 30.0
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
_ZERO_UUID = uuid.UUID(int=0)

# Highest version each helper knows how to build/read (newer versions change
# the shape: Fetch v13+ names topics by id only).
_HELPER_MAX = {ApiKey.FETCH: 12}

# ---------------------------------------------------------------------------
# Errors

_EXTRA_NAMES = {
    8: "BROKER_NOT_AVAILABLE", 11: "STALE_CONTROLLER_EPOCH", 13: "NETWORK_EXCEPTION",
    29: "TOPIC_AUTHORIZATION_FAILED", 30: "GROUP_AUTHORIZATION_FAILED", 31: "CLUSTER_AUTHORIZATION_FAILED",
    43: "UNSUPPORTED_FOR_MESSAGE_FORMAT", 50: "INVALID_TRANSACTION_TIMEOUT", 51: "CONCURRENT_TRANSACTIONS",
    52: "TRANSACTION_COORDINATOR_FENCED", 53: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", 54: "SECURITY_DISABLED",
    55: "OPERATION_NOT_ATTEMPTED", 57: "LOG_DIR_NOT_FOUND", 72: "LISTENER_NOT_FOUND", 73: "TOPIC_DELETION_DISABLED",
    76: "UNSUPPORTED_COMPRESSION_TYPE", 77: "STALE_BROKER_EPOCH", 86: "GROUP_SUBSCRIBED_TO_TOPIC",
    88: "UNSTABLE_OFFSET_COMMIT", 89: "THROTTLING_QUOTA_EXCEEDED", 91: "RESOURCE_NOT_FOUND",
    103: "INCONSISTENT_TOPIC_ID", 104: "INCONSISTENT_CLUSTER_ID", 106: "FETCH_SESSION_TOPIC_ID_ERROR",
    108: "NEW_LEADER_ELECTED", 110: "FENCED_MEMBER_EPOCH", 113: "STALE_MEMBER_EPOCH",
}

# Codes Kafka marks retriable (RetriableException subclasses) that this client retries.
RETRIABLE = frozenset({3, 5, 6, 7, 8, 13, 14, 15, 16, 19, 20, 74, 75, 78, 89, 108})
_LEADER_ERRORS = frozenset({3, 5, 6, 74, 75, 108})  # refresh metadata, retry at the (new) leader
_COORDINATOR_ERRORS = frozenset({14, 15, 16})


def _error_names() -> dict[int, str]:
    try:
        from pystream.protocol.error_codes import ErrorCode
    except ImportError:  # pragma: no cover - the client does not need the server package
        names: dict[int, str] = {}
    else:
        names = {int(e): e.name for e in ErrorCode}
    for code, name in _EXTRA_NAMES.items():
        names.setdefault(code, name)
    return names


_ERROR_NAMES = _error_names()


def error_name(code: int) -> str:
    """Kafka's name for an error code (UNKNOWN_ERROR_<n> for codes not in the table)."""
    return _ERROR_NAMES.get(code, f"UNKNOWN_ERROR_{code}")


class KafkaError(PystreamError):
    """A Kafka error code in a response: `code`, `name` (e.g. "TOPIC_ALREADY_EXISTS"), `message`."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = int(code)
        self.name = error_name(self.code)
        self.message = message
        super().__init__(f"{self.name} ({self.code})" + (f": {message}" if message else ""))

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE


class KafkaConnectionError(PystreamError, ConnectionError):
    """A broker could not be reached, closed the connection, or did not answer in time."""


def check(code: int, message: str | None = None, context: str | None = None) -> None:
    """Raise KafkaError unless `code` is 0; `context` (e.g. "topic 'x'") prefixes the message."""
    if code:
        text = message or ""
        if context:
            text = f"{context}: {text}" if text else context
        raise KafkaError(code, text or None)


# ---------------------------------------------------------------------------
# SASL, without I/O (driven by KafkaConnection here and by the replicas' asyncio connection)

SaslExchange = Generator[tuple[int, int, dict[str, Any]], dict[str, Any], int]


def sasl_exchange(security: ClientSecurity, broker_versions: Mapping[int, tuple[int, int]], where: str) -> SaslExchange:
    """SaslHandshake then SaslAuthenticate round trips: yields (api_key, version, body),
    is sent each response body; returns the session lifetime in ms (KIP-368; 0: none).
    Raises KafkaError (SASL_AUTHENTICATION_FAILED with the broker's message, ...)."""
    mechanism = security.mechanism or ""
    hs = broker_versions.get(int(ApiKey.SASL_HANDSHAKE))
    auth = broker_versions.get(int(ApiKey.SASL_AUTHENTICATE))
    if hs is None or hs[1] < 1 or auth is None:
        raise KafkaError(35, f"{where} does not support SaslHandshake v1 / SaslAuthenticate")
    resp = yield int(ApiKey.SASL_HANDSHAKE), 1, {"mechanism": mechanism}
    check(resp["error_code"], f"mechanism {mechanism}; the broker enables {', '.join(resp.get('mechanisms') or []) or 'none'}",
          f"SaslHandshake with {where}")
    client = security.sasl_client()
    version = min(auth[1], SUPPORTED_VERSIONS[int(ApiKey.SASL_AUTHENTICATE)][1])
    token: bytes | None = client.initial()
    while True:
        resp = yield int(ApiKey.SASL_AUTHENTICATE), version, {"auth_bytes": token}
        check(resp["error_code"], resp.get("error_message"), f"SASL {mechanism} authentication with {where}")
        try:
            token = client.evaluate(bytes(resp.get("auth_bytes") or b""))
        except PystreamError as e:
            raise KafkaError(58, f"{where}: {e}") from None
        if client.complete:
            return int(resp.get("session_lifetime_ms") or 0)


# ---------------------------------------------------------------------------
# One connection

_SIZE = struct.Struct(">i")
_CORR_ERR = struct.Struct(">ih")


class KafkaConnection:
    """One blocking connection to one broker, with ApiVersions negotiated on connect.

    `timeout` (seconds) bounds connecting and each request's wait for its
    response (a request may pass a longer `timeout`, e.g. a long-polling Fetch).
    `security`: TLS and SASL settings (a SASL session that expires, KIP-368,
    is renewed by reconnecting before the next request).
    """

    def __init__(self, host: str, port: int, client_id: str | None = "pystream",
                 timeout: float = DEFAULT_TIMEOUT, *, node_id: int | None = None,
                 security: ClientSecurity = PLAINTEXT) -> None:
        self.host, self.port = host, int(port)
        self.client_id = client_id
        self.timeout = timeout
        self.node_id = node_id
        self.security = security
        self.broker_versions: dict[int, tuple[int, int]] = {}
        self._sock: socket.socket | None = None
        self._correlation_id = 0
        self._reconnect_at: float | None = None  # monotonic time the SASL session must be renewed
        self.connect()

    def __repr__(self) -> str:
        state = "open" if self._sock is not None else "closed"
        return f"<KafkaConnection {self.host}:{self.port} node={self.node_id} {state}>"

    def __enter__(self) -> KafkaConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._sock is None

    def connect(self) -> None:
        """(Re)open the socket and negotiate versions."""
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise KafkaConnectionError(f"cannot connect to {self.host}:{self.port}: {e.strerror or e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.security.tls:
            assert self.security.ssl_context is not None
            try:
                sock = self.security.ssl_context.wrap_socket(sock, server_hostname=self.host)
            except (ssl.SSLError, ssl.CertificateError, OSError) as e:
                sock.close()
                raise KafkaConnectionError(f"TLS handshake with {self.host}:{self.port} failed: {e}") from None
        self._sock = sock
        try:
            self._negotiate()
            if self.security.sasl:
                self._authenticate()
        except BaseException:
            self.close()
            raise

    def _authenticate(self) -> None:
        exchange = sasl_exchange(self.security, self.broker_versions, f"{self.host}:{self.port}")
        try:
            key, version, body = next(exchange)
            while True:
                frame = self._roundtrip(key, version, body, self.timeout)
                key, version, body = exchange.send(self._decode(key, version, frame)[1])
        except StopIteration as done:
            lifetime = done.value
            # Renew at 85% of the session, as Kafka's clients do.
            self._reconnect_at = time.monotonic() + lifetime * 0.85 / 1000 if lifetime else None

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # ----- versions ------------------------------------------------------------------

    def _negotiate(self) -> None:
        key = int(ApiKey.API_VERSIONS)
        version = SUPPORTED_VERSIONS[key][1]
        for _ in range(2):
            body = {"client_software_name": "pystream", "client_software_version": _package_version()}
            frame = self._roundtrip(key, version, body, self.timeout)
            # KIP-511: a broker that does not know our version answers UNSUPPORTED_VERSION
            # in a v0 body (the header is always v0); retry with the highest it knows.
            code = _CORR_ERR.unpack_from(frame, 0)[1] if len(frame) >= 6 else 0
            if code == 35:
                _, resp = self._decode(key, 0, frame)
                theirs = {e["api_key"]: e["max_version"] for e in resp["api_keys"]}
                if key not in theirs or theirs[key] >= version:
                    raise KafkaError(35, f"broker {self.host}:{self.port} refused ApiVersions v{version}")
                version = min(theirs[key], SUPPORTED_VERSIONS[key][1])
                continue
            _, resp = self._decode(key, version, frame)
            check(resp["error_code"], None, "ApiVersions")
            self.broker_versions = {e["api_key"]: (e["min_version"], e["max_version"]) for e in resp["api_keys"]}
            return
        raise KafkaError(35, f"cannot agree on an ApiVersions version with {self.host}:{self.port}")

    def version_for(self, api_key: int, max_version: int | None = None) -> int:
        """The highest version of `api_key` both sides support (capped by `max_version`)."""
        theirs = self.broker_versions.get(int(api_key))
        ours = SUPPORTED_VERSIONS.get(int(api_key))
        name = _api_name(api_key)
        if theirs is None:
            raise KafkaError(35, f"broker {self.host}:{self.port} does not support {name}")
        if ours is None:
            raise KafkaError(35, f"this client cannot encode {name}")
        hi = min(theirs[1], ours[1], _HELPER_MAX.get(api_key, 0x7FFF) if max_version is None else max_version)
        lo = max(theirs[0], ours[0])
        if hi < lo:
            raise KafkaError(35, f"no common version of {name}: broker {theirs[0]}-{theirs[1]}, client {ours[0]}-{min(ours[1], hi)}")
        return hi

    # ----- requests ------------------------------------------------------------------

    def request(self, api_key: int, body: Mapping[str, Any], version: int | None = None,
                timeout: float | None = None) -> dict[str, Any]:
        """Send one request, return the decoded response body.

        `version` defaults to the negotiated one. A Produce with acks=0 gets no
        response from the broker: an empty dict is returned. Raises
        KafkaConnectionError on network failures and timeouts (the connection is
        closed then; the next request reconnects).
        """
        if version is None:
            version = self.version_for(api_key)
        if self._sock is None or (self._reconnect_at is not None and time.monotonic() >= self._reconnect_at):
            self.connect()
        expect_response = not (api_key == ApiKey.PRODUCE and body.get("acks", 1) == 0)
        frame = self._roundtrip(int(api_key), version, body, timeout or self.timeout, expect_response)
        if frame is None:
            return {}
        return self._decode(int(api_key), version, frame)[1]

    def _decode(self, api_key: int, version: int, frame: bytes | bytearray) -> tuple[int, dict[str, Any]]:
        try:
            return decode_response(api_key, version, frame)
        except ProtocolError as e:
            self.close()
            raise KafkaConnectionError(f"bad response from {self.host}:{self.port}: {e}") from None

    def _roundtrip(self, api_key: int, version: int, body: Mapping[str, Any], timeout: float,
                   expect_response: bool = True) -> bytearray | None:
        sock = self._sock
        if sock is None:
            raise KafkaConnectionError(f"connection to {self.host}:{self.port} is closed")
        self._correlation_id = (self._correlation_id + 1) & 0x7FFFFFFF
        corr = self._correlation_id
        buffers = encode_request(api_key, version, corr, self.client_id, body)
        what = f"{_api_name(api_key)} v{version} to {self.host}:{self.port}"
        try:
            sock.settimeout(self.timeout)
            for buf in buffers:
                sock.sendall(buf)
            if not expect_response:
                return None
            sock.settimeout(timeout)
            (size,) = _SIZE.unpack(self._recv_exactly(sock, 4))
            if size < 4:
                raise KafkaConnectionError(f"{what}: invalid response size {size}")
            frame = self._recv_exactly(sock, size)
        except KafkaConnectionError as e:
            self.close()
            raise KafkaConnectionError(f"{what} failed: {e}") from None
        except TimeoutError:
            self.close()
            raise KafkaConnectionError(f"{what}: no response within {timeout:g} s") from None
        except OSError as e:
            self.close()
            raise KafkaConnectionError(f"{what} failed: {e.strerror or e}") from None
        got = _SIZE.unpack_from(frame, 0)[0]
        if got != corr:
            self.close()
            raise KafkaConnectionError(f"{what}: response correlation id {got}, expected {corr}")
        return frame

    def _recv_exactly(self, sock: socket.socket, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        pos = 0
        while pos < n:
            got = sock.recv_into(view[pos:])
            if got == 0:
                raise KafkaConnectionError(f"{self.host}:{self.port} closed the connection")
            pos += got
        return buf


def _api_name(api_key: int) -> str:
    try:
        return "".join(w.capitalize() for w in ApiKey(api_key).name.split("_"))
    except ValueError:
        return f"api key {api_key}"


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("pystream")
    except Exception:  # pragma: no cover
        return "0"


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """'h1:9092,h2:9093,[::1]:9094' -> [(host, port), ...] (port defaults to 9092)."""
    out = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        if "://" in item:
            item = item.split("://", 1)[1]
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":") or "9092"
        elif item.count(":") == 1:
            host, port = item.split(":")
        else:
            host, port = item, "9092"
        try:
            out.append((host, int(port)))
        except ValueError:
            raise ValueError(f"bad broker address {item!r} (expected host:port)") from None
    if not out:
        raise ValueError("no bootstrap server given")
    return out


# ---------------------------------------------------------------------------
# The cluster


class KafkaClient:
    """The cluster through Metadata: connections per broker, leaders, coordinators.

    `bootstrap` is "host:port[,host:port...]". Connections open lazily. Helper
    methods raise KafkaError for error codes (after retrying retriable ones up
    to `retries` times, refreshing metadata in between) and return plain dicts.
    """

    def __init__(self, bootstrap: str, client_id: str = "pystream", timeout: float = DEFAULT_TIMEOUT,
                 retries: int = 5, retry_backoff: float = 0.1, security: ClientSecurity = PLAINTEXT) -> None:
        self.bootstrap = parse_bootstrap(bootstrap)
        self.security = security
        self.client_id = client_id
        self.timeout = timeout
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.brokers: dict[int, tuple[str, int]] = {}
        self.controller_id: int | None = None
        self.cluster_id: str | None = None
        self.topics: dict[str, dict[str, Any]] = {}  # name -> MetadataResponseTopic (last seen)
        self.leaders: dict[tuple[str, int], int] = {}
        self._conns: dict[int, KafkaConnection] = {}
        self._bootstrap_conn: KafkaConnection | None = None
        self._coordinators: dict[str, int] = {}

    def __enter__(self) -> KafkaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for c in list(self._conns.values()):
            c.close()
        self._conns.clear()
        if self._bootstrap_conn is not None:
            self._bootstrap_conn.close()
            self._bootstrap_conn = None

    # ----- connections -----------------------------------------------------------------

    def any_connection(self) -> KafkaConnection:
        """An open connection to some broker: a known one, else a bootstrap server."""
        for c in self._conns.values():
            if not c.closed:
                return c
        if self._bootstrap_conn is not None and not self._bootstrap_conn.closed:
            return self._bootstrap_conn
        errors = []
        for node_id in list(self.brokers):
            try:
                return self.connection(node_id)
            except KafkaConnectionError as e:
                errors.append(str(e))
        for host, port in self.bootstrap:
            try:
                self._bootstrap_conn = KafkaConnection(host, port, self.client_id, self.timeout, security=self.security)
                return self._bootstrap_conn
            except KafkaConnectionError as e:
                errors.append(str(e))
        raise KafkaConnectionError("no broker reachable: " + "; ".join(errors))

    def connection(self, node_id: int) -> KafkaConnection:
        """The connection to broker `node_id` (opened, or reopened, on demand)."""
        conn = self._conns.get(node_id)
        if conn is not None and not conn.closed:
            return conn
        addr = self.brokers.get(node_id)
        if addr is None:
            self.metadata()
            addr = self.brokers.get(node_id)
            if addr is None:
                raise KafkaError(8, f"broker {node_id} is not in the cluster metadata")
        if conn is not None and (conn.host, conn.port) == addr:
            conn.connect()
        else:
            conn = KafkaConnection(addr[0], addr[1], self.client_id, self.timeout, node_id=node_id, security=self.security)
            self._conns[node_id] = conn
        return conn

    def request(self, api_key: int, body: Mapping[str, Any], version: int | None = None,
                node_id: int | None = None, timeout: float | None = None) -> dict[str, Any]:
        """A raw request to broker `node_id` (default: any broker); reconnects once on a dropped connection."""
        for attempt in (0, 1):
            conn = self.any_connection() if node_id is None else self.connection(node_id)
            try:
                return conn.request(api_key, body, version, timeout)
            except KafkaConnectionError:
                if attempt:
                    raise
                conn.close()
        raise AssertionError("unreachable")

    def _retrying(self, fn: Any) -> Any:
        """Run fn(); on retriable Kafka errors or dropped connections refresh metadata and retry."""
        delay = self.retry_backoff
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except KafkaError as e:
                if not e.retriable or attempt == self.retries:
                    raise
                if e.code in _COORDINATOR_ERRORS:
                    self._coordinators.clear()
            except KafkaConnectionError:
                if attempt == self.retries:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                self.metadata()
            except (KafkaError, KafkaConnectionError):
                pass
        raise AssertionError("unreachable")

    # ----- metadata ------------------------------------------------------------------

    def metadata(self, topics: Iterable[str] | None = None, allow_auto_topic_creation: bool = False) -> dict[str, Any]:
        """A Metadata request (topics=None: all topics); updates brokers, leaders and topics."""
        conn = self.any_connection()
        version = conn.version_for(ApiKey.METADATA)
        names = None if topics is None else list(topics)
        if names is None:
            req_topics: list[dict[str, Any]] | None = [] if version == 0 else None
        else:
            req_topics = [{"name": n, "topic_id": _ZERO_UUID} for n in names]
        body = {"topics": req_topics, "allow_auto_topic_creation": allow_auto_topic_creation}
        try:
            resp = conn.request(ApiKey.METADATA, body, version)
        except KafkaConnectionError:
            conn.close()
            resp = self.any_connection().request(ApiKey.METADATA, body)
        self.brokers = {b["node_id"]: (b["host"], b["port"]) for b in resp["brokers"]}
        for node_id, conn in list(self._conns.items()):
            if self.brokers.get(node_id) != (conn.host, conn.port):
                conn.close()
                del self._conns[node_id]
        self.controller_id = resp.get("controller_id")
        self.cluster_id = resp.get("cluster_id")
        if names is None:
            self.topics.clear()
            self.leaders.clear()
        for t in resp["topics"]:
            name = t["name"]
            if t["error_code"]:
                self.topics.pop(name, None)
                continue
            self.topics[name] = t
            for key in [k for k in self.leaders if k[0] == name]:
                del self.leaders[key]
            for p in t["partitions"]:
                if p["leader_id"] >= 0:
                    self.leaders[(name, p["partition_index"])] = p["leader_id"]
        return resp

    def topic(self, name: str, refresh: bool = False) -> dict[str, Any]:
        """Metadata of one topic (MetadataResponseTopic dict); KafkaError if it does not exist."""
        if refresh or name not in self.topics:
            resp = self.metadata([name])
            for t in resp["topics"]:
                if t["name"] == name:
                    check(t["error_code"], None, f"topic {name!r}")
        return self.topics[name]

    def partitions(self, topic: str) -> list[int]:
        return sorted(p["partition_index"] for p in self.topic(topic)["partitions"])

    def leader_for(self, topic: str, partition: int) -> int:
        leader = self.leaders.get((topic, partition))
        if leader is None:
            meta = self.topic(topic, refresh=True)
            leader = self.leaders.get((topic, partition))
            if leader is None:
                if not any(p["partition_index"] == partition for p in meta["partitions"]):
                    raise KafkaError(3, f"topic {topic!r} has no partition {partition}")
                raise KafkaError(5, f"{topic}-{partition} has no leader")
        return leader

    def _controller_request(self, api_key: int, body: Mapping[str, Any], version: int | None = None) -> dict[str, Any]:
        if self.controller_id is None or self.controller_id < 0:
            self.metadata([])
        node = self.controller_id if self.controller_id is not None and self.controller_id >= 0 else None
        return self.request(api_key, body, version, node_id=node)

    # ----- topics --------------------------------------------------------------------

    def create_topics(self, topics: Iterable[Mapping[str, Any]], timeout_ms: int = 30000,
                      validate_only: bool = False) -> list[dict[str, Any]]:
        """CreateTopics: `topics` are {name, num_partitions=-1, replication_factor=-1, configs={k: v}}.

        Raises KafkaError for the first topic that failed; returns the results.
        """
        reqs = []
        for t in topics:
            configs = t.get("configs") or {}
            reqs.append({"name": t["name"], "num_partitions": t.get("num_partitions", -1),
                         "replication_factor": t.get("replication_factor", -1), "assignments": [],
                         "configs": [{"name": k, "value": None if v is None else str(v)} for k, v in configs.items()]})
        resp = self._retrying(lambda: self._controller_request(
            ApiKey.CREATE_TOPICS, {"topics": reqs, "timeout_ms": timeout_ms, "validate_only": validate_only}))
        for r in resp["topics"]:
            check(r["error_code"], r.get("error_message"), f"topic {r['name']!r}")
        return resp["topics"]

    def create_topic(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
                     configs: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self.create_topics([{"name": name, "num_partitions": num_partitions,
                                    "replication_factor": replication_factor, "configs": configs}])[0]

    def delete_topics(self, names: Iterable[str], timeout_ms: int = 30000) -> list[dict[str, Any]]:
        names = list(names)
        body = {"topic_names": names, "topics": [{"name": n, "topic_id": _ZERO_UUID} for n in names], "timeout_ms": timeout_ms}
        resp = self._retrying(lambda: self._controller_request(ApiKey.DELETE_TOPICS, body))
        for r in resp["responses"]:
            check(r["error_code"], r.get("error_message"), f"topic {r['name']!r}")
            self.topics.pop(r["name"], None)
        return resp["responses"]

    def create_partitions(self, topic: str, count: int, timeout_ms: int = 30000,
                          validate_only: bool = False) -> dict[str, Any]:
        """Grow `topic` to `count` partitions in total."""
        body = {"topics": [{"name": topic, "count": count, "assignments": None}], "timeout_ms": timeout_ms,
                "validate_only": validate_only}
        resp = self._retrying(lambda: self._controller_request(ApiKey.CREATE_PARTITIONS, body))
        for r in resp["results"]:
            check(r["error_code"], r.get("error_message"), f"topic {r['name']!r}")
        self.topics.pop(topic, None)
        return resp["results"][0]

    def describe_configs(self, name: str, resource_type: int = RESOURCE_TOPIC,
                         keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """DescribeConfigs of one resource: {config name: entry dict (value, is_default, config_source, ...)}."""
        body = {"resources": [{"resource_type": resource_type, "resource_name": name,
                               "configuration_keys": None if keys is None else list(keys)}]}
        node = None
        if resource_type == RESOURCE_BROKER and name.lstrip("-").isdigit():
            node = int(name)
        resp = self._retrying(lambda: self.request(ApiKey.DESCRIBE_CONFIGS, body, node_id=node))
        r = resp["results"][0]
        check(r["error_code"], r.get("error_message"), f"{'topic' if resource_type == RESOURCE_TOPIC else 'resource'} {name!r}")
        out = {}
        for c in r["configs"]:
            entry = dict(c)
            if "config_source" in entry and not entry.get("is_default"):
                entry["is_default"] = entry["config_source"] == 5  # DEFAULT_CONFIG (v1+)
            out[c["name"]] = entry
        return out

    # ----- partition requests (to the leader) -------------------------------------------

    def _leader_call(self, topic: str, partition: int, fn: Any) -> Any:
        """fn(conn) at the partition leader, with metadata refresh + retry on leader errors."""
        def attempt() -> Any:
            node = self.leader_for(topic, partition)
            try:
                return fn(self.connection(node))
            except KafkaError as e:
                if e.code in _LEADER_ERRORS:
                    self.leaders.pop((topic, partition), None)
                raise
            except KafkaConnectionError:
                self.leaders.pop((topic, partition), None)
                raise
        return self._retrying(attempt)

    def produce(self, topic: str, partition: int, records: Any, acks: int = -1,
                timeout_ms: int = 30000) -> dict[str, Any]:
        """Produce RecordBatch bytes (e.g. from `pystream._core.encode_batch`) to one partition.

        Returns the partition response ({base_offset, log_append_time_ms,
        log_start_offset, ...}; empty with acks=0). Raises KafkaError.
        """
        body = {"transactional_id": None, "acks": acks, "timeout_ms": timeout_ms,
                "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]}

        def send(conn: KafkaConnection) -> dict[str, Any]:
            resp = conn.request(ApiKey.PRODUCE, body, timeout=self.timeout + timeout_ms / 1000)
            if acks == 0:
                return {}
            pr = resp["responses"][0]["partition_responses"][0]
            check(pr["error_code"], pr.get("error_message"), f"produce to {topic}-{partition}")
            return pr

        return self._leader_call(topic, partition, send)

    @staticmethod
    def _fetch_body(parts: Mapping[tuple[str, int], int], max_bytes: int, partition_max_bytes: int, max_wait_ms: int,
                    min_bytes: int, isolation_level: int, replica_id: int,
                    extra: Mapping[tuple[str, int], Mapping[str, int]] | None = None) -> dict[str, Any]:
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for (t, p), off in parts.items():
            fp = {"partition": p, "current_leader_epoch": -1, "fetch_offset": off, "last_fetched_epoch": -1,
                  "log_start_offset": -1, "partition_max_bytes": partition_max_bytes}
            if extra and (t, p) in extra:
                fp.update(extra[(t, p)])
            by_topic.setdefault(t, []).append(fp)
        return {"cluster_id": None, "replica_id": replica_id, "replica_state": {"replica_id": replica_id, "replica_epoch": -1},
                "max_wait_ms": max_wait_ms, "min_bytes": min_bytes, "max_bytes": max_bytes,
                "isolation_level": isolation_level, "session_id": 0, "session_epoch": -1,
                "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
                "forgotten_topics_data": [], "rack_id": ""}

    def fetch(self, topic: str, partition: int, offset: int, max_bytes: int = 1 << 20,
              max_wait_ms: int = 500, min_bytes: int = 1, *, isolation_level: int = 0,
              replica_id: int = -1, current_leader_epoch: int = -1, log_start_offset: int = -1,
              last_fetched_epoch: int = -1) -> dict[str, Any]:
        """Fetch from one partition at its leader; returns the PartitionData dict
        (records: memoryview or None, high_watermark, log_start_offset, ...).

        `replica_id` >= 0 makes it a follower fetch (replication). Raises KafkaError
        (e.g. OFFSET_OUT_OF_RANGE) for a partition error.
        """
        extra = {(topic, partition): {"current_leader_epoch": current_leader_epoch, "log_start_offset": log_start_offset,
                                      "last_fetched_epoch": last_fetched_epoch}}
        body = self._fetch_body({(topic, partition): offset}, max_bytes, max_bytes, max_wait_ms, min_bytes,
                                isolation_level, replica_id, extra)

        def send(conn: KafkaConnection) -> dict[str, Any]:
            resp = conn.request(ApiKey.FETCH, body, timeout=self.timeout + max_wait_ms / 1000)
            check(resp.get("error_code", 0), None, f"fetch from {topic}-{partition}")
            for t in resp["responses"]:
                for p in t["partitions"]:
                    if p["partition_index"] == partition:
                        check(p["error_code"], None, f"fetch {topic}-{partition} at offset {offset}")
                        return p
            raise KafkaError(3, f"fetch response has no {topic}-{partition}")

        return self._leader_call(topic, partition, send)

    def fetch_many(self, positions: Mapping[tuple[str, int], int], max_bytes: int = 50 << 20,
                   partition_max_bytes: int = 1 << 20, max_wait_ms: int = 500, min_bytes: int = 1,
                   isolation_level: int = 0) -> dict[tuple[str, int], dict[str, Any]]:
        """Fetch {(topic, partition): offset} with one request per leader.

        Returns {(topic, partition): PartitionData}; partition errors are NOT raised
        but left in each entry's `error_code` (leader errors also drop the cached
        leader, so the next call goes to the new one). A broker that cannot be
        reached gives its partitions error NETWORK_EXCEPTION (13).
        """
        by_leader: dict[int, dict[tuple[str, int], int]] = {}
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for tp, off in positions.items():
            try:
                by_leader.setdefault(self.leader_for(*tp), {})[tp] = off
            except KafkaError as e:
                out[tp] = {"partition_index": tp[1], "error_code": e.code, "records": None, "high_watermark": -1}
        for node, parts in by_leader.items():
            body = self._fetch_body(parts, max_bytes, partition_max_bytes, max_wait_ms, min_bytes, isolation_level, -1)
            try:
                resp = self.connection(node).request(ApiKey.FETCH, body, timeout=self.timeout + max_wait_ms / 1000)
                top = resp.get("error_code", 0)
            except KafkaConnectionError:
                resp, top = {"responses": []}, 13
            for t in resp["responses"]:
                for p in t["partitions"]:
                    out[(t["topic"], p["partition_index"])] = p
            for tp in parts:
                entry = out.setdefault(tp, {"partition_index": tp[1], "error_code": top or 3, "records": None,
                                            "high_watermark": -1})
                if entry["error_code"] in _LEADER_ERRORS or entry["error_code"] == 13:
                    self.leaders.pop(tp, None)
        return out

    def list_offsets(self, topic: str, partition: int, timestamp: int = LATEST_TIMESTAMP,
                     isolation_level: int = 0) -> tuple[int, int]:
        """(offset, timestamp) of the first record at or after `timestamp` ms;
        LATEST_TIMESTAMP (-1) gives the log end offset, EARLIEST_TIMESTAMP (-2) the log start."""
        body = {"replica_id": -1, "isolation_level": isolation_level, "timeout_ms": int(self.timeout * 1000),
                "topics": [{"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                                           "timestamp": timestamp, "max_num_offsets": 1}]}]}

        def send(conn: KafkaConnection) -> tuple[int, int]:
            resp = conn.request(ApiKey.LIST_OFFSETS, body)
            p = resp["topics"][0]["partitions"][0]
            check(p["error_code"], None, f"list offsets of {topic}-{partition}")
            if conn.version_for(ApiKey.LIST_OFFSETS) == 0:
                return (p["old_style_offsets"][0] if p["old_style_offsets"] else -1), -1
            return p["offset"], p["timestamp"]

        return self._leader_call(topic, partition, send)

    # ----- groups ----------------------------------------------------------------------

    def find_coordinator(self, group: str, key_type: int = 0) -> int:
        """Node id of the group's coordinator (also added to the known brokers)."""
        cached = self._coordinators.get(group)
        if cached is not None:
            return cached

        def ask() -> int:
            conn = self.any_connection()
            v = conn.version_for(ApiKey.FIND_COORDINATOR)
            resp = conn.request(ApiKey.FIND_COORDINATOR, {"key": group, "key_type": key_type, "coordinator_keys": [group]}, v)
            c = resp["coordinators"][0] if v >= 4 else resp
            check(c["error_code"], c.get("error_message"), f"coordinator of group {group!r}")
            self.brokers.setdefault(c["node_id"], (c["host"], c["port"]))
            self._coordinators[group] = c["node_id"]
            return c["node_id"]

        return self._retrying(ask)

    def _coordinator_call(self, group: str, api_key: int, body: Mapping[str, Any], errors: Any) -> dict[str, Any]:
        """A request to the group's coordinator; `errors(resp)` yields (code, message) pairs to check."""
        def attempt() -> dict[str, Any]:
            node = self.find_coordinator(group)
            try:
                resp = self.request(api_key, body, node_id=node)
            except KafkaConnectionError:
                self._coordinators.pop(group, None)
                raise
            for code, message in errors(resp):
                if code in _COORDINATOR_ERRORS:
                    self._coordinators.pop(group, None)
                check(code, message, f"group {group!r}")
            return resp
        return self._retrying(attempt)

    def list_groups(self) -> list[dict[str, Any]]:
        """ListGroups on every broker: [{group_id, protocol_type, group_state}] (deduplicated)."""
        if not self.brokers:
            self.metadata([])
        seen: dict[str, dict[str, Any]] = {}
        for node in sorted(self.brokers):
            resp = self.request(ApiKey.LIST_GROUPS, {"states_filter": [], "types_filter": []}, node_id=node)
            check(resp["error_code"], None, f"list groups on broker {node}")
            for g in resp["groups"]:
                seen.setdefault(g["group_id"], g)
        return [seen[k] for k in sorted(seen)]

    def describe_groups(self, groups: Iterable[str]) -> list[dict[str, Any]]:
        """DescribeGroups, each at its coordinator: DescribedGroup dicts; members carry a decoded
        `assignment` ({topic: [partitions]}) when the group uses the consumer protocol."""
        out = []
        for g in groups:
            resp = self._coordinator_call(g, ApiKey.DESCRIBE_GROUPS, {"groups": [g], "include_authorized_operations": False},
                                          lambda r: ((x["error_code"], None) for x in r["groups"]))
            for d in resp["groups"]:
                if d["protocol_type"] == "consumer":
                    for m in d["members"]:
                        m["assignment"] = decode_consumer_assignment(m["member_assignment"])
                out.append(d)
        return out

    def consumer_group_describe(self, groups: Iterable[str]) -> list[dict[str, Any]]:
        """ConsumerGroupDescribe (groups of KIP-848's consumer protocol), each at its coordinator:
        DescribedGroup dicts with their error code (GROUP_ID_NOT_FOUND: not such a group); members
        carry `assignment` ({topic: [partitions]})."""
        out = []
        for g in groups:
            resp = self._coordinator_call(
                g, ApiKey.CONSUMER_GROUP_DESCRIBE, {"group_ids": [g], "include_authorized_operations": False},
                lambda r: ((x["error_code"], x["error_message"]) for x in r["groups"] if x["error_code"] in _COORDINATOR_ERRORS))
            for d in resp["groups"]:
                for m in d["members"]:
                    m["assignment"] = {tp["topic_name"]: sorted(tp["partitions"]) for tp in m["assignment"]["topic_partitions"]}
                out.append(d)
        return out

    def offset_fetch(self, group: str, partitions: Iterable[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """Committed offsets of `group`: {(topic, partition): offset} (all of them when
        partitions=None; partitions without a committed offset are left out)."""
        by_topic: dict[str, list[int]] | None = None
        if partitions is not None:
            by_topic = {}
            for t, p in partitions:
                by_topic.setdefault(t, []).append(p)
        conn = self.any_connection()
        v = conn.version_for(ApiKey.OFFSET_FETCH)
        if by_topic is None and v < 2:
            raise KafkaError(35, "fetching all committed offsets needs OffsetFetch v2+")
        topics = None if by_topic is None else [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]
        body = {"group_id": group, "topics": topics, "require_stable": False,
                "groups": [{"group_id": group, "member_id": None, "member_epoch": -1, "topics": topics}]}

        def errors(resp: dict[str, Any]) -> Any:
            if v >= 8:
                for g in resp["groups"]:
                    yield g["error_code"], None
            else:
                yield resp.get("error_code", 0), None

        resp = self._coordinator_call(group, ApiKey.OFFSET_FETCH, body, errors)
        result_topics = resp["groups"][0]["topics"] if v >= 8 else resp["topics"]
        out = {}
        for t in result_topics:
            for p in t["partitions"]:
                check(p["error_code"], None, f"committed offset of {t['name']}-{p['partition_index']}")
                if p["committed_offset"] >= 0:
                    out[(t["name"], p["partition_index"])] = p["committed_offset"]
        return out

    def offset_commit(self, group: str, offsets: Mapping[tuple[str, int], int], generation_id: int = -1,
                      member_id: str = "", metadata: str | None = None) -> None:
        """Commit {(topic, partition): next offset to read}. The defaults (generation -1, no
        member id) are Kafka's "simple consumer" commit, outside group membership."""
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for (t, p), off in offsets.items():
            by_topic.setdefault(t, []).append({"partition_index": p, "committed_offset": off, "committed_leader_epoch": -1,
                                               "commit_timestamp": -1, "committed_metadata": metadata})
        body = {"group_id": group, "generation_id_or_member_epoch": generation_id, "member_id": member_id,
                "group_instance_id": None, "retention_time_ms": -1,
                "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]}
        self._coordinator_call(group, ApiKey.OFFSET_COMMIT, body,
                               lambda r: ((p["error_code"], f"commit {t['name']}-{p['partition_index']}")
                                          for t in r["topics"] for p in t["partitions"]))

    def coordinator_request(self, group: str, api_key: int, body: Mapping[str, Any], version: int | None = None,
                            timeout: float | None = None) -> dict[str, Any]:
        """A request to `group`'s coordinator; the response is returned with its error codes for the
        caller to act on (group membership answers REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED, ...).
        A top-level coordinator error (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, ...) or a
        dropped connection finds the coordinator again and retries."""
        def attempt() -> dict[str, Any]:
            node = self.find_coordinator(group)
            try:
                resp = self.request(api_key, body, version, node_id=node, timeout=timeout)
            except KafkaConnectionError:
                self._coordinators.pop(group, None)
                raise
            code = resp.get("error_code", 0)
            if code in _COORDINATOR_ERRORS:
                self._coordinators.pop(group, None)
                check(code, resp.get("error_message"), f"group {group!r}")
            return resp
        return self._retrying(attempt)

    def delete_groups(self, groups: Iterable[str]) -> dict[str, int]:
        """DeleteGroups, each at its coordinator: {group: error code} (0: deleted; e.g.
        NON_EMPTY_GROUP (68) while it has members, GROUP_ID_NOT_FOUND (69))."""
        out = {}
        for g in groups:
            resp = self.coordinator_request(g, ApiKey.DELETE_GROUPS, {"groups_names": [g]})
            r = next((x for x in resp["results"] if x["group_id"] == g), None)
            code = 3 if r is None else r["error_code"]
            if code in _COORDINATOR_ERRORS:  # retried once more through a fresh coordinator lookup
                self._coordinators.pop(g, None)
                resp = self.coordinator_request(g, ApiKey.DELETE_GROUPS, {"groups_names": [g]})
                code = next((x["error_code"] for x in resp["results"] if x["group_id"] == g), 3)
            out[g] = code
        return out

    def incremental_alter_configs(self, resource_type: int, name: str, set_configs: Mapping[str, str] | None = None,
                                  delete: Iterable[str] = (), validate_only: bool = False) -> None:
        """IncrementalAlterConfigs of one resource: SET `set_configs`, DELETE the keys in `delete`.
        A broker's configs go to that broker; a topic's and the cluster default ("") to any."""
        configs = [{"name": k, "config_operation": 0, "value": str(v)} for k, v in (set_configs or {}).items()]
        configs += [{"name": k, "config_operation": 1, "value": None} for k in delete]
        body = {"resources": [{"resource_type": resource_type, "resource_name": name, "configs": configs}],
                "validate_only": validate_only}
        node = int(name) if resource_type == RESOURCE_BROKER and name.lstrip("-").isdigit() else None
        resp = self._retrying(lambda: self.request(ApiKey.INCREMENTAL_ALTER_CONFIGS, body, node_id=node))
        r = resp["responses"][0]
        check(r["error_code"], r.get("error_message"),
              f"{'topic' if resource_type == RESOURCE_TOPIC else 'broker'} {name!r}" if name else "cluster default")

    def describe_log_dirs(self, node_ids: Iterable[int] | None = None,
                          partitions: Mapping[str, Iterable[int]] | None = None) -> dict[int, list[dict[str, Any]]]:
        """DescribeLogDirs at each broker (default: every broker in the metadata): {node id:
        [{log_dir, error_code, total_bytes, usable_bytes, topics: [{name, partitions: [...]}]}]}."""
        if node_ids is None:
            self.metadata([])
            node_ids = sorted(self.brokers)
        topics = None if partitions is None else [{"topic": t, "partitions": list(ps)} for t, ps in partitions.items()]
        out = {}
        for node in node_ids:
            resp = self._retrying(lambda n=node: self.request(ApiKey.DESCRIBE_LOG_DIRS, {"topics": topics}, node_id=n))
            check(resp.get("error_code", 0), None, f"log dirs of broker {node}")
            out[node] = resp["results"]
        return out

    def init_producer_id(self, producer_id: int = -1, producer_epoch: int = -1) -> tuple[int, int]:
        """InitProducerId without a transactional id (an idempotent producer): (producer id, epoch).
        Given the current id and epoch, asks for the epoch to be bumped (KIP-360)."""
        body = {"transactional_id": None, "transaction_timeout_ms": -1, "producer_id": producer_id,
                "producer_epoch": producer_epoch}

        def ask() -> tuple[int, int]:
            resp = self.request(ApiKey.INIT_PRODUCER_ID, body)
            check(resp["error_code"], None, "InitProducerId")
            return resp["producer_id"], resp["producer_epoch"]

        return self._retrying(ask)



def complete_batches(data: Any) -> memoryview:
    """The prefix of `data` made of whole record batches (a Fetch may end in a partial batch)."""
    mv = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    n, pos = len(mv), 0
    while pos + 12 <= n:
        end = pos + 12 + int.from_bytes(mv[pos + 8:pos + 12], "big", signed=True)
        if end > n or end < pos + 12:
            break
        pos = end
    return mv[:pos]


def _consumer_protocol(name: str, data: bytes | bytearray | memoryview | None) -> dict[str, Any] | None:
    """Decode a ConsumerProtocol* blob: int16 version, then the body of that version (a newer
    version than the schema's is read as the newest known: fields only get appended)."""
    if not data or len(data) < 2:
        return None
    version = min(struct.unpack_from(">h", data, 0)[0], 3)
    if version < 0:
        return None
    try:
        return decode_message(name, version, data, 2, exact=False)
    except ProtocolError:
        return None


def decode_consumer_assignment(data: bytes | bytearray | memoryview | None) -> dict[str, list[int]]:
    """ConsumerProtocolAssignment bytes (version, [topic, [partition]], user data) -> {topic: [partitions]}."""
    d = _consumer_protocol("ConsumerProtocolAssignment", data)
    return {} if d is None else {t["topic"]: list(t["partitions"]) for t in d["assigned_partitions"]}


def encode_consumer_assignment(assignment: Mapping[str, Iterable[int]]) -> bytes:
    """{topic: [partitions]} -> ConsumerProtocolAssignment v0 bytes."""
    body = {"assigned_partitions": [{"topic": t, "partitions": sorted(ps)} for t, ps in sorted(assignment.items())],
            "user_data": None}
    return b"\x00\x00" + join(encode_message("ConsumerProtocolAssignment", 0, body))


def decode_consumer_subscription(data: bytes | bytearray | memoryview | None) -> list[str]:
    """ConsumerProtocolSubscription bytes -> the subscribed topics ([] when unreadable)."""
    d = _consumer_protocol("ConsumerProtocolSubscription", data)
    return [] if d is None else list(d["topics"])


def encode_consumer_subscription(topics: Iterable[str]) -> bytes:
    """The topics -> ConsumerProtocolSubscription v0 bytes (what every assignor of Kafka's clients reads)."""
    return b"\x00\x00" + join(encode_message("ConsumerProtocolSubscription", 0, {"topics": sorted(topics), "user_data": None}))
