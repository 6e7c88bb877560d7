"""A raw Kafka-protocol socket for the tests that must send what no client would:
requests before authentication, SASL tokens by hand, truncated frames."""

from __future__ import annotations

import socket
import ssl
import struct
from typing import Any

from pystream.protocol.codec import decode_response, encode_request


class Raw:
    def __init__(self, port: int, tls: ssl.SSLContext | None = None, timeout: float = 10.0) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
        self.corr = 0

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, api_key: int, version: int, body: dict[str, Any]) -> None:
        self.corr += 1
        self.sock.sendall(b"".join(bytes(b) for b in encode_request(api_key, version, self.corr, "raw-test", body)))

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_frame(self) -> bytes | None:
        """The next size-prefixed frame; None when the broker closed the connection."""
        head = self._exactly(4)
        if head is None:
            return None
        return self._exactly(struct.unpack(">i", head)[0])

    def _exactly(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except (ConnectionResetError, ssl.SSLError):
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def request(self, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send and decode the response; None if the connection was closed instead."""
        self.send(api_key, version, body)
        frame = self.recv_frame()
        return None if frame is None else decode_response(api_key, version, frame)[1]

    def closed(self) -> bool:
        """True when the broker has closed the connection (read returns EOF / reset)."""
        return self.recv_frame() is None
