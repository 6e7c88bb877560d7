"""Transactions (KIP-98): AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, WriteTxnMarkers, TxnOffsetCommit,
DescribeTransactions and ListTransactions. The `TransactionCoordinator` does the work; InitProducerId
is in produce.py, FindCoordinator (key type 1) in metadata.py."""

from __future__ import annotations

from typing import Any

from pystream.coordinator.offsets import OFFSETS_TOPIC, OffsetAndMetadata
from pystream.protocol.codec import RequestHeader
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.server.apis.common import ApiGroup, Handler

__all__ = ["TransactionApis", "fenced_for_version", "mark_unstable_offsets"]

# The first version of each API that knows PRODUCER_FENCED; older ones get INVALID_PRODUCER_EPOCH.
_PRODUCER_FENCED_SINCE = {ApiKey.ADD_PARTITIONS_TO_TXN: 2, ApiKey.ADD_OFFSETS_TO_TXN: 2, ApiKey.END_TXN: 2,
                          ApiKey.INIT_PRODUCER_ID: 4, ApiKey.TXN_OFFSET_COMMIT: 1 << 15}
OFFSET_METADATA_MAX_BYTES = 4096  # offset.metadata.max.bytes


def fenced_for_version(err: ErrorCode, api_key: int, version: int) -> int:
    """PRODUCER_FENCED as the request's version spells it."""
    if err == ErrorCode.PRODUCER_FENCED and version < _PRODUCER_FENCED_SINCE.get(api_key, 0):
        return int(ErrorCode.INVALID_PRODUCER_EPOCH)
    return int(err)


def mark_unstable_offsets(broker: Any, req: dict[str, Any], resp: dict[str, Any], version: int) -> None:
    """KIP-447: OffsetFetch with require_stable (v7+) answers UNSTABLE_OFFSET_COMMIT for partitions
    with a transactional commit not yet completed, so consumers wait instead of reading an old offset."""
    if version < 7 or not req.get("require_stable"):
        return
    groups = resp.get("groups") if version >= 8 else [{"group_id": req.get("group_id") or "", "topics": resp.get("topics") or []}]
    for g in groups or []:
        for t in g.get("topics") or []:
            for p in t.get("partitions") or []:
                if broker.offsets.has_pending(g["group_id"], t["name"], p["partition_index"]):
                    p["error_code"], p["committed_offset"] = int(ErrorCode.UNSTABLE_OFFSET_COMMIT), -1


