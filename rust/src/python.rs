//! PyO3 bindings: `pystream._core`. Python objects are built here and only
//! here; the storage modules know nothing of Python.
//!
//! Locking: each log sits behind a mutex. A thread waits for the mutex
//! without the GIL (`PyPartitionLog::lock`), so the thread holding the mutex
//! may take the GIL (`append_batch` reads Python values while holding it).
//! File I/O, CRC and compression run with the GIL released (`py.detach`).
//! Warnings of the storage core are logged on `pystream.storage` once the
//! mutex is released.

use crate::batch::{self, BatchHeader, PendingBatch};
use crate::bigvec::BigVec;
use crate::cleaner;
use crate::compression::Codec;
use crate::error::LogError;
use crate::log::{self as plog, BatchRef, LogConfig, PartitionLog};
use crate::segment::MappedFile;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyOSError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, TryLockError};

fn py_error(py: Python<'_>, e: LogError) -> PyErr {
    py_error_at(py, e, None, false)
}

/// The `pystream.errors` exception for `e`. I/O errors become `StorageError`
/// (`LogWriteError` when `write`: a write that was undone) with the OS errno
/// and `filename` = the partition directory `dir`.
fn py_error_at(py: Python<'_>, e: LogError, dir: Option<&std::path::Path>, write: bool) -> PyErr {
    let errors = match py.import("pystream.errors") {
        Ok(m) => m,
        Err(import_failed) => return import_failed,
    };
    let made = match e {
        LogError::Invalid(m) => return PyValueError::new_err(m),
        LogError::Io { context, source } => {
            let errno = source.raw_os_error().unwrap_or(libc::EIO);
            let (class, msg) = if write {
                ("LogWriteError", format!("{context}: {source}; the call was undone, the log is as before it"))
            } else {
                ("StorageError", format!("{context}: {source}"))
            };
            let filename = dir.map(|d| d.display().to_string());
            errors.getattr(class).and_then(|c| c.call1((errno, msg, filename)))
        }
        LogError::CorruptData { ref path, position, offset, .. } => {
            errors.getattr("CorruptRecordError").and_then(|c| {
                let inst = c.call1((e.to_string(),))?;
                inst.setattr("path", path.display().to_string())?;
                inst.setattr("position", position)?;
                inst.setattr("offset", offset)?;
                Ok(inst)
            })
        }
        other => {
            let class = match &other {
                LogError::Corrupt(_) => "CorruptRecordError",
                LogError::OffsetOutOfRange(_) => "OffsetOutOfRangeError",
                LogError::Directory(_) => "LogDirectoryError",
                _ => "LogClosedError",
            };
            errors.getattr(class).and_then(|c| c.call1((other.to_string(),)))
        }
    };
    match made {
        Ok(inst) => PyErr::from_value(inst),
        Err(failed) => failed,
    }
}

/// Logs warnings of the storage core on the `pystream.storage` logger.
fn log_warnings(py: Python<'_>, warnings: Vec<String>) {
    if warnings.is_empty() {
        return;
    }
    if let Ok(logger) = py
        .import("logging")
        .and_then(|m| m.call_method1("getLogger", ("pystream.storage",)))
    {
        for w in warnings {
            let _ = logger.call_method1("warning", ("%s", w));
        }
    }
}

/// Borrowed bytes of a `bytes` object or of any C-contiguous byte buffer.
enum ByteArg<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(PyBuffer<u8>),
}

impl ByteArg<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            ByteArg::Bytes(b) => b.as_bytes(),
            // SAFETY: the buffer is C-contiguous u8 and held for our lifetime.
            ByteArg::Buffer(b) => unsafe {
                std::slice::from_raw_parts(b.buf_ptr() as *const u8, b.len_bytes())
            },
        }
    }
}

fn byte_arg<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<ByteArg<'py>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(ByteArg::Bytes(b.clone()));
    }
    let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{what} must be bytes-like or None, not {ty}"))
    })?;
    if !buf.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{what} must be a C-contiguous buffer"
        )));
    }
    Ok(ByteArg::Buffer(buf))
}

fn opt_byte_arg<'py>(
    obj: Option<&Bound<'py, PyAny>>,
    what: &str,
) -> PyResult<Option<ByteArg<'py>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => byte_arg(o, what).map(Some),
    }
}

/// Headers as `(str key, bytes-like | None)` pairs.
fn header_args<'py>(
    headers: Option<&Bound<'py, PyAny>>,
) -> PyResult<Vec<(String, Option<ByteArg<'py>>)>> {
    let mut out = Vec::new();
    let Some(h) = headers else { return Ok(out) };
    if h.is_none() {
        return Ok(out);
    }
    for item in h.try_iter()? {
        let item = item?;
        let (k, v): (Bound<PyAny>, Bound<PyAny>) = item.extract().map_err(|_| {
            PyTypeError::new_err("headers must be a sequence of (str, bytes | None) pairs")
        })?;
        let key = match k.cast::<PyString>() {
            Ok(s) => s.to_str()?.to_owned(),
            Err(_) => String::from_utf8(byte_arg(&k, "header key")?.as_slice().to_vec())
                .map_err(|_| PyValueError::new_err("header keys must be UTF-8"))?,
        };
        out.push((key, opt_byte_arg(Some(&v), "header value")?));
    }
    Ok(out)
}

/// A read-only, zero-copy view of bytes in a segment file mapping.
#[pyclass(frozen, module = "pystream._core")]
pub struct MappedSlice {
    map: MappedFile,
    start: usize,
    len: isize,
}

/// An owned column of a `read_columns` result (`B` bytes, `i` int32 or `q` int64).
#[pyclass(frozen, module = "pystream._core")]
pub struct ColumnBuffer {
    data: Column,
    shape: isize,
    itemsize: isize,
}

enum Column {
    U8(BigVec<u8>),
    I32(BigVec<i32>),
    I64(BigVec<i64>),
}

impl ColumnBuffer {
    fn u8(v: BigVec<u8>) -> ColumnBuffer {
        ColumnBuffer {
            shape: v.len() as isize,
            itemsize: 1,
            data: Column::U8(v),
        }
    }
    fn i32(v: BigVec<i32>) -> ColumnBuffer {
        ColumnBuffer {
            shape: v.len() as isize,
            itemsize: 4,
            data: Column::I32(v),
        }
    }
    fn i64(v: BigVec<i64>) -> ColumnBuffer {
        ColumnBuffer {
            shape: v.len() as isize,
            itemsize: 8,
            data: Column::I64(v),
        }
    }
}

/// Fills a 1-D read-only buffer view; `shape` and `itemsize` live in `owner`.
unsafe fn fill_view(
    view: *mut ffi::Py_buffer,
    flags: c_int,
    owner: Bound<'_, PyAny>,
    ptr: *const u8,
    items: &isize,
    itemsize: &isize,
    format: &'static CStr,
) -> PyResult<()> {
    if view.is_null() {
        return Err(PyBufferError::new_err("view is null"));
    }
    if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
        return Err(PyBufferError::new_err("pystream buffers are read-only"));
    }
    unsafe {
        (*view).obj = owner.into_ptr();
        (*view).buf = ptr as *mut c_void;
        (*view).len = items * itemsize;
        (*view).readonly = 1;
        (*view).itemsize = *itemsize;
        (*view).format = if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT {
            format.as_ptr() as *mut c_char
        } else {
            std::ptr::null_mut()
        };
        (*view).ndim = 1;
        (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
            items as *const isize as *mut isize
        } else {
            std::ptr::null_mut()
        };
        (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
            itemsize as *const isize as *mut isize
        } else {
            std::ptr::null_mut()
        };
        (*view).suboffsets = std::ptr::null_mut();
        (*view).internal = std::ptr::null_mut();
    }
    Ok(())
}

