"""Consumer groups and committed offsets; the `GroupCoordinator` does the work (its `consumer`
part for the consumer group protocol of KIP-848), these check that this broker is the coordinator."""

from __future__ import annotations

from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.server.apis.common import CLIENT_HOST, AclResourceType, ApiGroup, Handler, requested_operations
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
        resp = await self.broker.groups.offset_fetch(req, hdr.api_version)
        mark_unstable_offsets(self.broker, req, resp, hdr.api_version)
        return resp

    async def list_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        return await self.broker.groups.list_groups(req, hdr.api_version)

    async def describe_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        resp = await self._describe_groups(req, hdr)
        for g in resp.get("groups", []):  # KIP-430
            g["authorized_operations"] = requested_operations(
                bool(req.get("include_authorized_operations")) and not g.get("error_code"), AclResourceType.GROUP, g["group_id"])
        return resp

    async def _describe_groups(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
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

    async def offset_delete(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if self._not_coordinator(req["group_id"]):
            return {"error_code": ErrorCode.NOT_COORDINATOR, "topics": []}
        resp = await self.broker.groups.offset_delete(req, hdr.api_version)
        resp["throttle_time_ms"] = 0
        return resp

    async def consumer_group_heartbeat(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if self._not_coordinator(req["group_id"]):
            resp = {"error_code": ErrorCode.NOT_COORDINATOR, "error_message": None, "member_id": None, "member_epoch": 0,
                    "heartbeat_interval_ms": 0, "assignment": None}
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
        mine = [g for g in ids if not self._not_coordinator(g)]
        described = {g["group_id"]: g for g in (await self.broker.groups.consumer.describe({**req, "group_ids": mine},
                                                                                           hdr.api_version))["groups"]}
        groups = [described.get(g) or {"error_code": ErrorCode.NOT_COORDINATOR, "error_message": None, "group_id": g,
                                       "group_state": "", "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "",
                                       "members": []} for g in ids]
        return {"throttle_time_ms": 0, "groups": groups}
