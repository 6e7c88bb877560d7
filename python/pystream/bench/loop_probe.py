"""A probe of a broker's event loop, run as a process of its own (`python -m pystream.bench.loop_probe
PORT OUT [INTERVAL]`): sends ApiVersions v0 every INTERVAL s (default 0.02) on one connection
and appends "<monotonic send time> <round trip s> <oversleep s>" to OUT per answer, until
SIGTERM. The oversleep (how much later than asked its previous sleep ended) is the machine's
own scheduling delay at that moment, which no broker can answer faster than.

The event loop cannot answer while a request (or the collector) holds it, so the longest round
trip bounds how long the loop was held. A process of its own: in the benchmark's process the
probe would also wait for that process's GIL and garbage collections."""

from __future__ import annotations

import signal
import socket
import struct
import sys
import time

_REQUEST = struct.pack(">ihhi", 10, 18, 0, 7) + struct.pack(">h", -1)  # size, api key, version, corr id, null client id


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def main(port: int, out_path: str, interval: float = 0.02) -> None:
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    sock: socket.socket | None = None
    oversleep = 0.0
    with open(out_path, "a", buffering=1) as out:
        while not stopping:
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                t0 = time.monotonic()
                sock.sendall(_REQUEST)
                (size,) = struct.unpack(">i", _recv(sock, 4))
                _recv(sock, size)
                out.write(f"{t0:.6f} {time.monotonic() - t0:.6f} {oversleep:.6f}\n")
            except OSError:  # the broker restarts: reconnect
                if sock is not None:
                    sock.close()
                sock = None
            asleep = time.monotonic()
            time.sleep(interval)
            oversleep = max(0.0, time.monotonic() - asleep - interval)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.02)
