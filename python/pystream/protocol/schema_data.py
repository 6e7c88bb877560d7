"""Kafka protocol message schemas: GENERATED, do not edit by hand.

Regenerate with:
    python tools/gen_protocol_schema.py <kafka>/clients/src/main/resources/common/message

Source: Apache Kafka JSON message definitions (Apache License 2.0).
F(name, type, versions, nullable=, tag=, tagged=, flexible=, default=, fields=) is a field;
M(name, kind, api_key, valid_versions, flexible_versions, fields=) is a message.
Version ranges are inclusive (lo, hi); hi == 32767 means open-ended ("N+").
"""

# fmt: off
from enum import IntEnum

from pystream.protocol.schema import Field as F, Message as M


class ApiKey(IntEnum):
    """Kafka API keys."""

    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    LEADER_AND_ISR = 4
    STOP_REPLICA = 5
    UPDATE_METADATA = 6
    CONTROLLED_SHUTDOWN = 7
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DELETE_RECORDS = 21
    INIT_PRODUCER_ID = 22
    OFFSET_FOR_LEADER_EPOCH = 23
    ADD_PARTITIONS_TO_TXN = 24
    ADD_OFFSETS_TO_TXN = 25
    END_TXN = 26
    WRITE_TXN_MARKERS = 27
    TXN_OFFSET_COMMIT = 28
    DESCRIBE_ACLS = 29
    CREATE_ACLS = 30
    DELETE_ACLS = 31
    DESCRIBE_CONFIGS = 32
    ALTER_CONFIGS = 33
    ALTER_REPLICA_LOG_DIRS = 34
    DESCRIBE_LOG_DIRS = 35
    SASL_AUTHENTICATE = 36
    CREATE_PARTITIONS = 37
    CREATE_DELEGATION_TOKEN = 38
    RENEW_DELEGATION_TOKEN = 39
    EXPIRE_DELEGATION_TOKEN = 40
    DESCRIBE_DELEGATION_TOKEN = 41
    DELETE_GROUPS = 42
    ELECT_LEADERS = 43
    INCREMENTAL_ALTER_CONFIGS = 44
    ALTER_PARTITION_REASSIGNMENTS = 45
    LIST_PARTITION_REASSIGNMENTS = 46
    OFFSET_DELETE = 47
    DESCRIBE_CLIENT_QUOTAS = 48
    ALTER_CLIENT_QUOTAS = 49
    DESCRIBE_USER_SCRAM_CREDENTIALS = 50
    ALTER_USER_SCRAM_CREDENTIALS = 51
    VOTE = 52
    BEGIN_QUORUM_EPOCH = 53
    END_QUORUM_EPOCH = 54
    DESCRIBE_QUORUM = 55
    ALTER_PARTITION = 56
    UPDATE_FEATURES = 57
    ENVELOPE = 58
    FETCH_SNAPSHOT = 59
    DESCRIBE_CLUSTER = 60
    DESCRIBE_PRODUCERS = 61
    BROKER_REGISTRATION = 62
    BROKER_HEARTBEAT = 63
    UNREGISTER_BROKER = 64
    DESCRIBE_TRANSACTIONS = 65
    LIST_TRANSACTIONS = 66
    ALLOCATE_PRODUCER_IDS = 67
    CONSUMER_GROUP_HEARTBEAT = 68
    CONSUMER_GROUP_DESCRIBE = 69
    CONTROLLER_REGISTRATION = 70
    GET_TELEMETRY_SUBSCRIPTIONS = 71
    PUSH_TELEMETRY = 72
    ASSIGN_REPLICAS_TO_DIRS = 73
    LIST_CLIENT_METRICS_RESOURCES = 74
    DESCRIBE_TOPIC_PARTITIONS = 75
    SHARE_GROUP_HEARTBEAT = 76
    SHARE_GROUP_DESCRIBE = 77
    SHARE_FETCH = 78
    SHARE_ACKNOWLEDGE = 79
    ADD_RAFT_VOTER = 80
    REMOVE_RAFT_VOTER = 81
    UPDATE_RAFT_VOTER = 82
    INITIALIZE_SHARE_GROUP_STATE = 83
    READ_SHARE_GROUP_STATE = 84
    WRITE_SHARE_GROUP_STATE = 85
    DELETE_SHARE_GROUP_STATE = 86
    READ_SHARE_GROUP_STATE_SUMMARY = 87


