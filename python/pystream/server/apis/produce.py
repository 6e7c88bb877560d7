"""Produce and InitProducerId: records in."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.common import PARTITIONS_PER_SLICE, ApiGroup, Handler

logger = logging.getLogger("pystream.server")


class ProduceApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.PRODUCE: self.produce,
            ApiKey.INIT_PRODUCER_ID: self.init_producer_id,
        }

    def _unauthorized(self, req: dict[str, Any]) -> dict[str, ErrorCode]:
        """The topics of a Produce this principal may not write to (Kafka checks the transactional id first)."""
        if self.broker.security.authorizer is None:
            return {}
        tid = req.get("transactional_id")
        if tid and not self.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid):
            return {t["name"]: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED for t in req["topic_data"]}
        out = {t["name"]: ErrorCode.TOPIC_AUTHORIZATION_FAILED for t in req["topic_data"]
               if not self.authorize(AclOperation.WRITE, ResourceType.TOPIC, t["name"])}
        # Producing to a missing topic creates it here: that takes Create as well.
        out.update({t["name"]: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION for t in req["topic_data"]
                    if t["name"] not in out and not self.broker.topic_exists(t["name"]) and not self.may_create_topic(t["name"])})
        return out

    async def produce(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any] | None:
        acks = req.get("acks", 1)
        txn_id = req.get("transactional_id")
        responses = []
        refused = self._unauthorized(req)
        if refused:
            responses = [{"name": t["name"], "partition_responses": [
                {"index": pd["index"], "error_code": refused[t["name"]], "base_offset": -1} for pd in t["partition_data"]]}
                for t in req["topic_data"] if t["name"] in refused]
            req = {**req, "topic_data": [t for t in req["topic_data"] if t["name"] not in refused]}
        await self.broker.open_partitions((t["name"], pd["index"]) for t in req["topic_data"] for pd in t["partition_data"])
        if sum(len(t["partition_data"]) for t in req["topic_data"]) > PARTITIONS_PER_SLICE:
            await asyncio.sleep(0)  # the passes over thousands of partitions above were one step: others' requests now
        if acks not in (-1, 0, 1):
            for t in req["topic_data"]:
                responses.append({"name": t["name"], "partition_responses": [
                    {"index": pd["index"], "error_code": ErrorCode.INVALID_REQUIRED_ACKS, "base_offset": -1} for pd in t["partition_data"]]})
        elif hdr.api_version < 3:
            for t in req["topic_data"]:
                responses.append({"name": t["name"], "partition_responses": [
                    {"index": pd["index"], "error_code": ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, "base_offset": -1}
                    for pd in t["partition_data"]]})
        elif self.broker.cluster is not None and acks == -1:
            # Each partition waits for its in-sync replicas: wait for all at once.
            self.broker.produce_timeout = max(0.001, req.get("timeout_ms", 30000) / 1000)
            for t in req["topic_data"]:
                parts = await asyncio.gather(*(self.broker.append_records(t["name"], pd["index"], pd["records"], acks, txn_id)
                                               for pd in t["partition_data"]))
                responses.append({"name": t["name"], "partition_responses": list(parts)})
        else:
            done = 0
            for t in req["topic_data"]:
                parts = []
                for pd in t["partition_data"]:
                    parts.append(await self.broker.append_records(t["name"], pd["index"], pd["records"], acks, txn_id))
                    done += 1
                    if done % PARTITIONS_PER_SLICE == 0:
                        await asyncio.sleep(0)  # thousands of partitions: others' requests in between
                responses.append({"name": t["name"], "partition_responses": parts})
        if acks == 0:
            return None
        return {"responses": responses, "throttle_time_ms": 0}

    async def init_producer_id(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        b = self.broker
        txn_id = req.get("transactional_id")
        if txn_id is not None:
            if not self.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
                return {"throttle_time_ms": 0, "error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "producer_id": -1,
                        "producer_epoch": -1}
            # The transaction coordinator of the id: epoch bump, fencing, abort of an open transaction.
            if b.cluster is None:
                b.ensure_txn_state_topic()
            err, pid, epoch = await b.txns.init_producer_id(txn_id, req.get("transaction_timeout_ms", 0),
                                                            req.get("producer_id", -1), req.get("producer_epoch", -1))
            if err == ErrorCode.PRODUCER_FENCED and hdr.api_version < 4:
                err = ErrorCode.INVALID_PRODUCER_EPOCH  # PRODUCER_FENCED came with v4
            return {"throttle_time_ms": 0, "error_code": int(err), "producer_id": pid, "producer_epoch": epoch}
        if not (self.authorize(AclOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER_NAME)
                or self.authorize_any(AclOperation.WRITE, ResourceType.TOPIC)):  # KIP-679: Write on any topic suffices
            return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "producer_id": -1, "producer_epoch": -1}
        pid, epoch = req.get("producer_id", -1), req.get("producer_epoch", -1)
        if pid >= 0 and epoch >= 0:
            # KIP-360: an idempotent producer bumps its own epoch after an error.
            return {"throttle_time_ms": 0, "error_code": 0, "producer_id": pid, "producer_epoch": (epoch + 1) % 32767}
        return {"throttle_time_ms": 0, "error_code": 0, "producer_id": await self.broker.allocate_producer_id(), "producer_epoch": 0}
