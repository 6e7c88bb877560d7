"""Fetch, ListOffsets, OffsetForLeaderEpoch and DeleteRecords: records out, and where they are."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.common import PARTITIONS_PER_SLICE, ApiGroup, Handler
from pystream.server.broker import empty_fetch_partition
from pystream.server.fetch_session import CachedPartition


class FetchApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.FETCH: self.fetch,
            ApiKey.LIST_OFFSETS: self.list_offsets,
            ApiKey.OFFSET_FOR_LEADER_EPOCH: self.offset_for_leader_epoch,
            ApiKey.DELETE_RECORDS: self.delete_records,
        }

    def _denied_topics(self, topics: set[str], replica_id: int) -> set[str]:
        """A follower needs ClusterAction on the cluster, a consumer Read on each topic."""
        if replica_id >= 0:
            return set() if self.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME) else topics
        return {t for t in topics if not self.authorize(AclOperation.READ, ResourceType.TOPIC, t)}

    async def fetch(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        replica_id = req.get("replica_id", -1)
        isolation = req.get("isolation_level", 0)
        ctx = self.broker.fetch_sessions.new_context(req.get("session_id", 0), req.get("session_epoch", -1), req.get("topics", []),
                                                     req.get("forgotten_topics_data", []), privileged=replica_id >= 0)
        if ctx.error:
            return {"throttle_time_ms": 0, "error_code": int(ctx.error), "session_id": 0, "responses": []}
        max_wait = max(0, req.get("max_wait_ms", 0)) / 1000
        min_bytes = req.get("min_bytes", 1)
        deadline = time.monotonic() + max_wait
        # unopened partitions are opened in threads; an incremental fetch names only the
        # partitions it adds or moves (the others were opened by earlier fetches)
        await self.broker.open_partitions((t["topic"], fp["partition"]) for t in req.get("topics", []) for fp in t["partitions"])
        many = len(ctx.partitions) > PARTITIONS_PER_SLICE  # each pass over them below is a step of its own
        if many:
            await asyncio.sleep(0)
        denied = self._denied_topics({topic for topic, _ in ctx.partitions}, replica_id)
        while True:
            total = 0
            budget = req.get("max_bytes", 0x7FFFFFFF)
            read: list[dict[str, Any] | None] = []
            quiet = ctx.cached if replica_id < 0 else None  # (a follower's read has side effects: never skipped)
            for k, (topic, fp) in enumerate(ctx.partitions):
                if k and k % PARTITIONS_PER_SLICE == 0:
                    await asyncio.sleep(0)  # thousands of partitions: others' requests in between
                if topic in denied:
                    read.append({**empty_fetch_partition(fp["partition"]), "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED})
                    continue
                if quiet is not None and self._no_news(topic, fp, quiet[k]):
                    read.append(None)  # an incremental fetch leaves it out anyway
                    continue
                pr = self._read(topic, fp, replica_id, budget, first=total == 0, isolation=isolation)
                n = len(pr["records"])
                total += n
                budget -= n
                read.append(pr)
            remaining = deadline - time.monotonic()
            if total >= min_bytes or remaining <= 0 or not read or any(
                    p is not None and (p["error_code"] or p.get("diverging_epoch")) for p in read):
                break
            await self._wait_for_data(ctx.partitions, remaining)
        if many:
            await asyncio.sleep(0)
        error, session_id, out = ctx.finish(read)
        responses: list[dict[str, Any]] = []
        for topic, pr in out:  # consecutive partitions of one topic share an entry, as in Kafka
            if not responses or responses[-1]["topic"] != topic:
                responses.append({"topic": topic, "partitions": []})
            responses[-1]["partitions"].append(pr)
        return {"throttle_time_ms": 0, "error_code": int(error), "session_id": session_id, "responses": responses}

    def _no_news(self, topic: str, fp: dict[str, Any], sent: CachedPartition) -> bool:
        """A session partition the consumer has read to the end, whose high watermark and log
        start offset are those last sent: reading it would answer nothing new (the fast path
        of an incremental fetch over many idle partitions)."""
        p = self.broker.partitions.get((topic, fp["partition"]))
        return (p is not None and p.is_leader and fp["fetch_offset"] == p.high_watermark == sent.high_watermark
                and p.log.start_offset == sent.log_start_offset)

    def _read(self, topic: str, fp: dict[str, Any], replica_id: int, budget: int, first: bool, isolation: int = 0) -> dict[str, Any]:
        """One partition of the response, within the request's remaining `budget` of bytes.
        KIP-74: while the response is still empty (`first`) the read returns at least one
        whole batch, however large; after that the limits are hard: a partition whose first
        batch does not fit gets nothing."""
        limit = max(0, min(fp["partition_max_bytes"], budget))
        if replica_id >= 0:
            pr = self.broker.read_for_follower(topic, fp, replica_id, limit)
        else:
            pr = self.broker.read_partition(topic, fp["partition"], fp["fetch_offset"], limit, isolation)
        if not first and len(pr["records"]) > limit:
            pr["records"] = b""  # the log read returns at least one batch: drop it
        return pr

    async def _wait_for_data(self, partitions: list[tuple[str, dict[str, Any]]], timeout: float) -> None:
        """Parks until any fetched partition gets an append, or the timeout."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        parts = [p for topic, fp in partitions if (p := self.broker.partitions.get((topic, fp["partition"]))) is not None]
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
                err, offset, ts = (self.broker.list_offset(t["name"], pp["partition_index"], pp["timestamp"],
                                                           req.get("isolation_level", 0)) if allowed
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
                p, err = self.broker.leader_partition(t["name"], pp["partition_index"])
                if p is None:
                    parts.append({"partition_index": pp["partition_index"], "low_watermark": -1, "error_code": err})
                    continue
                offset = p.high_watermark if pp["offset"] == -1 else pp["offset"]
                if not 0 <= offset <= p.high_watermark:
                    parts.append({"partition_index": pp["partition_index"], "low_watermark": -1, "error_code": ErrorCode.OFFSET_OUT_OF_RANGE})
                    continue
                low = p.log.delete_records_before(offset)
                p.producer_state.txn_index.retain([base for base, _size in p.log.segments()])
                parts.append({"partition_index": pp["partition_index"], "low_watermark": low, "error_code": 0})
            topics.append({"name": t["name"], "partitions": parts})
        return {"throttle_time_ms": 0, "topics": topics}
