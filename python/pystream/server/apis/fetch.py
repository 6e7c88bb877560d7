"""Fetch, ListOffsets, OffsetForLeaderEpoch and DeleteRecords: records out, and where they are."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.common import ApiGroup, Handler
from pystream.server.broker import empty_fetch_partition


class FetchApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.FETCH: self.fetch,
            ApiKey.LIST_OFFSETS: self.list_offsets,
            ApiKey.OFFSET_FOR_LEADER_EPOCH: self.offset_for_leader_epoch,
            ApiKey.DELETE_RECORDS: self.delete_records,
        }

    def _denied_topics(self, topics: list[dict[str, Any]], replica_id: int) -> set[str]:
        """A follower needs ClusterAction on the cluster, a consumer Read on each topic."""
        if replica_id >= 0:
            ok = self.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)
            return set() if ok else {t["topic"] for t in topics}
        return {t["topic"] for t in topics if not self.authorize(AclOperation.READ, ResourceType.TOPIC, t["topic"])}

    async def fetch(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        max_wait = max(0, req.get("max_wait_ms", 0)) / 1000
        min_bytes = req.get("min_bytes", 1)
        deadline = time.monotonic() + max_wait
        topics = req.get("topics", [])
        replica_id = req.get("replica_id", -1)
        denied = self._denied_topics(topics, replica_id)
        while True:
            total = 0
            budget = req.get("max_bytes", 0x7FFFFFFF)
            responses = []
            for t in topics:
                parts = []
                for fp in t["partitions"]:
                    # KIP-74: the first non-empty partition returns at least one whole
                    # batch; once the response budget is spent the rest return none.
                    limit = min(fp["partition_max_bytes"], budget) if total == 0 else (min(fp["partition_max_bytes"], budget) if budget > 0 else 0)
                    if t["topic"] in denied:
                        # Empty records, not null: librdkafka refuses a null record set even beside an error.
                        pr = {**empty_fetch_partition(fp["partition"]), "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                              "records": b""}
                    elif replica_id >= 0:
                        pr = b.read_for_follower(t["topic"], fp, replica_id, limit)
                    else:
                        pr = b.read_partition(t["topic"], fp["partition"], fp["fetch_offset"], limit)
                    n = len(pr["records"]) if pr["records"] is not None else 0
                    total += n
                    budget -= n
                    parts.append(pr)
                responses.append({"topic": t["topic"], "partitions": parts})
            remaining = deadline - time.monotonic()
            if total >= min_bytes or remaining <= 0 or not topics or any(
                    p["error_code"] or p.get("diverging_epoch") for r in responses for p in r["partitions"]):
                return {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": responses}
            await self._wait_for_data(topics, remaining)

    async def _wait_for_data(self, topics: list[dict[str, Any]], timeout: float) -> None:
        """Parks until any fetched partition gets an append, or the timeout."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        parts = [p for t in topics for fp in t["partitions"] if (p := self.broker.partition(t["topic"], fp["partition"])) is not None]
        for p in parts:
            p.wait_for_append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            for p in parts:
                p.forget_waiter(fut)

    async def list_offsets(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        v = hdr.api_version
        topics = []
        for t in req["topics"]:
            parts = []
            allowed = self.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t["name"])
            for pp in t["partitions"]:
                err, offset, ts = (self.broker.list_offset(t["name"], pp["partition_index"], pp["timestamp"]) if allowed
                                   else (ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1, -1))
                parts.append({"partition_index": pp["partition_index"], "error_code": int(err), "timestamp": ts, "offset": offset,
                              "leader_epoch": 0 if err == ErrorCode.NONE else -1,
                              "old_style_offsets": [offset] if v == 0 and offset >= 0 else []})
            topics.append({"name": t["name"], "partitions": parts})
        return {"throttle_time_ms": 0, "topics": topics}

    async def offset_for_leader_epoch(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        topics = []
        follower = req.get("replica_id", -1) >= 0
        for t in req["topics"]:
            parts = []
            allowed = (self.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME) if follower
                       else self.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t["topic"]))
            for pp in t["partitions"]:
                err, epoch, end = (b.end_offset_for_epoch(t["topic"], pp["partition"], pp.get("current_leader_epoch", -1),
                                                          pp["leader_epoch"]) if allowed else (ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1, -1))
                parts.append({"error_code": int(err), "partition": pp["partition"], "leader_epoch": epoch, "end_offset": end})
            topics.append({"topic": t["topic"], "partitions": parts})
        return {"throttle_time_ms": 0, "topics": topics}

    async def delete_records(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        topics = []
        for t in req["topics"]:
            parts = []
            allowed = self.authorize(AclOperation.DELETE, ResourceType.TOPIC, t["name"])
            for pp in t["partitions"]:
                if not allowed:
                    parts.append({"partition_index": pp["partition_index"], "low_watermark": -1, "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED})
                    continue
                p = self.broker.partition(t["name"], pp["partition_index"])
                if p is None:
                    parts.append({"partition_index": pp["partition_index"], "low_watermark": -1, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION})
                    continue
                offset = p.high_watermark if pp["offset"] == -1 else pp["offset"]
                if not 0 <= offset <= p.high_watermark:
                    parts.append({"partition_index": pp["partition_index"], "low_watermark": -1, "error_code": ErrorCode.OFFSET_OUT_OF_RANGE})
                    continue
                low = p.log.delete_records_before(offset)
                parts.append({"partition_index": pp["partition_index"], "low_watermark": low, "error_code": 0})
            topics.append({"name": t["name"], "partitions": parts})
        return {"throttle_time_ms": 0, "topics": topics}
