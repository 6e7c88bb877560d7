"""Coordinator: consumer-group state shared by the embedded client and the broker.

- `group`: the group coordinator: classic groups (JoinGroup/SyncGroup), committed offsets,
  the admin APIs; it owns the consumer-group part:
- `consumer_group`: the consumer group protocol of KIP-848 (ConsumerGroupHeartbeat), with
- `assignors`: the server-side assignors ``uniform`` and ``range``;
- `offsets`: committed offsets stored in the internal topic ``__consumer_offsets``,
  in Kafka's own record format (OffsetCommitKey / OffsetCommitValue), beside
- `records`: the groups' own records there (GroupMetadata, ConsumerGroup*).

See docs/groups.md.
"""
