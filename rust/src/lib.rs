//! pystream's storage core: Kafka RecordBatch codec, segments, indexes and
//! the partition log, exposed to Python as `pystream._core`.

pub mod batch;
pub mod bigvec;
pub mod cleaner;
pub mod compression;
pub mod crc;
pub mod error;
pub mod index;
pub mod log;
mod python;
pub mod segment;
pub mod varint;