static ONE: isize = 1;

#[pymethods]
impl MappedSlice {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let me = slf.get();
        let ptr = me.map[me.start..].as_ptr();
        let len: *const isize = &me.len;
        // SAFETY: `len` points into the frozen object that the view keeps alive.
        unsafe { fill_view(view, flags, slf.clone().into_any(), ptr, &*len, &ONE, c"B") }
    }
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
    fn __len__(&self) -> usize {
        self.len as usize
    }
}

#[pymethods]
impl ColumnBuffer {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let me = slf.get();
        let (ptr, fmt) = match &me.data {
            Column::U8(v) => (v.as_ptr(), c"B"),
            Column::I32(v) => (v.as_ptr(), c"i"),
            Column::I64(v) => (v.as_ptr(), c"q"),
        };
        let (shape, itemsize): (*const isize, *const isize) = (&me.shape, &me.itemsize);
        // SAFETY: both point into the frozen object that the view keeps alive.
        unsafe {
            fill_view(
                view,
                flags,
                slf.clone().into_any(),
                ptr,
                &*shape,
                &*itemsize,
                fmt,
            )
        }
    }
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
    fn __len__(&self) -> usize {
        self.shape as usize
    }
}

/// One record of a partition. Compares equal to a Record or a 5-tuple
/// `(offset, timestamp, key, value, headers)`.
#[pyclass(frozen, module = "pystream._core", get_all)]
pub struct Record {
    offset: i64,
    timestamp: i64,
    key: Option<Py<PyBytes>>,
    value: Option<Py<PyBytes>>,
    headers: Py<PyTuple>,
}

#[pymethods]
impl Record {
    #[new]
    #[pyo3(signature = (offset, timestamp, key=None, value=None, headers=None))]
    fn new(
        py: Python<'_>,
        offset: i64,
        timestamp: i64,
        key: Option<Py<PyBytes>>,
        value: Option<Py<PyBytes>>,
        headers: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Record> {
        let headers = match headers {
            None => PyTuple::empty(py).unbind(),
            Some(h) => PyTuple::new(py, h.try_iter()?.collect::<PyResult<Vec<_>>>()?)?.unbind(),
        };
        Ok(Record {
            offset,
            timestamp,
            key,
            value,
            headers,
        })
    }

    fn as_tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            [
                self.offset.into_pyobject(py)?.into_any(),
                self.timestamp.into_pyobject(py)?.into_any(),
                self.key
                    .as_ref()
                    .map(|k| k.clone_ref(py))
                    .into_pyobject(py)?
                    .into_any(),
                self.value
                    .as_ref()
                    .map(|k| k.clone_ref(py))
                    .into_pyobject(py)?
                    .into_any(),
                self.headers.clone_ref(py).into_bound(py).into_any(),
            ],
        )
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let mine = self.as_tuple(py)?;
        if let Ok(r) = other.cast::<Record>() {
            return mine.eq(r.get().as_tuple(py)?);
        }
        if let Ok(t) = other.cast::<PyTuple>() {
            if t.len() == 5 {
                let theirs = PyTuple::new(
                    py,
                    [
                        t.get_item(0)?,
                        t.get_item(1)?,
                        t.get_item(2)?,
                        t.get_item(3)?,
                        PyTuple::new(
                            py,
                            t.get_item(4)?.try_iter()?.collect::<PyResult<Vec<_>>>()?,
                        )?
                        .into_any(),
                    ],
                )?;
                return mine.eq(theirs);
            }
        }
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Record(offset={}, timestamp={}, key={}, value={}, headers={})",
            self.offset,
            self.timestamp,
            self.key.as_ref().map_or(Ok("None".to_string()), |k| k
                .bind(py)
                .repr()
                .map(|r| r.to_string()))?,
            self.value.as_ref().map_or(Ok("None".to_string()), |v| v
                .bind(py)
                .repr()
                .map(|r| r.to_string()))?,
            self.headers.bind(py).repr()?
        ))
    }
}

/// Pauses the cyclic GC while building many acyclic objects (Records hold
/// only ints, bytes and tuples of those): otherwise each 700 allocations start
/// a collection that walks every young object. Restores the previous state.
struct GcPause(bool);

impl GcPause {
    fn new() -> GcPause {
        // SAFETY: called with the GIL held.
        GcPause(unsafe { ffi::PyGC_Disable() } == 1)
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: dropped with the GIL held (lives inside a GIL-holding method).
            unsafe { ffi::PyGC_Enable() };
        }
    }
}

/// A Python `Record` for a decoded record whose parts are ranges of `d`.
fn new_record<'py>(py: Python<'py>, r: &batch::RecordRef, d: &[u8], empty: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, Record>> {
    let bytes = |range: Option<(usize, usize)>| range.map(|(s, e)| PyBytes::new(py, &d[s..e]).unbind());
    let headers = if r.headers.is_empty() {
        empty.clone().unbind()
    } else {
        let mut hs = Vec::with_capacity(r.headers.len());
        for (k, v) in &r.headers {
            let key = PyString::new(py, &String::from_utf8_lossy(&d[k.0..k.1]));
            hs.push(PyTuple::new(py, [key.into_any(), bytes(*v).into_pyobject(py)?.into_any()])?);
        }
        PyTuple::new(py, hs)?.unbind()
    };
    Bound::new(py, Record { offset: r.offset, timestamp: r.timestamp, key: bytes(r.key), value: bytes(r.value), headers })
}

/// Records section of a batch, decompressed off the GIL when compressed.
struct BatchData {
    batch: BatchRef,
    owned: Option<Vec<u8>>,
}

impl BatchData {
    fn records(&self) -> &[u8] {
        match &self.owned {
            Some(v) => v,
            None => &self.batch.bytes()[batch::HEADER_LEN..],
        }
    }
}

/// Checks (`verify_crc`) and decompresses the data batches (control batches skipped).
fn load_batches(batches: Vec<BatchRef>, verify_crc: bool) -> Result<Vec<BatchData>, LogError> {
    batches
        .into_iter()
        .filter(|b| !b.header.is_control())
        .map(|b| {
            if verify_crc {
                b.check_crc()?;
            }
            let owned = match batch::records_data(b.bytes(), &b.header).map_err(|e| b.corrupt(e))? {
                batch::RecordsData::Borrowed(_) => None,
                batch::RecordsData::Owned(v) => Some(v),
            };
            Ok(BatchData { batch: b, owned })
        })
        .collect()
}

/// A partition log: Kafka segments in one directory (see docs/storage.md).
#[pyclass(subclass, module = "pystream._core", name = "PartitionLog")]
pub struct PyPartitionLog {
    inner: Mutex<Option<PartitionLog>>,
    path: PathBuf,
}