class TransactionApis(ApiGroup):
    def handlers(self) -> dict[int, Handler]:
        return {
            ApiKey.ADD_PARTITIONS_TO_TXN: self.add_partitions_to_txn,
            ApiKey.ADD_OFFSETS_TO_TXN: self.add_offsets_to_txn,
            ApiKey.END_TXN: self.end_txn,
            ApiKey.WRITE_TXN_MARKERS: self.write_txn_markers,
            ApiKey.TXN_OFFSET_COMMIT: self.txn_offset_commit,
            ApiKey.DESCRIBE_TRANSACTIONS: self.describe_transactions,
            ApiKey.LIST_TRANSACTIONS: self.list_transactions,
        }

    async def _add_partitions(self, txn_id: str, pid: int, epoch: int, topics: list[dict[str, Any]], verify_only: bool,
                              version: int) -> list[dict[str, Any]]:
        """One transaction's AddPartitionsToTxn topic results (Kafka's checks: Write on the
        transactional id, then Write on each topic)."""
        if not verify_only and not self.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
            return _topic_results(topics, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        denied = {t["name"] for t in topics if not verify_only and not self.authorize(AclOperation.WRITE, ResourceType.TOPIC, t["name"])}
        if denied:  # nothing is added: the others answer OPERATION_NOT_ATTEMPTED, as in Kafka
            return [{"name": t["name"], "results_by_partition": [
                {"partition_index": i, "partition_error_code": int(ErrorCode.TOPIC_AUTHORIZATION_FAILED if t["name"] in denied
                                                                   else ErrorCode.OPERATION_NOT_ATTEMPTED)}
                for i in t["partitions"]]} for t in topics]
        tps = [(t["name"], i) for t in topics for i in t["partitions"]]
        txns = self.broker.txns
        if verify_only:  # KIP-890: a partition leader asks whether the partitions are in the transaction
            errors = {tp: txns.verify(txn_id, pid, epoch, tp) for tp in tps}
        else:
            errors = await txns.add_partitions(txn_id, pid, epoch, tps)
        return [{"name": t["name"], "results_by_partition": [
            {"partition_index": i, "partition_error_code": fenced_for_version(errors[(t["name"], i)], ApiKey.ADD_PARTITIONS_TO_TXN, version)}
            for i in t["partitions"]]} for t in topics]

    async def add_partitions_to_txn(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        v = hdr.api_version
        if v <= 3:
            results = await self._add_partitions(req["v3_and_below_transactional_id"], req["v3_and_below_producer_id"],
                                                 req["v3_and_below_producer_epoch"], req["v3_and_below_topics"], False, v)
            return {"throttle_time_ms": 0, "results_by_topic_v3_and_below": results}
        out = []
        for txn in req.get("transactions") or []:
            results = await self._add_partitions(txn["transactional_id"], txn["producer_id"], txn["producer_epoch"],
                                                 txn["topics"], txn.get("verify_only", False), v)
            out.append({"transactional_id": txn["transactional_id"], "topic_results": results})
        return {"throttle_time_ms": 0, "error_code": 0, "results_by_transaction": out}

    async def add_offsets_to_txn(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if not self.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, req["transactional_id"]):
            return {"throttle_time_ms": 0, "error_code": int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)}
        if not self.authorize(AclOperation.READ, ResourceType.GROUP, req["group_id"]):
            return {"throttle_time_ms": 0, "error_code": int(ErrorCode.GROUP_AUTHORIZATION_FAILED)}
        err = await self.broker.txns.add_offsets(req["transactional_id"], req["producer_id"], req["producer_epoch"], req["group_id"])
        return {"throttle_time_ms": 0, "error_code": fenced_for_version(err, ApiKey.ADD_OFFSETS_TO_TXN, hdr.api_version)}

    async def end_txn(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        if not self.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, req["transactional_id"]):
            return {"throttle_time_ms": 0, "error_code": int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)}
        err = await self.broker.txns.end_txn(req["transactional_id"], req["producer_id"], req["producer_epoch"], req["committed"])
        return {"throttle_time_ms": 0, "error_code": fenced_for_version(err, ApiKey.END_TXN, hdr.api_version)}

    async def write_txn_markers(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        """A transaction coordinator on another broker has markers written to partitions this broker leads."""
        b = self.broker
        if not self.authorize(AclOperation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME):
            return {"markers": [{"producer_id": m["producer_id"], "topics": _marker_results(m, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)}
                                for m in req["markers"]]}
        out = []
        for m in req["markers"]:
            topics = []
            for t in m["topics"]:
                parts = []
                for i in t["partition_indexes"]:
                    err = await b.write_txn_marker(t["name"], i, m["producer_id"], m["producer_epoch"], m["transaction_result"],
                                                   m["coordinator_epoch"])
                    parts.append({"partition_index": i, "error_code": int(err)})
                topics.append({"name": t["name"], "partitions": parts})
            out.append({"producer_id": m["producer_id"], "topics": topics})
        return {"markers": out}

    async def txn_offset_commit(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        """Offsets committed inside a transaction: written to the group's offsets partition now,
        visible when the transaction commits (its COMMIT marker reaches that partition)."""
        b = self.broker
        group, txn_id, pid, epoch = req["group_id"], req["transactional_id"], req["producer_id"], req["producer_epoch"]
        err: ErrorCode | None = None
        if not self.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
            err = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        elif not self.authorize(AclOperation.READ, ResourceType.GROUP, group):
            err = ErrorCode.GROUP_AUTHORIZATION_FAILED
        elif b.cluster is not None and not b.cluster.is_coordinator(group):
            err = ErrorCode.NOT_COORDINATOR
        else:
            verified = b.txns.verify(txn_id, pid, epoch, (OFFSETS_TOPIC, b.offsets.partition_for(group)))
            if verified == ErrorCode.PRODUCER_FENCED:
                err = ErrorCode.INVALID_PRODUCER_EPOCH
            elif verified not in (ErrorCode.NONE, ErrorCode.NOT_COORDINATOR):  # NOT_COORDINATOR: coordinated elsewhere
                err = verified
            else:
                err = b.groups.txn_offset_commit_error(group, req.get("member_id") or "", req.get("generation_id", -1),
                                                       req.get("group_instance_id"))
        codes: dict[tuple[str, int], int] = {}
        offsets: dict[tuple[str, int], OffsetAndMetadata] = {}
        for t in req["topics"]:
            for p in t["partitions"]:
                tp = (t["name"], p["partition_index"])
                metadata = p.get("committed_metadata") or ""
                if err is not None:
                    codes[tp] = int(err)
                elif not self.authorize(AclOperation.READ, ResourceType.TOPIC, tp[0]):
                    codes[tp] = int(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                elif len(metadata.encode()) > OFFSET_METADATA_MAX_BYTES:
                    codes[tp] = int(ErrorCode.OFFSET_METADATA_TOO_LARGE)
                elif not 0 <= tp[1] < b.topic_partitions().get(tp[0], 0):
                    codes[tp] = int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                elif p["committed_offset"] < 0:
                    codes[tp] = int(ErrorCode.INVALID_COMMIT_OFFSET_SIZE)
                else:
                    offsets[tp] = OffsetAndMetadata(p["committed_offset"], metadata, leader_epoch=p.get("committed_leader_epoch", -1))
                    codes[tp] = 0
        if offsets:
            try:
                b.offsets.commit_transactional(group, pid, epoch, offsets)
            except OSError:
                for tp in offsets:
                    codes[tp] = int(ErrorCode.KAFKA_STORAGE_ERROR)
            if b.cluster is not None and not await b.cluster.offsets_replicated(group):
                for tp in offsets:
                    codes[tp] = int(ErrorCode.REQUEST_TIMED_OUT)
        return {"throttle_time_ms": 0, "topics": [
            {"name": t["name"], "partitions": [{"partition_index": p["partition_index"], "error_code": codes[(t["name"], p["partition_index"])]}
                                               for p in t["partitions"]]} for t in req["topics"]]}

    async def describe_transactions(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        states = []
        for t in req["transactional_ids"]:
            if self.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, t):
                states.append(self.broker.txns.describe(t))
            else:
                states.append({"error_code": int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED), "transactional_id": t,
                               "transaction_state": "", "transaction_timeout_ms": 0, "transaction_start_time_ms": -1,
                               "producer_id": -1, "producer_epoch": -1, "topics": []})
        return {"throttle_time_ms": 0, "transaction_states": states}

    async def list_transactions(self, req: dict[str, Any], hdr: RequestHeader) -> dict[str, Any]:
        unknown, states = self.broker.txns.list(req.get("state_filters") or [], req.get("producer_id_filters") or [],
                                                req.get("duration_filter", -1) if hdr.api_version >= 1 else -1)
        # Only the transactional ids the caller may describe are listed (as in Kafka).
        states = [st for st in states if self.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, st["transactional_id"])]
        return {"throttle_time_ms": 0, "error_code": 0, "unknown_state_filters": unknown, "transaction_states": states}


def _topic_results(topics: list[dict[str, Any]], err: ErrorCode) -> list[dict[str, Any]]:
    return [{"name": t["name"], "results_by_partition": [{"partition_index": i, "partition_error_code": int(err)}
                                                        for i in t["partitions"]]} for t in topics]


def _marker_results(marker: dict[str, Any], err: ErrorCode) -> list[dict[str, Any]]:
    return [{"name": t["name"], "partitions": [{"partition_index": i, "error_code": int(err)} for i in t["partition_indexes"]]}
            for t in marker["topics"]]
