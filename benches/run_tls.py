#!/usr/bin/env python
"""TLS and SASL_SSL throughput as a ratio of PLAINTEXT, in the same run, on one broker.

One `pystream serve` with three listeners (PLAINTEXT, SSL, SASL_SSL with
SCRAM-SHA-512; certificates made here with the `cryptography` package), and a
confluent-kafka producer (acks=all, linger 5 ms) and consumer (assign from
offset 0) per listener, rounds interleaved so that machine noise hits every
listener alike; the best round is kept. Two record sizes: 100 B (per-record
cost dominates) and 1 KiB (bytes through the cipher dominate). Fetch over TLS
cannot use sendfile: the records go from the segment mmaps (memoryviews)
through the TLS transport.

    python benches/run_tls.py            # 1,000,000 x 100 B and 300,000 x 1 KiB, best of 3
    python benches/run_tls.py --quick    # a tenth of that

Writes benches/results/tls-latest.json and prints a table (markdown with --markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benches" / "results" / "tls-latest.json"
LISTENERS = ("PLAINTEXT", "SSL", "SASL_SSL")
USER, PASSWORD = "bench", "bench-secret"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_broker(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, int], Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from security.certs import make_pki  # the security tests' certificate maker

    pki = make_pki(tmp / "pki")
    ports = dict(zip(LISTENERS, _free_ports(len(LISTENERS))))
    props = {
        "listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items()),
        "ssl.keystore.location": str(pki.server.pem), "ssl.truststore.location": str(pki.ca.pem),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512", "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": str(4 << 20),
    }
    cmd = [sys.executable, "-m", "pystream.cli", "serve", "--data-dir", str(tmp / "data"), "--log-level", "WARNING"]
    for k, v in props.items():
        cmd += ["--override", f"{k}={v}"]
    log = open(tmp / "broker.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", ports["PLAINTEXT"]), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"broker did not start: {(tmp / 'broker.log').read_text()[-2000:]}") from None
            time.sleep(0.1)
    r = subprocess.run([sys.executable, "-m", "pystream.cli", "users", "add", USER, "-m", "SCRAM-SHA-512", "--password", PASSWORD,
                        "-b", f"127.0.0.1:{ports['PLAINTEXT']}"], capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise SystemExit(r.stderr)
    return proc, ports, pki


def client_config(listener: str, port: int, pki: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0}
    if listener != "PLAINTEXT":
        conf.update({"security.protocol": listener, "ssl.ca.location": str(pki.ca.pem)})
    if listener == "SASL_SSL":
        conf.update({"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": USER, "sasl.password": PASSWORD})
    return conf


def produce(conf: dict[str, Any], topic: str, n: int, value: bytes) -> float:
    from confluent_kafka import Producer

    p = Producer({**conf, "acks": "all", "linger.ms": 5, "queue.buffering.max.messages": n + 1000,
                  "queue.buffering.max.kbytes": n * (len(value) + 128) // 1024 + 65536, "message.max.bytes": 4 << 20})
    p.list_topics(topic, timeout=30)  # connect and create the topic, untimed
    t0 = time.perf_counter()
    for i in range(n):
        p.produce(topic, value, partition=0)
        if not i & 1023:
            p.poll(0)
    if p.flush(300):
        raise SystemExit(f"{topic}: records left undelivered")
    return time.perf_counter() - t0


def consume(conf: dict[str, Any], topic: str, n: int, value_size: int) -> float:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({**conf, "group.id": f"bench-{topic}", "enable.auto.commit": False, "fetch.queue.backoff.ms": 1})
    try:
        c.list_topics(topic, timeout=30)
        got, nbytes = 0, 0
        t0 = time.perf_counter()
        c.assign([TopicPartition(topic, 0, 0)])
        while got < n:
            for m in c.consume(num_messages=min(10_000, n - got), timeout=1.0):
                if m.error() is not None:
                    raise SystemExit(f"{topic}: {m.error()}")
                got += 1
                nbytes += len(m.value())
            if time.perf_counter() - t0 > 300:
                raise SystemExit(f"{topic}: {got} of {n} records in 300 s")
        seconds = time.perf_counter() - t0
    finally:
        c.close()
    assert nbytes == n * value_size
    return seconds


def run(n_small: int, n_large: int, repeat: int, directory: str | None = None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="pystream-tls-bench-", dir=directory))
    proc, ports, pki = start_broker(tmp)
    try:
        return _measure(proc, ports, pki, n_small, n_large, repeat)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(proc: subprocess.Popen[bytes], ports: dict[str, int], pki: Any, n_small: int, n_large: int,
             repeat: int) -> dict[str, Any]:
    cases = [("100 B", n_small, 100), ("1 KiB", n_large, 1024)]
    best: dict[tuple[str, str, str], float] = {}
    cpu: dict[tuple[str, str, str], float] = {}
    for r in range(repeat):
        for label, n, size in cases:
            value = os.urandom(size)
            for listener in LISTENERS:
                conf = client_config(listener, ports[listener], pki)
                topic = f"{listener.lower()}-{size}-{r}"
                for phase, fn in (("produce", lambda: produce(conf, topic, n, value)),
                                  ("consume", lambda: consume(conf, topic, n, size))):
                    c0 = _cpu(proc.pid)
                    seconds = fn()
                    key = (label, listener, phase)
                    if seconds < best.get(key, float("inf")):
                        best[key], cpu[key] = seconds, _cpu(proc.pid) - c0
                    print(f"round {r + 1}/{repeat} {label:6} {listener:10} {phase}: {n / seconds:,.0f} records/s",
                          file=sys.stderr)
    rows = []
    for label, n, size in cases:
        for listener in LISTENERS:
            row: dict[str, Any] = {"values": label, "listener": listener, "n": n}
            for phase in ("produce", "consume"):
                s = best[(label, listener, phase)]
                base = best[(label, "PLAINTEXT", phase)]
                row[phase] = {"records_per_s": n / s, "mb_per_s": n * size / s / 1e6, "ratio_to_plaintext": base / s,
                              "broker_cpu_s_per_million": cpu[(label, listener, phase)] / n * 1e6}
            rows.append(row)
    return {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
            "machine": platform.machine()}, "repeat": repeat, "rows": rows}


def table(result: dict[str, Any], markdown: bool) -> str:
    head = ["values", "listener", "produce records/s", "MB/s", "vs PLAINTEXT", "broker CPU s/M", "consume records/s", "MB/s",
            "vs PLAINTEXT", "broker CPU s/M"]
    lines = []
    for r in result["rows"]:
        p, c = r["produce"], r["consume"]
        lines.append([r["values"], r["listener"], f"{p['records_per_s']:,.0f}", f"{p['mb_per_s']:.1f}",
                      f"{p['ratio_to_plaintext']:.2f}", f"{p['broker_cpu_s_per_million']:.2f}", f"{c['records_per_s']:,.0f}",
                      f"{c['mb_per_s']:.1f}", f"{c['ratio_to_plaintext']:.2f}", f"{c['broker_cpu_s_per_million']:.2f}"])
    if markdown:
        return "\n".join(["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)] + ["| " + " | ".join(x) + " |" for x in lines])
    widths = [max(len(str(row[i])) for row in [head] + lines) for i in range(len(head))]
    return "\n".join("  ".join(str(v).rjust(w) for v, w in zip(row, widths)) for row in [head] + lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tenth of the records")
    p.add_argument("--repeat", type=int, default=3, help="rounds; the fastest of each is kept (default 3)")
    p.add_argument("--dir", default=None, help="where the broker's data goes (e.g. /dev/shm: no disk in the ratio)")
    p.add_argument("--json", type=Path, default=RESULTS)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    scale = 10 if args.quick else 1
    result = run(1_000_000 // scale, 300_000 // scale, args.repeat, args.dir)
    result["data_dir"] = args.dir or tempfile.gettempdir()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(table(result, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