impl PyPartitionLog {
    /// Locks the log. Waits for the mutex without the GIL: the thread holding
    /// the mutex may need the GIL back (after a `py.detach`) to finish.
    #[inline]
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Option<PartitionLog>> {
        loop {
            match self.inner.try_lock() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => py.detach(|| drop(self.inner.lock())),
            }
        }
    }

    fn error(&self, py: Python<'_>, e: LogError) -> PyErr {
        py_error_at(py, e, Some(&self.path), false)
    }

    fn write_error(&self, py: Python<'_>, e: LogError) -> PyErr {
        py_error_at(py, e, Some(&self.path), true)
    }

    /// Runs `f` on the open log (GIL held), then logs its warnings.
    fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut PartitionLog) -> Result<R, LogError>,
    ) -> PyResult<R> {
        let (r, warnings) = run_on(&mut self.lock(py), f);
        log_warnings(py, warnings);
        r.map_err(|e| self.error(py, e))
    }

    /// Runs `f` with the GIL released, then logs its warnings.
    fn detached<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut PartitionLog) -> Result<R, LogError> + Send,
    ) -> PyResult<R> {
        self.detached_raw(py, f).map_err(|e| self.error(py, e))
    }

    /// `detached` for a call that writes: an I/O error is a `LogWriteError`.
    fn detached_write<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut PartitionLog) -> Result<R, LogError> + Send,
    ) -> PyResult<R> {
        self.detached_raw(py, f).map_err(|e| self.write_error(py, e))
    }

    fn detached_raw<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut PartitionLog) -> Result<R, LogError> + Send,
    ) -> Result<R, LogError> {
        let (r, warnings) = py.detach(|| run_on(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()), f));
        log_warnings(py, warnings);
        r
    }
}

/// Runs `f` on the log in `slot` (LogClosedError once closed); hands back its warnings too.
fn run_on<R>(
    slot: &mut Option<PartitionLog>,
    f: impl FnOnce(&mut PartitionLog) -> Result<R, LogError>,
) -> (Result<R, LogError>, Vec<String>) {
    match slot.as_mut() {
        None => (Err(LogError::Closed), Vec::new()),
        Some(log) => {
            let r = f(log);
            (r, log.take_warnings())
        }
    }
}

/// Writes filled batches and applies the flush policy, inside an append step.
fn write_and_maybe_flush(log: &mut PartitionLog) -> Result<(), LogError> {
    log.write_full()?;
    if log.needs_flush() {
        log.flush()?;
    }
    Ok(())
}

/// Reads of at least this many bytes check CRCs on a second thread.
const PARALLEL_VERIFY_BYTES: usize = 4 << 20;

/// `append` and `append_batch` write out filled batches every this many.
const WRITE_EVERY_FULL_BATCHES: usize = 8;

fn now_or(ts: Option<i64>) -> i64 {
    ts.unwrap_or_else(plog::now_ms)
}

