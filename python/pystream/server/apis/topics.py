"""Topic administration: CreateTopics, DeleteTopics, CreatePartitions and partition reassignment (configs: configs.py)."""

from __future__ import annotations

import asyncio

from typing import Any

from pystream.errors import InvalidConfigError, TopicExistsError, UnknownTopicError
from pystream.protocol.codec import RequestHeader, encode_element
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.admin import replica_assignment_error
from pystream.server.apis.common import ZERO_UUID, ApiGroup, Handler
from pystream.server.apis.configs import topic_config_entries
from pystream.storage.topic_config import normalize_topic_config, topic_config_error


class TopicApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.CREATE_TOPICS: self.create_topics,
            ApiKey.DELETE_TOPICS: self.delete_topics,
            ApiKey.CREATE_PARTITIONS: self.create_partitions,
            ApiKey.ALTER_PARTITION_REASSIGNMENTS: self.alter_partition_reassignments,
            ApiKey.LIST_PARTITION_REASSIGNMENTS: self.list_partition_reassignments,
        }

    async def create_topics(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        results = []
        to_create: list[tuple[dict[str, Any], tuple[str, int, int, dict[str, Any]]]] = []
        live = await b.cluster.live_broker_count() if b.cluster is not None else 1
        # v5+ answers every new topic's configs: most topics share their overrides (often none),
        # so each distinct set is built and encoded once, and reused (10,000 topics in one request).
        entries_for: dict[frozenset[tuple[str, Any]], list[Any]] = {}
        for i, t in enumerate(req["topics"], 1):
            if i % _TOPICS_PER_SLICE == 0:
                await asyncio.sleep(0)  # thousands of topics: let other requests in between slices
            name = t["name"]
            n = t["num_partitions"] if t["num_partitions"] != -1 else b.config.get("num.partitions")
            rf = t["replication_factor"] if t["replication_factor"] != -1 else b.config.get("default.replication.factor")
            assigned, amsg = self._assignment(t)
            if assigned:
                n, rf = len(assigned), len(next(iter(assigned.values())))
            configs = {c["name"]: c["value"] for c in t.get("configs", [])}
            res: dict[str, Any] = {"name": name, "topic_id": ZERO_UUID, "error_code": 0, "error_message": None,
                                   "num_partitions": n, "replication_factor": rf, "configs": None}
            err, msg = ErrorCode.NONE, None
            if not self.may_create_topic(name):
                err, msg = ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Create on the cluster or the topic is not allowed"
            elif b.topic_exists(name):
                err, msg = ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists"
            elif assigned and (t["num_partitions"] != -1 or t["replication_factor"] != -1):
                err, msg = ErrorCode.INVALID_REQUEST, "num_partitions and replication_factor must be -1 when assignments are given"
            elif amsg is not None:
                err, msg = ErrorCode.INVALID_REPLICA_ASSIGNMENT, amsg
            elif n <= 0:
                err, msg = ErrorCode.INVALID_PARTITIONS, "number of partitions must be positive"
            elif not 1 <= rf <= live:
                err, msg = ErrorCode.INVALID_REPLICATION_FACTOR, f"replication factor {rf} is larger than the {live} available broker(s)"
            elif (cmsg := topic_config_error(configs, remote_storage_system=b.store.remote_storage_system)) is not None:
                err, msg = ErrorCode.INVALID_CONFIG, cmsg
            elif not req.get("validate_only", False):
                to_create.append((res, (name, n, rf, {k: v for k, v in configs.items() if v is not None})))
            _set_create_result(res, err, msg)
            if err == ErrorCode.NONE and hdr.api_version >= 5:  # the new topic's configs, as DescribeConfigs shows them
                overrides = normalize_topic_config(configs, remote_storage_system=b.store.remote_storage_system)
                key = frozenset((k, str(v)) for k, v in overrides.items())
                if key not in entries_for:
                    entries = topic_config_entries(b.config, overrides, {**b.store.default_topic_config(), **overrides})
                    entries_for[key] = [encode_element("CreateTopicsResponse", hdr.api_version, "topics.configs", e)
                                        for e in entries]
                res["configs"] = entries_for[key]
            results.append(res)
        # All at once: one metadata write for thousands of topics on a single broker.
        errors = await b.create_topics([spec for _res, spec in to_create])
        for (res, (name, *_rest)), e in zip(to_create, errors):
            if e is None:
                res["topic_id"] = b.topic_id(name)
            elif isinstance(e, TopicExistsError):
                _set_create_result(res, ErrorCode.TOPIC_ALREADY_EXISTS, str(e))
            elif isinstance(e, OSError):  # a full disk: nothing was created
                _set_create_result(res, ErrorCode.KAFKA_STORAGE_ERROR, str(e))
            else:
                _set_create_result(res, ErrorCode.INVALID_CONFIG if isinstance(e, InvalidConfigError) else ErrorCode.INVALID_TOPIC_EXCEPTION, str(e))
        return {"throttle_time_ms": 0, "topics": results}

    def _assignment(self, t: dict[str, Any]) -> tuple[dict[int, list[int]], str | None]:
        """A CreateTopics topic's manual assignment (partition -> brokers; empty when none)
        and why it is invalid (None: valid, or none given). In a cluster it is refused for now."""
        assigned = {a["partition_index"]: list(a["broker_ids"]) for a in t.get("assignments") or []}
        if not assigned:
            return assigned, None
        if len(assigned) != len(t["assignments"]):
            return assigned, "a partition is assigned more than once"
        msg = self._assignment_error(assigned, 0)
        if msg is None and self.broker.cluster is not None:
            msg = "manual replica assignment in a cluster is not supported yet"
        return assigned, msg

    def _replication_factor(self, name: str) -> int:
        """Replicas per partition of an existing topic (1 on a single broker)."""
        info = self.broker.cluster.partition_info(name, 0) if self.broker.cluster is not None else None
        return len(info.replicas) if info is not None else 1

    def _assignment_error(self, assigned: dict[int, list[int]], first: int, rf: int | None = None) -> str | None:
        b = self.broker
        is_live = b.cluster.is_live_broker if b.cluster is not None else (lambda broker_id: broker_id == b.node_id)
        return replica_assignment_error(assigned, is_live, first, rf)

    async def delete_topics(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        names: list[tuple[str | None, Any]] = [(n, None) for n in req.get("topic_names", [])]
        for t in req.get("topics", []):
            name = t.get("name") or b.topic_name(t.get("topic_id"))
            names.append((name, t.get("topic_id")))
        out = []
        local: list[str] = []
        for name, topic_id in names:
            res = {"name": name, "topic_id": topic_id, "error_code": 0, "error_message": None}
            if name is not None and not self.authorize(AclOperation.DELETE, ResourceType.TOPIC, name):
                res["error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif name is None or not b.topic_exists(name):
                res["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if name is not None else ErrorCode.UNKNOWN_TOPIC_ID
            elif not b.config.get("delete.topic.enable"):
                res["error_code"], res["error_message"] = ErrorCode.TOPIC_DELETION_DISABLED, "delete.topic.enable is false"
            elif b.cluster is not None:
                await b.cluster.delete_topic(name)  # every broker deletes its replicas when it sees it gone
            elif name not in local:
                local.append(name)
            out.append(res)
        if local:
            await b.delete_local_topics(local)
        return {"throttle_time_ms": 0, "responses": out}

    async def create_partitions(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        out = []
        for t in req["topics"]:
            name, count = t["name"], t["count"]
            current = b.topic_partitions().get(name)
            res = {"name": name, "error_code": 0, "error_message": None}
            assignments = [a["broker_ids"] for a in t["assignments"]] if t.get("assignments") else None
            if not self.authorize(AclOperation.ALTER, ResourceType.TOPIC, name):
                res["error_code"] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif current is None:
                res["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif count <= current:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_PARTITIONS, f"topic has {current} partitions; {count} is not more"
            elif t.get("assignments") is not None and len(t["assignments"]) != count - current:
                res["error_code"], res["error_message"] = (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                                           f"{count - current} partitions added but {len(t['assignments'])} assignments given")
            elif assignments and (amsg := self._assignment_error(
                    {current + j: r for j, r in enumerate(assignments)}, current, self._replication_factor(name))) is not None:
                res["error_code"], res["error_message"] = ErrorCode.INVALID_REPLICA_ASSIGNMENT, amsg
            elif not req.get("validate_only", False):
                try:
                    await b.create_partitions(name, count, assignments)
                except UnknownTopicError:
                    res["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                except ValueError as e:
                    res["error_code"] = ErrorCode.INVALID_REPLICA_ASSIGNMENT if assignments else ErrorCode.INVALID_PARTITIONS
                    res["error_message"] = str(e)
            out.append(res)
        return {"throttle_time_ms": 0, "results": out}

    async def alter_partition_reassignments(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        if not self.authorize(AclOperation.ALTER, ResourceType.CLUSTER, CLUSTER_NAME):
            return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None, "responses": []}
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
        if not self.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
            return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None, "topics": []}
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


_TOPICS_PER_SLICE = 1000


def _set_create_result(res: dict[str, Any], err: ErrorCode, msg: str | None) -> None:
    """One topic's CreateTopics result: its error, and no partition count when it failed."""
    res["error_code"], res["error_message"] = int(err), msg
    if err != ErrorCode.NONE:
        res["num_partitions"] = res["replication_factor"] = -1
        res["configs"] = None
