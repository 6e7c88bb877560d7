"""Leader/follower replication: leader epochs, ISR and high watermark, follower fetchers.

- `leader_epoch.LeaderEpochCache`: Kafka's leader-epoch-checkpoint and endOffsetFor;
- `leader.LeaderState`: follower LEOs, HW, ISR shrink/expand, acks=all waits;
  `offset_for_leader_epoch` / `diverging_epoch` / `check_leader_epoch`: the leader's answers;
- `connection.BrokerConnection`: asyncio Kafka-protocol client for broker-to-broker requests;
- `fetcher.ReplicaFetcher`: the follower's fetch loop (truncation, append, producer state).
"""

from pystream.replication.connection import BrokerConnection
from pystream.replication.fetcher import FetchState, FollowerPartition, ReplicaFetcher
from pystream.replication.leader import (
    LeaderState,
    check_leader_epoch,
    diverging_epoch,
    offset_for_leader_epoch,
)
from pystream.replication.leader_epoch import (
    UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
    LeaderEpochCache,
    LeaderEpochCheckpointError,
)

__all__ = [
    "UNDEFINED_EPOCH",
    "UNDEFINED_EPOCH_OFFSET",
    "BrokerConnection",
    "FetchState",
    "FollowerPartition",
    "LeaderEpochCache",
    "LeaderEpochCheckpointError",
    "LeaderState",
    "ReplicaFetcher",
    "check_leader_epoch",
    "diverging_epoch",
    "offset_for_leader_epoch",
]