#[pymethods]
impl PyPartitionLog {
    #[new]
    #[pyo3(signature = (
        path, *, segment_bytes=1<<30, segment_ms=604_800_000, index_interval_bytes=4096,
        segment_index_bytes=10_485_760, retention_ms=604_800_000, retention_bytes=-1,
        flush_messages=None, flush_ms=None, batch_size=16384, compression_type="none", lock_dir=true
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        segment_bytes: u64,
        segment_ms: i64,
        index_interval_bytes: usize,
        segment_index_bytes: usize,
        retention_ms: i64,
        retention_bytes: i64,
        flush_messages: Option<u64>,
        flush_ms: Option<i64>,
        batch_size: usize,
        compression_type: &str,
        lock_dir: bool,
    ) -> PyResult<Self> {
        let config = LogConfig {
            lock_dir,
            segment_bytes,
            segment_ms,
            index_interval_bytes,
            segment_index_bytes,
            retention_ms,
            retention_bytes,
            flush_messages,
            flush_ms,
            batch_size,
            compression: Codec::from_name(compression_type).map_err(|e| py_error(py, e))?,
        };
        let p = path.clone();
        let log = py
            .detach(move || PartitionLog::open(&p, config))
            .map_err(|e| py_error(py, e))?;
        Ok(PyPartitionLog {
            inner: Mutex::new(Some(log)),
            path,
        })
    }

    /// Changes configuration of the open log; arguments left None keep their value.
    #[pyo3(signature = (*, segment_bytes=None, segment_ms=None, index_interval_bytes=None, retention_ms=None,
                        retention_bytes=None, flush_messages=None, flush_ms=None, batch_size=None, compression_type=None))]
    #[allow(clippy::too_many_arguments)]
    fn reconfigure(
        &self,
        py: Python<'_>,
        segment_bytes: Option<u64>,
        segment_ms: Option<i64>,
        index_interval_bytes: Option<usize>,
        retention_ms: Option<i64>,
        retention_bytes: Option<i64>,
        flush_messages: Option<i64>,
        flush_ms: Option<i64>,
        batch_size: Option<usize>,
        compression_type: Option<&str>,
    ) -> PyResult<()> {
        let codec = compression_type
            .map(Codec::from_name)
            .transpose()
            .map_err(|e| py_error(py, e))?;
        if segment_bytes.is_some_and(|b| b < 64) || batch_size == Some(0) {
            return Err(PyValueError::new_err(
                "segment_bytes must be >= 64 and batch_size positive",
            ));
        }
        self.with(py, |log| {
            log.seal()?;
            let c = &mut log.config;
            if let Some(v) = segment_bytes {
                c.segment_bytes = v;
            }
            if let Some(v) = segment_ms {
                c.segment_ms = v;
            }
            if let Some(v) = index_interval_bytes {
                c.index_interval_bytes = v;
            }
            if let Some(v) = retention_ms {
                c.retention_ms = v;
            }
            if let Some(v) = retention_bytes {
                c.retention_bytes = v;
            }
            // A negative flush setting turns the policy off.
            if let Some(v) = flush_messages {
                c.flush_messages = (v >= 0).then_some(v as u64);
            }
            if let Some(v) = flush_ms {
                c.flush_ms = (v >= 0).then_some(v);
            }
            if let Some(v) = batch_size {
                c.batch_size = v;
            }
            if let Some(v) = codec {
                c.compression = v;
            }
            Ok(())
        })
    }

    /// Appends one record; returns its offset.
    #[pyo3(signature = (value, key=None, headers=None, timestamp_ms=None))]
    fn append(
        &self,
        py: Python<'_>,
        value: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timestamp_ms: Option<i64>,
    ) -> PyResult<i64> {
        let value = opt_byte_arg(value, "value")?;
        let key = opt_byte_arg(key, "key")?;
        let headers = header_args(headers)?;
        let hdrs: Vec<batch::Header> = headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_ref().map(|b| b.as_slice())))
            .collect();
        let ts = now_or(timestamp_ms);
        let (r, warnings) = {
            let mut guard = self.lock(py);
            let Some(log) = guard.as_mut() else {
                return Err(py_error(py, LogError::Closed));
            };
            let (key, value) = (key.as_ref().map(|k| k.as_slice()), value.as_ref().map(|v| v.as_slice()));
            // Filled batches are written a few at a time (one write per batch would
            // cost a system call per batch_size bytes). A call that may write is one
            // atomic step: on failure its record is not in the log. The others only
            // add to the pending batch, which cannot fail.
            let may_write = log.full_batches() + 1 >= WRITE_EVERY_FULL_BATCHES || log.needs_flush_after(1);
            let r = if !may_write {
                Ok(log.add_record(ts, key, value, &hdrs))
            } else {
                log.begin().and_then(|()| {
                    let off = log.add_record(ts, key, value, &hdrs);
                    if log.full_batches() >= WRITE_EVERY_FULL_BATCHES || log.needs_flush() {
                        py.detach(|| {
                            let r = write_and_maybe_flush(log).map(|()| off);
                            log.end(r)
                        })
                    } else {
                        log.end(Ok(off))
                    }
                })
            };
            (r, log.take_warnings())
        };
        log_warnings(py, warnings);
        r.map_err(|e| self.write_error(py, e))
    }

    /// Appends many values (bytes-like objects, or the rows of a 2-D uint8
    /// array) with one timestamp; returns the first offset.
    #[pyo3(signature = (values, keys=None, timestamp_ms=None))]
    fn append_batch(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyAny>>,
        timestamp_ms: Option<i64>,
    ) -> PyResult<i64> {
        let ts = now_or(timestamp_ms);
        let values = rows(values, "values")?;
        let keys = match keys {
            Some(k) if !k.is_none() => Some(rows(k, "keys")?),
            _ => None,
        };
        if let Some(k) = &keys {
            if k.len() != values.len() {
                return Err(PyValueError::new_err(format!(
                    "{} keys for {} values",
                    k.len(),
                    values.len()
                )));
            }
        }
        // Check every item first, so that bad input appends nothing.
        for i in 0..values.len() {
            values.check(i)?;
            if let Some(k) = &keys {
                k.check(i)?;
            }
        }
        let mut guard = self.lock(py);
        let log = guard
            .as_mut()
            .ok_or(LogError::Closed)
            .map_err(|e| py_error(py, e))?;
        // One atomic step: on any failure none of the values is in the log.
        log.begin().map_err(|e| self.write_error(py, e))?;
        let first = log.next_offset();
        let mut py_err = None;
        let mut r: Result<(), LogError> = Ok(());
        for i in 0..values.len() {
            let added = match &keys {
                None => values.with(i, |v| log.add_record(ts, None, v, &[])),
                Some(k) => k
                    .with(i, |key| values.with(i, |v| log.add_record(ts, key, v, &[])))
                    .and_then(|x| x),
            };
            if let Err(e) = added {
                py_err = Some(e);
                r = Err(LogError::Invalid("a value could not be read".into()));
                break;
            }
            // Write filled batches as we go (GIL released): memory stays bounded
            // and their buffers are recycled while still hot in cache.
            if log.full_batches() >= WRITE_EVERY_FULL_BATCHES {
                if let Err(e) = py.detach(|| log.write_full()) {
                    r = Err(e);
                    break;
                }
            }
        }
        let r = py.detach(|| {
            let r = r.and_then(|()| write_and_maybe_flush(log));
            log.end(r)
        });
        let warnings = log.take_warnings();
        drop(guard);
        log_warnings(py, warnings);
        if let Some(e) = py_err {
            return Err(e);
        }
        r.map_err(|e| self.write_error(py, e))?;
        Ok(first)
    }

    /// Appends RecordBatches as they come off the wire; returns the first offset.
    /// Invalid input raises CorruptRecordError and leaves the log unchanged.
    #[pyo3(signature = (batches, *, assign_offsets=true))]
    fn append_raw(
        &self,
        py: Python<'_>,
        batches: &Bound<'_, PyAny>,
        assign_offsets: bool,
    ) -> PyResult<i64> {
        let arg = byte_arg(batches, "batches")?;
        let data = arg.as_slice();
        // SAFETY-free trick avoided: copy the slice pointer across the detach as usize.
        let (ptr, len) = (data.as_ptr() as usize, data.len());
        let (first, _) = self.detached_write(py, move |log| {
            // SAFETY: `arg` (bytes or a held buffer export) outlives this call.
            let data = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
            // One atomic step with the flush policy's flush: an error means
            // nothing of this call is in the log.
            log.begin()?;
            let r = log.append_raw(data, assign_offsets).and_then(|r| {
                if log.needs_flush() {
                    log.flush()?;
                }
                Ok(r)
            });
            log.end(r)
        })?;
        drop(arg);
        Ok(first)
    }

    /// Whole batches from the one holding `offset`, as a zero-copy memoryview.
    /// Only well-framed batches with a valid CRC32C (each batch's CRC is
    /// checked once, then remembered; `verify_crc=False` checks framing only,
    /// as Kafka's fetch does): the range stops before the first bad batch, and
    /// CorruptRecordError is raised when that is the first one.
    #[pyo3(signature = (offset, max_bytes=1<<20, max_offset=None, *, verify_crc=true))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
        verify_crc: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let slice = self.detached(py, |log| log.read(offset, max_bytes, max_offset, verify_crc))?;
        let obj = match slice {
            Some(s) => MappedSlice {
                map: s.map,
                start: s.position,
                len: s.len as isize,
            },
            None => MappedSlice {
                map: MappedFile::empty(),
                start: 0,
                len: 0,
            },
        };
        let obj = Bound::new(py, obj)?;
        Ok(pyo3::types::PyMemoryView::from(obj.as_any())?.into_any())
    }

    /// The same range as `read`, as `(path, position, length)` for sendfile, or None.
    #[pyo3(signature = (offset, max_bytes=1<<20, max_offset=None, *, verify_crc=true))]
    fn read_file_range(
        &self,
        py: Python<'_>,
        offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
        verify_crc: bool,
    ) -> PyResult<Option<(PathBuf, usize, usize)>> {
        let slice = self.detached(py, |log| log.read(offset, max_bytes, max_offset, verify_crc))?;
        Ok(slice.map(|s| (s.path, s.position, s.len)))
    }

    /// Records from `offset` on, across segments (control batches skipped).
    /// Each batch's CRC32C is checked unless `verify_crc=False` (Kafka's
    /// consumer `check.crcs`): CorruptRecordError names the file and offset.
    #[pyo3(signature = (offset, max_records=None, max_offset=None, *, verify_crc=true))]
    fn records<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        max_records: Option<u64>,
        max_offset: Option<i64>,
        verify_crc: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let data = self.detached(py, |log| {
            load_batches(log.batches(offset, max_records, max_offset)?, verify_crc)
        })?;
        let limit = max_records.unwrap_or(u64::MAX) as usize;
        let upto = max_offset.unwrap_or(i64::MAX);
        let out = PyList::empty(py);
        let empty = PyTuple::empty(py);
        let mut count = 0usize;
        let _gc = GcPause::new();
        for bd in &data {
            let h: &BatchHeader = &bd.batch.header;
            let mut err = None;
            batch::for_each_record(bd.records(), h, |r, d| {
                if r.offset < offset {
                    return true;
                }
                if count >= limit || r.offset >= upto {
                    return false;
                }
                let made = new_record(py, r, d, &empty).and_then(|rec| out.append(rec));
                match made {
                    Ok(()) => {
                        count += 1;
                        true
                    }
                    Err(e) => {
                        err = Some(e);
                        false
                    }
                }
            })
            .map_err(|e| self.error(py, bd.batch.corrupt(e)))?;
            if let Some(e) = err {
                return Err(e);
            }
            if count >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Columnar read: `(offsets, timestamps, key_starts, key_lengths, keys,
    /// value_starts, value_lengths, values)`. Lengths are -1 for null. When
    /// the records lie uncompressed in one stretch of one segment, `keys` and
    /// `values` are that stretch of the file mapping itself (zero-copy);
    /// otherwise they are packed copies.
    #[pyo3(signature = (offset, max_records=None, max_offset=None, *, verify_crc=true))]
    fn _read_columns<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        max_records: Option<u64>,
        max_offset: Option<i64>,
        verify_crc: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let limit = max_records.unwrap_or(u64::MAX) as usize;
        let upto = max_offset.unwrap_or(i64::MAX);
        let cols = self.detached(py, move |log| {
            // CRCs are checked batch by batch just before decoding (below): the
            // decoding then reads bytes the check left in the cache.
            let data = load_batches(log.batches(offset, max_records, max_offset)?, false)?;
            let est: usize = data
                .iter()
                .map(|b| b.batch.header.record_count.max(0) as usize)
                .sum::<usize>()
                .min(limit);
            let zero_copy = data.iter().all(|b| b.owned.is_none())
                && data.windows(2).all(|w| {
                    w[0].batch.map.as_ptr() == w[1].batch.map.as_ptr()
                        && w[0].batch.pos + w[0].batch.header.size() == w[1].batch.pos
                });
            let alloc = |e: std::io::Error| LogError::Io {
                context: "cannot allocate column buffers".into(),
                source: e,
            };
            let packed_bytes = if zero_copy {
                0
            } else {
                data.iter().map(|b| b.records().len()).sum()
            };
            let mut c = Columns {
                offsets: BigVec::with_capacity(est).map_err(alloc)?,
                timestamps: BigVec::with_capacity(est).map_err(alloc)?,
                key_starts: BigVec::with_capacity(est).map_err(alloc)?,
                key_lengths: BigVec::with_capacity(est).map_err(alloc)?,
                value_starts: BigVec::with_capacity(est).map_err(alloc)?,
                value_lengths: BigVec::with_capacity(est).map_err(alloc)?,
                keys: BigVec::with_capacity(packed_bytes).map_err(alloc)?,
                values: BigVec::with_capacity(packed_bytes).map_err(alloc)?,
                region: None,
            };
            let region_start = data.first().map_or(0, |b| b.batch.pos);
            // A large read checks CRCs on a second thread while this one decodes.
            let total: usize = data.iter().map(|b| b.batch.header.size()).sum();
            let parallel = verify_crc && total >= PARALLEL_VERIFY_BYTES;
            std::thread::scope(|scope| -> Result<(), LogError> {
                let checker = parallel.then(|| scope.spawn(|| data.iter().try_for_each(|b| b.batch.check_crc())));
                let mut decode = || -> Result<(), LogError> {
                    for bd in &data {
                        // Position of this batch's records section within the region.
                        let base = bd.batch.pos + batch::HEADER_LEN - region_start;
                        if verify_crc && !parallel {
                            bd.batch.check_crc()?;
                        }
                        batch::for_each_record(bd.records(), &bd.batch.header, |r, d| {
                            if r.offset < offset {
                                return true;
                            }
                            if c.offsets.len() >= limit || r.offset >= upto {
                                return false;
                            }
                            c.offsets.push(r.offset);
                            c.timestamps.push(r.timestamp);
                            for (field, starts, lengths, packed) in [
                                (r.key, &mut c.key_starts, &mut c.key_lengths, &mut c.keys),
                                (
                                    r.value,
                                    &mut c.value_starts,
                                    &mut c.value_lengths,
                                    &mut c.values,
                                ),
                            ] {
                                match field {
                                    None => {
                                        starts.push(0);
                                        lengths.push(-1);
                                    }
                                    Some((s, e)) if zero_copy => {
                                        starts.push((base + s) as i64);
                                        lengths.push((e - s) as i32);
                                    }
                                    Some((s, e)) => {
                                        starts.push(packed.len() as i64);
                                        lengths.push((e - s) as i32);
                                        packed.extend_from_slice(&d[s..e]);
                                    }
                                }
                            }
                            true
                        })
                        .map_err(|e| bd.batch.corrupt(e))?;
                        if c.offsets.len() >= limit {
                            break;
                        }
                    }
                    Ok(())
                };
                let decoded = decode();
                let checked = match checker {
                    Some(h) => h.join().unwrap_or_else(|_| Err(LogError::Invalid("CRC check failed".into()))),
                    None => Ok(()),
                };
                // A CRC failure names the first damaged batch; a decoding error may come later.
                checked.and(decoded)
            })?;
            if zero_copy {
                if let (Some(first), Some(last)) = (data.first(), data.last()) {
                    let end = last.batch.pos + last.batch.header.size();
                    c.region = Some((first.batch.map.clone(), region_start, end - region_start));
                }
            }
            Ok(c)
        })?;
        let (keys, values) = match cols.region {
            Some((map, start, len)) => {
                let region = Bound::new(
                    py,
                    MappedSlice {
                        map,
                        start,
                        len: len as isize,
                    },
                )?
                .into_any();
                (region.clone(), region)
            }
            None => (
                Bound::new(py, ColumnBuffer::u8(cols.keys))?.into_any(),
                Bound::new(py, ColumnBuffer::u8(cols.values))?.into_any(),
            ),
        };
        let items: Vec<Bound<'py, PyAny>> = vec![
            Bound::new(py, ColumnBuffer::i64(cols.offsets))?.into_any(),
            Bound::new(py, ColumnBuffer::i64(cols.timestamps))?.into_any(),
            Bound::new(py, ColumnBuffer::i64(cols.key_starts))?.into_any(),
            Bound::new(py, ColumnBuffer::i32(cols.key_lengths))?.into_any(),
            keys,
            Bound::new(py, ColumnBuffer::i64(cols.value_starts))?.into_any(),
            Bound::new(py, ColumnBuffer::i32(cols.value_lengths))?.into_any(),
            values,
        ];
        PyTuple::new(py, items)
    }

    /// Headers of the batches from the one holding `offset` (no CRC check):
    /// `(base_offset, last_offset, producer_id, producer_epoch, base_sequence,
    /// record_count, max_timestamp, attributes)` tuples. For rebuilding
    /// producer state and for tools.
    #[pyo3(signature = (offset, max_batches=None))]
    fn scan_batches(
        &self,
        py: Python<'_>,
        offset: i64,
        max_batches: Option<usize>,
    ) -> PyResult<Vec<BatchSummary>> {
        self.detached(py, |log| {
            let mut out: Vec<BatchSummary> = log
                .batches(offset, None, None)?
                .iter()
                .map(|b| summary(&b.header))
                .collect();
            if let Some(n) = max_batches {
                out.truncate(n);
            }
            Ok(out)
        })
    }

    /// First offset whose timestamp is >= `timestamp_ms`, or None.
    fn offset_for_timestamp(&self, py: Python<'_>, timestamp_ms: i64) -> PyResult<Option<i64>> {
        self.detached(py, |log| log.offset_for_timestamp(timestamp_ms))
    }

    #[getter]
    fn start_offset(&self, py: Python<'_>) -> PyResult<i64> {
        self.with(py, |log| Ok(log.start_offset()))
    }
    #[getter]
    fn end_offset(&self, py: Python<'_>) -> PyResult<i64> {
        self.with(py, |log| Ok(log.next_offset()))
    }
    #[getter]
    fn recovery_point(&self, py: Python<'_>) -> PyResult<i64> {
        self.with(py, |log| Ok(log.recovery_point()))
    }
    #[getter]
    fn size_bytes(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |log| Ok(log.size_bytes()))
    }
    /// Leader epoch written into the batches this log assigns offsets to.
    #[getter]
    fn leader_epoch(&self, py: Python<'_>) -> PyResult<i32> {
        self.with(py, |log| Ok(log.leader_epoch))
    }
    #[setter]
    fn set_leader_epoch(&self, py: Python<'_>, epoch: i32) -> PyResult<()> {
        self.with(py, |log| {
            log.seal()?;
            log.leader_epoch = epoch;
            Ok(())
        })
    }
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }
    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().map(|g| g.is_none()).unwrap_or(true)
    }
    /// `(base_offset, size_bytes)` of each segment, oldest first.
    fn segments(&self, py: Python<'_>) -> PyResult<Vec<(i64, u64)>> {
        self.detached(py, |log| {
            log.seal_for_read();
            Ok(log.segment_info())
        })
    }
    /// Notes of what opening recovered or cut (emptied by the call).
    fn take_recovery_notes(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, |log| Ok(std::mem::take(&mut log.recovery_notes)))
    }

    /// Writes pending records and fsyncs; moves the recovery point to the end.
    /// With `fsync=False` the records are only handed to the OS (they survive
    /// a crash of the process, not of the machine) and the recovery point stays.
    #[pyo3(signature = (fsync=true))]
    fn flush(&self, py: Python<'_>, fsync: bool) -> PyResult<()> {
        self.detached_write(py, |log| if fsync { log.flush() } else { log.write_out() })
    }
    /// Flushes when `flush.messages` or `flush.ms` says so; returns whether it did.
    fn maybe_flush(&self, py: Python<'_>) -> PyResult<bool> {
        self.detached_write(py, |log| {
            if log.needs_flush() {
                log.flush()?;
                return Ok(true);
            }
            Ok(false)
        })
    }
    fn truncate_to(&self, py: Python<'_>, offset: i64) -> PyResult<()> {
        self.detached(py, |log| log.truncate_to(offset))
    }
    fn delete_records_before(&self, py: Python<'_>, offset: i64) -> PyResult<i64> {
        self.detached(py, |log| log.delete_records_before(offset))
    }
    /// Deletes every record; the log restarts, empty, at `offset` (start = end = `offset`).
    fn truncate_fully_and_start_at(&self, py: Python<'_>, offset: i64) -> PyResult<()> {
        self.detached(py, |log| log.truncate_fully_and_start_at(offset))
    }
    #[pyo3(signature = (now_ms=None))]
    fn enforce_retention(&self, py: Python<'_>, now_ms: Option<i64>) -> PyResult<usize> {
        let now = now_or(now_ms);
        self.detached(py, move |log| log.enforce_retention(now))
    }
    // ----- log compaction (cleaner.rs) -----

    /// The dirty section from the cleaner's checkpoint `first_dirty`:
    /// `(first_dirty, first_uncleanable, clean_bytes, cleanable_bytes, compaction_delay_ms)`.
    #[pyo3(signature = (first_dirty, *, upper_bound=None, now_ms=None, min_compaction_lag_ms=0, max_compaction_lag_ms=i64::MAX))]
    fn cleanable_section(
        &self,
        py: Python<'_>,
        first_dirty: i64,
        upper_bound: Option<i64>,
        now_ms: Option<i64>,
        min_compaction_lag_ms: i64,
        max_compaction_lag_ms: i64,
    ) -> PyResult<(i64, i64, u64, u64, i64)> {
        let now = now_or(now_ms);
        self.detached(py, |log| {
            let s = cleaner::cleanable(log, first_dirty, upper_bound.unwrap_or(i64::MAX), now, min_compaction_lag_ms, max_compaction_lag_ms)?;
            Ok((s.first_dirty, s.first_uncleanable, s.clean_bytes, s.cleanable_bytes, s.compaction_delay_ms))
        })
    }

    /// Cleans the log once (Kafka's log cleaner, see docs/storage.md) with the
    /// GIL released; the log stays readable and writable meanwhile. Returns
    /// the round's statistics; `end_offset` is the next checkpoint.
    #[pyo3(signature = (first_dirty, *, upper_bound=None, now_ms=None, min_compaction_lag_ms=0,
                        delete_retention_ms=86_400_000, producer_expiration_ms=86_400_000,
                        dedupe_buffer_bytes=134_217_728, load_factor=0.9, io_max_bytes_per_sec=f64::INFINITY))]
    #[allow(clippy::too_many_arguments)]
    fn clean<'py>(
        &self,
        py: Python<'py>,
        first_dirty: i64,
        upper_bound: Option<i64>,
        now_ms: Option<i64>,
        min_compaction_lag_ms: i64,
        delete_retention_ms: i64,
        producer_expiration_ms: i64,
        dedupe_buffer_bytes: usize,
        load_factor: f64,
        io_max_bytes_per_sec: f64,
    ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        if !(0.0..1.0).contains(&load_factor) || load_factor == 0.0 {
            return Err(PyValueError::new_err("load_factor must be in (0, 1)"));
        }
        let o = cleaner::CleanOptions {
            first_dirty,
            upper_bound: upper_bound.unwrap_or(i64::MAX),
            now_ms: now_or(now_ms),
            min_compaction_lag_ms,
            delete_retention_ms,
            producer_expiration_ms,
            dedupe_buffer_bytes,
            load_factor,
            io_max_bytes_per_sec,
        };
        let s = py.detach(|| cleaner::clean(&self.inner, &o)).map_err(|e| py_error(py, e))?;
        let d = pyo3::types::PyDict::new(py);
        d.set_item("first_dirty", s.first_dirty)?;
        d.set_item("end_offset", s.end_offset)?;
        d.set_item("first_uncleanable", s.first_uncleanable)?;
        d.set_item("bytes_read", s.bytes_read)?;
        d.set_item("bytes_written", s.bytes_written)?;
        d.set_item("records_read", s.records_read)?;
        d.set_item("records_written", s.records_written)?;
        d.set_item("map_bytes_read", s.map_bytes_read)?;
        d.set_item("map_records", s.map_records)?;
        d.set_item("map_keys", s.map_keys)?;
        d.set_item("buffer_utilization", s.buffer_utilization)?;
        d.set_item("segments_before", s.segments_before)?;
        d.set_item("segments_after", s.segments_after)?;
        d.set_item("groups_swapped", s.groups_swapped)?;
        d.set_item("next_delete_horizon", (s.next_delete_horizon != i64::MAX).then_some(s.next_delete_horizon))?;
        d.set_item("aborted", s.aborted)?;
        d.set_item("elapsed_s", s.elapsed_s)?;
        d.set_item("map_elapsed_s", s.map_elapsed_s)?;
        Ok(d)
    }

    /// Asks a `clean` of this log running in another thread to stop; whether one ran.
    fn abort_cleaning(&self) -> bool {
        cleaner::abort(&self.path)
    }

    /// Flushes, writes checkpoints and the clean-shutdown marker. Idempotent.
    /// When the flush fails (a full disk) LogWriteError is raised and the log
    /// stays open with nothing lost: free space and close again. Without room
    /// for the checkpoints the close succeeds with a warning (the next open
    /// recovers from the segments).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let (r, warnings) = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                None => (Ok(()), Vec::new()),
                Some(log) => {
                    let r = log.close();
                    let warnings = log.take_warnings();
                    if r.is_ok() {
                        *guard = None;
                    }
                    (r, warnings)
                }
            }
        });
        log_warnings(py, warnings);
        r.map_err(|e| self.write_error(py, e))
    }

    /// Fully checks every batch of every segment (framing, CRC32C, record
    /// framing, increasing offsets). Returns the first bad batch of each
    /// damaged segment as `(path, position, offset, reason)`; empty when all
    /// is well.
    fn verify(&self, py: Python<'_>) -> PyResult<Vec<(PathBuf, u64, i64, String)>> {
        self.detached(py, |log| {
            Ok(log
                .verify()?
                .into_iter()
                .map(|p| (p.path, p.position, p.offset, p.reason))
                .collect())
        })
    }
}

