"""Consumer groups and committed offsets; the `GroupCoordinator` does the work (its `consumer`
part for the consumer group protocol of KIP-848), these check that this broker is the coordinator."""

from __future__ import annotations

from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import AclOperation, ResourceType
from pystream.server.apis.common import CLIENT_HOST, ApiGroup, Handler
from pystream.server.apis.transactions import mark_unstable_offsets


class GroupApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.JOIN_GROUP: self.join_group,
            ApiKey.SYNC_GROUP: self.sync_group,
            ApiKey.HEARTBEAT: self.heartbeat,
            ApiKey.LEAVE_GROUP: self.leave_group,
            ApiKey.OFFSET_COMMIT: self.offset_commit,
            ApiKey.OFFSET_FETCH: self.offset_fetch,
            ApiKey.LIST_GROUPS: self.list_groups,
            ApiKey.DESCRIBE_GROUPS: self.describe_groups,
            ApiKey.DELETE_GROUPS: self.delete_groups,
            ApiKey.OFFSET_DELETE: self.offset_delete,
            ApiKey.CONSUMER_GROUP_HEARTBEAT: self.consumer_group_heartbeat,
            ApiKey.CONSUMER_GROUP_DESCRIBE: self.consumer_group_describe,
        }

    def _not_coordinator(self, group_id: str) -> bool:
        """In a cluster, a group's requests belong to the leader of its offsets partition."""
        return not self.broker.coordinates_group(group_id)

    def _group_error(self, group_id: str, op: AclOperation = AclOperation.READ) -> ErrorCode:
        """Why this broker does not serve the group's request: not authorized (checked first,
        as Kafka does), not its coordinator; NONE when it does."""
        if not self.authorize(op, ResourceType.GROUP, group_id):
            return ErrorCode.GROUP_AUTHORIZATION_FAILED
        return ErrorCode.NOT_COORDINATOR if self._not_coordinator(group_id) else ErrorCode.NONE

    async def join_group(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if err := self._group_error(req["group_id"]):
            return {"error_code": err, "generation_id": -1,
                    "protocol_name": None if hdr.api_version >= 7 else "", "leader": "",
                    "member_id": req.get("member_id", ""), "members": []}
        return await self.broker.groups.join_group(req, hdr.api_version, hdr.client_id or "", client_host=f"/{CLIENT_HOST.get()}")

    async def sync_group(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if err := self._group_error(req["group_id"]):
            return {"error_code": err, "assignment": b""}
        return await self.broker.groups.sync_group(req, hdr.api_version)

    async def heartbeat(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if err := self._group_error(req["group_id"]):
            return {"error_code": err}
        return await self.broker.groups.heartbeat(req, hdr.api_version)

    async def leave_group(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if err := self._group_error(req["group_id"]):
            return {"error_code": err, "members": []}
        return await self.broker.groups.leave_group(req, hdr.api_version)

    async def offset_commit(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if err := self._group_error(req["group_id"]):
            return {"topics": [{"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"], "error_code": err} for p in t["partitions"]]}
                for t in req["topics"]]}
        denied = [t for t in req["topics"] if not self.authorize(AclOperation.READ, ResourceType.TOPIC, t["name"])]
        if denied:  # Kafka commits the authorized topics and refuses the others
            req = {**req, "topics": [t for t in req["topics"] if t not in denied]}
        resp = await self.broker.groups.offset_commit(req, hdr.api_version)
        resp.setdefault("topics", []).extend({"name": t["name"], "partitions": [
            {"partition_index": p["partition_index"], "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED} for p in t["partitions"]]}
            for t in denied)
        if self.broker.cluster is not None and not await self.broker.cluster.offsets_replicated(req["group_id"]):
            # Kafka appends commits with acks=all: a commit the ISR does not have is not acknowledged.
            for t in resp.get("topics", []):
                for p in t["partitions"]:
                    if p["error_code"] == 0:
                        p["error_code"] = ErrorCode.REQUEST_TIMED_OUT
        return resp

    async def offset_fetch(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if hdr.api_version >= 8:
            if any(self._group_error(g["group_id"], AclOperation.DESCRIBE) for g in req.get("groups") or []):
                return {"groups": [{"group_id": g["group_id"], "topics": [],
                                    "error_code": self._group_error(g["group_id"], AclOperation.DESCRIBE)}
                                   for g in req.get("groups") or []]}
        elif err := self._group_error(req["group_id"], AclOperation.DESCRIBE):
            return {"error_code": err, "topics": []}
        resp = await self.broker.groups.offset_fetch(req, hdr.api_version)
        mark_unstable_offsets(self.broker, req, resp, hdr.api_version)
        if self.broker.security.authorizer is not None:
            if hdr.api_version >= 8:
                asked = {g["group_id"]: g.get("topics") for g in req.get("groups") or []}
                for g in resp.get("groups") or []:
                    g["topics"] = self._hide_topics(g.get("topics") or [], asked.get(g["group_id"]) is None)
            else:
                resp["topics"] = self._hide_topics(resp.get("topics") or [], req.get("topics") is None)
        return resp

    def _hide_topics(self, topics: list[dict[str, Any]], all_topics: bool) -> list[dict[str, Any]]:
        """OffsetFetch: topics the principal may not describe are left out of an all-topics answer
        and answer TOPIC_AUTHORIZATION_FAILED when asked for by name (as in Kafka)."""
        out = []
        for t in topics:
            if not self.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t["name"]):
                if all_topics:
                    continue
                for p in t["partitions"]:
                    p.update(committed_offset=-1, metadata="", error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
            out.append(t)
        return out

    async def list_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        resp = await self.broker.groups.list_groups(req, hdr.api_version)
        if not self.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, "kafka-cluster"):  # else: the groups it may describe
            resp["groups"] = [g for g in resp.get("groups", []) if self.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, g["group_id"])]
        return resp

    async def describe_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        resp = await self._describe_groups(req, hdr)
        if req.get("include_authorized_operations"):  # KIP-430
            for g in resp.get("groups", []):
                if not g.get("error_code"):
                    g["authorized_operations"] = self.authorized_operations(ResourceType.GROUP, g["group_id"])
        return resp

    async def _describe_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        errors = {g: err for g in req.get("groups", []) if (err := self._group_error(g, AclOperation.DESCRIBE))}
        if errors:
            resp = await self.broker.groups.describe_groups(
                {**req, "groups": [g for g in req["groups"] if g not in errors]}, hdr.api_version)
            resp["groups"] = resp.get("groups", []) + [
                {"error_code": err, "group_id": g, "group_state": "", "protocol_type": "",
                 "protocol_data": "", "members": []} for g, err in errors.items()]
            return resp
        return await self.broker.groups.describe_groups(req, hdr.api_version)

    async def delete_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        denied = [g for g in req.get("groups_names", []) if not self.authorize(AclOperation.DELETE, ResourceType.GROUP, g)]
        if denied:
            resp = await self.delete_groups({**req, "groups_names": [g for g in req["groups_names"] if g not in denied]}, hdr)
            resp["results"] = resp.get("results", []) + [{"group_id": g, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED} for g in denied]
            return resp
        if any(self._not_coordinator(g) for g in req.get("groups_names", [])):
            return {"results": [{"group_id": g, "error_code": ErrorCode.NOT_COORDINATOR if self._not_coordinator(g) else
                                 ErrorCode.NON_EMPTY_GROUP} for g in req["groups_names"]]}
        return await self.broker.groups.delete_groups(req, hdr.api_version)

    async def offset_delete(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if err := self._group_error(req["group_id"], AclOperation.DELETE):
            return {"error_code": err, "topics": []}
        denied = [t for t in req.get("topics", []) if not self.authorize(AclOperation.READ, ResourceType.TOPIC, t["name"])]
        if denied:  # Kafka deletes the authorized topics' offsets and refuses the others
            req = {**req, "topics": [t for t in req["topics"] if t not in denied]}
        resp = await self.broker.groups.offset_delete(req, hdr.api_version)
        resp.setdefault("topics", []).extend({"name": t["name"], "partitions": [
            {"partition_index": p["partition_index"], "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED} for p in t["partitions"]]}
            for t in denied)
        resp["throttle_time_ms"] = 0
        return resp

    async def consumer_group_heartbeat(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        hidden = [t for t in req.get("subscribed_topic_names") or [] if not self.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, t)]
        if (err := self._group_error(req["group_id"])) or hidden:
            # Read on the group, Describe on every subscribed topic (Kafka's checks of KIP-848).
            resp = {"error_code": err or ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                    "error_message": None if err else f"Topic authorization failed for topics {sorted(hidden)}",
                    "member_id": None, "member_epoch": 0, "heartbeat_interval_ms": 0, "assignment": None}
        else:
            resp = await self.broker.groups.consumer.heartbeat(req, hdr.api_version, hdr.client_id or "",
                                                               client_host=f"/{CLIENT_HOST.get()}")
            if self.broker.cluster is not None and resp["error_code"] == 0:
                # Kafka appends the group's records with acks=all: answer once the in-sync replicas
                # have them, so a new coordinator knows the epochs and partitions the member acts on.
                await self.broker.cluster.offsets_replicated(req["group_id"])
        resp["throttle_time_ms"] = 0
        return resp

    async def consumer_group_describe(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        ids = req.get("group_ids") or []
        errors = {g: err for g in ids if (err := self._group_error(g, AclOperation.DESCRIBE))}
        mine = [g for g in ids if g not in errors]
        described = {g["group_id"]: g for g in (await self.broker.groups.consumer.describe({**req, "group_ids": mine},
                                                                                           hdr.api_version))["groups"]}
        groups = [described.get(g) or {"error_code": errors.get(g, ErrorCode.NOT_COORDINATOR), "error_message": None, "group_id": g,
                                       "group_state": "", "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "",
                                       "members": []} for g in ids]
        if req.get("include_authorized_operations"):  # KIP-430
            for g in groups:
                if not g.get("error_code"):
                    g["authorized_operations"] = self.authorized_operations(ResourceType.GROUP, g["group_id"])
        return {"throttle_time_ms": 0, "groups": groups}
