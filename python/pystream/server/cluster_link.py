"""What the broker asks of a cluster, and nothing more.

The single-broker core (this package) never imports the cluster layer
(`pystream.cluster`, `pystream.replication`): a broker started with
zookeeper.connect is handed an object implementing `ClusterLink` (see
`Broker.attach_cluster`), and every question that has a different answer in a
cluster — which brokers exist, who leads a partition, who coordinates a group
or a transactional id, what a follower's fetch returns, how transaction markers
reach other brokers — goes through it. The cluster layer in turn
drives the broker's partitions through their role fields (`Partition.role`,
`leader_state`, `follower`): the partition role changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pystream.protocol.error_codes import ErrorCode

if TYPE_CHECKING:
    from pystream.server.partition import Partition

NO_LEADER = -1


@dataclass(frozen=True)
class BrokerEndpoint:
    """A live broker, as Metadata and FindCoordinator describe it."""

    node_id: int
    host: str
    port: int
    rack: str | None = None
    # Listener name -> (host, port) as the broker advertises it; empty: only host/port are known.
    endpoints: Mapping[str, tuple[str, int]] = field(default_factory=dict, compare=False)

    def address(self, listener: str) -> tuple[str, int] | None:
        """Where a client of `listener` reaches this broker (None: the broker lacks that listener)."""
        if not self.endpoints:
            return self.host, self.port
        return self.endpoints.get(listener)


@dataclass(frozen=True)
class PartitionInfo:
    """A partition's replicas and leadership, as Metadata describes it."""

    replicas: list[int]
    leader: int = NO_LEADER  # NO_LEADER: no live leader (LEADER_NOT_AVAILABLE)
    leader_epoch: int = -1
    isr: tuple[int, ...] = ()
    offline: tuple[int, ...] = ()


class ClusterLink(Protocol):
    """The cluster as the broker sees it (implemented by `pystream.cluster.ClusterNode`)."""

    async def start(self) -> None: ...
    async def controlled_shutdown(self) -> None:
        """Before a clean shutdown: moves leadership to other in-sync replicas (Kafka's
        ControlledShutdown); returns when done or given up (bounded)."""
    async def close(self) -> None: ...

    # --- the metadata view (mirrored from the cluster; answers at once) ---
    @property
    def controller_id(self) -> int: ...
    @property
    def is_controller(self) -> bool: ...
    def brokers(self) -> list[BrokerEndpoint]: ...
    def is_live_broker(self, broker_id: int) -> bool: ...
    async def live_broker_count(self) -> int: ...
    def topic_partitions(self) -> dict[str, int]: ...
    def topic_partition_count(self, name: str) -> int | None: ...
    def topic_id(self, name: str) -> uuid.UUID | None: ...
    def partition_info(self, topic: str, index: int) -> PartitionInfo | None: ...

    # --- topics and producer ids, decided cluster-wide ---
    async def create_topic(self, name: str, partitions: int, replication_factor: int, config: dict[str, Any]) -> None: ...
    async def delete_topic(self, name: str) -> None: ...
    async def create_partitions(self, name: str, total: int, assignments: list[list[int]] | None = None) -> None:
        """Grows the topic to `total` partitions (ValueError: bad assignment)."""
    async def alter_topic_config(self, name: str, changes: dict[str, Any]) -> None:
        """Sets (None: removes) validated topic config overrides cluster-wide; every broker applies
        them to its local logs (LogManager.alter_topic_config)."""
    async def allocate_producer_id(self) -> int: ...
    async def request_reassignment(self, moves: dict[tuple[str, int], list[int]]) -> None: ...
    async def pending_reassignments(self) -> dict[tuple[str, int], list[int]]: ...

    # --- group coordination: the leader of the group's offsets partition ---
    async def ensure_offsets_topic(self) -> None: ...
    def coordinator_for(self, group: str) -> BrokerEndpoint | None: ...
    def is_coordinator(self, group: str) -> bool: ...
    async def offsets_replicated(self, group: str) -> bool: ...

    # --- transaction coordination: the leader of the id's __transaction_state partition ---
    async def ensure_txn_state_topic(self) -> None: ...
    def txn_coordinator_for(self, transactional_id: str) -> BrokerEndpoint | None: ...
    async def write_txn_markers(self, broker_id: int, producer_id: int, epoch: int, commit: bool, coordinator_epoch: int,
                                partitions: list[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]: ...
    async def verify_txn_partition(self, transactional_id: str, producer_id: int, epoch: int,
                                   partition: tuple[str, int]) -> ErrorCode: ...

    # --- replication: partition roles and the leader's side of follower fetches ---
    def hosts_replica(self, topic: str, index: int) -> bool:
        """Whether this broker is in the partition's assignment (only then is its log opened)."""
    def partition_opened(self, partition: Partition) -> None: ...
    def read_for_follower(self, topic: str, fp: dict[str, Any], replica_id: int, max_bytes: int) -> dict[str, Any]: ...
    def end_offset_for_epoch(self, partition: Partition, current_epoch: int, epoch: int) -> tuple[int, int, int]: ...
