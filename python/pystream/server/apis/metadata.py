"""Metadata, ApiVersions, DescribeCluster and FindCoordinator: what a client asks before anything else."""

from __future__ import annotations

import asyncio
from typing import Any

from pystream.protocol.codec import Encoded, RequestHeader, encode_element
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.common import (
    SESSION,
    SUPPORTED_VERSIONS,
    ZERO_UUID,
    ApiGroup,
    Handler,
)
from pystream.server.broker import Broker
from pystream.server.cluster_link import NO_LEADER

# Metadata for every topic is built in slices of this many topics (a slice of uncached
# topics takes ~10 ms), yielding to the event loop in between.
_TOPICS_PER_SLICE = 1000
# FindCoordinator key types
COORDINATOR_GROUP, COORDINATOR_TRANSACTION = 0, 1


class MetadataApis(ApiGroup):
    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        # On a single broker a topic's Metadata entry is a function of its name, partition count
        # and id: each is encoded once per response version and reused until one of them changes,
        # so Metadata for 10,000 topics costs a join, not 10,000 encodings.
        self._encoded: dict[int, dict[str, tuple[tuple[Any, ...], Encoded]]] = {}

    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.API_VERSIONS: self.api_versions,
            ApiKey.METADATA: self.metadata,
            ApiKey.DESCRIBE_CLUSTER: self.describe_cluster,
            ApiKey.FIND_COORDINATOR: self.find_coordinator,
        }

    async def api_versions(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        return {"error_code": 0, "throttle_time_ms": 0,
                "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi} for k, (lo, hi) in sorted(SUPPORTED_VERSIONS.items())]}

    def _brokers(self) -> list[dict[str, Any]]:
        """The brokers as reached through the listener of this connection (Kafka omits those without it)."""
        b = self.broker
        listener = SESSION.get().listener
        if b.cluster is not None:
            return [{"node_id": x.node_id, "host": a[0], "port": a[1], "rack": x.rack} for x in b.cluster.brokers()
                    if (a := x.address(listener)) is not None]
        host, port = b.endpoints.get(listener, (b.advertised_host, b.advertised_port))
        return [{"node_id": b.node_id, "host": host, "port": port, "rack": None}]

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

    def _topic_metadata(self, name: str, count: int, error: ErrorCode = ErrorCode.NONE, ops: bool = False) -> dict[str, Any]:
        b = self.broker
        return {
            "error_code": int(error), "name": name, "topic_id": b.topic_id(name) if count else ZERO_UUID,
            "is_internal": name.startswith("__"),
            "topic_authorized_operations": self.requested_operations(ops and error == ErrorCode.NONE, ResourceType.TOPIC, name),
            "partitions": [self._partition_metadata(name, i) for i in range(count)],
        }

    def _topic_entry(self, name: str, count: int, version: int, cache: dict[str, tuple[tuple[Any, ...], Encoded]],
                     ops: bool) -> Any:
        """A topic's Metadata entry (encoded ahead and cached on a single broker)."""
        b = self.broker
        if b.cluster is not None:
            return self._topic_metadata(name, count, ops=ops)
        # the principal's authorized operations are part of the entry: part of its key
        key = (count, b.topic_id(name), self.requested_operations(ops, ResourceType.TOPIC, name))
        hit = self._encoded.get(version, {}).get(name)
        if hit is None or hit[0] != key:
            hit = (key, encode_element("MetadataResponse", version, "topics", self._topic_metadata(name, count, ops=ops)))
        cache[name] = hit
        return hit[1]

    async def metadata(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        requested = req.get("topics")
        v = hdr.api_version
        ops = bool(req.get("include_topic_authorized_operations"))
        describe = AclOperation.DESCRIBE
        if requested is None or (v == 0 and not requested):
            cache: dict[str, tuple[tuple[Any, ...], Encoded]] = {}
            topics = []
            for i, (n, count) in enumerate(sorted(b.topic_partitions().items()), 1):
                if not self.authorize(describe, ResourceType.TOPIC, n):
                    continue  # all topics: those the principal may describe (the others are not disclosed)
                topics.append(self._topic_entry(n, count, v, cache, ops))
                if i % _TOPICS_PER_SLICE == 0:
                    await asyncio.sleep(0)  # thousands of topics: let other requests in between slices
            self._encoded[v] = cache  # only the topics that exist stay cached
        else:
            allow = req.get("allow_auto_topic_creation", True)
            topics = []
            for t in requested:
                name = t.get("name")
                if name is None:
                    # v10+: a topic asked for by id (the consumer group protocol assigns by id).
                    name = b.topic_name(t.get("topic_id"))
                    if name is None:
                        topics.append({**self._topic_metadata("", 0, ErrorCode.UNKNOWN_TOPIC_ID), "name": None,
                                       "topic_id": t.get("topic_id") or ZERO_UUID})
                        continue
                if not self.authorize(describe, ResourceType.TOPIC, name):
                    topics.append(self._topic_metadata(name, 0, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                    continue
                count = b.topic_partition_count(name)
                if count is None:
                    if allow and b.config.get("auto.create.topics.enable") and not self.may_create_topic(name):
                        err = ErrorCode.TOPIC_AUTHORIZATION_FAILED  # auto-creation needs Create
                    else:
                        err = await b.auto_create(name, allow)
                    count = b.topic_partition_count(name)
                    if err != ErrorCode.NONE or count is None:
                        topics.append(self._topic_metadata(name, 0, err if err != ErrorCode.NONE else ErrorCode.LEADER_NOT_AVAILABLE))
                        continue
                topics.append(self._topic_entry(name, count, v, self._encoded.setdefault(v, {}), ops))
        return {"throttle_time_ms": 0, "brokers": self._brokers(), "cluster_id": b.cluster_id,
                "controller_id": self._controller_id(), "topics": topics,
                "cluster_authorized_operations": self.requested_operations(bool(req.get("include_cluster_authorized_operations")),
                                                                           ResourceType.CLUSTER, CLUSTER_NAME)}

    async def describe_cluster(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "endpoint_type": req.get("endpoint_type", 1),
                "cluster_id": b.cluster_id, "controller_id": self._controller_id(),
                "brokers": [{"broker_id": x["node_id"], "host": x["host"], "port": x["port"], "rack": None} for x in self._brokers()],
                "cluster_authorized_operations": self.requested_operations(bool(req.get("include_cluster_authorized_operations")),
                                                                           ResourceType.CLUSTER, CLUSTER_NAME)}

    async def _coordinator(self, key: str, key_type: int) -> dict[str, Any]:
        """The broker coordinating group `key` (key type 0) or transactional id `key` (key type 1):
        this one on a single broker; in a cluster the leader of the key's partition of
        __consumer_offsets / __transaction_state. Its address is that of the caller's listener."""
        b = self.broker
        if key_type not in (COORDINATOR_GROUP, COORDINATOR_TRANSACTION):
            return {"node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.INVALID_REQUEST,
                    "error_message": f"unknown coordinator key type {key_type}"}
        if key_type == COORDINATOR_GROUP and not self.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, key):
            return {"node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "error_message": None}
        if key_type == COORDINATOR_TRANSACTION and not self.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
            return {"node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                    "error_message": None}
        if key_type == COORDINATOR_TRANSACTION and not key:
            return {"node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.INVALID_REQUEST,
                    "error_message": "empty transactional id"}
        listener = SESSION.get().listener
        if b.cluster is None:
            if key_type == COORDINATOR_TRANSACTION:
                b.ensure_txn_state_topic()
            host, port = b.endpoints.get(listener, (b.advertised_host, b.advertised_port))
            return {"node_id": b.node_id, "host": host, "port": port, "error_code": 0, "error_message": None}
        if key_type == COORDINATOR_TRANSACTION:
            await b.cluster.ensure_txn_state_topic()
            c = b.cluster.txn_coordinator_for(key)
        else:
            await b.cluster.ensure_offsets_topic()
            c = b.cluster.coordinator_for(key)
        address = c.address(listener) if c is not None else None
        if c is None or address is None:
            return {"node_id": -1, "host": "", "port": -1, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "error_message": None}
        return {"node_id": c.node_id, "host": address[0], "port": address[1], "error_code": 0, "error_message": None}

    async def find_coordinator(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        key_type = req.get("key_type", 0)
        if hdr.api_version >= 4:
            return {"throttle_time_ms": 0, "coordinators": [
                {"key": k, **await self._coordinator(k, key_type)} for k in req.get("coordinator_keys", [])]}
        return {"throttle_time_ms": 0, **await self._coordinator(req.get("key", ""), key_type)}