struct Columns {
    offsets: BigVec<i64>,
    timestamps: BigVec<i64>,
    key_starts: BigVec<i64>,
    key_lengths: BigVec<i32>,
    value_starts: BigVec<i64>,
    value_lengths: BigVec<i32>,
    keys: BigVec<u8>,
    values: BigVec<u8>,
    /// Zero-copy case: (mapping, start, length) that starts index into.
    region: Option<(MappedFile, usize, usize)>,
}

/// Values given to `append_batch`: a sequence of bytes-like/None, or a 2-D byte array.
enum Rows<'py> {
    /// A list: items are read in place, bytes without any copy.
    List(Bound<'py, PyList>, usize),
    /// A tuple, likewise.
    Tuple(Bound<'py, PyTuple>, usize),
    Items(Vec<Option<ByteArg<'py>>>),
    Matrix {
        buf: PyBuffer<u8>,
        rows: usize,
        width: usize,
    },
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::List(_, n) | Rows::Tuple(_, n) => *n,
            Rows::Items(v) => v.len(),
            Rows::Matrix { rows, .. } => *rows,
        }
    }
    /// Checks that row `i` is bytes-like or None (cheaply for an exact `bytes`).
    #[inline]
    fn check(&self, i: usize) -> PyResult<()> {
        if let Rows::List(l, _) = self {
            // SAFETY: GIL held; a borrowed reference only compared, never kept.
            let item = unsafe { ffi::PyList_GetItem(l.as_ptr(), i as ffi::Py_ssize_t) };
            if !item.is_null() && unsafe { ffi::Py_TYPE(item) } == std::ptr::addr_of_mut!(ffi::PyBytes_Type) {
                return Ok(());
            }
        }
        self.with(i, |_| ())
    }

    /// Calls `f` with row `i` (None for a null).
    #[inline]
    fn with<R>(&self, i: usize, f: impl FnOnce(Option<&[u8]>) -> R) -> PyResult<R> {
        match self {
            Rows::List(..) | Rows::Tuple(..) => {
                let (seq, py) = match self {
                    Rows::List(l, _) => (l.as_ptr(), l.py()),
                    Rows::Tuple(t, _) => (t.as_ptr(), t.py()),
                    _ => unreachable!(),
                };
                // SAFETY: GIL held; a borrowed reference, used before anything can run
                // Python code that might drop it.
                let item = unsafe {
                    if matches!(self, Rows::List(..)) {
                        ffi::PyList_GetItem(seq, i as ffi::Py_ssize_t)
                    } else {
                        ffi::PyTuple_GetItem(seq, i as ffi::Py_ssize_t)
                    }
                };
                if item.is_null() {
                    return Err(PyErr::fetch(py)); // the sequence shrank meanwhile
                }
                // Fast path: an exact `bytes` (a pointer compare, no type-flags call, no refcounting).
                // SAFETY: `item` is a live object; for bytes, AsString/Size cannot fail.
                unsafe {
                    if ffi::Py_TYPE(item) == std::ptr::addr_of_mut!(ffi::PyBytes_Type) {
                        let data = ffi::PyBytes_AsString(item) as *const u8;
                        let len = ffi::PyBytes_Size(item) as usize;
                        return Ok(f(Some(std::slice::from_raw_parts(data, len))));
                    }
                }
                // SAFETY: borrowed from the sequence, which we hold.
                let item = unsafe { Bound::from_borrowed_ptr(py, item) };
                let arg = opt_byte_arg(Some(&item), "values")?;
                Ok(f(arg.as_ref().map(|a| a.as_slice())))
            }
            _ => Ok(f(self.get(i))),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            Rows::List(..) | Rows::Tuple(..) => unreachable!("use with()"),
            Rows::Items(v) => v[i].as_ref().map(|b| b.as_slice()),
            Rows::Matrix { buf, width, .. } => {
                // SAFETY: C-contiguous u8 buffer of rows*width bytes, held by `buf`.
                Some(unsafe {
                    std::slice::from_raw_parts((buf.buf_ptr() as *const u8).add(i * width), *width)
                })
            }
        }
    }
}

