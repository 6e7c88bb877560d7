"""Cluster coordination over ZooKeeper (Kafka's classic, pre-KRaft design).

* :mod:`.zk` — :class:`ClusterStore`, typed znode access (brokers, controller,
  topics, partition leader/ISR state, reassignments, watches, session loss);
* :mod:`.controller` — :class:`Controller`, leader election, ISR cleanup,
  preferred leaders and reassignment, run by the broker holding /controller;
* :mod:`.assignment` — replica placement for new topics.

No sockets and no asyncio here: the broker wires watches to its loop
(:func:`call_soon_threadsafe`) and runs controller steps in an executor.
"""

from pystream.cluster.assignment import InvalidReplicationFactorError, assign_replicas
from pystream.cluster.controller import Controller
from pystream.cluster.zk import (
    NO_LEADER,
    BrokerIdTakenError,
    BrokerInfo,
    ClusterStore,
    ControllerMovedError,
    PartitionState,
    TopicInfo,
    Watch,
    call_soon_threadsafe,
    parse_connect,
)

__all__ = [
    "NO_LEADER",
    "BrokerIdTakenError",
    "BrokerInfo",
    "ClusterStore",
    "Controller",
    "ControllerMovedError",
    "InvalidReplicationFactorError",
    "PartitionState",
    "TopicInfo",
    "Watch",
    "assign_replicas",
    "call_soon_threadsafe",
    "parse_connect",
]
