//! Error type of the storage core. The Python bindings map each variant to a
//! class of `pystream.errors`.

use std::io;

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
