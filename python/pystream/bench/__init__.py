"""The benchmarks behind `pystream bench` and benches/ (see docs/benchmarks.md).

- `storage`: the Rust core against pure-Python logs and SQLite, in one process;
- `broker`: librdkafka against `pystream serve` and nafka;
- `cluster`: three brokers and ZooKeeper, RF=3 against RF=1, failover time;
- `procs` (servers in subprocesses, /proc readings) and `report` (machine
  description, tables, JSON, progress bar) are what they share.

Nothing else in pystream imports this package.
"""
