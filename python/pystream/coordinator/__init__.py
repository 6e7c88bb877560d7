"""Coordinator: consumer-group state shared by the embedded client and the broker.

- `offsets`: committed offsets stored in the internal topic ``__consumer_offsets``,
  in Kafka's own record format (OffsetCommitKey / OffsetCommitValue).
"""
