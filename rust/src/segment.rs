//! One segment of a partition log: `<base>.log` plus its two indexes.
//!
//! Invariants:
//! - the log file holds whole, valid batches with increasing offsets in
//!   `[base_offset, next_offset)`; batches not yet written sit in `queue`
//!   and `size() = file_len + queued`;
//! - index entries follow Kafka's `LogSegment.append` rule (see docs/storage.md)
//!   and `bytes_since_index`, `max_timestamp`, `offset_of_max_timestamp` are
//!   exactly what appending every batch in order would have left;
//! - `written` is the append state of the file alone (as if the queue were
//!   empty): a failed write goes back to it (`discard_queue`), so no byte of a
//!   failed write stays in the file and no index entry points past it.

use crate::batch::{self, BatchCheck, BatchHeader, HEADER_LEN};
use crate::error::{IoContext, LogError, Result};
use crate::index::{self, IndexFile, OFFSET_ENTRY, TIME_ENTRY};
use memmap2::{Mmap, MmapOptions};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// Appends are gathered in memory up to this size before a write.
const WRITE_QUEUE_BYTES: usize = 256 * 1024;
/// Written batch buffers a log keeps for reuse (see `Pool`).
const POOL_BUFFERS: usize = 16;

pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// Written batch buffers kept by a log to build its next batches in (fresh
/// allocations of this size would be page-faulted in again and again).
/// Bounded in count and in the size of each buffer, so memory does not grow
/// with the data: at most `POOL_BUFFERS` buffers of at most `max_capacity`.
#[derive(Default)]
pub struct Pool {
    bufs: Vec<Vec<u8>>,
    /// Larger buffers (a big batch taken from the wire) are freed, not kept.
    pub max_capacity: usize,
}

impl Pool {
    pub fn new(max_capacity: usize) -> Pool {
        Pool { bufs: Vec::new(), max_capacity }
    }
    pub fn take(&mut self) -> Option<Vec<u8>> {
        self.bufs.pop()
    }
    pub fn put(&mut self, buf: Vec<u8>) {
        if self.bufs.len() < POOL_BUFFERS && buf.capacity() <= self.max_capacity {
            self.bufs.push(buf);
        }
    }
    pub fn clear(&mut self) {
        self.bufs = Vec::new();
    }
}

/// Everything appending changes in a segment besides the bytes themselves:
/// restoring one undoes the appends made after it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendState {
    pub file_len: u64,
    pub next_offset: i64,
    offset_entries: usize,
    time_entries: usize,
    bytes_since_index: usize,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    first_batch_max_timestamp: Option<i64>,
}

impl AppendState {
    /// The state of an empty segment.
    pub fn empty(base_offset: i64) -> AppendState {
        AppendState {
            file_len: 0,
            next_offset: base_offset,
            offset_entries: 0,
            time_entries: 0,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_max_timestamp: None,
        }
    }
}

pub struct Segment {
    pub base_offset: i64,
    pub next_offset: i64,
    log_path: Arc<Path>,
    file: File,
    file_len: u64,
    /// Whole batches appended but not yet written, in order; written with one
    /// pwritev(2) once `queued` reaches `WRITE_QUEUE_BYTES` or by `drain`.
    queue: Vec<Vec<u8>>,
    queued: usize,
    /// The append state of what the file holds (the queue left out).
    written: AppendState,
    offset_index: IndexFile,
    time_index: IndexFile,
    bytes_since_index: usize,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// maxTimestamp of the first batch: `segment.ms` counts from it.
    pub first_batch_max_timestamp: Option<i64>,
    read_map: Option<MappedFile>,
    /// Minimum length of a new read mapping (`segment.bytes` while active).
    pub map_window: u64,
    /// Written since the last fsync.
    dirty: bool,
    /// What recovery had to give up on (the log reports them).
    pub notes: Vec<String>,
    /// Bytes `[0, verified)` are whole batches known to have a valid CRC32C:
    /// checked by recovery or by a read, or appended by this process from
    /// CRC-checked or self-encoded bytes. Reads skip the CRC of those.
    verified: u64,
}

/// Whether `e` is the filesystem being full (or over quota).
pub fn is_no_space(e: &LogError) -> bool {
    matches!(e, LogError::Io { source, .. }
        if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)))
}

/// What recovery cut from a segment.
pub struct Cut {
    pub position: u64,
    pub bytes: u64,
    pub reason: String,
}

