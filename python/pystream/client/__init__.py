"""The embedded client: topics, producer and consumer in one process, no server.

    import pystream
    with pystream.open("./data") as store:
        store.create_topic("events", partitions=3)
        producer = store.producer()
        producer.send("events", b"hello", key=b"user-1")
        for rec in store.consumer("events", group="g", consumer_timeout_ms=100):
            print(rec.partition, rec.offset, rec.value)
"""

from pystream.client.consumer import Consumer
from pystream.client.producer import Producer
from pystream.client.store import Store, open
from pystream.client.types import ConsumerRecord, RecordMetadata, TopicDescription, TopicPartition
from pystream.coordinator.offsets import OffsetAndMetadata
from pystream.errors import (
    ClientClosedError,
    NoOffsetForPartitionError,
    RecordTooLargeError,
    TopicExistsError,
    UnknownPartitionError,
    UnknownTopicError,
)

__all__ = [
    "ClientClosedError",
    "Consumer",
    "ConsumerRecord",
    "NoOffsetForPartitionError",
    "OffsetAndMetadata",
    "Producer",
    "RecordMetadata",
    "RecordTooLargeError",
    "Store",
    "TopicDescription",
    "TopicExistsError",
    "TopicPartition",
    "UnknownPartitionError",
    "UnknownTopicError",
    "open",
]
