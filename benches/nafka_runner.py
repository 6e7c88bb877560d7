#!/usr/bin/env python
"""Run the nafka broker (PyPI ``nafka``, pure Python) for the broker benchmark.

    python benches/nafka_runner.py --port 9093 --file /tmp/x/kafka.sqlite [--path DIR]

Two shims, both outside nafka's own code:

- ``--path DIR`` (or ``$PYSTREAM_NAFKA_PATH``) is put first on ``sys.path``.
  nafka 0.1 needs kafka-python 2.x (it imports ``kafka.coordinator.protocol``,
  gone in kafka-python 3), while pystream's test extra installs kafka-python 3;
  the benchmark therefore keeps nafka and its kafka-python in a ``pip install
  --target`` directory of their own (see ``pystream.bench.broker.install_nafka``).
- nafka calls ``sqlite3.connect(db, autocommit=True)``, new in Python 3.12. On
  older Pythons that keyword is translated to ``isolation_level=None`` (the
  pre-3.12 spelling of the same autocommit mode; nafka opens its transactions
  itself with ``BEGIN IMMEDIATE``).

Logging is set to WARNING: nafka's own ``main()`` logs every request and
response at DEBUG, which would measure the logging, not the broker. Prints
``NAFKA READY <port>`` on stdout once listening; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import sys


def _shim_sqlite() -> None:
    if sys.version_info >= (3, 12):
        return
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):  # type: ignore[no-untyped-def]
        if "autocommit" in kwargs:
            if kwargs.pop("autocommit"):
                kwargs["isolation_level"] = None
        return real_connect(*args, **kwargs)

    sqlite3.connect = connect  # type: ignore[assignment]


async def _serve(file: str, port: int) -> None:
    from nafka.server import KafkaBroker

    broker = KafkaBroker(file=file, port=port)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"NAFKA READY {broker.socket_addr[1]}", flush=True)
    await stop.wait()
    broker.server.close()  # nafka's stop() uses Server.close_clients (3.13+)
    broker.store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", required=True, help="nafka's SQLite file")
    p.add_argument("--path", default=os.environ.get("PYSTREAM_NAFKA_PATH"), help="directory holding nafka + kafka-python 2.x")
    args = p.parse_args(argv)
    if args.path:
        sys.path.insert(0, args.path)
    _shim_sqlite()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_serve(args.file, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