impl Segment {
    fn open_files(dir: &Path, base_offset: i64, fresh: bool) -> Result<Segment> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true);
        if fresh {
            opts.truncate(true);
            for ext in ["index", "timeindex"] {
                let _ = fs::remove_file(dir.join(file_name(base_offset, ext)));
            }
        }
        let file = opts
            .open(&log_path)
            .ctx(|| format!("cannot open segment {}", log_path.display()))?;
        let file_len = file
            .metadata()
            .ctx(|| format!("cannot stat {}", log_path.display()))?
            .len();
        let offset_index =
            IndexFile::open(&dir.join(file_name(base_offset, "index")), OFFSET_ENTRY)?;
        let time_index =
            IndexFile::open(&dir.join(file_name(base_offset, "timeindex")), TIME_ENTRY)?;
        let mut seg = Segment {
            base_offset,
            next_offset: base_offset,
            log_path: log_path.into(),
            file,
            file_len,
            queue: Vec::new(),
            queued: 0,
            written: AppendState::empty(base_offset),
            offset_index,
            time_index,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_max_timestamp: None,
            read_map: None,
            map_window: 0,
            dirty: fresh,
            notes: Vec::new(),
            verified: 0,
        };
        seg.written = seg.state();
        Ok(seg)
    }

    /// Opens the files of a segment that `recover` will re-read.
    pub fn open_files_for_recovery(dir: &Path, base_offset: i64) -> Result<Segment> {
        Segment::open_files(dir, base_offset, false)
    }

    /// Creates a new empty segment. On failure no file of it is left behind.
    pub fn create(dir: &Path, base_offset: i64) -> Result<Segment> {
        Segment::open_files(dir, base_offset, true).inspect_err(|_| {
            for ext in ["log", "index", "timeindex"] {
                let _ = fs::remove_file(dir.join(file_name(base_offset, ext)));
            }
        })
    }

    /// Opens an existing segment trusting its indexes (clean shutdown) once
    /// they pass `indexes_valid`; the append state is restored by scanning
    /// from the last offset-index entry. Falls back to a full rescan (which
    /// rebuilds both indexes) when an index is missing, damaged or does not
    /// fit the log file.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval: usize,
    ) -> Result<(Segment, Option<Cut>)> {
        let indexes_present = ["index", "timeindex"]
            .iter()
            .all(|ext| dir.join(file_name(base_offset, ext)).is_file());
        let mut seg = Segment::open_files(dir, base_offset, false)?;
        if !indexes_present || !seg.indexes_valid(index_interval) {
            let cut = seg.recover(index_interval, base_offset)?;
            return Ok((seg, cut));
        }
        let (start, expect_last) = match seg.offset_index.len() {
            0 => (0, None),
            n => {
                let (rel, pos) = index::offset_entry(seg.offset_index.entry(n - 1));
                (pos as u64, Some(base_offset + rel as i64))
            }
        };
        if let Some(n) = seg.time_index.len().checked_sub(1) {
            let (ts, rel) = index::time_entry(seg.time_index.entry(n));
            seg.max_timestamp = ts;
            seg.offset_of_max_timestamp = base_offset + rel as i64;
        }
        seg.bytes_since_index = (seg.file_len - start) as usize;
        let map = seg.map()?;
        let mut pos = start as usize;
        let mut min_base = base_offset;
        if start != 0 {
            match batch::check_frame(&map, base_offset) {
                Ok(h) => seg.first_batch_max_timestamp = Some(h.max_timestamp),
                Err(_) => pos = usize::MAX, // rescan below
            }
        }
        let mut first = true;
        while pos < map.len() {
            let Ok(h) = batch::check_frame(&map[pos..], min_base) else {
                break;
            };
            if first && expect_last.is_some_and(|l| l != h.last_offset()) {
                break; // the last index entry does not name this batch
            }
            if first && start == 0 {
                seg.first_batch_max_timestamp = Some(h.max_timestamp);
            }
            first = false;
            if h.max_timestamp > seg.max_timestamp {
                seg.max_timestamp = h.max_timestamp;
                seg.offset_of_max_timestamp = h.last_offset();
            }
            seg.next_offset = h.last_offset() + 1;
            min_base = seg.next_offset;
            pos += h.size();
        }
        drop(map);
        let time_ok = seg.time_index.len() == 0 || seg.offset_of_max_timestamp < seg.next_offset;
        if pos as u64 != seg.file_len || !time_ok {
            // Bytes that are not whole batches after a "clean" shutdown, or
            // indexes that do not name them: treat as unclean.
            let cut = seg.recover(index_interval, base_offset)?;
            return Ok((seg, cut));
        }
        seg.written = seg.state();
        Ok((seg, None))
    }

    /// Whether both index files can be trusted: whole entries with no hole
    /// before them, keys and positions increasing, positions inside the log.
    fn indexes_valid(&self, interval: usize) -> bool {
        // A segment of more than a couple of index intervals has offset-index
        // entries, unless a rebuild lacked the room for them (see `recover`).
        if self.offset_index.len() == 0 && self.file_len > 2 * interval as u64 + 1 {
            return false;
        }
        for idx in [&self.offset_index, &self.time_index] {
            match idx.file_len() {
                Ok(len) if !idx.torn && !idx.has_hole_before(len) => {}
                _ => return false,
            }
        }
        let mut prev: Option<(u32, u32)> = None;
        for i in 0..self.offset_index.len() {
            let (rel, pos) = index::offset_entry(self.offset_index.entry(i));
            if pos as u64 >= self.file_len || prev.is_some_and(|(r, p)| rel <= r || pos <= p) {
                return false;
            }
            prev = Some((rel, pos));
        }
        let mut prev: Option<(i64, u32)> = None;
        for i in 0..self.time_index.len() {
            let (ts, rel) = index::time_entry(self.time_index.entry(i));
            if rel > i32::MAX as u32 || prev.is_some_and(|(t, r)| ts <= t || rel < r) {
                return false;
            }
            prev = Some((ts, rel));
        }
        true
    }

    /// The current append state (see `AppendState`).
    pub fn state(&self) -> AppendState {
        AppendState {
            file_len: self.file_len + self.queued as u64,
            next_offset: self.next_offset,
            offset_entries: self.offset_index.len(),
            time_entries: self.time_index.len(),
            bytes_since_index: self.bytes_since_index,
            max_timestamp: self.max_timestamp,
            offset_of_max_timestamp: self.offset_of_max_timestamp,
            first_batch_max_timestamp: self.first_batch_max_timestamp,
        }
    }

    /// Puts back the counters and index entries of `s`; `file_len` is left to the caller.
    fn restore(&mut self, s: &AppendState) {
        self.next_offset = s.next_offset;
        self.offset_index.truncate_entries(s.offset_entries);
        self.time_index.truncate_entries(s.time_entries);
        self.bytes_since_index = s.bytes_since_index;
        self.max_timestamp = s.max_timestamp;
        self.offset_of_max_timestamp = s.offset_of_max_timestamp;
        self.first_batch_max_timestamp = s.first_batch_max_timestamp;
    }

    #[inline]
    pub fn size(&self) -> u64 {
        self.file_len + self.queued as u64
    }
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    /// Either index is full (Kafka rolls on both).
    pub fn index_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }

    pub fn make_active(&mut self, index_bytes: usize, segment_bytes: u64) -> Result<()> {
        self.map_window = segment_bytes.min(1 << 30);
        self.offset_index.make_active(index_bytes)?;
        self.time_index.make_active(index_bytes)
    }

    /// Indexing rule of Kafka's `LogSegment.append` for a batch at `position`.
    fn index_batch(
        &mut self,
        position: u64,
        last_offset: i64,
        max_ts: i64,
        size: usize,
        interval: usize,
    ) -> Result<()> {
        if max_ts > self.max_timestamp {
            self.max_timestamp = max_ts;
            self.offset_of_max_timestamp = last_offset;
        }
        if self.bytes_since_index > interval {
            let mut e = [0u8; OFFSET_ENTRY];
            e[..4].copy_from_slice(&((last_offset - self.base_offset) as u32).to_be_bytes());
            e[4..].copy_from_slice(&(position as u32).to_be_bytes());
            self.offset_index.push(&e)?;
            self.maybe_append_time_entry()?;
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += size;
        Ok(())
    }

    fn maybe_append_time_entry(&mut self) -> Result<()> {
        let last_ts = match self.time_index.len() {
            0 => -1,
            n => index::time_entry(self.time_index.entry(n - 1)).0,
        };
        if self.max_timestamp > last_ts {
            let mut e = [0u8; TIME_ENTRY];
            e[..8].copy_from_slice(&self.max_timestamp.to_be_bytes());
            e[8..].copy_from_slice(
                &((self.offset_of_max_timestamp - self.base_offset) as u32).to_be_bytes(),
            );
            self.time_index.push(&e)?;
        }
        Ok(())
    }

    /// Appends one whole valid batch. `h` describes it; when `patch` is set
    /// the batch gets that base offset (and leader epoch), which leaves the
    /// CRC valid (it starts at attributes). On error the batch may sit in the
    /// queue: the caller undoes the append with `discard_queue`.
    pub fn append(
        &mut self,
        mut batch: Vec<u8>,
        h: &BatchHeader,
        patch: Option<(i64, Option<i32>)>,
        interval: usize,
        pool: &mut Pool,
    ) -> Result<()> {
        let position = self.size();
        let base = match patch {
            Some((base, epoch)) => {
                batch[..8].copy_from_slice(&base.to_be_bytes());
                if let Some(e) = epoch {
                    batch[12..16].copy_from_slice(&e.to_be_bytes());
                }
                base
            }
            None => h.base_offset,
        };
        let last_offset = base + h.last_offset_delta as i64;
        let len = batch.len();
        if self.verified == position {
            self.verified += len as u64;
        }
        self.queued += len;
        self.queue.push(batch);
        if self.first_batch_max_timestamp.is_none() {
            self.first_batch_max_timestamp = Some(h.max_timestamp);
        }
        self.index_batch(position, last_offset, h.max_timestamp, len, interval)?;
        self.next_offset = last_offset + 1;
        self.dirty = true;
        if self.queued >= WRITE_QUEUE_BYTES {
            self.drain(pool)?;
        }
        Ok(())
    }

    /// Writes queued batches to the file (not fsynced) and gives their buffers
    /// to `pool`. On failure (a full disk, say) the partial write is cut off
    /// and the queue kept: the caller undoes it with `discard_queue`.
    pub fn drain(&mut self, pool: &mut Pool) -> Result<()> {
        if self.queue.is_empty() {
            return Ok(());
        }
        use std::os::unix::io::AsRawFd;
        let fd = self.file.as_raw_fd();
        let mut at = self.file_len;
        let (mut idx, mut skip) = (0usize, 0usize);
        while idx < self.queue.len() {
            #[allow(unused_mut)]
            let mut iov: Vec<libc::iovec> = self.queue[idx..]
                .iter()
                .take(512)
                .enumerate()
                .map(|(i, b)| {
                    let s = if i == 0 { skip } else { 0 };
                    libc::iovec {
                        iov_base: b[s..].as_ptr() as *mut libc::c_void,
                        iov_len: b.len() - s,
                    }
                })
                .collect();
            #[cfg(test)]
            if let Err(e) = fault::limit(&mut iov) {
                let _ = self.file.set_len(self.file_len);
                return Err(LogError::Io {
                    context: format!("cannot write to {}", self.log_path.display()),
                    source: e,
                });
            }
            // SAFETY: every iovec points into a live Vec of the queue.
            let n = unsafe {
                libc::pwritev(
                    fd,
                    iov.as_ptr(),
                    iov.len() as libc::c_int,
                    at as libc::off_t,
                )
            };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                let _ = self.file.set_len(self.file_len);
                return Err(LogError::Io {
                    context: format!("cannot write to {}", self.log_path.display()),
                    source: err,
                });
            }
            let mut n = n as usize;
            at += n as u64;
            while n > 0 {
                let rest = self.queue[idx].len() - skip;
                if n >= rest {
                    n -= rest;
                    idx += 1;
                    skip = 0;
                } else {
                    skip += n;
                    n = 0;
                }
            }
        }
        self.file_len = at;
        self.queued = 0;
        for buf in self.queue.drain(..) {
            pool.put(buf);
        }
        self.written = self.state();
        Ok(())
    }

    /// Undoes every append not yet written: the segment goes back to what its
    /// file holds (`written`), bytes of a partial write are cut off, and the
    /// unwritten batches are handed back, oldest first.
    pub fn discard_queue(&mut self) -> Result<Vec<Vec<u8>>> {
        let queue = std::mem::take(&mut self.queue);
        self.queued = 0;
        let w = self.written;
        self.restore(&w);
        self.verified = self.verified.min(self.file_len);
        // Readers' mappings never extend past `file_len`: a plain cut is safe.
        self.file
            .set_len(self.file_len)
            .ctx(|| format!("cannot truncate {}", self.log_path.display()))?;
        Ok(queue)
    }

    /// Undoes appends made since `from` (taken when the queue was empty)
    /// whose batches end at or past `cut_offset`: batches written since then
    /// that lie wholly below `cut_offset` stay and are indexed again.
    pub fn rewind(&mut self, from: &AppendState, cut_offset: i64, interval: usize) -> Result<()> {
        let queued = self.discard_queue()?;
        debug_assert!(queued.is_empty(), "rewind with unwritten batches");
        let map = self.map()?;
        self.restore(from);
        let mut pos = from.file_len as usize;
        while let Ok(h) = batch::check_frame(&map[pos.min(map.len())..], self.next_offset) {
            if h.last_offset() >= cut_offset {
                break;
            }
            if self.first_batch_max_timestamp.is_none() {
                self.first_batch_max_timestamp = Some(h.max_timestamp);
            }
            self.index_batch(pos as u64, h.last_offset(), h.max_timestamp, h.size(), interval)?;
            self.next_offset = h.last_offset() + 1;
            pos += h.size();
        }
        drop(map);
        // Only batches appended since `from` lie past `pos`, and no reader
        // can have mapped them yet: a plain cut is safe.
        self.file
            .set_len(pos as u64)
            .ctx(|| format!("cannot truncate {}", self.log_path.display()))?;
        self.file_len = pos as u64;
        self.verified = self.verified.min(self.file_len);
        self.written = self.state();
        self.dirty = true;
        Ok(())
    }

    /// fsync of the log file and both indexes.
    pub fn fsync(&mut self, pool: &mut Pool) -> Result<()> {
        self.drain(pool)?;
        if self.dirty {
            self.file
                .sync_data()
                .ctx(|| format!("cannot fsync {}", self.log_path.display()))?;
            self.offset_index.flush()?;
            self.time_index.flush()?;
            self.dirty = false;
        }
        Ok(())
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// A read-only mapping of everything written so far. Mappings handed out
    /// stay valid: the file is never shrunk under a mapping someone holds.
    ///
    /// A new mapping covers at least `map_window` bytes so that an active
    /// segment is not remapped (and its pages faulted in again) every time it
    /// grows. Only the first `file_len` bytes are ever read. Batches still
    /// queued are not in it: the log writes them out before reading.
    pub fn map(&mut self) -> Result<MappedFile> {
        let window = self.map_window;
        if let Some(m) = &self.read_map {
            if m.capacity() as u64 >= self.file_len {
                let m = MappedFile {
                    map: m.map.clone(),
                    len: self.file_len as usize,
                };
                self.read_map = Some(m.clone());
                return Ok(m);
            }
        }
        let m = if self.file_len == 0 {
            MappedFile::empty()
        } else {
            let want = self.file_len.max(window) as usize;
            // SAFETY: appends only grow the file and only the written prefix is
            // read; truncation of a file whose mapping is shared goes through
            // copy-and-rename (see `truncate_file`).
            let m = unsafe { MmapOptions::new().len(want).map(&self.file) }
                .ctx(|| format!("cannot map {}", self.log_path.display()))?;
            MappedFile {
                map: Some(Arc::new(m)),
                len: self.file_len as usize,
            }
        };
        self.read_map = Some(m.clone());
        Ok(m)
    }

    /// A `CorruptData` error for the bytes at `position`.
    pub fn corrupt(&self, position: usize, offset: i64, reason: String) -> LogError {
        LogError::CorruptData {
            path: self.log_path.to_path_buf(),
            position: position as u64,
            offset,
            reason,
        }
    }

    /// Checks the framing of the batch at `pos` (see `batch::check_frame`);
    /// also that it ends below the segment's next offset.
    pub fn frame_at(&self, map: &[u8], pos: usize, min_base: i64) -> Result<BatchHeader> {
        match batch::check_frame(&map[pos.min(map.len())..], min_base) {
            Ok(h) if h.last_offset() < self.next_offset => Ok(h),
            Ok(h) => Err(self.corrupt(
                pos,
                h.base_offset,
                format!("offsets up to {} past the segment's end offset {}", h.last_offset(), self.next_offset),
            )),
            Err(why) => Err(self.corrupt(pos, min_base, why)),
        }
    }

    /// Position of the batch holding `offset` (the first batch whose last
    /// offset is `>= offset`), found from the offset index then a short scan
    /// checking each batch's framing. None past the end of the segment.
    pub fn find_batch(&mut self, offset: i64) -> Result<Option<(usize, BatchHeader)>> {
        let entry = self
            .offset_index
            .floor(offset - self.base_offset, |e| index::offset_entry(e).0 as i64)
            .map(|i| index::offset_entry(self.offset_index.entry(i)));
        let map = self.map()?;
        // The entry names the last offset of the batch at its position: when it
        // is below `offset`, that batch can be skipped too. An entry that does
        // not name the batch there (a damaged index) is ignored.
        let (mut pos, mut min_base) = (0usize, self.base_offset);
        if let Some((rel, p)) = entry {
            let last = self.base_offset + rel as i64;
            if let Ok(h) = batch::check_frame(&map[(p as usize).min(map.len())..], self.base_offset) {
                if h.last_offset() == last {
                    (pos, min_base) = (p as usize, h.base_offset);
                }
            }
        }
        while pos < map.len() {
            let h = self.frame_at(&map, pos, min_base)?;
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            min_base = h.last_offset() + 1;
            pos += h.size();
        }
        Ok(None)
    }

    /// First offset `>= min_offset` with a record timestamp `>= ts` in this segment.
    pub fn find_timestamp(&mut self, ts: i64, min_offset: i64) -> Result<Option<i64>> {
        if self.max_timestamp < ts {
            return Ok(None);
        }
        let from_offset = match self.time_index.floor(ts, |e| index::time_entry(e).0) {
            // Entries hold the largest timestamp *so far*: strictly below `ts`
            // means every record up to that offset is earlier.
            Some(i) => {
                let (t, rel) = index::time_entry(self.time_index.entry(i));
                if t < ts {
                    self.base_offset + rel as i64 + 1
                } else {
                    self.base_offset
                }
            }
            None => self.base_offset,
        }
        .max(min_offset);
        let Some((mut pos, h)) =
            self.find_batch(from_offset.min(self.next_offset.max(self.base_offset)))?
        else {
            return Ok(None);
        };
        let map = self.map()?;
        let mut min_base = h.base_offset;
        while pos < map.len() {
            let h = self.frame_at(&map, pos, min_base)?;
            if h.max_timestamp >= ts {
                let data = batch::records_data(&map[pos..pos + h.size()], &h)?;
                let mut found = None;
                batch::for_each_record(data.bytes(), &h, |r, _| {
                    if r.timestamp >= ts && r.offset >= min_offset {
                        found = Some(r.offset);
                        false
                    } else {
                        true
                    }
                })?;
                if found.is_some() {
                    return Ok(found);
                }
            }
            min_base = h.last_offset() + 1;
            pos += h.size();
        }
        Ok(None)
    }

    /// The first batch from `pos` on that fails a full check (framing, CRC32C,
    /// record framing, increasing offsets): `(position, offset, reason)`.
    pub fn verify(&mut self) -> Result<Option<(u64, i64, String)>> {
        let map = self.map()?;
        Ok(verify_batches(&map, self.base_offset))
    }

    /// Re-reads the whole file batch by batch, rebuilding indexes and state;
    /// cuts the file at the first torn or invalid batch.
    pub fn recover(&mut self, interval: usize, min_base_offset: i64) -> Result<Option<Cut>> {
        self.discard_queue()?;
        self.offset_index.truncate_entries(0);
        self.time_index.truncate_entries(0);
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.first_batch_max_timestamp = None;
        self.next_offset = self.base_offset.max(min_base_offset);
        let map = self.map()?;
        let mut pos = 0usize;
        let mut cut = None;
        let mut indexing = true;
        while pos < map.len() {
            let check = batch::check_batch(&map[pos..], true);
            let h = match check {
                BatchCheck::Valid(h) if h.base_offset < self.next_offset => {
                    cut = Some(format!(
                        "batch base offset {} is below the expected {}",
                        h.base_offset, self.next_offset
                    ));
                    break;
                }
                BatchCheck::Valid(h) if h.last_offset() - self.base_offset > i32::MAX as i64 => {
                    cut = Some(format!(
                        "offset {} does not fit the segment's relative offsets",
                        h.last_offset()
                    ));
                    break;
                }
                BatchCheck::Valid(h) => h,
                BatchCheck::Torn(why) | BatchCheck::Corrupt(why) => {
                    cut = Some(why);
                    break;
                }
            };
            if self.first_batch_max_timestamp.is_none() {
                self.first_batch_max_timestamp = Some(h.max_timestamp);
            }
            if indexing {
                let indexed = self.index_batch(pos as u64, h.last_offset(), h.max_timestamp, h.size(), interval);
                if let Err(e) = indexed {
                    if !is_no_space(&e) {
                        return Err(e);
                    }
                    // No room to rebuild the indexes (a full disk): the segment goes
                    // without (lookups scan it from the start, and the next open with
                    // room rebuilds them); recovery itself needs no space.
                    self.offset_index.truncate_entries(0);
                    self.time_index.truncate_entries(0);
                    self.notes.push(format!(
                        "{}: no room to rebuild its index files ({e}); reads scan the segment until an open with room rebuilds them",
                        self.log_path.display()
                    ));
                    indexing = false;
                }
            }
            if !indexing && h.max_timestamp > self.max_timestamp {
                self.max_timestamp = h.max_timestamp;
                self.offset_of_max_timestamp = h.last_offset();
            }
            self.next_offset = h.last_offset() + 1;
            pos += h.size();
        }
        drop(map);
        self.verified = pos as u64; // check_batch checked every CRC up to here
        let result = match cut {
            None => None,
            Some(reason) => {
                let bytes = self.file_len - pos as u64;
                self.truncate_file(pos as u64)?;
                Some(Cut {
                    position: pos as u64,
                    bytes,
                    reason,
                })
            }
        };
        self.written = self.state();
        Ok(result)
    }

    /// Shrinks the file to `len`. When a mapping of the file is still held by
    /// a reader, the kept prefix is copied to a new file renamed over the old
    /// one, so the reader's mapping never points past the end of its file.
    /// Without the room for that copy (a full disk), the file is cut in place
    /// and the reader's mapping past the cut is replaced by zeros first
    /// (`MappedFile::zero_tail`): the reader sees zeros there, never SIGBUS.
    fn truncate_file(&mut self, len: u64) -> Result<()> {
        let shared = self.read_map.take().filter(|m| m.is_shared());
        if let Some(m) = shared {
            match self.copy_prefix(len) {
                Ok(()) => {}
                Err(e) if is_no_space(&e) => {
                    m.zero_tail(len as usize);
                    self.file
                        .set_len(len)
                        .ctx(|| format!("cannot truncate {}", self.log_path.display()))?;
                }
                Err(e) => return Err(e),
            }
        } else {
            self.file
                .set_len(len)
                .ctx(|| format!("cannot truncate {}", self.log_path.display()))?;
        }
        self.file_len = len;
        self.verified = self.verified.min(len);
        self.dirty = true;
        Ok(())
    }

    /// Checks the CRC32C of the batch `h` at `pos` in `map`, unless an earlier
    /// check (or our own append) vouches for it; extends `verified` over it.
    pub fn crc_ok(&mut self, map: &[u8], pos: usize, h: &BatchHeader) -> bool {
        let end = (pos + h.size()) as u64;
        if end <= self.verified {
            return true;
        }
        let ok = batch::crc_ok(&map[pos..], h);
        if ok && pos as u64 == self.verified {
            self.verified = end;
        }
        ok
    }

    /// Copies the first `len` bytes to a new file renamed over the segment.
    fn copy_prefix(&mut self, len: u64) -> Result<()> {
        let tmp = self.log_path.with_extension("log.truncating");
        let copied = (|| {
            let mut out = File::create(&tmp).ctx(|| format!("cannot create {}", tmp.display()))?;
            let mut buf = vec![0u8; len as usize];
            self.file
                .read_exact_at(&mut buf, 0)
                .ctx(|| format!("cannot read {}", self.log_path.display()))?;
            out.write_all(&buf)
                .ctx(|| format!("cannot write {}", tmp.display()))?;
            out.sync_data()
                .ctx(|| format!("cannot fsync {}", tmp.display()))?;
            fs::rename(&tmp, &self.log_path)
                .ctx(|| format!("cannot replace {}", self.log_path.display()))
        })();
        if copied.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        copied?;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.log_path)
            .ctx(|| format!("cannot reopen {}", self.log_path.display()))?;
        Ok(())
    }

    /// Drops every batch whose last offset is `>= offset`; returns the new next offset.
    pub fn truncate_to(&mut self, offset: i64, interval: usize) -> Result<i64> {
        if let Some((pos, _)) = self.find_batch(offset)? {
            self.truncate_file(pos as u64)?;
            self.recover(interval, self.base_offset)?;
        }
        Ok(self.next_offset)
    }

    /// The segment stops being active: a final time-index entry, trimmed indexes.
    pub fn on_roll(&mut self, pool: &mut Pool) -> Result<()> {
        self.drain(pool)?;
        self.maybe_append_time_entry()?;
        self.map_window = 0;
        self.read_map = None;
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    pub fn trim_indexes(&mut self) -> Result<()> {
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    /// Largest timestamp for retention; the file's mtime when no record had one.
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    }

    pub fn delete(self) -> Result<()> {
        let paths = [
            self.log_path.to_path_buf(),
            self.offset_index.path().to_owned(),
            self.time_index.path().to_owned(),
        ];
        drop(self);
        for p in paths {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(LogError::Io {
                        context: format!("cannot delete {}", p.display()),
                        source: e,
                    })
                }
            }
        }
        Ok(())
    }

    /// The path shared with the batches handed to readers.
    pub fn shared_path(&self) -> Arc<Path> {
        self.log_path.clone()
    }
}

