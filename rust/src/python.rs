//! PyO3 bindings: `pystream._core`. Python objects are built here and only
//! here; the storage modules know nothing of Python.
//!
//! Locking: each log sits behind a mutex. Code holding the mutex never
//! acquires the GIL, so a thread that holds the GIL may wait for the mutex.
//! File I/O, CRC and compression run with the GIL released (`py.detach`).

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
use std::sync::Mutex;

fn py_error(py: Python<'_>, e: LogError) -> PyErr {
    let class = match &e {
        LogError::Corrupt(_) => "CorruptRecordError",
        LogError::OffsetOutOfRange(_) => "OffsetOutOfRangeError",
        LogError::Directory(_) => "LogDirectoryError",
        LogError::Closed => "LogClosedError",
        LogError::Invalid(m) => return PyValueError::new_err(m.clone()),
        LogError::Io { context, source } => {
            return PyOSError::new_err((
                source.raw_os_error().unwrap_or(0),
                format!("{context}: {source}"),
            ))
        }
    };
    match py
        .import("pystream.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((e.to_string(),)))
    {
        Ok(inst) => PyErr::from_value(inst),
        Err(import_failed) => import_failed,
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

fn load_batches(batches: Vec<BatchRef>) -> Result<Vec<BatchData>, LogError> {
    batches
        .into_iter()
        .filter(|b| !b.header.is_control())
        .map(|b| {
            let owned = match batch::records_data(b.bytes(), &b.header)? {
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
    fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut PartitionLog) -> Result<R, LogError>,
    ) -> PyResult<R> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let log = guard
            .as_mut()
            .ok_or(LogError::Closed)
            .map_err(|e| py_error(py, e))?;
        f(log).map_err(|e| py_error(py, e))
    }

    /// Runs `f` with the GIL released.
    fn detached<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut PartitionLog) -> Result<R, LogError> + Send,
    ) -> PyResult<R> {
        let r = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                None => Err(LogError::Closed),
                Some(log) => f(log),
            }
        });
        r.map_err(|e| py_error(py, e))
    }

    /// Writes filled batches and applies the flush policy after appends.
    fn after_append(&self, py: Python<'_>, log_has_work: bool) -> PyResult<()> {
        if log_has_work {
            self.detached(py, |log| {
                log.write_full()?;
                if log.needs_flush() {
                    log.flush()?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// `append_batch` writes out filled batches every this many.
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
        flush_messages=None, flush_ms=None, batch_size=16384, compression_type="none"
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
    ) -> PyResult<Self> {
        let config = LogConfig {
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
        let (offset, work) = self.with(py, |log| {
            let off = log.add_record(
                ts,
                key.as_ref().map(|k| k.as_slice()),
                value.as_ref().map(|v| v.as_slice()),
                &hdrs,
            );
            Ok((off, log.has_full_batches() || log.needs_flush()))
        })?;
        self.after_append(py, work)?;
        Ok(offset)
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
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let log = guard
            .as_mut()
            .ok_or(LogError::Closed)
            .map_err(|e| py_error(py, e))?;
        let first = log.next_offset();
        for i in 0..values.len() {
            match &keys {
                None => values.with(i, |v| log.add_record(ts, None, v, &[]))?,
                Some(k) => {
                    k.with(i, |key| values.with(i, |v| log.add_record(ts, key, v, &[])))??
                }
            };
            // Write filled batches as we go (GIL released): memory stays bounded
            // and their buffers are recycled while still hot in cache.
            if log.full_batches() >= WRITE_EVERY_FULL_BATCHES {
                py.detach(|| log.write_full()).map_err(|e| py_error(py, e))?;
            }
        }
        let work = log.has_full_batches() || log.needs_flush();
        drop(guard);
        self.after_append(py, work)?;
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
        let (first, _) = self.detached(py, move |log| {
            // SAFETY: `arg` (bytes or a held buffer export) outlives this call.
            let data = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
            let r = log.append_raw(data, assign_offsets)?;
            if log.needs_flush() {
                log.flush()?;
            }
            Ok(r)
        })?;
        drop(arg);
        Ok(first)
    }

    /// Whole batches from the one holding `offset`, as a zero-copy memoryview.
    #[pyo3(signature = (offset, max_bytes=1<<20, max_offset=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let slice = self.detached(py, |log| log.read(offset, max_bytes, max_offset))?;
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
    #[pyo3(signature = (offset, max_bytes=1<<20, max_offset=None))]
    fn read_file_range(
        &self,
        py: Python<'_>,
        offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
    ) -> PyResult<Option<(PathBuf, usize, usize)>> {
        let slice = self.detached(py, |log| log.read(offset, max_bytes, max_offset))?;
        Ok(slice.map(|s| (s.path, s.position, s.len)))
    }

    /// Records from `offset` on, across segments (control batches skipped).
    #[pyo3(signature = (offset, max_records=None, max_offset=None))]
    fn records<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        max_records: Option<u64>,
        max_offset: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let data = self.detached(py, |log| {
            load_batches(log.batches(offset, max_records, max_offset)?)
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
            .map_err(|e| py_error(py, e))?;
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
    #[pyo3(signature = (offset, max_records=None, max_offset=None))]
    fn _read_columns<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        max_records: Option<u64>,
        max_offset: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let limit = max_records.unwrap_or(u64::MAX) as usize;
        let upto = max_offset.unwrap_or(i64::MAX);
        let cols = self.detached(py, move |log| {
            let data = load_batches(log.batches(offset, max_records, max_offset)?)?;
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
            for bd in &data {
                // Position of this batch's records section within the region.
                let base = bd.batch.pos + batch::HEADER_LEN - region_start;
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
                })?;
                if c.offsets.len() >= limit {
                    break;
                }
            }
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
            log.seal()?;
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
        self.detached(py, |log| if fsync { log.flush() } else { log.write_out() })
    }
    /// Flushes when `flush.messages` or `flush.ms` says so; returns whether it did.
    fn maybe_flush(&self, py: Python<'_>) -> PyResult<bool> {
        self.detached(py, |log| {
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
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let r = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                None => Ok(()),
                Some(log) => {
                    let r = log.close();
                    *guard = None;
                    r
                }
            }
        });
        r.map_err(|e| py_error(py, e))
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
#[pyfunction(name = "crc32c")]
fn crc32c_py(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u32> {
    let arg = byte_arg(data, "data")?;
    let s = arg.as_slice();
    let (ptr, len) = (s.as_ptr() as usize, s.len());
    // SAFETY: `arg` keeps the memory alive across the detach.
    Ok(py.detach(move || {
        ::crc32c::crc32c(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPartitionLog>()?;
    m.add_class::<Record>()?;
    m.add_class::<MappedSlice>()?;
    m.add_class::<ColumnBuffer>()?;
    m.add_function(wrap_pyfunction!(crc32c_py, m)?)?;
    m.add_function(wrap_pyfunction!(encode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(decode_records, m)?)?;
    m.add_function(wrap_pyfunction!(batch_headers, m)?)?;
    m.add_function(wrap_pyfunction!(peek_batches, m)?)?;
    Ok(())
}
