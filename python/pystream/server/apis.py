"""Kafka API handlers: one function per API key, request dict in, response dict out.

Each handler gets the decoded request body and its header (`api_version`,
`client_id`, ...). Field names are the protocol's, in snake_case. A handler
returns None when no response is due (Produce with acks=0).
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
import logging
import time
from typing import Any

from pystream.storage.topic_config import TOPIC_CONFIG_KEYS, normalize_topic_config
from pystream.protocol.codec import RequestHeader
from pystream.server.broker import Broker
from pystream.server.cluster_link import NO_LEADER
from pystream.errors import TopicExistsError
from pystream.protocol.error_codes import ErrorCode

logger = logging.getLogger("pystream.server")
ZERO_UUID = uuid.UUID(int=0)
# The address of the client whose request is being handled (set per connection task).
CLIENT_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("client_host", default="")

# API keys
PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 8, 9, 10, 11, 12, 13, 14
DESCRIBE_GROUPS, LIST_GROUPS, API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS = 15, 16, 18, 19, 20, 21
INIT_PRODUCER_ID, OFFSET_FOR_LEADER_EPOCH, DESCRIBE_CONFIGS, CREATE_PARTITIONS = 22, 23, 32, 37
DELETE_GROUPS, INCREMENTAL_ALTER_CONFIGS, DESCRIBE_CLUSTER = 42, 44, 60
ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS = 45, 46

# What this broker serves: (min, max) per API key. Produce v0-2 is advertised
# (librdkafka 2.0 compresses only when it is) but answered with
# UNSUPPORTED_FOR_MESSAGE_FORMAT: it carries magic 0/1 message sets. Fetch
# starts at v4 (older versions return those) and stops at v12 (v13+ names
# topics by id only).
SUPPORTED_VERSIONS: dict[int, tuple[int, int]] = {
    PRODUCE: (0, 10),
    FETCH: (4, 12),
    LIST_OFFSETS: (0, 7),
    METADATA: (0, 12),
    OFFSET_COMMIT: (0, 8),
    OFFSET_FETCH: (0, 8),
    FIND_COORDINATOR: (0, 4),
    JOIN_GROUP: (0, 9),
    HEARTBEAT: (0, 4),
    LEAVE_GROUP: (0, 5),
    SYNC_GROUP: (0, 5),
    DESCRIBE_GROUPS: (0, 5),
    LIST_GROUPS: (0, 4),
    API_VERSIONS: (0, 3),
    CREATE_TOPICS: (0, 7),
    DELETE_TOPICS: (0, 6),
    DELETE_RECORDS: (0, 2),
    INIT_PRODUCER_ID: (0, 4),
    OFFSET_FOR_LEADER_EPOCH: (0, 4),
    DESCRIBE_CONFIGS: (0, 4),
    CREATE_PARTITIONS: (0, 3),
    DELETE_GROUPS: (0, 2),
    INCREMENTAL_ALTER_CONFIGS: (0, 1),
    DESCRIBE_CLUSTER: (0, 1),
    ALTER_PARTITION_REASSIGNMENTS: (0, 0),
    LIST_PARTITION_REASSIGNMENTS: (0, 0),
}

RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
CONFIG_SOURCE_TOPIC, CONFIG_SOURCE_STATIC_BROKER, CONFIG_SOURCE_DEFAULT = 1, 4, 5


class Apis:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.handlers = {
            PRODUCE: self.produce, FETCH: self.fetch, LIST_OFFSETS: self.list_offsets, METADATA: self.metadata,
            OFFSET_COMMIT: self.offset_commit, OFFSET_FETCH: self.offset_fetch, FIND_COORDINATOR: self.find_coordinator,
            JOIN_GROUP: self.join_group, HEARTBEAT: self.heartbeat, LEAVE_GROUP: self.leave_group, SYNC_GROUP: self.sync_group,
            DESCRIBE_GROUPS: self.describe_groups, LIST_GROUPS: self.list_groups, API_VERSIONS: self.api_versions,
            CREATE_TOPICS: self.create_topics, DELETE_TOPICS: self.delete_topics, DELETE_RECORDS: self.delete_records,
            INIT_PRODUCER_ID: self.init_producer_id, OFFSET_FOR_LEADER_EPOCH: self.offset_for_leader_epoch,
            DESCRIBE_CONFIGS: self.describe_configs, CREATE_PARTITIONS: self.create_partitions,
            DELETE_GROUPS: self.delete_groups, INCREMENTAL_ALTER_CONFIGS: self.incremental_alter_configs,
            DESCRIBE_CLUSTER: self.describe_cluster,
            ALTER_PARTITION_REASSIGNMENTS: self.alter_partition_reassignments,
            LIST_PARTITION_REASSIGNMENTS: self.list_partition_reassignments,
        }

    # ----- ApiVersions, Metadata, cluster ---------------------------------------------------

    async def api_versions(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        return {"error_code": 0, "throttle_time_ms": 0,
                "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi} for k, (lo, hi) in sorted(SUPPORTED_VERSIONS.items())]}

    def _brokers(self) -> list[dict[str, Any]]:
        b = self.broker
        if b.cluster is not None:
            return [{"node_id": x.node_id, "host": x.host, "port": x.port, "rack": x.rack} for x in b.cluster.brokers()]
        return [{"node_id": b.node_id, "host": b.advertised_host, "port": b.advertised_port, "rack": None}]

    def _controller_id(self) -> int:
        b = self.broker
        if b.cluster is not None:
            return b.cluster.controller_id
        return b.node_id

    def _partition_metadata(self, name: str, i: int) -> dict[str, Any]:
        b = self.broker
        if b.cluster is None:
            return {"error_code": 0, "partition_index": i, "leader_id": b.node_id, "leader_epoch": 0,
                    "replica_nodes": [b.node_id], "isr_nodes": [b.node_id], "offline_replicas": []}
        info = b.cluster.partition_info(name, i)
        if info is None:
            return {"error_code": ErrorCode.LEADER_NOT_AVAILABLE, "partition_index": i, "leader_id": -1, "leader_epoch": -1,
                    "replica_nodes": [], "isr_nodes": [], "offline_replicas": []}
        return {"error_code": 0 if info.leader != NO_LEADER else ErrorCode.LEADER_NOT_AVAILABLE, "partition_index": i,
                "leader_id": info.leader, "leader_epoch": info.leader_epoch,
                "replica_nodes": info.replicas, "isr_nodes": list(info.isr), "offline_replicas": list(info.offline)}

    def _topic_metadata(self, name: str, error: ErrorCode = ErrorCode.NONE) -> dict[str, Any]:
        b = self.broker
        count = b.topic_partitions().get(name, 0) if error == ErrorCode.NONE else 0
        return {
            "error_code": int(error), "name": name, "topic_id": b.topic_id(name) if count else ZERO_UUID,
            "is_internal": name.startswith("__"), "topic_authorized_operations": -2147483648,
            "partitions": [self._partition_metadata(name, i) for i in range(count)],
        }

    async def metadata(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        requested = req.get("topics")
        if requested is None or (hdr.api_version == 0 and not requested):
            names = sorted(b.topic_partitions())
            topics = [self._topic_metadata(n) for n in names]
        else:
            allow = req.get("allow_auto_topic_creation", True)
            topics = []
            for t in requested:
                name = t.get("name")
                if name is None:
                    topics.append(self._topic_metadata("", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
                    continue
                if not b.topic_exists(name):
                    err = await b.auto_create(name) if allow else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                    if err != ErrorCode.NONE:
                        topics.append(self._topic_metadata(name, err))
                        continue
                topics.append(self._topic_metadata(name))
        return {"throttle_time_ms": 0, "brokers": self._brokers(), "cluster_id": b.cluster_id,
                "controller_id": self._controller_id(), "topics": topics, "cluster_authorized_operations": -2147483648}

    async def describe_cluster(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "endpoint_type": req.get("endpoint_type", 1),
                "cluster_id": b.cluster_id, "controller_id": self._controller_id(),
                "brokers": [{"broker_id": x["node_id"], "host": x["host"], "port": x["port"], "rack": None} for x in self._brokers()],
                "cluster_authorized_operations": -2147483648}

    async def _coordinator(self, key: str, key_type: int) -> dict[str, Any]:
        """The broker coordinating group `key`: this one on a single broker; in a cluster the
        leader of the group's __consumer_offsets partition."""
        b = self.broker
        if key_type != 0:
            return {"node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.INVALID_REQUEST,
                    "error_message": "transaction coordinators are not supported"}
        if b.cluster is None:
            return {"node_id": b.node_id, "host": b.advertised_host, "port": b.advertised_port, "error_code": 0, "error_message": None}
        await b.cluster.ensure_offsets_topic()
        c = b.cluster.coordinator_for(key)
        if c is None:
            return {"node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "error_message": None}
        return {"node_id": c.node_id, "host": c.host, "port": c.port, "error_code": 0, "error_message": None}

    async def find_coordinator(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        key_type = req.get("key_type", 0)
        if hdr.api_version >= 4:
            return {"throttle_time_ms": 0, "coordinators": [
                {"key": k, **await self._coordinator(k, key_type)} for k in req.get("coordinator_keys", [])]}
        return {"throttle_time_ms": 0, **await self._coordinator(req.get("key", ""), key_type)}

    # ----- Produce, Fetch, offsets -------------------------------------------------------

    async def produce(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any] | None:
        acks = req.get("acks", 1)
        responses = []
        if acks not in (-1, 0, 1):
            for t in req["topic_data"]:
                responses.append({"name": t["name"], "partition_responses": [
                    {"index": pd["index"], "error_code": ErrorCode.INVALID_REQUIRED_ACKS, "base_offset": -1} for pd in t["partition_data"]]})
        elif hdr.api_version < 3:
            for t in req["topic_data"]:
                responses.append({"name": t["name"], "partition_responses": [
                    {"index": pd["index"], "error_code": ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, "base_offset": -1}
                    for pd in t["partition_data"]]})
        elif req.get("transactional_id"):
            for t in req["topic_data"]:
                responses.append({"name": t["name"], "partition_responses": [
                    {"index": pd["index"], "error_code": ErrorCode.INVALID_REQUEST, "base_offset": -1,
                     "error_message": "transactions are not supported"} for pd in t["partition_data"]]})
        elif self.broker.cluster is not None and acks == -1:
            # Each partition waits for its in-sync replicas: wait for all at once.
            self.broker.produce_timeout = max(0.001, req.get("timeout_ms", 30000) / 1000)
            for t in req["topic_data"]:
                parts = await asyncio.gather(*(self.broker.append_records(t["name"], pd["index"], pd["records"], acks)
                                               for pd in t["partition_data"]))
                responses.append({"name": t["name"], "partition_responses": list(parts)})
        else:
            for t in req["topic_data"]:
                responses.append({"name": t["name"], "partition_responses": [
                    await self.broker.append_records(t["name"], pd["index"], pd["records"], acks) for pd in t["partition_data"]]})
        if acks == 0:
            return None
        return {"responses": responses, "throttle_time_ms": 0}

    async def fetch(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        max_wait = max(0, req.get("max_wait_ms", 0)) / 1000
        min_bytes = req.get("min_bytes", 1)
        deadline = time.monotonic() + max_wait
        topics = req.get("topics", [])
        replica_id = req.get("replica_id", -1)
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
                    if replica_id >= 0:
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
            for pp in t["partitions"]:
                err, offset, ts = self.broker.list_offset(t["name"], pp["partition_index"], pp["timestamp"])
                parts.append({"partition_index": pp["partition_index"], "error_code": int(err), "timestamp": ts, "offset": offset,
                              "leader_epoch": 0 if err == ErrorCode.NONE else -1,
                              "old_style_offsets": [offset] if v == 0 and offset >= 0 else []})
            topics.append({"name": t["name"], "partitions": parts})
        return {"throttle_time_ms": 0, "topics": topics}

    async def offset_for_leader_epoch(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        topics = []
        for t in req["topics"]:
            parts = []
            for pp in t["partitions"]:
                err, epoch, end = b.end_offset_for_epoch(t["topic"], pp["partition"], pp.get("current_leader_epoch", -1),
                                                         pp["leader_epoch"])
                parts.append({"error_code": int(err), "partition": pp["partition"], "leader_epoch": epoch, "end_offset": end})
            topics.append({"topic": t["topic"], "partitions": parts})
        return {"throttle_time_ms": 0, "topics": topics}

    async def delete_records(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        topics = []
        for t in req["topics"]:
            parts = []
            for pp in t["partitions"]:
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

    async def init_producer_id(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if req.get("transactional_id"):
            logger.info("InitProducerId with transactional.id %r refused: transactions are not supported", req["transactional_id"])
            return {"throttle_time_ms": 0, "error_code": ErrorCode.INVALID_REQUEST, "producer_id": -1, "producer_epoch": -1}
        pid, epoch = req.get("producer_id", -1), req.get("producer_epoch", -1)
        if pid >= 0 and epoch >= 0:
            # KIP-360: an idempotent producer bumps its own epoch after an error.
            return {"throttle_time_ms": 0, "error_code": 0, "producer_id": pid, "producer_epoch": (epoch + 1) % 32767}
        return {"throttle_time_ms": 0, "error_code": 0, "producer_id": await self.broker.allocate_producer_id(), "producer_epoch": 0}

    # ----- topics and configs ------------------------------------------------------------

    def _config_error(self, configs: dict[str, str | None]) -> str | None:
        """Why these topic configs (None values: removals) are refused, or None."""
        for key in configs:
            if key not in TOPIC_CONFIG_KEYS:
                return f"unknown topic config {key!r}"
        try:
            normalize_topic_config({k: v for k, v in configs.items() if v is not None})
        except ValueError as e:
            return str(e)
        return None

    async def create_topics(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        results = []
        for t in req["topics"]:
            name = t["name"]
            n = t["num_partitions"] if t["num_partitions"] != -1 else b.config.get("num.partitions")
            rf = t["replication_factor"] if t["replication_factor"] != -1 else b.config.get("default.replication.factor")
            configs = {c["name"]: c["value"] for c in t.get("configs", [])}
            res: dict[str, Any] = {"name": name, "topic_id": ZERO_UUID, "error_code": 0, "error_message": None,
                                   "num_partitions": n, "replication_factor": rf, "configs": None}
            err, msg = ErrorCode.NONE, None
            live = await b.cluster.live_broker_count() if b.cluster is not None else 1
            if b.topic_exists(name):
                err, msg = ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists"
            elif n <= 0:
                err, msg = ErrorCode.INVALID_PARTITIONS, "number of partitions must be positive"
            elif not 1 <= rf <= live:
                err, msg = ErrorCode.INVALID_REPLICATION_FACTOR, f"replication factor {rf} is larger than the {live} available broker(s)"
            elif t.get("assignments"):
                err, msg = ErrorCode.INVALID_REPLICA_ASSIGNMENT, "manual replica assignment needs a cluster"
            elif (cmsg := self._config_error(configs)) is not None:
                err, msg = ErrorCode.INVALID_CONFIG, cmsg
            elif not req.get("validate_only", False):
                try:
                    await b.create_topic(name, n, rf, {k: v for k, v in configs.items() if v is not None})
                    res["topic_id"] = b.topic_id(name)
                except TopicExistsError as e:
                    err, msg = ErrorCode.TOPIC_ALREADY_EXISTS, str(e)
                except ValueError as e:
                    err, msg = (ErrorCode.INVALID_CONFIG if "config" in str(e) else ErrorCode.INVALID_TOPIC_EXCEPTION), str(e)
            res["error_code"], res["error_message"] = int(err), msg
            if err != ErrorCode.NONE:
                res["num_partitions"] = res["replication_factor"] = -1
            results.append(res)
        return {"throttle_time_ms": 0, "topics": results}

    async def delete_topics(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        names: list[tuple[str | None, Any]] = [(n, None) for n in req.get("topic_names", [])]
        for t in req.get("topics", []):
            name = t.get("name") or b.topic_name(t.get("topic_id"))
            names.append((name, t.get("topic_id")))
        out = []
        for name, topic_id in names:
            res = {"name": name, "topic_id": topic_id, "error_code": 0, "error_message": None}
            if name is None or not b.topic_exists(name):
                res["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if name is not None else ErrorCode.UNKNOWN_TOPIC_ID
            elif not b.config.get("delete.topic.enable"):
                res["error_code"], res["error_message"] = ErrorCode.POLICY_VIOLATION, "delete.topic.enable is false"
            elif b.cluster is not None:
                await b.cluster.delete_topic(name)  # every broker deletes its replicas when it sees it gone
            else:
                b.delete_local_topic(name)
            out.append(res)
        return {"throttle_time_ms": 0, "responses": out}

    async def create_partitions(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        out = []
        for t in req["topics"]:
            name, count = t["name"], t["count"]
            current = b.topic_partitions().get(name)
            res = {"name": name, "error_code": 0, "error_message": None}
            if b.cluster is not None:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_REQUEST, "adding partitions in a cluster is not supported yet"
            elif current is None:
                res["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif count <= current:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_PARTITIONS, f"topic has {current} partitions; {count} is not more"
            elif t.get("assignments"):
                res["error_code"], res["error_message"] = ErrorCode.INVALID_REPLICA_ASSIGNMENT, "manual replica assignment needs a cluster"
            elif not req.get("validate_only", False):
                b.store.create_partitions(name, count)
            out.append(res)
        return {"throttle_time_ms": 0, "results": out}

    def _topic_configs(self, name: str, keys: list[str] | None) -> list[dict[str, Any]]:
        b = self.broker
        explicit = b.store.topic_config(name)
        effective = {**b.config.topic_defaults(), **explicit}
        out = []
        for key in sorted(TOPIC_CONFIG_KEYS):
            if keys is not None and key not in keys:
                continue
            value = effective.get(key)
            out.append({"name": key, "value": None if value is None else str(value), "read_only": False,
                        "is_default": key not in explicit, "config_source": CONFIG_SOURCE_TOPIC if key in explicit else CONFIG_SOURCE_DEFAULT,
                        "is_sensitive": False, "synonyms": [], "config_type": 0, "documentation": None})
        return out

    async def describe_configs(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        results = []
        for r in req["resources"]:
            rt, name, keys = r["resource_type"], r["resource_name"], r.get("configuration_keys")
            res: dict[str, Any] = {"error_code": 0, "error_message": None, "resource_type": rt, "resource_name": name, "configs": []}
            if rt == RESOURCE_TOPIC:
                if b.topic_exists(name):
                    res["configs"] = self._topic_configs(name, keys)
                else:
                    res["error_code"], res["error_message"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name!r}"
            elif rt == RESOURCE_BROKER:
                res["configs"] = [{"name": k, "value": None if v is None else str(v).lower() if isinstance(v, bool) else str(v),
                                   "read_only": True, "is_default": False, "config_source": CONFIG_SOURCE_STATIC_BROKER,
                                   "is_sensitive": False, "synonyms": [], "config_type": 0, "documentation": None}
                                  for k, v in sorted(b.config.values.items()) if keys is None or k in keys]
            else:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_REQUEST, f"resource type {rt} is not supported"
            results.append(res)
        return {"throttle_time_ms": 0, "results": results}

    async def incremental_alter_configs(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        out = []
        for r in req["resources"]:
            rt, name = r["resource_type"], r["resource_name"]
            res = {"error_code": 0, "error_message": None, "resource_type": rt, "resource_name": name}
            changes: dict[str, str | None] = {}
            for c in r["configs"]:
                op = c["config_operation"]
                if op == 0:
                    changes[c["name"]] = c["value"]
                elif op == 1:
                    changes[c["name"]] = None
                else:
                    res["error_code"], res["error_message"] = ErrorCode.INVALID_CONFIG, f"{c['name']}: APPEND/SUBTRACT apply to list configs only"
            if res["error_code"]:
                pass
            elif rt != RESOURCE_TOPIC:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_REQUEST, "only topic configs can be altered"
            elif not b.topic_exists(name):
                res["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif (msg := self._config_error(changes)) is not None:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_CONFIG, msg
            elif not req.get("validate_only", False):
                try:
                    b.store.alter_topic_config(name, changes)
                except ValueError as e:
                    res["error_code"], res["error_message"] = ErrorCode.INVALID_CONFIG, str(e)
            out.append(res)
        return {"throttle_time_ms": 0, "responses": out}

    # ----- partition reassignment (cluster) ----------------------------------------------

    async def alter_partition_reassignments(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        out = []
        moves: dict[tuple[str, int], list[int]] = {}
        for t in req["topics"]:
            parts = []
            for pp in t["partitions"]:
                i, replicas = pp["partition_index"], pp["replicas"]
                err, msg = ErrorCode.NONE, None
                if b.cluster is None:
                    err, msg = ErrorCode.INVALID_REQUEST, "reassignment needs a cluster (--zookeeper)"
                elif not 0 <= i < b.cluster.topic_partitions().get(t["name"], 0):
                    err = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif replicas is None:
                    err, msg = ErrorCode.INVALID_REQUEST, "cancelling a reassignment is not supported"
                elif not replicas or len(set(replicas)) != len(replicas) or any(not b.cluster.is_live_broker(r) for r in replicas):
                    err, msg = ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"replicas {replicas} must be distinct live brokers"
                else:
                    moves[(t["name"], i)] = list(replicas)
                parts.append({"partition_index": i, "error_code": int(err), "error_message": msg})
            out.append({"name": t["name"], "partitions": parts})
        if moves and b.cluster is not None:
            await b.cluster.request_reassignment(moves)
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "responses": out}

    async def list_partition_reassignments(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        if b.cluster is None:
            return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "topics": []}
        pending = await b.cluster.pending_reassignments()
        wanted = None if req.get("topics") is None else {(t["name"], i) for t in req["topics"] for i in t["partition_indexes"]}
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for (name, i), target in sorted(pending.items()):
            if wanted is not None and (name, i) not in wanted:
                continue
            current = b.cluster.partition_info(name, i)
            replicas = current.replicas if current else []
            by_topic.setdefault(name, []).append({
                "partition_index": i, "replicas": replicas,
                "adding_replicas": [r for r in target if r not in replicas],
                "removing_replicas": [r for r in replicas if r not in target]})
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None,
                "topics": [{"name": n, "partitions": ps} for n, ps in by_topic.items()]}

    # ----- consumer groups (the coordinator does the work) ------------------------------

    def _not_coordinator(self, group_id: str) -> bool:
        """In a cluster, a group's requests belong to the leader of its offsets partition."""
        c = self.broker.cluster
        return c is not None and not c.is_coordinator(group_id)

    async def join_group(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if self._not_coordinator(req["group_id"]):
            return {"error_code": ErrorCode.NOT_COORDINATOR, "generation_id": -1,
                    "protocol_name": None if hdr.api_version >= 7 else "", "leader": "",
                    "member_id": req.get("member_id", ""), "members": []}
        return await self.broker.groups.join_group(req, hdr.api_version, hdr.client_id or "", client_host=f"/{CLIENT_HOST.get()}")

    async def sync_group(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if self._not_coordinator(req["group_id"]):
            return {"error_code": ErrorCode.NOT_COORDINATOR, "assignment": b""}
        return await self.broker.groups.sync_group(req, hdr.api_version)

    async def heartbeat(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if self._not_coordinator(req["group_id"]):
            return {"error_code": ErrorCode.NOT_COORDINATOR}
        return await self.broker.groups.heartbeat(req, hdr.api_version)

    async def leave_group(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if self._not_coordinator(req["group_id"]):
            return {"error_code": ErrorCode.NOT_COORDINATOR, "members": []}
        return await self.broker.groups.leave_group(req, hdr.api_version)

    async def offset_commit(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if self._not_coordinator(req["group_id"]):
            return {"topics": [{"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"], "error_code": ErrorCode.NOT_COORDINATOR} for p in t["partitions"]]}
                for t in req["topics"]]}
        resp = await self.broker.groups.offset_commit(req, hdr.api_version)
        if self.broker.cluster is not None and not await self.broker.cluster.offsets_replicated(req["group_id"]):
            # Kafka appends commits with acks=all: a commit the ISR does not have is not acknowledged.
            for t in resp.get("topics", []):
                for p in t["partitions"]:
                    if p["error_code"] == 0:
                        p["error_code"] = ErrorCode.REQUEST_TIMED_OUT
        return resp

    async def offset_fetch(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if hdr.api_version >= 8:
            if any(self._not_coordinator(g["group_id"]) for g in req.get("groups") or []):
                return {"groups": [{"group_id": g["group_id"], "topics": [],
                                    "error_code": ErrorCode.NOT_COORDINATOR if self._not_coordinator(g["group_id"]) else 0}
                                   for g in req.get("groups") or []]}
        elif self._not_coordinator(req["group_id"]):
            return {"error_code": ErrorCode.NOT_COORDINATOR, "topics": []}
        return await self.broker.groups.offset_fetch(req, hdr.api_version)

    async def list_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        return await self.broker.groups.list_groups(req, hdr.api_version)

    async def describe_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if any(self._not_coordinator(g) for g in req.get("groups", [])):
            resp = await self.broker.groups.describe_groups(
                {**req, "groups": [g for g in req["groups"] if not self._not_coordinator(g)]}, hdr.api_version)
            resp["groups"] = resp.get("groups", []) + [
                {"error_code": ErrorCode.NOT_COORDINATOR, "group_id": g, "group_state": "", "protocol_type": "",
                 "protocol_data": "", "members": []} for g in req["groups"] if self._not_coordinator(g)]
            return resp
        return await self.broker.groups.describe_groups(req, hdr.api_version)

    async def delete_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if any(self._not_coordinator(g) for g in req.get("groups_names", [])):
            return {"results": [{"group_id": g, "error_code": ErrorCode.NOT_COORDINATOR if self._not_coordinator(g) else
                                 ErrorCode.NON_EMPTY_GROUP} for g in req["groups_names"]]}
        return await self.broker.groups.delete_groups(req, hdr.api_version)
