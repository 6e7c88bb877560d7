//! Error type of the storage core. The Python bindings map each variant to a
//! class of `pystream.errors`.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A batch failed validation: bad length, magic, CRC32C, count or offsets.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    OffsetOutOfRange(String),
    /// The path is not a usable log directory.
    #[error("{0}")]
    Directory(String),
    #[error("the log is closed")]
    Closed,
    /// A bad argument from the caller.
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// Bytes of a segment file that are not a valid batch, met by a read.
    #[error("{}: invalid record batch at position {position} (offset {offset}): {reason}", path.display())]
    CorruptData {
        path: PathBuf,
        position: u64,
        /// The batch's base offset when its header is readable, else the offset expected there.
        offset: i64,
        reason: String,
    },
}

pub type Result<T> = std::result::Result<T, LogError>;

/// Adds "what we were doing" to an `io::Error`.
pub trait IoContext<T> {
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|source| LogError::Io {
            context: what(),
            source,
        })
    }
}
