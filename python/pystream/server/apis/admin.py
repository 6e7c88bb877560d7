"""Broker administration: DescribeLogDirs (what each log directory holds, and its disk)."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.schema_data import ApiKey
from pystream.server.apis.common import ApiGroup, Handler


class AdminApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {ApiKey.DESCRIBE_LOG_DIRS: self.describe_log_dirs}

    async def describe_log_dirs(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        """Per log directory: its partitions (size of their segments, offset lag = log end -
        high watermark, no future replicas) and its volume's total and usable bytes (v4).
        Topics null: every partition; partitions this broker does not hold are left out, as Kafka's."""
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