fn rows<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Rows<'py>> {
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let n = obj.len()?;
        return Ok(match obj.cast::<PyList>() {
            Ok(l) => Rows::List(l.clone(), n),
            Err(_) => Rows::Tuple(obj.cast::<PyTuple>()?.clone(), n),
        });
    }
    {
        if let Ok(buf) = PyBuffer::<u8>::get(obj) {
            if buf.dimensions() == 2 && buf.is_c_contiguous() {
                let (rows, width) = (buf.shape()[0], buf.shape()[1]);
                return Ok(Rows::Matrix { buf, rows, width });
            }
            return Err(PyValueError::new_err(format!(
                "{what}: a buffer must be a C-contiguous 2-D uint8 array (one row per record)"
            )));
        }
    }
    let mut items = Vec::with_capacity(obj.len().unwrap_or(0));
    for item in obj.try_iter()? {
        items.push(opt_byte_arg(Some(&item?), what)?);
    }
    Ok(Rows::Items(items))
}

/// CRC32C (Castagnoli) of a bytes-like object.
/// Kafka's LogAppendTime stamp of wire batches (see `batch::stamp_log_append_time`).
#[pyfunction]
fn stamp_log_append_time<'py>(py: Python<'py>, data: &Bound<'py, PyAny>, now_ms: i64) -> PyResult<Bound<'py, PyBytes>> {
    let arg = byte_arg(data, "data")?;
    let stamped = batch::stamp_log_append_time(arg.as_slice(), now_ms).map_err(|e| py_error(py, e))?;
    Ok(PyBytes::new(py, &stamped))
}

