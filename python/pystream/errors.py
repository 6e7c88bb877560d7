"""Exceptions raised by pystream. The Rust core (`pystream._core`) raises these same classes."""


class PystreamError(Exception):
    """Base class of every pystream error."""


class CorruptRecordError(PystreamError, ValueError):
    """A record batch failed validation (length, magic, CRC32C, record count, offsets)."""


class OffsetOutOfRangeError(PystreamError, IndexError):
    """An offset below the log start offset or above the log end offset was requested."""


class LogDirectoryError(PystreamError, OSError):
    """A path is not a usable partition-log directory (or is locked by another writer)."""


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


class SecurityConfigError(PystreamError, ValueError):
    """A security setting (listeners, TLS, SASL, ACLs, quotas) the broker or client cannot use."""


class AuthenticationError(PystreamError):
    """Authentication failed (Kafka: SASL_AUTHENTICATION_FAILED, SslAuthenticationException)."""