MESSAGES: tuple[M, ...] = (
    M('ProduceRequest', 'request', 0, (0, 11), (9, 32767), fields=(
        F('transactional_id', 'string', (3, 32767), nullable=(3, 32767), default=None),
        F('acks', 'int16', (0, 32767)),
        F('timeout_ms', 'int32', (0, 32767)),
        F('topic_data', '[]TopicProduceData', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partition_data', '[]PartitionProduceData', (0, 32767), fields=(
                F('index', 'int32', (0, 32767)),
                F('records', 'records', (0, 32767), nullable=(0, 32767)),
            )),
        )),
    )),
    M('ProduceResponse', 'response', 0, (0, 11), (9, 32767), fields=(
        F('responses', '[]TopicProduceResponse', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partition_responses', '[]PartitionProduceResponse', (0, 32767), fields=(
                F('index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('base_offset', 'int64', (0, 32767)),
                F('log_append_time_ms', 'int64', (2, 32767), default=-1),
                F('log_start_offset', 'int64', (5, 32767), default=-1),
                F('record_errors', '[]BatchIndexAndErrorMessage', (8, 32767), fields=(
                    F('batch_index', 'int32', (8, 32767)),
                    F('batch_index_error_message', 'string', (8, 32767), nullable=(8, 32767), default=None),
                )),
                F('error_message', 'string', (8, 32767), nullable=(8, 32767), default=None),
                F('current_leader', 'LeaderIdAndEpoch', (10, 32767), tag=0, tagged=(10, 32767), fields=(
                    F('leader_id', 'int32', (10, 32767), default=-1),
                    F('leader_epoch', 'int32', (10, 32767), default=-1),
                )),
            )),
        )),
        F('throttle_time_ms', 'int32', (1, 32767), default=0),
        F('node_endpoints', '[]NodeEndpoint', (10, 32767), tag=0, tagged=(10, 32767), fields=(
            F('node_id', 'int32', (10, 32767)),
            F('host', 'string', (10, 32767)),
            F('port', 'int32', (10, 32767)),
            F('rack', 'string', (10, 32767), nullable=(10, 32767), default=None),
        )),
    )),
    M('FetchRequest', 'request', 1, (0, 17), (12, 32767), fields=(
        F('cluster_id', 'string', (12, 32767), nullable=(12, 32767), tag=0, tagged=(12, 32767), default=None),
        F('replica_id', 'int32', (0, 14), default=-1),
        F('replica_state', 'ReplicaState', (15, 32767), tag=1, tagged=(15, 32767), fields=(
            F('replica_id', 'int32', (15, 32767), default=-1),
            F('replica_epoch', 'int64', (15, 32767), default=-1),
        )),
        F('max_wait_ms', 'int32', (0, 32767)),
        F('min_bytes', 'int32', (0, 32767)),
        F('max_bytes', 'int32', (3, 32767), default=2147483647),
        F('isolation_level', 'int8', (4, 32767), default=0),
        F('session_id', 'int32', (7, 32767), default=0),
        F('session_epoch', 'int32', (7, 32767), default=-1),
        F('topics', '[]FetchTopic', (0, 32767), fields=(
            F('topic', 'string', (0, 12)),
            F('topic_id', 'uuid', (13, 32767)),
            F('partitions', '[]FetchPartition', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('current_leader_epoch', 'int32', (9, 32767), default=-1),
                F('fetch_offset', 'int64', (0, 32767)),
                F('last_fetched_epoch', 'int32', (12, 32767), default=-1),
                F('log_start_offset', 'int64', (5, 32767), default=-1),
                F('partition_max_bytes', 'int32', (0, 32767)),
                F('replica_directory_id', 'uuid', (17, 32767), tag=0, tagged=(17, 32767)),
            )),
        )),
        F('forgotten_topics_data', '[]ForgottenTopic', (7, 32767), fields=(
            F('topic', 'string', (7, 12)),
            F('topic_id', 'uuid', (13, 32767)),
            F('partitions', '[]int32', (7, 32767)),
        )),
        F('rack_id', 'string', (11, 32767), default=''),
    )),
    M('FetchResponse', 'response', 1, (0, 17), (12, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('error_code', 'int16', (7, 32767)),
        F('session_id', 'int32', (7, 32767), default=0),
        F('responses', '[]FetchableTopicResponse', (0, 32767), fields=(
            F('topic', 'string', (0, 12)),
            F('topic_id', 'uuid', (13, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('high_watermark', 'int64', (0, 32767)),
                F('last_stable_offset', 'int64', (4, 32767), default=-1),
                F('log_start_offset', 'int64', (5, 32767), default=-1),
                F('diverging_epoch', 'EpochEndOffset', (12, 32767), tag=0, tagged=(12, 32767), fields=(
                    F('epoch', 'int32', (12, 32767), default=-1),
                    F('end_offset', 'int64', (12, 32767), default=-1),
                )),
                F('current_leader', 'LeaderIdAndEpoch', (12, 32767), tag=1, tagged=(12, 32767), fields=(
                    F('leader_id', 'int32', (12, 32767), default=-1),
                    F('leader_epoch', 'int32', (12, 32767), default=-1),
                )),
                F('snapshot_id', 'SnapshotId', (12, 32767), tag=2, tagged=(12, 32767), fields=(
                    F('end_offset', 'int64', (0, 32767), default=-1),
                    F('epoch', 'int32', (0, 32767), default=-1),
                )),
                F('aborted_transactions', '[]AbortedTransaction', (4, 32767), nullable=(4, 32767), fields=(
                    F('producer_id', 'int64', (4, 32767)),
                    F('first_offset', 'int64', (4, 32767)),
                )),
                F('preferred_read_replica', 'int32', (11, 32767), default=-1),
                F('records', 'records', (0, 32767), nullable=(0, 32767)),
            )),
        )),
        F('node_endpoints', '[]NodeEndpoint', (16, 32767), tag=0, tagged=(16, 32767), fields=(
            F('node_id', 'int32', (16, 32767)),
            F('host', 'string', (16, 32767)),
            F('port', 'int32', (16, 32767)),
            F('rack', 'string', (16, 32767), nullable=(16, 32767), default=None),
        )),
    )),
    M('ListOffsetsRequest', 'request', 2, (0, 10), (6, 32767), fields=(
        F('replica_id', 'int32', (0, 32767)),
        F('isolation_level', 'int8', (2, 32767)),
        F('topics', '[]ListOffsetsTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]ListOffsetsPartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('current_leader_epoch', 'int32', (4, 32767), default=-1),
                F('timestamp', 'int64', (0, 32767)),
                F('max_num_offsets', 'int32', (0, 0), default=1),
            )),
        )),
        F('timeout_ms', 'int32', (10, 32767)),
    )),
    M('ListOffsetsResponse', 'response', 2, (0, 10), (6, 32767), fields=(
        F('throttle_time_ms', 'int32', (2, 32767)),
        F('topics', '[]ListOffsetsTopicResponse', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]ListOffsetsPartitionResponse', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('old_style_offsets', '[]int64', (0, 0)),
                F('timestamp', 'int64', (1, 32767), default=-1),
                F('offset', 'int64', (1, 32767), default=-1),
                F('leader_epoch', 'int32', (4, 32767), default=-1),
            )),
        )),
    )),
    M('MetadataRequest', 'request', 3, (0, 12), (9, 32767), fields=(
        F('topics', '[]MetadataRequestTopic', (0, 32767), nullable=(1, 32767), fields=(
            F('topic_id', 'uuid', (10, 32767)),
            F('name', 'string', (0, 32767), nullable=(10, 32767)),
        )),
        F('allow_auto_topic_creation', 'bool', (4, 32767), default=True),
        F('include_cluster_authorized_operations', 'bool', (8, 10)),
        F('include_topic_authorized_operations', 'bool', (8, 32767)),
    )),
    M('MetadataResponse', 'response', 3, (0, 12), (9, 32767), fields=(
        F('throttle_time_ms', 'int32', (3, 32767)),
        F('brokers', '[]MetadataResponseBroker', (0, 32767), fields=(
            F('node_id', 'int32', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'int32', (0, 32767)),
            F('rack', 'string', (1, 32767), nullable=(1, 32767), default=None),
        )),
        F('cluster_id', 'string', (2, 32767), nullable=(2, 32767), default=None),
        F('controller_id', 'int32', (1, 32767), default=-1),
        F('topics', '[]MetadataResponseTopic', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('name', 'string', (0, 32767), nullable=(12, 32767)),
            F('topic_id', 'uuid', (10, 32767)),
            F('is_internal', 'bool', (1, 32767), default=False),
            F('partitions', '[]MetadataResponsePartition', (0, 32767), fields=(
                F('error_code', 'int16', (0, 32767)),
                F('partition_index', 'int32', (0, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (7, 32767), default=-1),
                F('replica_nodes', '[]int32', (0, 32767)),
                F('isr_nodes', '[]int32', (0, 32767)),
                F('offline_replicas', '[]int32', (5, 32767)),
            )),
            F('topic_authorized_operations', 'int32', (8, 32767), default=-2147483648),
        )),
        F('cluster_authorized_operations', 'int32', (8, 10), default=-2147483648),
    )),
    M('LeaderAndIsrRequest', 'request', 4, (0, 7), (4, 32767), fields=(
        F('controller_id', 'int32', (0, 32767)),
        F('is_kraft_controller', 'bool', (7, 32767), default=False),
        F('controller_epoch', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (2, 32767), default=-1),
        F('type', 'int8', (5, 32767)),
        F('ungrouped_partition_states', '[]LeaderAndIsrPartitionState', (0, 1), fields=(
            F('topic_name', 'string', (0, 1)),
            F('partition_index', 'int32', (0, 32767)),
            F('controller_epoch', 'int32', (0, 32767)),
            F('leader', 'int32', (0, 32767)),
            F('leader_epoch', 'int32', (0, 32767)),
            F('isr', '[]int32', (0, 32767)),
            F('partition_epoch', 'int32', (0, 32767)),
            F('replicas', '[]int32', (0, 32767)),
            F('adding_replicas', '[]int32', (3, 32767)),
            F('removing_replicas', '[]int32', (3, 32767)),
            F('is_new', 'bool', (1, 32767), default=False),
            F('leader_recovery_state', 'int8', (6, 32767), default=0),
        )),
        F('topic_states', '[]LeaderAndIsrTopicState', (2, 32767), fields=(
            F('topic_name', 'string', (2, 32767)),
            F('topic_id', 'uuid', (5, 32767)),
            F('partition_states', '[]LeaderAndIsrPartitionState', (2, 32767), fields=(
                F('topic_name', 'string', (0, 1)),
                F('partition_index', 'int32', (0, 32767)),
                F('controller_epoch', 'int32', (0, 32767)),
                F('leader', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('isr', '[]int32', (0, 32767)),
                F('partition_epoch', 'int32', (0, 32767)),
                F('replicas', '[]int32', (0, 32767)),
                F('adding_replicas', '[]int32', (3, 32767)),
                F('removing_replicas', '[]int32', (3, 32767)),
                F('is_new', 'bool', (1, 32767), default=False),
                F('leader_recovery_state', 'int8', (6, 32767), default=0),
            )),
        )),
        F('live_leaders', '[]LeaderAndIsrLiveLeader', (0, 32767), fields=(
            F('broker_id', 'int32', (0, 32767)),
            F('host_name', 'string', (0, 32767)),
            F('port', 'int32', (0, 32767)),
        )),
    )),
    M('LeaderAndIsrResponse', 'response', 4, (0, 7), (4, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('partition_errors', '[]LeaderAndIsrPartitionError', (0, 4), fields=(
            F('topic_name', 'string', (0, 4)),
            F('partition_index', 'int32', (0, 32767)),
            F('error_code', 'int16', (0, 32767)),
        )),
        F('topics', '[]LeaderAndIsrTopicError', (5, 32767), fields=(
            F('topic_id', 'uuid', (5, 32767)),
            F('partition_errors', '[]LeaderAndIsrPartitionError', (5, 32767), fields=(
                F('topic_name', 'string', (0, 4)),
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('StopReplicaRequest', 'request', 5, (0, 4), (2, 32767), fields=(
        F('controller_id', 'int32', (0, 32767)),
        F('is_kraft_controller', 'bool', (4, 32767), default=False),
        F('controller_epoch', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (1, 32767), default=-1),
        F('delete_partitions', 'bool', (0, 2)),
        F('ungrouped_partitions', '[]StopReplicaPartitionV0', (0, 0), fields=(
            F('topic_name', 'string', (0, 0)),
            F('partition_index', 'int32', (0, 0)),
        )),
        F('topics', '[]StopReplicaTopicV1', (1, 2), fields=(
            F('name', 'string', (1, 2)),
            F('partition_indexes', '[]int32', (1, 2)),
        )),
        F('topic_states', '[]StopReplicaTopicState', (3, 32767), fields=(
            F('topic_name', 'string', (3, 32767)),
            F('partition_states', '[]StopReplicaPartitionState', (3, 32767), fields=(
                F('partition_index', 'int32', (3, 32767)),
                F('leader_epoch', 'int32', (3, 32767), default=-1),
                F('delete_partition', 'bool', (3, 32767)),
            )),
        )),
    )),
    M('StopReplicaResponse', 'response', 5, (0, 4), (2, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('partition_errors', '[]StopReplicaPartitionError', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partition_index', 'int32', (0, 32767)),
            F('error_code', 'int16', (0, 32767)),
        )),
    )),
    M('UpdateMetadataRequest', 'request', 6, (0, 8), (6, 32767), fields=(
        F('controller_id', 'int32', (0, 32767)),
        F('is_kraft_controller', 'bool', (8, 32767), default=False),
        F('type', 'int8', (8, 32767), tag=0, tagged=(8, 32767), default=0),
        F('controller_epoch', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (5, 32767), default=-1),
        F('ungrouped_partition_states', '[]UpdateMetadataPartitionState', (0, 4), fields=(
            F('topic_name', 'string', (0, 4)),
            F('partition_index', 'int32', (0, 32767)),
            F('controller_epoch', 'int32', (0, 32767)),
            F('leader', 'int32', (0, 32767)),
            F('leader_epoch', 'int32', (0, 32767)),
            F('isr', '[]int32', (0, 32767)),
            F('zk_version', 'int32', (0, 32767)),
            F('replicas', '[]int32', (0, 32767)),
            F('offline_replicas', '[]int32', (4, 32767)),
        )),
        F('topic_states', '[]UpdateMetadataTopicState', (5, 32767), fields=(
            F('topic_name', 'string', (5, 32767)),
            F('topic_id', 'uuid', (7, 32767)),
            F('partition_states', '[]UpdateMetadataPartitionState', (5, 32767), fields=(
                F('topic_name', 'string', (0, 4)),
                F('partition_index', 'int32', (0, 32767)),
                F('controller_epoch', 'int32', (0, 32767)),
                F('leader', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('isr', '[]int32', (0, 32767)),
                F('zk_version', 'int32', (0, 32767)),
                F('replicas', '[]int32', (0, 32767)),
                F('offline_replicas', '[]int32', (4, 32767)),
            )),
        )),
        F('live_brokers', '[]UpdateMetadataBroker', (0, 32767), fields=(
            F('id', 'int32', (0, 32767)),
            F('v0_host', 'string', (0, 0)),
            F('v0_port', 'int32', (0, 0)),
            F('endpoints', '[]UpdateMetadataEndpoint', (1, 32767), fields=(
                F('port', 'int32', (1, 32767)),
                F('host', 'string', (1, 32767)),
                F('listener', 'string', (3, 32767)),
                F('security_protocol', 'int16', (1, 32767)),
            )),
            F('rack', 'string', (2, 32767), nullable=(0, 32767)),
        )),
    )),
    M('UpdateMetadataResponse', 'response', 6, (0, 8), (6, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
    )),
    M('ControlledShutdownRequest', 'request', 7, (0, 3), (3, 32767), fields=(
        F('broker_id', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (2, 32767), default=-1),
    )),
    M('ControlledShutdownResponse', 'response', 7, (0, 3), (3, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('remaining_partitions', '[]RemainingPartition', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partition_index', 'int32', (0, 32767)),
        )),
    )),
    M('OffsetCommitRequest', 'request', 8, (0, 9), (8, 32767), fields=(
        F('group_id', 'string', (0, 32767)),
        F('generation_id_or_member_epoch', 'int32', (1, 32767), default=-1),
        F('member_id', 'string', (1, 32767)),
        F('group_instance_id', 'string', (7, 32767), nullable=(7, 32767), default=None),
        F('retention_time_ms', 'int64', (2, 4), default=-1),
        F('topics', '[]OffsetCommitRequestTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]OffsetCommitRequestPartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('committed_offset', 'int64', (0, 32767)),
                F('committed_leader_epoch', 'int32', (6, 32767), default=-1),
                F('commit_timestamp', 'int64', (1, 1), default=-1),
                F('committed_metadata', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
    )),
    M('OffsetCommitResponse', 'response', 8, (0, 9), (8, 32767), fields=(
        F('throttle_time_ms', 'int32', (3, 32767)),
        F('topics', '[]OffsetCommitResponseTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]OffsetCommitResponsePartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('OffsetFetchRequest', 'request', 9, (0, 9), (6, 32767), fields=(
        F('group_id', 'string', (0, 7)),
        F('topics', '[]OffsetFetchRequestTopic', (0, 7), nullable=(2, 7), fields=(
            F('name', 'string', (0, 7)),
            F('partition_indexes', '[]int32', (0, 7)),
        )),
        F('groups', '[]OffsetFetchRequestGroup', (8, 32767), fields=(
            F('group_id', 'string', (8, 32767)),
            F('member_id', 'string', (9, 32767), nullable=(9, 32767), default=None),
            F('member_epoch', 'int32', (9, 32767), default=-1),
            F('topics', '[]OffsetFetchRequestTopics', (8, 32767), nullable=(8, 32767), fields=(
                F('name', 'string', (8, 32767)),
                F('partition_indexes', '[]int32', (8, 32767)),
            )),
        )),
        F('require_stable', 'bool', (7, 32767), default=False),
    )),
    M('OffsetFetchResponse', 'response', 9, (0, 9), (6, 32767), fields=(
        F('throttle_time_ms', 'int32', (3, 32767)),
        F('topics', '[]OffsetFetchResponseTopic', (0, 7), fields=(
            F('name', 'string', (0, 7)),
            F('partitions', '[]OffsetFetchResponsePartition', (0, 7), fields=(
                F('partition_index', 'int32', (0, 7)),
                F('committed_offset', 'int64', (0, 7)),
                F('committed_leader_epoch', 'int32', (5, 7), default=-1),
                F('metadata', 'string', (0, 7), nullable=(0, 7)),
                F('error_code', 'int16', (0, 7)),
            )),
        )),
        F('error_code', 'int16', (2, 7), default=0),
        F('groups', '[]OffsetFetchResponseGroup', (8, 32767), fields=(
            F('group_id', 'string', (8, 32767)),
            F('topics', '[]OffsetFetchResponseTopics', (8, 32767), fields=(
                F('name', 'string', (8, 32767)),
                F('partitions', '[]OffsetFetchResponsePartitions', (8, 32767), fields=(
                    F('partition_index', 'int32', (8, 32767)),
                    F('committed_offset', 'int64', (8, 32767)),
                    F('committed_leader_epoch', 'int32', (8, 32767), default=-1),
                    F('metadata', 'string', (8, 32767), nullable=(8, 32767)),
                    F('error_code', 'int16', (8, 32767)),
                )),
            )),
            F('error_code', 'int16', (8, 32767), default=0),
        )),
    )),
    M('FindCoordinatorRequest', 'request', 10, (0, 6), (3, 32767), fields=(
        F('key', 'string', (0, 3)),
        F('key_type', 'int8', (1, 32767), default=0),
        F('coordinator_keys', '[]string', (4, 32767)),
    )),
    M('FindCoordinatorResponse', 'response', 10, (0, 6), (3, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('error_code', 'int16', (0, 3)),
        F('error_message', 'string', (1, 3), nullable=(1, 3)),
        F('node_id', 'int32', (0, 3)),
        F('host', 'string', (0, 3)),
        F('port', 'int32', (0, 3)),
        F('coordinators', '[]Coordinator', (4, 32767), fields=(
            F('key', 'string', (4, 32767)),
            F('node_id', 'int32', (4, 32767)),
            F('host', 'string', (4, 32767)),
            F('port', 'int32', (4, 32767)),
            F('error_code', 'int16', (4, 32767)),
            F('error_message', 'string', (4, 32767), nullable=(4, 32767)),
        )),
    )),
    M('JoinGroupRequest', 'request', 11, (0, 9), (6, 32767), fields=(
        F('group_id', 'string', (0, 32767)),
        F('session_timeout_ms', 'int32', (0, 32767)),
        F('rebalance_timeout_ms', 'int32', (1, 32767), default=-1),
        F('member_id', 'string', (0, 32767)),
        F('group_instance_id', 'string', (5, 32767), nullable=(5, 32767), default=None),
        F('protocol_type', 'string', (0, 32767)),
        F('protocols', '[]JoinGroupRequestProtocol', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('metadata', 'bytes', (0, 32767)),
        )),
        F('reason', 'string', (8, 32767), nullable=(8, 32767), default=None),
    )),
    M('JoinGroupResponse', 'response', 11, (0, 9), (6, 32767), fields=(
        F('throttle_time_ms', 'int32', (2, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('generation_id', 'int32', (0, 32767), default=-1),
        F('protocol_type', 'string', (7, 32767), nullable=(7, 32767), default=None),
        F('protocol_name', 'string', (0, 32767), nullable=(7, 32767)),
        F('leader', 'string', (0, 32767)),
        F('skip_assignment', 'bool', (9, 32767), default=False),
        F('member_id', 'string', (0, 32767)),
        F('members', '[]JoinGroupResponseMember', (0, 32767), fields=(
            F('member_id', 'string', (0, 32767)),
            F('group_instance_id', 'string', (5, 32767), nullable=(5, 32767), default=None),
            F('metadata', 'bytes', (0, 32767)),
        )),
    )),
    M('HeartbeatRequest', 'request', 12, (0, 4), (4, 32767), fields=(
        F('group_id', 'string', (0, 32767)),
        F('generation_id', 'int32', (0, 32767)),
        F('member_id', 'string', (0, 32767)),
        F('group_instance_id', 'string', (3, 32767), nullable=(3, 32767), default=None),
    )),
    M('HeartbeatResponse', 'response', 12, (0, 4), (4, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('error_code', 'int16', (0, 32767)),
    )),
    M('LeaveGroupRequest', 'request', 13, (0, 5), (4, 32767), fields=(
        F('group_id', 'string', (0, 32767)),
        F('member_id', 'string', (0, 2)),
        F('members', '[]MemberIdentity', (3, 32767), fields=(
            F('member_id', 'string', (3, 32767)),
            F('group_instance_id', 'string', (3, 32767), nullable=(3, 32767), default=None),
            F('reason', 'string', (5, 32767), nullable=(5, 32767), default=None),
        )),
    )),
    M('LeaveGroupResponse', 'response', 13, (0, 5), (4, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('members', '[]MemberResponse', (3, 32767), fields=(
            F('member_id', 'string', (3, 32767)),
            F('group_instance_id', 'string', (3, 32767), nullable=(3, 32767)),
            F('error_code', 'int16', (3, 32767)),
        )),
    )),
    M('SyncGroupRequest', 'request', 14, (0, 5), (4, 32767), fields=(
        F('group_id', 'string', (0, 32767)),
        F('generation_id', 'int32', (0, 32767)),
        F('member_id', 'string', (0, 32767)),
        F('group_instance_id', 'string', (3, 32767), nullable=(3, 32767), default=None),
        F('protocol_type', 'string', (5, 32767), nullable=(5, 32767), default=None),
        F('protocol_name', 'string', (5, 32767), nullable=(5, 32767), default=None),
        F('assignments', '[]SyncGroupRequestAssignment', (0, 32767), fields=(
            F('member_id', 'string', (0, 32767)),
            F('assignment', 'bytes', (0, 32767)),
        )),
    )),
    M('SyncGroupResponse', 'response', 14, (0, 5), (4, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('protocol_type', 'string', (5, 32767), nullable=(5, 32767), default=None),
        F('protocol_name', 'string', (5, 32767), nullable=(5, 32767), default=None),
        F('assignment', 'bytes', (0, 32767)),
    )),
    M('DescribeGroupsRequest', 'request', 15, (0, 5), (5, 32767), fields=(
        F('groups', '[]string', (0, 32767)),
        F('include_authorized_operations', 'bool', (3, 32767)),
    )),
    M('DescribeGroupsResponse', 'response', 15, (0, 5), (5, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('groups', '[]DescribedGroup', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('group_id', 'string', (0, 32767)),
            F('group_state', 'string', (0, 32767)),
            F('protocol_type', 'string', (0, 32767)),
            F('protocol_data', 'string', (0, 32767)),
            F('members', '[]DescribedGroupMember', (0, 32767), fields=(
                F('member_id', 'string', (0, 32767)),
                F('group_instance_id', 'string', (4, 32767), nullable=(4, 32767), default=None),
                F('client_id', 'string', (0, 32767)),
                F('client_host', 'string', (0, 32767)),
                F('member_metadata', 'bytes', (0, 32767)),
                F('member_assignment', 'bytes', (0, 32767)),
            )),
            F('authorized_operations', 'int32', (3, 32767), default=-2147483648),
        )),
    )),
    M('ListGroupsRequest', 'request', 16, (0, 5), (3, 32767), fields=(
        F('states_filter', '[]string', (4, 32767)),
        F('types_filter', '[]string', (5, 32767)),
    )),
    M('ListGroupsResponse', 'response', 16, (0, 5), (3, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('groups', '[]ListedGroup', (0, 32767), fields=(
            F('group_id', 'string', (0, 32767)),
            F('protocol_type', 'string', (0, 32767)),
            F('group_state', 'string', (4, 32767)),
            F('group_type', 'string', (5, 32767)),
        )),
    )),
    M('SaslHandshakeRequest', 'request', 17, (0, 1), None, fields=(
        F('mechanism', 'string', (0, 32767)),
    )),
    M('SaslHandshakeResponse', 'response', 17, (0, 1), None, fields=(
        F('error_code', 'int16', (0, 32767)),
        F('mechanisms', '[]string', (0, 32767)),
    )),
    M('ApiVersionsRequest', 'request', 18, (0, 4), (3, 32767), fields=(
        F('client_software_name', 'string', (3, 32767)),
        F('client_software_version', 'string', (3, 32767)),
    )),
    M('ApiVersionsResponse', 'response', 18, (0, 4), (3, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('api_keys', '[]ApiVersion', (0, 32767), fields=(
            F('api_key', 'int16', (0, 32767)),
            F('min_version', 'int16', (0, 32767)),
            F('max_version', 'int16', (0, 32767)),
        )),
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('supported_features', '[]SupportedFeatureKey', (3, 32767), tag=0, tagged=(3, 32767), fields=(
            F('name', 'string', (3, 32767)),
            F('min_version', 'int16', (3, 32767)),
            F('max_version', 'int16', (3, 32767)),
        )),
        F('finalized_features_epoch', 'int64', (3, 32767), tag=1, tagged=(3, 32767), default=-1),
        F('finalized_features', '[]FinalizedFeatureKey', (3, 32767), tag=2, tagged=(3, 32767), fields=(
            F('name', 'string', (3, 32767)),
            F('max_version_level', 'int16', (3, 32767)),
            F('min_version_level', 'int16', (3, 32767)),
        )),
        F('zk_migration_ready', 'bool', (3, 32767), tag=3, tagged=(3, 32767), default=False),
    )),
    M('CreateTopicsRequest', 'request', 19, (0, 7), (5, 32767), fields=(
        F('topics', '[]CreatableTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('num_partitions', 'int32', (0, 32767)),
            F('replication_factor', 'int16', (0, 32767)),
            F('assignments', '[]CreatableReplicaAssignment', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('broker_ids', '[]int32', (0, 32767)),
            )),
            F('configs', '[]CreatableTopicConfig', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('value', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
        F('timeout_ms', 'int32', (0, 32767), default=60000),
        F('validate_only', 'bool', (1, 32767), default=False),
    )),
    M('CreateTopicsResponse', 'response', 19, (0, 7), (5, 32767), fields=(
        F('throttle_time_ms', 'int32', (2, 32767)),
        F('topics', '[]CreatableTopicResult', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('topic_id', 'uuid', (7, 32767)),
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (1, 32767), nullable=(0, 32767)),
            F('topic_config_error_code', 'int16', (5, 32767), tag=0, tagged=(5, 32767)),
            F('num_partitions', 'int32', (5, 32767), default=-1),
            F('replication_factor', 'int16', (5, 32767), default=-1),
            F('configs', '[]CreatableTopicConfigs', (5, 32767), nullable=(5, 32767), fields=(
                F('name', 'string', (5, 32767)),
                F('value', 'string', (5, 32767), nullable=(5, 32767)),
                F('read_only', 'bool', (5, 32767)),
                F('config_source', 'int8', (5, 32767), default=-1),
                F('is_sensitive', 'bool', (5, 32767)),
            )),
        )),
    )),
    M('DeleteTopicsRequest', 'request', 20, (0, 6), (4, 32767), fields=(
        F('topics', '[]DeleteTopicState', (6, 32767), fields=(
            F('name', 'string', (6, 32767), nullable=(6, 32767), default=None),
            F('topic_id', 'uuid', (6, 32767)),
        )),
        F('topic_names', '[]string', (0, 5)),
        F('timeout_ms', 'int32', (0, 32767)),
    )),
    M('DeleteTopicsResponse', 'response', 20, (0, 6), (4, 32767), fields=(
        F('throttle_time_ms', 'int32', (1, 32767)),
        F('responses', '[]DeletableTopicResult', (0, 32767), fields=(
            F('name', 'string', (0, 32767), nullable=(6, 32767)),
            F('topic_id', 'uuid', (6, 32767)),
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (5, 32767), nullable=(5, 32767), default=None),
        )),
    )),
    M('DeleteRecordsRequest', 'request', 21, (0, 2), (2, 32767), fields=(
        F('topics', '[]DeleteRecordsTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]DeleteRecordsPartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('offset', 'int64', (0, 32767)),
            )),
        )),
        F('timeout_ms', 'int32', (0, 32767)),
    )),
    M('DeleteRecordsResponse', 'response', 21, (0, 2), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('topics', '[]DeleteRecordsTopicResult', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]DeleteRecordsPartitionResult', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('low_watermark', 'int64', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('InitProducerIdRequest', 'request', 22, (0, 5), (2, 32767), fields=(
        F('transactional_id', 'string', (0, 32767), nullable=(0, 32767)),
        F('transaction_timeout_ms', 'int32', (0, 32767)),
        F('producer_id', 'int64', (3, 32767), default=-1),
        F('producer_epoch', 'int16', (3, 32767), default=-1),
    )),
    M('InitProducerIdResponse', 'response', 22, (0, 5), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('producer_id', 'int64', (0, 32767), default=-1),
        F('producer_epoch', 'int16', (0, 32767)),
    )),
    M('OffsetForLeaderEpochRequest', 'request', 23, (0, 4), (4, 32767), fields=(
        F('replica_id', 'int32', (3, 32767), default=-2),
        F('topics', '[]OffsetForLeaderTopic', (0, 32767), fields=(
            F('topic', 'string', (0, 32767)),
            F('partitions', '[]OffsetForLeaderPartition', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('current_leader_epoch', 'int32', (2, 32767), default=-1),
                F('leader_epoch', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('OffsetForLeaderEpochResponse', 'response', 23, (0, 4), (4, 32767), fields=(
        F('throttle_time_ms', 'int32', (2, 32767)),
        F('topics', '[]OffsetForLeaderTopicResult', (0, 32767), fields=(
            F('topic', 'string', (0, 32767)),
            F('partitions', '[]EpochEndOffset', (0, 32767), fields=(
                F('error_code', 'int16', (0, 32767)),
                F('partition', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (1, 32767), default=-1),
                F('end_offset', 'int64', (0, 32767), default=-1),
            )),
        )),
    )),
    M('AddPartitionsToTxnRequest', 'request', 24, (0, 5), (3, 32767), fields=(
        F('transactions', '[]AddPartitionsToTxnTransaction', (4, 32767), fields=(
            F('transactional_id', 'string', (4, 32767)),
            F('producer_id', 'int64', (4, 32767)),
            F('producer_epoch', 'int16', (4, 32767)),
            F('verify_only', 'bool', (4, 32767), default=False),
            F('topics', '[]AddPartitionsToTxnTopic', (4, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('partitions', '[]int32', (0, 32767)),
            )),
        )),
        F('v3_and_below_transactional_id', 'string', (0, 3)),
        F('v3_and_below_producer_id', 'int64', (0, 3)),
        F('v3_and_below_producer_epoch', 'int16', (0, 3)),
        F('v3_and_below_topics', '[]AddPartitionsToTxnTopic', (0, 3), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]int32', (0, 32767)),
        )),
    )),
    M('AddPartitionsToTxnResponse', 'response', 24, (0, 5), (3, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (4, 32767)),
        F('results_by_transaction', '[]AddPartitionsToTxnResult', (4, 32767), fields=(
            F('transactional_id', 'string', (4, 32767)),
            F('topic_results', '[]AddPartitionsToTxnTopicResult', (4, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('results_by_partition', '[]AddPartitionsToTxnPartitionResult', (0, 32767), fields=(
                    F('partition_index', 'int32', (0, 32767)),
                    F('partition_error_code', 'int16', (0, 32767)),
                )),
            )),
        )),
        F('results_by_topic_v3_and_below', '[]AddPartitionsToTxnTopicResult', (0, 3), fields=(
            F('name', 'string', (0, 32767)),
            F('results_by_partition', '[]AddPartitionsToTxnPartitionResult', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('partition_error_code', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('AddOffsetsToTxnRequest', 'request', 25, (0, 4), (3, 32767), fields=(
        F('transactional_id', 'string', (0, 32767)),
        F('producer_id', 'int64', (0, 32767)),
        F('producer_epoch', 'int16', (0, 32767)),
        F('group_id', 'string', (0, 32767)),
    )),
    M('AddOffsetsToTxnResponse', 'response', 25, (0, 4), (3, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
    )),
    M('EndTxnRequest', 'request', 26, (0, 5), (3, 32767), unstable_latest=True, fields=(
        F('transactional_id', 'string', (0, 32767)),
        F('producer_id', 'int64', (0, 32767)),
        F('producer_epoch', 'int16', (0, 32767)),
        F('committed', 'bool', (0, 32767)),
    )),
    M('EndTxnResponse', 'response', 26, (0, 5), (3, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('producer_id', 'int64', (5, 32767), default=-1),
        F('producer_epoch', 'int16', (5, 32767), default=-1),
    )),
    M('WriteTxnMarkersRequest', 'request', 27, (0, 1), (1, 32767), fields=(
        F('markers', '[]WritableTxnMarker', (0, 32767), fields=(
            F('producer_id', 'int64', (0, 32767)),
            F('producer_epoch', 'int16', (0, 32767)),
            F('transaction_result', 'bool', (0, 32767)),
            F('topics', '[]WritableTxnMarkerTopic', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('partition_indexes', '[]int32', (0, 32767)),
            )),
            F('coordinator_epoch', 'int32', (0, 32767)),
        )),
    )),
    M('WriteTxnMarkersResponse', 'response', 27, (0, 1), (1, 32767), fields=(
        F('markers', '[]WritableTxnMarkerResult', (0, 32767), fields=(
            F('producer_id', 'int64', (0, 32767)),
            F('topics', '[]WritableTxnMarkerTopicResult', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('partitions', '[]WritableTxnMarkerPartitionResult', (0, 32767), fields=(
                    F('partition_index', 'int32', (0, 32767)),
                    F('error_code', 'int16', (0, 32767)),
                )),
            )),
        )),
    )),
    M('TxnOffsetCommitRequest', 'request', 28, (0, 4), (3, 32767), fields=(
        F('transactional_id', 'string', (0, 32767)),
        F('group_id', 'string', (0, 32767)),
        F('producer_id', 'int64', (0, 32767)),
        F('producer_epoch', 'int16', (0, 32767)),
        F('generation_id', 'int32', (3, 32767), default=-1),
        F('member_id', 'string', (3, 32767), default=''),
        F('group_instance_id', 'string', (3, 32767), nullable=(3, 32767), default=None),
        F('topics', '[]TxnOffsetCommitRequestTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]TxnOffsetCommitRequestPartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('committed_offset', 'int64', (0, 32767)),
                F('committed_leader_epoch', 'int32', (2, 32767), default=-1),
                F('committed_metadata', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
    )),
    M('TxnOffsetCommitResponse', 'response', 28, (0, 4), (3, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('topics', '[]TxnOffsetCommitResponseTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]TxnOffsetCommitResponsePartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('DescribeAclsRequest', 'request', 29, (0, 3), (2, 32767), fields=(
        F('resource_type_filter', 'int8', (0, 32767)),
        F('resource_name_filter', 'string', (0, 32767), nullable=(0, 32767)),
        F('pattern_type_filter', 'int8', (1, 32767), default=3),
        F('principal_filter', 'string', (0, 32767), nullable=(0, 32767)),
        F('host_filter', 'string', (0, 32767), nullable=(0, 32767)),
        F('operation', 'int8', (0, 32767)),
        F('permission_type', 'int8', (0, 32767)),
    )),
    M('DescribeAclsResponse', 'response', 29, (0, 3), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        F('resources', '[]DescribeAclsResource', (0, 32767), fields=(
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
            F('pattern_type', 'int8', (1, 32767), default=3),
            F('acls', '[]AclDescription', (0, 32767), fields=(
                F('principal', 'string', (0, 32767)),
                F('host', 'string', (0, 32767)),
                F('operation', 'int8', (0, 32767)),
                F('permission_type', 'int8', (0, 32767)),
            )),
        )),
    )),
    M('CreateAclsRequest', 'request', 30, (0, 3), (2, 32767), fields=(
        F('creations', '[]AclCreation', (0, 32767), fields=(
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
            F('resource_pattern_type', 'int8', (1, 32767), default=3),
            F('principal', 'string', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('operation', 'int8', (0, 32767)),
            F('permission_type', 'int8', (0, 32767)),
        )),
    )),
    M('CreateAclsResponse', 'response', 30, (0, 3), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('results', '[]AclCreationResult', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        )),
    )),
    M('DeleteAclsRequest', 'request', 31, (0, 3), (2, 32767), fields=(
        F('filters', '[]DeleteAclsFilter', (0, 32767), fields=(
            F('resource_type_filter', 'int8', (0, 32767)),
            F('resource_name_filter', 'string', (0, 32767), nullable=(0, 32767)),
            F('pattern_type_filter', 'int8', (1, 32767), default=3),
            F('principal_filter', 'string', (0, 32767), nullable=(0, 32767)),
            F('host_filter', 'string', (0, 32767), nullable=(0, 32767)),
            F('operation', 'int8', (0, 32767)),
            F('permission_type', 'int8', (0, 32767)),
        )),
    )),
    M('DeleteAclsResponse', 'response', 31, (0, 3), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('filter_results', '[]DeleteAclsFilterResult', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            F('matching_acls', '[]DeleteAclsMatchingAcl', (0, 32767), fields=(
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
                F('resource_type', 'int8', (0, 32767)),
                F('resource_name', 'string', (0, 32767)),
                F('pattern_type', 'int8', (1, 32767), default=3),
                F('principal', 'string', (0, 32767)),
                F('host', 'string', (0, 32767)),
                F('operation', 'int8', (0, 32767)),
                F('permission_type', 'int8', (0, 32767)),
            )),
        )),
    )),
    M('DescribeConfigsRequest', 'request', 32, (0, 4), (4, 32767), fields=(
        F('resources', '[]DescribeConfigsResource', (0, 32767), fields=(
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
            F('configuration_keys', '[]string', (0, 32767), nullable=(0, 32767)),
        )),
        F('include_synonyms', 'bool', (1, 32767), default=False),
        F('include_documentation', 'bool', (3, 32767), default=False),
    )),
    M('DescribeConfigsResponse', 'response', 32, (0, 4), (4, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('results', '[]DescribeConfigsResult', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
            F('configs', '[]DescribeConfigsResourceResult', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('value', 'string', (0, 32767), nullable=(0, 32767)),
                F('read_only', 'bool', (0, 32767)),
                F('is_default', 'bool', (0, 0)),
                F('config_source', 'int8', (1, 32767), default=-1),
                F('is_sensitive', 'bool', (0, 32767)),
                F('synonyms', '[]DescribeConfigsSynonym', (1, 32767), fields=(
                    F('name', 'string', (1, 32767)),
                    F('value', 'string', (1, 32767), nullable=(0, 32767)),
                    F('source', 'int8', (1, 32767)),
                )),
                F('config_type', 'int8', (3, 32767), default=0),
                F('documentation', 'string', (3, 32767), nullable=(0, 32767)),
            )),
        )),
    )),
    M('AlterConfigsRequest', 'request', 33, (0, 2), (2, 32767), fields=(
        F('resources', '[]AlterConfigsResource', (0, 32767), fields=(
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
            F('configs', '[]AlterableConfig', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('value', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
        F('validate_only', 'bool', (0, 32767)),
    )),
    M('AlterConfigsResponse', 'response', 33, (0, 2), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('responses', '[]AlterConfigsResourceResponse', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
        )),
    )),
    M('AlterReplicaLogDirsRequest', 'request', 34, (0, 2), (2, 32767), fields=(
        F('dirs', '[]AlterReplicaLogDir', (0, 32767), fields=(
            F('path', 'string', (0, 32767)),
            F('topics', '[]AlterReplicaLogDirTopic', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('partitions', '[]int32', (0, 32767)),
            )),
        )),
    )),
    M('AlterReplicaLogDirsResponse', 'response', 34, (0, 2), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('results', '[]AlterReplicaLogDirTopicResult', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]AlterReplicaLogDirPartitionResult', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('DescribeLogDirsRequest', 'request', 35, (0, 4), (2, 32767), fields=(
        F('topics', '[]DescribableLogDirTopic', (0, 32767), nullable=(0, 32767), fields=(
            F('topic', 'string', (0, 32767)),
            F('partitions', '[]int32', (0, 32767)),
        )),
    )),
    M('DescribeLogDirsResponse', 'response', 35, (0, 4), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (3, 32767)),
        F('results', '[]DescribeLogDirsResult', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('log_dir', 'string', (0, 32767)),
            F('topics', '[]DescribeLogDirsTopic', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('partitions', '[]DescribeLogDirsPartition', (0, 32767), fields=(
                    F('partition_index', 'int32', (0, 32767)),
                    F('partition_size', 'int64', (0, 32767)),
                    F('offset_lag', 'int64', (0, 32767)),
                    F('is_future_key', 'bool', (0, 32767)),
                )),
            )),
            F('total_bytes', 'int64', (4, 32767), default=-1),
            F('usable_bytes', 'int64', (4, 32767), default=-1),
        )),
    )),
    M('SaslAuthenticateRequest', 'request', 36, (0, 2), (2, 32767), fields=(
        F('auth_bytes', 'bytes', (0, 32767)),
    )),
    M('SaslAuthenticateResponse', 'response', 36, (0, 2), (2, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        F('auth_bytes', 'bytes', (0, 32767)),
        F('session_lifetime_ms', 'int64', (1, 32767), default=0),
    )),
    M('CreatePartitionsRequest', 'request', 37, (0, 3), (2, 32767), fields=(
        F('topics', '[]CreatePartitionsTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('count', 'int32', (0, 32767)),
            F('assignments', '[]CreatePartitionsAssignment', (0, 32767), nullable=(0, 32767), fields=(
                F('broker_ids', '[]int32', (0, 32767)),
            )),
        )),
        F('timeout_ms', 'int32', (0, 32767)),
        F('validate_only', 'bool', (0, 32767)),
    )),
    M('CreatePartitionsResponse', 'response', 37, (0, 3), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('results', '[]CreatePartitionsTopicResult', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
        )),
    )),
    M('CreateDelegationTokenRequest', 'request', 38, (0, 3), (2, 32767), fields=(
        F('owner_principal_type', 'string', (3, 32767), nullable=(3, 32767)),
        F('owner_principal_name', 'string', (3, 32767), nullable=(3, 32767)),
        F('renewers', '[]CreatableRenewers', (0, 32767), fields=(
            F('principal_type', 'string', (0, 32767)),
            F('principal_name', 'string', (0, 32767)),
        )),
        F('max_lifetime_ms', 'int64', (0, 32767)),
    )),
    M('CreateDelegationTokenResponse', 'response', 38, (0, 3), (2, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('principal_type', 'string', (0, 32767)),
        F('principal_name', 'string', (0, 32767)),
        F('token_requester_principal_type', 'string', (3, 32767)),
        F('token_requester_principal_name', 'string', (3, 32767)),
        F('issue_timestamp_ms', 'int64', (0, 32767)),
        F('expiry_timestamp_ms', 'int64', (0, 32767)),
        F('max_timestamp_ms', 'int64', (0, 32767)),
        F('token_id', 'string', (0, 32767)),
        F('hmac', 'bytes', (0, 32767)),
        F('throttle_time_ms', 'int32', (0, 32767)),
    )),
    M('RenewDelegationTokenRequest', 'request', 39, (0, 2), (2, 32767), fields=(
        F('hmac', 'bytes', (0, 32767)),
        F('renew_period_ms', 'int64', (0, 32767)),
    )),
    M('RenewDelegationTokenResponse', 'response', 39, (0, 2), (2, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('expiry_timestamp_ms', 'int64', (0, 32767)),
        F('throttle_time_ms', 'int32', (0, 32767)),
    )),
    M('ExpireDelegationTokenRequest', 'request', 40, (0, 2), (2, 32767), fields=(
        F('hmac', 'bytes', (0, 32767)),
        F('expiry_time_period_ms', 'int64', (0, 32767)),
    )),
    M('ExpireDelegationTokenResponse', 'response', 40, (0, 2), (2, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('expiry_timestamp_ms', 'int64', (0, 32767)),
        F('throttle_time_ms', 'int32', (0, 32767)),
    )),
    M('DescribeDelegationTokenRequest', 'request', 41, (0, 3), (2, 32767), fields=(
        F('owners', '[]DescribeDelegationTokenOwner', (0, 32767), nullable=(0, 32767), fields=(
            F('principal_type', 'string', (0, 32767)),
            F('principal_name', 'string', (0, 32767)),
        )),
    )),
    M('DescribeDelegationTokenResponse', 'response', 41, (0, 3), (2, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('tokens', '[]DescribedDelegationToken', (0, 32767), fields=(
            F('principal_type', 'string', (0, 32767)),
            F('principal_name', 'string', (0, 32767)),
            F('token_requester_principal_type', 'string', (3, 32767)),
            F('token_requester_principal_name', 'string', (3, 32767)),
            F('issue_timestamp', 'int64', (0, 32767)),
            F('expiry_timestamp', 'int64', (0, 32767)),
            F('max_timestamp', 'int64', (0, 32767)),
            F('token_id', 'string', (0, 32767)),
            F('hmac', 'bytes', (0, 32767)),
            F('renewers', '[]DescribedDelegationTokenRenewer', (0, 32767), fields=(
                F('principal_type', 'string', (0, 32767)),
                F('principal_name', 'string', (0, 32767)),
            )),
        )),
        F('throttle_time_ms', 'int32', (0, 32767)),
    )),
    M('DeleteGroupsRequest', 'request', 42, (0, 2), (2, 32767), fields=(
        F('groups_names', '[]string', (0, 32767)),
    )),
    M('DeleteGroupsResponse', 'response', 42, (0, 2), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('results', '[]DeletableGroupResult', (0, 32767), fields=(
            F('group_id', 'string', (0, 32767)),
            F('error_code', 'int16', (0, 32767)),
        )),
    )),
    M('ElectLeadersRequest', 'request', 43, (0, 2), (2, 32767), fields=(
        F('election_type', 'int8', (1, 32767)),
        F('topic_partitions', '[]TopicPartitions', (0, 32767), nullable=(0, 32767), fields=(
            F('topic', 'string', (0, 32767)),
            F('partitions', '[]int32', (0, 32767)),
        )),
        F('timeout_ms', 'int32', (0, 32767), default=60000),
    )),
    M('ElectLeadersResponse', 'response', 43, (0, 2), (2, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (1, 32767)),
        F('replica_election_results', '[]ReplicaElectionResult', (0, 32767), fields=(
            F('topic', 'string', (0, 32767)),
            F('partition_result', '[]PartitionResult', (0, 32767), fields=(
                F('partition_id', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
    )),
    M('IncrementalAlterConfigsRequest', 'request', 44, (0, 1), (1, 32767), fields=(
        F('resources', '[]AlterConfigsResource', (0, 32767), fields=(
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
            F('configs', '[]AlterableConfig', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('config_operation', 'int8', (0, 32767)),
                F('value', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
        F('validate_only', 'bool', (0, 32767)),
    )),
    M('IncrementalAlterConfigsResponse', 'response', 44, (0, 1), (1, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('responses', '[]AlterConfigsResourceResponse', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            F('resource_type', 'int8', (0, 32767)),
            F('resource_name', 'string', (0, 32767)),
        )),
    )),
    M('AlterPartitionReassignmentsRequest', 'request', 45, (0, 0), (0, 32767), fields=(
        F('timeout_ms', 'int32', (0, 32767), default=60000),
        F('topics', '[]ReassignableTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]ReassignablePartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('replicas', '[]int32', (0, 32767), nullable=(0, 32767), default=None),
            )),
        )),
    )),
    M('AlterPartitionReassignmentsResponse', 'response', 45, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        F('responses', '[]ReassignableTopicResponse', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]ReassignablePartitionResponse', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
    )),
    M('ListPartitionReassignmentsRequest', 'request', 46, (0, 0), (0, 32767), fields=(
        F('timeout_ms', 'int32', (0, 32767), default=60000),
        F('topics', '[]ListPartitionReassignmentsTopics', (0, 32767), nullable=(0, 32767), default=None, fields=(
            F('name', 'string', (0, 32767)),
            F('partition_indexes', '[]int32', (0, 32767)),
        )),
    )),
    M('ListPartitionReassignmentsResponse', 'response', 46, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        F('topics', '[]OngoingTopicReassignment', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]OngoingPartitionReassignment', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('replicas', '[]int32', (0, 32767)),
                F('adding_replicas', '[]int32', (0, 32767)),
                F('removing_replicas', '[]int32', (0, 32767)),
            )),
        )),
    )),
    M('OffsetDeleteRequest', 'request', 47, (0, 0), None, fields=(
        F('group_id', 'string', (0, 32767)),
        F('topics', '[]OffsetDeleteRequestTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]OffsetDeleteRequestPartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('OffsetDeleteResponse', 'response', 47, (0, 0), None, fields=(
        F('error_code', 'int16', (0, 32767)),
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('topics', '[]OffsetDeleteResponseTopic', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]OffsetDeleteResponsePartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('DescribeClientQuotasRequest', 'request', 48, (0, 1), (1, 32767), fields=(
        F('components', '[]ComponentData', (0, 32767), fields=(
            F('entity_type', 'string', (0, 32767)),
            F('match_type', 'int8', (0, 32767)),
            F('match', 'string', (0, 32767), nullable=(0, 32767)),
        )),
        F('strict', 'bool', (0, 32767)),
    )),
    M('DescribeClientQuotasResponse', 'response', 48, (0, 1), (1, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        F('entries', '[]EntryData', (0, 32767), nullable=(0, 32767), fields=(
            F('entity', '[]EntityData', (0, 32767), fields=(
                F('entity_type', 'string', (0, 32767)),
                F('entity_name', 'string', (0, 32767), nullable=(0, 32767)),
            )),
            F('values', '[]ValueData', (0, 32767), fields=(
                F('key', 'string', (0, 32767)),
                F('value', 'float64', (0, 32767)),
            )),
        )),
    )),
    M('AlterClientQuotasRequest', 'request', 49, (0, 1), (1, 32767), fields=(
        F('entries', '[]EntryData', (0, 32767), fields=(
            F('entity', '[]EntityData', (0, 32767), fields=(
                F('entity_type', 'string', (0, 32767)),
                F('entity_name', 'string', (0, 32767), nullable=(0, 32767)),
            )),
            F('ops', '[]OpData', (0, 32767), fields=(
                F('key', 'string', (0, 32767)),
                F('value', 'float64', (0, 32767)),
                F('remove', 'bool', (0, 32767)),
            )),
        )),
        F('validate_only', 'bool', (0, 32767)),
    )),
    M('AlterClientQuotasResponse', 'response', 49, (0, 1), (1, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('entries', '[]EntryData', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            F('entity', '[]EntityData', (0, 32767), fields=(
                F('entity_type', 'string', (0, 32767)),
                F('entity_name', 'string', (0, 32767), nullable=(0, 32767)),
            )),
        )),
    )),
    M('DescribeUserScramCredentialsRequest', 'request', 50, (0, 0), (0, 32767), fields=(
        F('users', '[]UserName', (0, 32767), nullable=(0, 32767), fields=(
            F('name', 'string', (0, 32767)),
        )),
    )),
    M('DescribeUserScramCredentialsResponse', 'response', 50, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        F('results', '[]DescribeUserScramCredentialsResult', (0, 32767), fields=(
            F('user', 'string', (0, 32767)),
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
            F('credential_infos', '[]CredentialInfo', (0, 32767), fields=(
                F('mechanism', 'int8', (0, 32767)),
                F('iterations', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('AlterUserScramCredentialsRequest', 'request', 51, (0, 0), (0, 32767), fields=(
        F('deletions', '[]ScramCredentialDeletion', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('mechanism', 'int8', (0, 32767)),
        )),
        F('upsertions', '[]ScramCredentialUpsertion', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('mechanism', 'int8', (0, 32767)),
            F('iterations', 'int32', (0, 32767)),
            F('salt', 'bytes', (0, 32767)),
            F('salted_password', 'bytes', (0, 32767)),
        )),
    )),
    M('AlterUserScramCredentialsResponse', 'response', 51, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('results', '[]AlterUserScramCredentialsResult', (0, 32767), fields=(
            F('user', 'string', (0, 32767)),
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        )),
    )),
    M('VoteRequest', 'request', 52, (0, 1), (0, 32767), fields=(
        F('cluster_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('voter_id', 'int32', (1, 32767), default=-1),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('candidate_epoch', 'int32', (0, 32767)),
                F('candidate_id', 'int32', (0, 32767)),
                F('candidate_directory_id', 'uuid', (1, 32767)),
                F('voter_directory_id', 'uuid', (1, 32767)),
                F('last_offset_epoch', 'int32', (0, 32767)),
                F('last_offset', 'int64', (0, 32767)),
            )),
        )),
    )),
    M('VoteResponse', 'response', 52, (0, 1), (0, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('vote_granted', 'bool', (0, 32767)),
            )),
        )),
        F('node_endpoints', '[]NodeEndpoint', (1, 32767), tag=0, tagged=(1, 32767), fields=(
            F('node_id', 'int32', (1, 32767)),
            F('host', 'string', (1, 32767)),
            F('port', 'uint16', (1, 32767)),
        )),
    )),
    M('BeginQuorumEpochRequest', 'request', 53, (0, 1), (1, 32767), fields=(
        F('cluster_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('voter_id', 'int32', (1, 32767), default=-1),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('voter_directory_id', 'uuid', (1, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
            )),
        )),
        F('leader_endpoints', '[]LeaderEndpoint', (1, 32767), fields=(
            F('name', 'string', (1, 32767)),
            F('host', 'string', (1, 32767)),
            F('port', 'uint16', (1, 32767)),
        )),
    )),
    M('BeginQuorumEpochResponse', 'response', 53, (0, 1), (1, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
            )),
        )),
        F('node_endpoints', '[]NodeEndpoint', (1, 32767), tag=0, tagged=(1, 32767), fields=(
            F('node_id', 'int32', (1, 32767)),
            F('host', 'string', (1, 32767)),
            F('port', 'uint16', (1, 32767)),
        )),
    )),
    M('EndQuorumEpochRequest', 'request', 54, (0, 1), (1, 32767), fields=(
        F('cluster_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('preferred_successors', '[]int32', (0, 0)),
                F('preferred_candidates', '[]ReplicaInfo', (1, 32767), fields=(
                    F('candidate_id', 'int32', (1, 32767)),
                    F('candidate_directory_id', 'uuid', (1, 32767)),
                )),
            )),
        )),
        F('leader_endpoints', '[]LeaderEndpoint', (1, 32767), fields=(
            F('name', 'string', (1, 32767)),
            F('host', 'string', (1, 32767)),
            F('port', 'uint16', (1, 32767)),
        )),
    )),
    M('EndQuorumEpochResponse', 'response', 54, (0, 1), (1, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
            )),
        )),
        F('node_endpoints', '[]NodeEndpoint', (1, 32767), tag=0, tagged=(1, 32767), fields=(
            F('node_id', 'int32', (1, 32767)),
            F('host', 'string', (1, 32767)),
            F('port', 'uint16', (1, 32767)),
        )),
    )),
    M('DescribeQuorumRequest', 'request', 55, (0, 2), (0, 32767), fields=(
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('DescribeQuorumResponse', 'response', 55, (0, 2), (0, 32767), fields=(
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (2, 32767), nullable=(2, 32767)),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (2, 32767), nullable=(2, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('high_watermark', 'int64', (0, 32767)),
                F('current_voters', '[]ReplicaState', (0, 32767), fields=(
                    F('replica_id', 'int32', (0, 32767)),
                    F('replica_directory_id', 'uuid', (2, 32767)),
                    F('log_end_offset', 'int64', (0, 32767)),
                    F('last_fetch_timestamp', 'int64', (1, 32767), default=-1),
                    F('last_caught_up_timestamp', 'int64', (1, 32767), default=-1),
                )),
                F('observers', '[]ReplicaState', (0, 32767), fields=(
                    F('replica_id', 'int32', (0, 32767)),
                    F('replica_directory_id', 'uuid', (2, 32767)),
                    F('log_end_offset', 'int64', (0, 32767)),
                    F('last_fetch_timestamp', 'int64', (1, 32767), default=-1),
                    F('last_caught_up_timestamp', 'int64', (1, 32767), default=-1),
                )),
            )),
        )),
        F('nodes', '[]Node', (2, 32767), fields=(
            F('node_id', 'int32', (2, 32767)),
            F('listeners', '[]Listener', (2, 32767), fields=(
                F('name', 'string', (2, 32767)),
                F('host', 'string', (2, 32767)),
                F('port', 'uint16', (2, 32767)),
            )),
        )),
    )),
    M('AlterPartitionRequest', 'request', 56, (0, 3), (0, 32767), fields=(
        F('broker_id', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (0, 32767), default=-1),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 1)),
            F('topic_id', 'uuid', (2, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('new_isr', '[]int32', (0, 2)),
                F('new_isr_with_epochs', '[]BrokerState', (3, 32767), fields=(
                    F('broker_id', 'int32', (3, 32767)),
                    F('broker_epoch', 'int64', (3, 32767), default=-1),
                )),
                F('leader_recovery_state', 'int8', (1, 32767), default=0),
                F('partition_epoch', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('AlterPartitionResponse', 'response', 56, (0, 3), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('topics', '[]TopicData', (0, 32767), fields=(
            F('topic_name', 'string', (0, 1)),
            F('topic_id', 'uuid', (2, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('isr', '[]int32', (0, 32767)),
                F('leader_recovery_state', 'int8', (1, 32767), default=0),
                F('partition_epoch', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('UpdateFeaturesRequest', 'request', 57, (0, 2), (0, 32767), fields=(
        F('timeout_ms', 'int32', (0, 32767), default=60000),
        F('feature_updates', '[]FeatureUpdateKey', (0, 32767), fields=(
            F('feature', 'string', (0, 32767)),
            F('max_version_level', 'int16', (0, 32767)),
            F('allow_downgrade', 'bool', (0, 0)),
            F('upgrade_type', 'int8', (1, 32767), default=1),
        )),
        F('validate_only', 'bool', (1, 32767), default=False),
    )),
    M('UpdateFeaturesResponse', 'response', 57, (0, 2), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        F('results', '[]UpdatableFeatureResult', (0, 1), fields=(
            F('feature', 'string', (0, 32767)),
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
        )),
    )),
    M('EnvelopeRequest', 'request', 58, (0, 0), (0, 32767), fields=(
        F('request_data', 'bytes', (0, 32767)),
        F('request_principal', 'bytes', (0, 32767), nullable=(0, 32767)),
        F('client_host_address', 'bytes', (0, 32767)),
    )),
    M('EnvelopeResponse', 'response', 58, (0, 0), (0, 32767), fields=(
        F('response_data', 'bytes', (0, 32767), nullable=(0, 32767), default=None),
        F('error_code', 'int16', (0, 32767)),
    )),
    M('FetchSnapshotRequest', 'request', 59, (0, 1), (0, 32767), fields=(
        F('cluster_id', 'string', (0, 32767), nullable=(0, 32767), tag=0, tagged=(0, 32767), default=None),
        F('replica_id', 'int32', (0, 32767), default=-1),
        F('max_bytes', 'int32', (0, 32767), default=2147483647),
        F('topics', '[]TopicSnapshot', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]PartitionSnapshot', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('current_leader_epoch', 'int32', (0, 32767)),
                F('snapshot_id', 'SnapshotId', (0, 32767), fields=(
                    F('end_offset', 'int64', (0, 32767)),
                    F('epoch', 'int32', (0, 32767)),
                )),
                F('position', 'int64', (0, 32767)),
                F('replica_directory_id', 'uuid', (1, 32767), tag=0, tagged=(1, 32767)),
            )),
        )),
    )),
    M('FetchSnapshotResponse', 'response', 59, (0, 1), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('topics', '[]TopicSnapshot', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]PartitionSnapshot', (0, 32767), fields=(
                F('index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('snapshot_id', 'SnapshotId', (0, 32767), fields=(
                    F('end_offset', 'int64', (0, 32767)),
                    F('epoch', 'int32', (0, 32767)),
                )),
                F('current_leader', 'LeaderIdAndEpoch', (0, 32767), tag=0, tagged=(0, 32767), fields=(
                    F('leader_id', 'int32', (0, 32767)),
                    F('leader_epoch', 'int32', (0, 32767)),
                )),
                F('size', 'int64', (0, 32767)),
                F('position', 'int64', (0, 32767)),
                F('unaligned_records', 'records', (0, 32767)),
            )),
        )),
        F('node_endpoints', '[]NodeEndpoint', (1, 32767), tag=0, tagged=(1, 32767), fields=(
            F('node_id', 'int32', (1, 32767)),
            F('host', 'string', (1, 32767)),
            F('port', 'uint16', (1, 32767)),
        )),
    )),
    M('DescribeClusterRequest', 'request', 60, (0, 1), (0, 32767), fields=(
        F('include_cluster_authorized_operations', 'bool', (0, 32767)),
        F('endpoint_type', 'int8', (1, 32767), default=1),
    )),
    M('DescribeClusterResponse', 'response', 60, (0, 1), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('endpoint_type', 'int8', (1, 32767), default=1),
        F('cluster_id', 'string', (0, 32767)),
        F('controller_id', 'int32', (0, 32767), default=-1),
        F('brokers', '[]DescribeClusterBroker', (0, 32767), fields=(
            F('broker_id', 'int32', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'int32', (0, 32767)),
            F('rack', 'string', (0, 32767), nullable=(0, 32767), default=None),
        )),
        F('cluster_authorized_operations', 'int32', (0, 32767), default=-2147483648),
    )),
    M('DescribeProducersRequest', 'request', 61, (0, 0), (0, 32767), fields=(
        F('topics', '[]TopicRequest', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partition_indexes', '[]int32', (0, 32767)),
        )),
    )),
    M('DescribeProducersResponse', 'response', 61, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('topics', '[]TopicResponse', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('partitions', '[]PartitionResponse', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('active_producers', '[]ProducerState', (0, 32767), fields=(
                    F('producer_id', 'int64', (0, 32767)),
                    F('producer_epoch', 'int32', (0, 32767)),
                    F('last_sequence', 'int32', (0, 32767), default=-1),
                    F('last_timestamp', 'int64', (0, 32767), default=-1),
                    F('coordinator_epoch', 'int32', (0, 32767)),
                    F('current_txn_start_offset', 'int64', (0, 32767), default=-1),
                )),
            )),
        )),
    )),
    M('BrokerRegistrationRequest', 'request', 62, (0, 4), (0, 32767), fields=(
        F('broker_id', 'int32', (0, 32767)),
        F('cluster_id', 'string', (0, 32767)),
        F('incarnation_id', 'uuid', (0, 32767)),
        F('listeners', '[]Listener', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'uint16', (0, 32767)),
            F('security_protocol', 'int16', (0, 32767)),
        )),
        F('features', '[]Feature', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('min_supported_version', 'int16', (0, 32767)),
            F('max_supported_version', 'int16', (0, 32767)),
        )),
        F('rack', 'string', (0, 32767), nullable=(0, 32767)),
        F('is_migrating_zk_broker', 'bool', (1, 32767), default=False),
        F('log_dirs', '[]uuid', (2, 32767)),
        F('previous_broker_epoch', 'int64', (3, 32767), default=-1),
    )),
    M('BrokerRegistrationResponse', 'response', 62, (0, 4), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('broker_epoch', 'int64', (0, 32767), default=-1),
    )),
    M('BrokerHeartbeatRequest', 'request', 63, (0, 1), (0, 32767), fields=(
        F('broker_id', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (0, 32767), default=-1),
        F('current_metadata_offset', 'int64', (0, 32767)),
        F('want_fence', 'bool', (0, 32767)),
        F('want_shut_down', 'bool', (0, 32767)),
        F('offline_log_dirs', '[]uuid', (1, 32767), tag=0, tagged=(1, 32767)),
    )),
    M('BrokerHeartbeatResponse', 'response', 63, (0, 1), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('is_caught_up', 'bool', (0, 32767), default=False),
        F('is_fenced', 'bool', (0, 32767), default=True),
        F('should_shut_down', 'bool', (0, 32767)),
    )),
    M('UnregisterBrokerRequest', 'request', 64, (0, 0), (0, 32767), fields=(
        F('broker_id', 'int32', (0, 32767)),
    )),
    M('UnregisterBrokerResponse', 'response', 64, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
    )),
    M('DescribeTransactionsRequest', 'request', 65, (0, 0), (0, 32767), fields=(
        F('transactional_ids', '[]string', (0, 32767)),
    )),
    M('DescribeTransactionsResponse', 'response', 65, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('transaction_states', '[]TransactionState', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('transactional_id', 'string', (0, 32767)),
            F('transaction_state', 'string', (0, 32767)),
            F('transaction_timeout_ms', 'int32', (0, 32767)),
            F('transaction_start_time_ms', 'int64', (0, 32767)),
            F('producer_id', 'int64', (0, 32767)),
            F('producer_epoch', 'int16', (0, 32767)),
            F('topics', '[]TopicData', (0, 32767), fields=(
                F('topic', 'string', (0, 32767)),
                F('partitions', '[]int32', (0, 32767)),
            )),
        )),
    )),
    M('ListTransactionsRequest', 'request', 66, (0, 1), (0, 32767), fields=(
        F('state_filters', '[]string', (0, 32767)),
        F('producer_id_filters', '[]int64', (0, 32767)),
        F('duration_filter', 'int64', (1, 32767), default=-1),
    )),
    M('ListTransactionsResponse', 'response', 66, (0, 1), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('unknown_state_filters', '[]string', (0, 32767)),
        F('transaction_states', '[]TransactionState', (0, 32767), fields=(
            F('transactional_id', 'string', (0, 32767)),
            F('producer_id', 'int64', (0, 32767)),
            F('transaction_state', 'string', (0, 32767)),
        )),
    )),
    M('AllocateProducerIdsRequest', 'request', 67, (0, 0), (0, 32767), fields=(
        F('broker_id', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (0, 32767), default=-1),
    )),
    M('AllocateProducerIdsResponse', 'response', 67, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('producer_id_start', 'int64', (0, 32767)),
        F('producer_id_len', 'int32', (0, 32767)),
    )),
    M('ConsumerGroupHeartbeatRequest', 'request', 68, (0, 1), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767)),
        F('member_id', 'string', (0, 32767)),
        F('member_epoch', 'int32', (0, 32767)),
        F('instance_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('rack_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('rebalance_timeout_ms', 'int32', (0, 32767), default=-1),
        F('subscribed_topic_names', '[]string', (0, 32767), nullable=(0, 32767), default=None),
        F('subscribed_topic_regex', 'string', (1, 32767), nullable=(1, 32767), default=None),
        F('server_assignor', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('topic_partitions', '[]TopicPartitions', (0, 32767), nullable=(0, 32767), default=None, fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]int32', (0, 32767)),
        )),
    )),
    M('ConsumerGroupHeartbeatResponse', 'response', 68, (0, 1), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('member_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('member_epoch', 'int32', (0, 32767)),
        F('heartbeat_interval_ms', 'int32', (0, 32767)),
        F('assignment', 'Assignment', (0, 32767), nullable=(0, 32767), default=None, fields=(
            F('topic_partitions', '[]TopicPartitions', (0, 32767), fields=(
                F('topic_id', 'uuid', (0, 32767)),
                F('partitions', '[]int32', (0, 32767)),
            )),
        )),
    )),
    M('ConsumerGroupDescribeRequest', 'request', 69, (0, 0), (0, 32767), fields=(
        F('group_ids', '[]string', (0, 32767)),
        F('include_authorized_operations', 'bool', (0, 32767)),
    )),
    M('ConsumerGroupDescribeResponse', 'response', 69, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('groups', '[]DescribedGroup', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
            F('group_id', 'string', (0, 32767)),
            F('group_state', 'string', (0, 32767)),
            F('group_epoch', 'int32', (0, 32767)),
            F('assignment_epoch', 'int32', (0, 32767)),
            F('assignor_name', 'string', (0, 32767)),
            F('members', '[]Member', (0, 32767), fields=(
                F('member_id', 'string', (0, 32767)),
                F('instance_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('rack_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('member_epoch', 'int32', (0, 32767)),
                F('client_id', 'string', (0, 32767)),
                F('client_host', 'string', (0, 32767)),
                F('subscribed_topic_names', '[]string', (0, 32767)),
                F('subscribed_topic_regex', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('assignment', 'Assignment', (0, 32767), fields=(
                    F('topic_partitions', '[]TopicPartitions', (0, 32767), fields=(
                        F('topic_id', 'uuid', (0, 32767)),
                        F('topic_name', 'string', (0, 32767)),
                        F('partitions', '[]int32', (0, 32767)),
                    )),
                )),
                F('target_assignment', 'Assignment', (0, 32767), fields=(
                    F('topic_partitions', '[]TopicPartitions', (0, 32767), fields=(
                        F('topic_id', 'uuid', (0, 32767)),
                        F('topic_name', 'string', (0, 32767)),
                        F('partitions', '[]int32', (0, 32767)),
                    )),
                )),
            )),
            F('authorized_operations', 'int32', (0, 32767), default=-2147483648),
        )),
    )),
    M('ControllerRegistrationRequest', 'request', 70, (0, 0), (0, 32767), fields=(
        F('controller_id', 'int32', (0, 32767)),
        F('incarnation_id', 'uuid', (0, 32767)),
        F('zk_migration_ready', 'bool', (0, 32767)),
        F('listeners', '[]Listener', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'uint16', (0, 32767)),
            F('security_protocol', 'int16', (0, 32767)),
        )),
        F('features', '[]Feature', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('min_supported_version', 'int16', (0, 32767)),
            F('max_supported_version', 'int16', (0, 32767)),
        )),
    )),
    M('ControllerRegistrationResponse', 'response', 70, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
    )),
    M('GetTelemetrySubscriptionsRequest', 'request', 71, (0, 0), (0, 32767), fields=(
        F('client_instance_id', 'uuid', (0, 32767)),
    )),
    M('GetTelemetrySubscriptionsResponse', 'response', 71, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('client_instance_id', 'uuid', (0, 32767)),
        F('subscription_id', 'int32', (0, 32767)),
        F('accepted_compression_types', '[]int8', (0, 32767)),
        F('push_interval_ms', 'int32', (0, 32767)),
        F('telemetry_max_bytes', 'int32', (0, 32767)),
        F('delta_temporality', 'bool', (0, 32767)),
        F('requested_metrics', '[]string', (0, 32767)),
    )),
    M('PushTelemetryRequest', 'request', 72, (0, 0), (0, 32767), fields=(
        F('client_instance_id', 'uuid', (0, 32767)),
        F('subscription_id', 'int32', (0, 32767)),
        F('terminating', 'bool', (0, 32767)),
        F('compression_type', 'int8', (0, 32767)),
        F('metrics', 'bytes', (0, 32767)),
    )),
    M('PushTelemetryResponse', 'response', 72, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
    )),
    M('AssignReplicasToDirsRequest', 'request', 73, (0, 0), (0, 32767), fields=(
        F('broker_id', 'int32', (0, 32767)),
        F('broker_epoch', 'int64', (0, 32767), default=-1),
        F('directories', '[]DirectoryData', (0, 32767), fields=(
            F('id', 'uuid', (0, 32767)),
            F('topics', '[]TopicData', (0, 32767), fields=(
                F('topic_id', 'uuid', (0, 32767)),
                F('partitions', '[]PartitionData', (0, 32767), fields=(
                    F('partition_index', 'int32', (0, 32767)),
                )),
            )),
        )),
    )),
    M('AssignReplicasToDirsResponse', 'response', 73, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('directories', '[]DirectoryData', (0, 32767), fields=(
            F('id', 'uuid', (0, 32767)),
            F('topics', '[]TopicData', (0, 32767), fields=(
                F('topic_id', 'uuid', (0, 32767)),
                F('partitions', '[]PartitionData', (0, 32767), fields=(
                    F('partition_index', 'int32', (0, 32767)),
                    F('error_code', 'int16', (0, 32767)),
                )),
            )),
        )),
    )),
    M('ListClientMetricsResourcesRequest', 'request', 74, (0, 0), (0, 32767), fields=()),
    M('ListClientMetricsResourcesResponse', 'response', 74, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('client_metrics_resources', '[]ClientMetricsResource', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
        )),
    )),
    M('DescribeTopicPartitionsRequest', 'request', 75, (0, 0), (0, 32767), fields=(
        F('topics', '[]TopicRequest', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
        )),
        F('response_partition_limit', 'int32', (0, 32767), default=2000),
        F('cursor', 'Cursor', (0, 32767), nullable=(0, 32767), default=None, fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partition_index', 'int32', (0, 32767)),
        )),
    )),
    M('DescribeTopicPartitionsResponse', 'response', 75, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('topics', '[]DescribeTopicPartitionsResponseTopic', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('name', 'string', (0, 32767), nullable=(0, 32767)),
            F('topic_id', 'uuid', (0, 32767)),
            F('is_internal', 'bool', (0, 32767), default=False),
            F('partitions', '[]DescribeTopicPartitionsResponsePartition', (0, 32767), fields=(
                F('error_code', 'int16', (0, 32767)),
                F('partition_index', 'int32', (0, 32767)),
                F('leader_id', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767), default=-1),
                F('replica_nodes', '[]int32', (0, 32767)),
                F('isr_nodes', '[]int32', (0, 32767)),
                F('eligible_leader_replicas', '[]int32', (0, 32767), nullable=(0, 32767), default=None),
                F('last_known_elr', '[]int32', (0, 32767), nullable=(0, 32767), default=None),
                F('offline_replicas', '[]int32', (0, 32767)),
            )),
            F('topic_authorized_operations', 'int32', (0, 32767), default=-2147483648),
        )),
        F('next_cursor', 'Cursor', (0, 32767), nullable=(0, 32767), default=None, fields=(
            F('topic_name', 'string', (0, 32767)),
            F('partition_index', 'int32', (0, 32767)),
        )),
    )),
    M('ShareGroupHeartbeatRequest', 'request', 76, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767)),
        F('member_id', 'string', (0, 32767)),
        F('member_epoch', 'int32', (0, 32767)),
        F('rack_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('subscribed_topic_names', '[]string', (0, 32767), nullable=(0, 32767), default=None),
    )),
    M('ShareGroupHeartbeatResponse', 'response', 76, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('member_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('member_epoch', 'int32', (0, 32767)),
        F('heartbeat_interval_ms', 'int32', (0, 32767)),
        F('assignment', 'Assignment', (0, 32767), nullable=(0, 32767), default=None, fields=(
            F('topic_partitions', '[]TopicPartitions', (0, 32767), fields=(
                F('topic_id', 'uuid', (0, 32767)),
                F('partitions', '[]int32', (0, 32767)),
            )),
        )),
    )),
    M('ShareGroupDescribeRequest', 'request', 77, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_ids', '[]string', (0, 32767)),
        F('include_authorized_operations', 'bool', (0, 32767)),
    )),
    M('ShareGroupDescribeResponse', 'response', 77, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('groups', '[]DescribedGroup', (0, 32767), fields=(
            F('error_code', 'int16', (0, 32767)),
            F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
            F('group_id', 'string', (0, 32767)),
            F('group_state', 'string', (0, 32767)),
            F('group_epoch', 'int32', (0, 32767)),
            F('assignment_epoch', 'int32', (0, 32767)),
            F('assignor_name', 'string', (0, 32767)),
            F('members', '[]Member', (0, 32767), fields=(
                F('member_id', 'string', (0, 32767)),
                F('rack_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('member_epoch', 'int32', (0, 32767)),
                F('client_id', 'string', (0, 32767)),
                F('client_host', 'string', (0, 32767)),
                F('subscribed_topic_names', '[]string', (0, 32767)),
                F('assignment', 'Assignment', (0, 32767), fields=(
                    F('topic_partitions', '[]TopicPartitions', (0, 32767), fields=(
                        F('topic_id', 'uuid', (0, 32767)),
                        F('topic_name', 'string', (0, 32767)),
                        F('partitions', '[]int32', (0, 32767)),
                    )),
                )),
            )),
            F('authorized_operations', 'int32', (0, 32767), default=-2147483648),
        )),
    )),
    M('ShareFetchRequest', 'request', 78, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('member_id', 'string', (0, 32767), nullable=(0, 32767)),
        F('share_session_epoch', 'int32', (0, 32767)),
        F('max_wait_ms', 'int32', (0, 32767)),
        F('min_bytes', 'int32', (0, 32767)),
        F('max_bytes', 'int32', (0, 32767), default=2147483647),
        F('topics', '[]FetchTopic', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]FetchPartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('partition_max_bytes', 'int32', (0, 32767)),
                F('acknowledgement_batches', '[]AcknowledgementBatch', (0, 32767), fields=(
                    F('first_offset', 'int64', (0, 32767)),
                    F('last_offset', 'int64', (0, 32767)),
                    F('acknowledge_types', '[]int8', (0, 32767)),
                )),
            )),
        )),
        F('forgotten_topics_data', '[]ForgottenTopic', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]int32', (0, 32767)),
        )),
    )),
    M('ShareFetchResponse', 'response', 78, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('responses', '[]ShareFetchableTopicResponse', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('acknowledge_error_code', 'int16', (0, 32767)),
                F('acknowledge_error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('current_leader', 'LeaderIdAndEpoch', (0, 32767), fields=(
                    F('leader_id', 'int32', (0, 32767)),
                    F('leader_epoch', 'int32', (0, 32767)),
                )),
                F('records', 'records', (0, 32767), nullable=(0, 32767)),
                F('acquired_records', '[]AcquiredRecords', (0, 32767), fields=(
                    F('first_offset', 'int64', (0, 32767)),
                    F('last_offset', 'int64', (0, 32767)),
                    F('delivery_count', 'int16', (0, 32767)),
                )),
            )),
        )),
        F('node_endpoints', '[]NodeEndpoint', (0, 32767), fields=(
            F('node_id', 'int32', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'int32', (0, 32767)),
            F('rack', 'string', (0, 32767), nullable=(0, 32767), default=None),
        )),
    )),
    M('ShareAcknowledgeRequest', 'request', 79, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('member_id', 'string', (0, 32767), nullable=(0, 32767)),
        F('share_session_epoch', 'int32', (0, 32767)),
        F('topics', '[]AcknowledgeTopic', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]AcknowledgePartition', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('acknowledgement_batches', '[]AcknowledgementBatch', (0, 32767), fields=(
                    F('first_offset', 'int64', (0, 32767)),
                    F('last_offset', 'int64', (0, 32767)),
                    F('acknowledge_types', '[]int8', (0, 32767)),
                )),
            )),
        )),
    )),
    M('ShareAcknowledgeResponse', 'response', 79, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
        F('responses', '[]ShareAcknowledgeTopicResponse', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition_index', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('current_leader', 'LeaderIdAndEpoch', (0, 32767), fields=(
                    F('leader_id', 'int32', (0, 32767)),
                    F('leader_epoch', 'int32', (0, 32767)),
                )),
            )),
        )),
        F('node_endpoints', '[]NodeEndpoint', (0, 32767), fields=(
            F('node_id', 'int32', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'int32', (0, 32767)),
            F('rack', 'string', (0, 32767), nullable=(0, 32767), default=None),
        )),
    )),
    M('AddRaftVoterRequest', 'request', 80, (0, 0), (0, 32767), fields=(
        F('cluster_id', 'string', (0, 32767), nullable=(0, 32767)),
        F('timeout_ms', 'int32', (0, 32767)),
        F('voter_id', 'int32', (0, 32767)),
        F('voter_directory_id', 'uuid', (0, 32767)),
        F('listeners', '[]Listener', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'uint16', (0, 32767)),
        )),
    )),
    M('AddRaftVoterResponse', 'response', 80, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
    )),
    M('RemoveRaftVoterRequest', 'request', 81, (0, 0), (0, 32767), fields=(
        F('cluster_id', 'string', (0, 32767), nullable=(0, 32767)),
        F('voter_id', 'int32', (0, 32767)),
        F('voter_directory_id', 'uuid', (0, 32767)),
    )),
    M('RemoveRaftVoterResponse', 'response', 81, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('error_message', 'string', (0, 32767), nullable=(0, 32767)),
    )),
    M('UpdateRaftVoterRequest', 'request', 82, (0, 0), (0, 32767), fields=(
        F('cluster_id', 'string', (0, 32767), nullable=(0, 32767)),
        F('current_leader_epoch', 'int32', (0, 32767)),
        F('voter_id', 'int32', (0, 32767)),
        F('voter_directory_id', 'uuid', (0, 32767)),
        F('listeners', '[]Listener', (0, 32767), fields=(
            F('name', 'string', (0, 32767)),
            F('host', 'string', (0, 32767)),
            F('port', 'uint16', (0, 32767)),
        )),
        F('kraft_version_feature', 'KRaftVersionFeature', (0, 32767), fields=(
            F('min_supported_version', 'int16', (0, 32767)),
            F('max_supported_version', 'int16', (0, 32767)),
        )),
    )),
    M('UpdateRaftVoterResponse', 'response', 82, (0, 0), (0, 32767), fields=(
        F('throttle_time_ms', 'int32', (0, 32767)),
        F('error_code', 'int16', (0, 32767)),
        F('current_leader', 'CurrentLeader', (0, 32767), tag=0, tagged=(0, 32767), fields=(
            F('leader_id', 'int32', (0, 32767), default=-1),
            F('leader_epoch', 'int32', (0, 32767), default=-1),
            F('host', 'string', (0, 32767)),
            F('port', 'int32', (0, 32767)),
        )),
    )),
    M('InitializeShareGroupStateRequest', 'request', 83, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767)),
        F('topics', '[]InitializeStateData', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('state_epoch', 'int32', (0, 32767)),
                F('start_offset', 'int64', (0, 32767)),
            )),
        )),
    )),
    M('InitializeShareGroupStateResponse', 'response', 83, (0, 0), (0, 32767), fields=(
        F('results', '[]InitializeStateResult', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionResult', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
            )),
        )),
    )),
    M('ReadShareGroupStateRequest', 'request', 84, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767)),
        F('topics', '[]ReadStateData', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('ReadShareGroupStateResponse', 'response', 84, (0, 0), (0, 32767), fields=(
        F('results', '[]ReadStateResult', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionResult', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('state_epoch', 'int32', (0, 32767)),
                F('start_offset', 'int64', (0, 32767)),
                F('state_batches', '[]StateBatch', (0, 32767), fields=(
                    F('first_offset', 'int64', (0, 32767)),
                    F('last_offset', 'int64', (0, 32767)),
                    F('delivery_state', 'int8', (0, 32767)),
                    F('delivery_count', 'int16', (0, 32767)),
                )),
            )),
        )),
    )),
    M('WriteShareGroupStateRequest', 'request', 85, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767)),
        F('topics', '[]WriteStateData', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('state_epoch', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
                F('start_offset', 'int64', (0, 32767)),
                F('state_batches', '[]StateBatch', (0, 32767), fields=(
                    F('first_offset', 'int64', (0, 32767)),
                    F('last_offset', 'int64', (0, 32767)),
                    F('delivery_state', 'int8', (0, 32767)),
                    F('delivery_count', 'int16', (0, 32767)),
                )),
            )),
        )),
    )),
    M('WriteShareGroupStateResponse', 'response', 85, (0, 0), (0, 32767), fields=(
        F('results', '[]WriteStateResult', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionResult', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
            )),
        )),
    )),
    M('DeleteShareGroupStateRequest', 'request', 86, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767)),
        F('topics', '[]DeleteStateData', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('DeleteShareGroupStateResponse', 'response', 86, (0, 0), (0, 32767), fields=(
        F('results', '[]DeleteStateResult', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionResult', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
            )),
        )),
    )),
    M('ReadShareGroupStateSummaryRequest', 'request', 87, (0, 0), (0, 32767), unstable_latest=True, fields=(
        F('group_id', 'string', (0, 32767)),
        F('topics', '[]ReadStateSummaryData', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionData', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('leader_epoch', 'int32', (0, 32767)),
            )),
        )),
    )),
    M('ReadShareGroupStateSummaryResponse', 'response', 87, (0, 0), (0, 32767), fields=(
        F('results', '[]ReadStateSummaryResult', (0, 32767), fields=(
            F('topic_id', 'uuid', (0, 32767)),
            F('partitions', '[]PartitionResult', (0, 32767), fields=(
                F('partition', 'int32', (0, 32767)),
                F('error_code', 'int16', (0, 32767)),
                F('error_message', 'string', (0, 32767), nullable=(0, 32767), default=None),
                F('state_epoch', 'int32', (0, 32767)),
                F('start_offset', 'int64', (0, 32767)),
            )),
        )),
    )),
    M('ConsumerProtocolAssignment', 'data', None, (0, 3), None, fields=(
        F('assigned_partitions', '[]TopicPartition', (0, 32767), fields=(
            F('topic', 'string', (0, 32767)),
            F('partitions', '[]int32', (0, 32767)),
        )),
        F('user_data', 'bytes', (0, 32767), nullable=(0, 32767), default=None),
    )),
    M('ConsumerProtocolSubscription', 'data', None, (0, 3), None, fields=(
        F('topics', '[]string', (0, 32767)),
        F('user_data', 'bytes', (0, 32767), nullable=(0, 32767), default=None),
        F('owned_partitions', '[]TopicPartition', (1, 32767), fields=(
            F('topic', 'string', (1, 32767)),
            F('partitions', '[]int32', (1, 32767)),
        )),
        F('generation_id', 'int32', (2, 32767), default=-1),
        F('rack_id', 'string', (3, 32767), nullable=(3, 32767), default=None),
    )),
    M('DefaultPrincipalData', 'data', None, (0, 0), (0, 32767), fields=(
        F('type', 'string', (0, 32767)),
        F('name', 'string', (0, 32767)),
        F('token_authenticated', 'bool', (0, 32767)),
    )),
    M('KRaftVersionRecord', 'data', None, (0, 0), (0, 32767), fields=(
        F('version', 'int16', (0, 32767)),
        F('kraft_version', 'int16', (0, 32767)),
    )),
    M('LeaderChangeMessage', 'data', None, (0, 1), (0, 32767), fields=(
        F('version', 'int16', (0, 32767)),
        F('leader_id', 'int32', (0, 32767)),
        F('voters', '[]Voter', (0, 32767), fields=(
            F('voter_id', 'int32', (0, 32767)),
            F('voter_directory_id', 'uuid', (1, 32767)),
        )),
        F('granting_voters', '[]Voter', (0, 32767), fields=(
            F('voter_id', 'int32', (0, 32767)),
            F('voter_directory_id', 'uuid', (1, 32767)),
        )),
    )),
    M('SnapshotFooterRecord', 'data', None, (0, 0), (0, 32767), fields=(
        F('version', 'int16', (0, 32767)),
    )),
    M('SnapshotHeaderRecord', 'data', None, (0, 0), (0, 32767), fields=(
        F('version', 'int16', (0, 32767)),
        F('last_contained_log_timestamp', 'int64', (0, 32767)),
    )),
    M('VotersRecord', 'data', None, (0, 0), (0, 32767), fields=(
        F('version', 'int16', (0, 32767)),
        F('voters', '[]Voter', (0, 32767), fields=(
            F('voter_id', 'int32', (0, 32767)),
            F('voter_directory_id', 'uuid', (0, 32767)),
            F('endpoints', '[]Endpoint', (0, 32767), fields=(
                F('name', 'string', (0, 32767)),
                F('host', 'string', (0, 32767)),
                F('port', 'uint16', (0, 32767)),
            )),
            F('kraft_version_feature', 'KRaftVersionFeature', (0, 32767), fields=(
                F('min_supported_version', 'int16', (0, 32767)),
                F('max_supported_version', 'int16', (0, 32767)),
            )),
        )),
    )),
    M('RequestHeader', 'header', None, (0, 2), (2, 32767), fields=(
        F('request_api_key', 'int16', (0, 32767)),
        F('request_api_version', 'int16', (0, 32767)),
        F('correlation_id', 'int32', (0, 32767)),
        F('client_id', 'string', (1, 32767), nullable=(1, 32767), flexible=None),
    )),
    M('ResponseHeader', 'header', None, (0, 1), (1, 32767), fields=(
        F('correlation_id', 'int32', (0, 32767)),
    )),
)