/// Fully checks the batch at the start of `buf` (framing, CRC32C, record
/// framing, base offset at least `expect`): its header, or `(offset, why)`
/// with its base offset (the expected one when the header is unreadable).
fn verify_one(buf: &[u8], expect: i64) -> std::result::Result<BatchHeader, (i64, String)> {
    let h = match batch::check_batch(buf, true) {
        BatchCheck::Valid(h) => h,
        BatchCheck::Torn(why) | BatchCheck::Corrupt(why) => {
            let offset = if buf.len() >= HEADER_LEN { BatchHeader::parse(buf).base_offset } else { expect };
            return Err((offset, why));
        }
    };
    if h.base_offset < expect {
        return Err((h.base_offset, format!("batch base offset {} is below the expected {expect}", h.base_offset)));
    }
    batch::records_data(&buf[..h.size()], &h)
        .and_then(|d| batch::for_each_record(d.bytes(), &h, |_, _| true))
        .map_err(|e| (h.base_offset, e.to_string()))?;
    Ok(h)
}

/// The first batch of `data` (a segment file whose first offset is at least
/// `base_offset`) that fails a full check: framing, CRC32C, record framing,
/// offsets increasing. `(position, offset, reason)`; None when all are valid.
pub fn verify_batches(data: &[u8], base_offset: i64) -> Option<(u64, i64, String)> {
    let (mut pos, mut expect) = (0usize, base_offset);
    while pos < data.len() {
        match verify_one(&data[pos..], expect) {
            Ok(h) => {
                expect = h.last_offset() + 1;
                pos += h.size();
            }
            Err((offset, why)) => return Some((pos as u64, offset, why)),
        }
    }
    None
}

