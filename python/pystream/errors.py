"""Exceptions raised by pystream. The Rust core (`pystream._core`) raises these same classes."""


class PystreamError(Exception):
    """Base class of every pystream error."""


class CorruptRecordError(PystreamError, ValueError):
    """A record batch failed validation (length, magic, CRC32C, record count, offsets).

    When the bad bytes were met in a segment file (a read, a verification),
    ``path`` names the file, ``position`` the byte position of the batch in it
    and ``offset`` its base offset (or the offset expected there when its
    header is unreadable); otherwise they are None (bad input to an append).
    The broker answers it with CORRUPT_MESSAGE or KAFKA_STORAGE_ERROR.
    """

    path: str | None = None
    position: int | None = None
    offset: int | None = None


class OffsetOutOfRangeError(PystreamError, IndexError):
    """An offset below the log start offset or above the log end offset was requested."""


class LogDirectoryError(PystreamError, OSError):
    """A path is not a usable partition-log directory (or is locked by another writer)."""


class StorageError(PystreamError, OSError):
    """An I/O error on a partition log's files (Kafka: KAFKA_STORAGE_ERROR).

    ``errno`` is the OS error (ENOSPC for a full disk), ``filename`` the
    partition directory; the message names the file and what was being done.
    """


class LogWriteError(StorageError):
    """An append, flush or close could not write (a full disk, say). It had no
    effect: the log is exactly as before the call (end offset, files, indexes)
    and no byte of it is written later. Retrying the call once space is back
    appends at the offsets it would have had."""


class LogClosedError(PystreamError, ValueError):
    """The log was used after close()."""


class TopicExistsError(PystreamError, ValueError):
    """create_topic of a topic that exists (Kafka: TOPIC_ALREADY_EXISTS)."""


class UnknownTopicError(PystreamError, LookupError):
    """A topic that does not exist (Kafka: UNKNOWN_TOPIC_OR_PARTITION)."""


class UnknownPartitionError(UnknownTopicError):
    """A partition number outside [0, partitions) of an existing topic."""


class RecordTooLargeError(PystreamError, ValueError):
    """A record larger than the topic's max.message.bytes (Kafka: MESSAGE_TOO_LARGE)."""


class ClientClosedError(PystreamError, ValueError):
    """A store, producer or consumer used after close()."""


class NoOffsetForPartitionError(PystreamError):
    """No committed offset and auto_offset_reset="none" (Kafka: NoOffsetForPartitionException)."""


class InvalidConfigError(PystreamError, ValueError):
    """A config key or value Kafka refuses (Kafka: INVALID_CONFIG); the message names the key and why."""


class SecurityConfigError(InvalidConfigError):
    """A security setting (listeners, TLS, SASL, ACLs, quotas) the broker or client cannot use."""


class AuthenticationError(PystreamError):
    """Authentication failed (Kafka: SASL_AUTHENTICATION_FAILED, SslAuthenticationException)."""


class InvalidRecordError(PystreamError, ValueError):
    """A record the topic refuses, such as one without a key for a compacted topic (Kafka: INVALID_RECORD)."""
