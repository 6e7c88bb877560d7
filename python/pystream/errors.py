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