/// `verify_batches` of a segment file read batch by batch with pread (no
/// mapping: a writer truncating the file meanwhile shows as a torn end, never
/// as SIGBUS), so that it can run beside a live broker.
pub fn verify_file(file: &File, base_offset: i64) -> std::io::Result<Option<(u64, i64, String)>> {
    let len = file.metadata()?.len();
    let (mut pos, mut expect) = (0u64, base_offset);
    let mut buf = Vec::new();
    while pos < len {
        let left = len - pos;
        let head = left.min(HEADER_LEN as u64) as usize;
        buf.resize(head, 0);
        file.read_exact_at(&mut buf, pos)?;
        let size = if head >= batch::LOG_OVERHEAD {
            let length = i32::from_be_bytes(buf[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].try_into().unwrap());
            (length as i64 + batch::LOG_OVERHEAD as i64).clamp(head as i64, left as i64) as usize
        } else {
            head
        };
        buf.resize(size, 0);
        file.read_exact_at(&mut buf[head..], pos + head as u64)?;
        match verify_one(&buf, expect) {
            Ok(h) => {
                expect = h.last_offset() + 1;
                pos += h.size() as u64;
            }
            Err((offset, why)) => return Ok(Some((pos, offset, why))),
        }
    }
    Ok(None)
}

