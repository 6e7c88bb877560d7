"""The benchmarks behind `pystream bench` and benches/ (docs/benchmarks.md): `storage`, `broker` and `cluster`,
sharing `procs` (servers in subprocesses, /proc readings) and `report` (machine, tables, JSON, progress bar).
Nothing else in pystream imports this package."""