#[pyfunction(name = "crc32c")]
fn crc32c_py(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u32> {
    let arg = byte_arg(data, "data")?;
    let s = arg.as_slice();
    let (ptr, len) = (s.as_ptr() as usize, s.len());
    // SAFETY: `arg` keeps the memory alive across the detach.
    Ok(py.detach(move || {
        crate::crc::crc32c(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
    }))
}

/// Encodes records `(timestamp_ms, key, value, headers)` into one RecordBatch.
#[pyfunction]
#[pyo3(signature = (records, base_offset=0, compression_type="none", partition_leader_epoch=-1))]
fn encode_batch<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    base_offset: i64,
    compression_type: &str,
    partition_leader_epoch: i32,
) -> PyResult<Bound<'py, PyBytes>> {
    let codec = Codec::from_name(compression_type).map_err(|e| py_error(py, e))?;
    let mut p = PendingBatch::new(base_offset, 4096);
    for item in records.try_iter()? {
        let item = item?;
        let (ts, key, value, headers): (i64, Bound<PyAny>, Bound<PyAny>, Bound<PyAny>) =
            item.extract().map_err(|_| {
                PyTypeError::new_err("records must be (timestamp_ms, key, value, headers) tuples")
            })?;
        let key = opt_byte_arg(Some(&key), "key")?;
        let value = opt_byte_arg(Some(&value), "value")?;
        let hs = header_args(Some(&headers))?;
        let hdrs: Vec<batch::Header> = hs
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_ref().map(|b| b.as_slice())))
            .collect();
        p.push(
            ts,
            key.as_ref().map(|k| k.as_slice()),
            value.as_ref().map(|v| v.as_slice()),
            &hdrs,
        );
    }
    if p.count == 0 {
        return Err(PyValueError::new_err(
            "a record batch needs at least one record",
        ));
    }
    let mut out = Vec::new();
    py.detach(|| p.encode_into(codec, partition_leader_epoch, &mut out))
        .map_err(|e| py_error(py, e))?;
    Ok(PyBytes::new(py, &out))
}

