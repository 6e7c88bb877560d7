"""Broker administration: DescribeLogDirs (what each log directory holds, and its disk);
the validation of manual replica assignments (CreateTopics, CreatePartitions)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.common import ApiGroup, Handler


class AdminApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {ApiKey.DESCRIBE_LOG_DIRS: self.describe_log_dirs}

    async def describe_log_dirs(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        """Per log directory: its partitions (size of their segments, offset lag = log end -
        high watermark, no future replicas) and its volume's total and usable bytes (v4).
        Topics null: every partition; partitions this broker does not hold are left out, as Kafka's."""
        if not self.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
            return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "results": []}
        wanted = None if req.get("topics") is None else {(t["topic"], i) for t in req["topics"] for i in t["partitions"]}
        # stat()s of many partition directories: off the event loop
        results = await asyncio.to_thread(self._log_dirs, wanted)
        return {"throttle_time_ms": 0, "error_code": 0, "results": results}

    def _log_dirs(self, wanted: set[tuple[str, int]] | None) -> list[dict[str, Any]]:
        b = self.broker
        out = []
        for path, parts in b.store.log_dirs().items():
            topics: dict[str, list[dict[str, Any]]] = {}
            for topic, i in parts:
                if wanted is not None and (topic, i) not in wanted:
                    continue
                p = b.partitions.get((topic, i))
                lag = max(0, p.log.end_offset - p.high_watermark) if p is not None else 0
                topics.setdefault(topic, []).append({"partition_index": i, "partition_size": b.store.partition_size(topic, i),
                                                     "offset_lag": lag, "is_future_key": False})
            usage = shutil.disk_usage(path)
            out.append({"error_code": 0, "log_dir": str(path), "total_bytes": usage.total, "usable_bytes": usage.free,
                        "topics": [{"name": n, "partitions": ps} for n, ps in topics.items()]})
        return out


def replica_assignment_error(assignment: Mapping[int, Sequence[int]], is_live: Callable[[int], bool], first: int = 0,
                             replication_factor: int | None = None) -> str | None:
    """Why a manual replica assignment (partition -> broker ids, for partitions `first`,
    `first`+1, ...) is INVALID_REPLICA_ASSIGNMENT, or None when it is valid: a consecutive
    run of partitions, each with the same number of distinct live brokers (and as many as
    the topic's `replication_factor` when adding partitions). Kafka's rules."""
    if sorted(assignment) != list(range(first, first + len(assignment))):
        return f"partitions {sorted(assignment)} are not the consecutive sequence from {first}"
    sizes = {len(r) for r in assignment.values()}
    if replication_factor is not None and sizes - {replication_factor}:
        return f"every partition needs {replication_factor} replicas (the topic's replication factor), got {sorted(sizes)}"
    if len(sizes) > 1:
        return f"all partitions must have the same number of replicas, got {sorted(sizes)}"
    for i, replicas in sorted(assignment.items()):
        if not replicas:
            return f"partition {i} has an empty replica list"
        if len(set(replicas)) != len(replicas):
            return f"partition {i} names a broker more than once: {list(replicas)}"
        dead = [r for r in replicas if not is_live(r)]
        if dead:
            return f"partition {i} names broker(s) {dead} that are not live"
    return None