/// A read-only mapping of a segment file's written bytes (empty for an empty
/// file). Clones share the mapping; readers may keep one past truncation.
#[derive(Clone)]
pub struct MappedFile {
    map: Option<Arc<Mmap>>,
    /// Bytes of the file written when this view was taken; the mapping may be longer.
    len: usize,
}

impl MappedFile {
    pub fn empty() -> MappedFile {
        MappedFile { map: None, len: 0 }
    }
    fn is_shared(&self) -> bool {
        self.map.as_ref().is_some_and(|m| Arc::strong_count(m) > 1)
    }
    /// Identity of the underlying mapping (null when empty).
    pub fn as_ptr(&self) -> *const u8 {
        self.map.as_ref().map_or(std::ptr::null(), |m| m.as_ptr())
    }
    fn capacity(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }
    /// Replaces the mapped pages from the first page boundary at or after
    /// `from` with anonymous zero pages, so that cutting the file there cannot
    /// make a holder of this mapping fault (SIGBUS) when it reads on.
    fn zero_tail(&self, from: usize) {
        let Some(m) = &self.map else { return };
        let page = 4096;
        let start = from.div_ceil(page) * page;
        if start >= m.len() {
            return;
        }
        // SAFETY: remaps part of a mapping we own with fresh anonymous pages
        // (MAP_FIXED inside its range); readers only ever read it.
        unsafe {
            libc::mmap(
                m.as_ptr().add(start) as *mut libc::c_void,
                m.len() - start,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            );
        }
    }
    /// Asks the kernel to map `[start, end)` in one go (instead of one page
    /// fault per 4 KiB) before it is read whole. Best effort.
    pub fn populate(&self, start: usize, end: usize) {
        if let Some(m) = &self.map {
            let page = 4096;
            let s = start / page * page;
            let e = end.min(self.len);
            if e > s {
                let _ = m.advise_range(memmap2::Advice::PopulateRead, s, e - s);
            }
        }
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.map {
            Some(m) => &m[..self.len],
            None => &[],
        }
    }
}

/// Test-only disk space: `set(Some(n))` lets writes of this thread put `n`
/// more bytes into segment files (a write past them is cut short, the next
/// one fails with ENOSPC), as a full filesystem would.
#[cfg(test)]
pub mod fault {
    use std::cell::Cell;
    thread_local! {
        static SPACE: Cell<Option<usize>> = const { Cell::new(None) };
    }
    pub fn set(bytes: Option<usize>) {
        SPACE.with(|s| s.set(bytes));
    }
    /// Shortens `iov` to the space left and uses it up; ENOSPC when none is left.
    pub(super) fn limit(iov: &mut Vec<libc::iovec>) -> std::io::Result<()> {
        SPACE.with(|s| {
            let Some(mut left) = s.get() else { return Ok(()) };
            if left == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let mut keep = 0;
            for v in iov.iter_mut() {
                if left == 0 {
                    break;
                }
                v.iov_len = v.iov_len.min(left);
                left -= v.iov_len;
                keep += 1;
            }
            iov.truncate(keep);
            s.set(Some(left));
            Ok(())
        })
    }
}