/// Decodes every record of the batches in `data` (validating each batch).
#[pyfunction]
fn decode_records<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let arg = byte_arg(data, "data")?;
    let buf = arg.as_slice();
    let batches = batch::validate_batches(buf).map_err(|e| py_error(py, e))?;
    let out = PyList::empty(py);
    for (pos, h) in batches {
        let bytes = &buf[pos..pos + h.size()];
        let rd = batch::records_data(bytes, &h).map_err(|e| py_error(py, e))?;
        let mut err = None;
        batch::for_each_record(rd.bytes(), &h, |r, d| {
            let empty = PyTuple::empty(py);
            let made = new_record(py, r, d, &empty).and_then(|rec| out.append(rec));
            match made {
                Ok(()) => true,
                Err(e) => {
                    err = Some(e);
                    false
                }
            }
        })
        .map_err(|e| py_error(py, e))?;
        if let Some(e) = err {
            return Err(e);
        }
    }
    Ok(out)
}

type BatchSummary = (i64, i64, i64, i16, i32, i32, i64, i16);

fn summary(h: &BatchHeader) -> BatchSummary {
    (
        h.base_offset,
        h.last_offset(),
        h.producer_id,
        h.producer_epoch,
        h.base_sequence,
        h.record_count,
        h.max_timestamp,
        h.attributes,
    )
}

/// Framing of the batches in `data` without checking CRCs (the append checks
/// them): the same tuples as `PartitionLog.scan_batches` plus each batch's
/// size. Raises CorruptRecordError when the bytes are not whole v2 batches.
#[pyfunction]
fn peek_batches(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<(BatchSummary, usize)>> {
    let arg = byte_arg(data, "data")?;
    let buf = arg.as_slice();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let bad = |why: String| {
            py_error(
                py,
                LogError::Corrupt(format!("invalid record batch at byte {pos}: {why}")),
            )
        };
        if rest.len() < batch::HEADER_LEN {
            return Err(bad(format!(
                "{} bytes left, less than a batch header",
                rest.len()
            )));
        }
        let h = BatchHeader::parse(rest);
        if h.magic != 2 {
            return Err(bad(format!("unsupported magic {}", h.magic)));
        }
        if h.batch_length < (batch::HEADER_LEN - batch::LOG_OVERHEAD) as i32
            || h.size() > rest.len()
        {
            return Err(bad(format!(
                "batch length {} does not fit the {} bytes left",
                h.batch_length,
                rest.len()
            )));
        }
        out.push((summary(&h), h.size()));
        pos += h.size();
    }
    if out.is_empty() {
        return Err(py_error(
            py,
            LogError::Corrupt("no record batch in the given bytes".into()),
        ));
    }
    Ok(out)
}

/// Header fields of each batch in `data` as dicts (validating each batch).
#[pyfunction]
fn batch_headers<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let arg = byte_arg(data, "data")?;
    let batches = batch::validate_batches(arg.as_slice()).map_err(|e| py_error(py, e))?;
    let out = PyList::empty(py);
    for (pos, h) in batches {
        let d = pyo3::types::PyDict::new(py);
        d.set_item("position", pos)?;
        d.set_item("base_offset", h.base_offset)?;
        d.set_item("last_offset", h.last_offset())?;
        d.set_item("size", h.size())?;
        d.set_item("partition_leader_epoch", h.partition_leader_epoch)?;
        d.set_item("attributes", h.attributes)?;
        d.set_item("compression", h.attributes & 7)?;
        d.set_item("base_timestamp", h.base_timestamp)?;
        d.set_item("max_timestamp", h.max_timestamp)?;
        d.set_item("producer_id", h.producer_id)?;
        d.set_item("producer_epoch", h.producer_epoch)?;
        d.set_item("base_sequence", h.base_sequence)?;
        d.set_item("record_count", h.record_count)?;
        d.set_item("is_transactional", h.is_transactional())?;
        d.set_item("is_control", h.is_control())?;
        d.set_item("crc", h.crc)?;
        out.append(d)?;
    }
    Ok(out)
}

/// Fully checks a segment file on its own (no log needs to be open, nothing
/// is written): framing, CRC32C, record framing, increasing offsets from the
/// base offset in its name. Returns `[(path, position, offset, reason)]` with
/// the first bad batch, or `[]` when every batch is valid.
#[pyfunction]
fn verify_segment(py: Python<'_>, path: PathBuf) -> PyResult<Vec<(PathBuf, u64, i64, String)>> {
    let r = py.detach(|| -> std::io::Result<Option<(u64, i64, String)>> {
        let base = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        crate::segment::verify_file(&std::fs::File::open(&path)?, base)
    });
    match r {
        Ok(found) => Ok(found.map(|(pos, off, why)| (path.clone(), pos, off, why)).into_iter().collect()),
        Err(e) => Err(PyOSError::new_err((e.raw_os_error().unwrap_or(libc::EIO), e.to_string(), path.display().to_string()))),
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_segment, m)?)?;
    m.add_class::<PyPartitionLog>()?;
    m.add_class::<Record>()?;
    m.add_class::<MappedSlice>()?;
    m.add_class::<ColumnBuffer>()?;
    m.add_function(wrap_pyfunction!(crc32c_py, m)?)?;
    m.add_function(wrap_pyfunction!(stamp_log_append_time, m)?)?;
    m.add_function(wrap_pyfunction!(encode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(decode_records, m)?)?;
    m.add_function(wrap_pyfunction!(batch_headers, m)?)?;
    m.add_function(wrap_pyfunction!(peek_batches, m)?)?;
    Ok(())
}
