//! One segment of a partition log: `<base>.log` plus its two indexes.
//!
//! Invariants:
//! - the log file holds whole, valid batches with increasing offsets in
//!   `[base_offset, next_offset)`; batches not yet written sit in `queue`
//!   and `size() = file_len + queued`;
//! - index entries follow Kafka's `LogSegment.append` rule (see docs/storage.md)
//!   and `bytes_since_index`, `max_timestamp`, `offset_of_max_timestamp` are
//!   exactly what appending every batch in order would have left.

use crate::batch::{self, BatchCheck, BatchHeader, HEADER_LEN};
use crate::error::{IoContext, LogError, Result};
use crate::index::{self, IndexFile, OFFSET_ENTRY, TIME_ENTRY};
use memmap2::{Mmap, MmapOptions};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Appends are gathered in memory up to this size before a write.
const WRITE_QUEUE_BYTES: usize = 256 * 1024;
/// Written batch buffers kept for reuse.
const SPARE_BUFFERS: usize = 64;

pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

pub struct Segment {
    pub base_offset: i64,
    pub next_offset: i64,
    log_path: PathBuf,
    file: File,
    file_len: u64,
    /// Whole batches appended but not yet written, in order; written with one
    /// pwritev(2) once `queued` reaches `WRITE_QUEUE_BYTES` or before any read.
    queue: Vec<Vec<u8>>,
    queued: usize,
    spare: Vec<Vec<u8>>,
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
        Ok(Segment {
            base_offset,
            next_offset: base_offset,
            log_path,
            file,
            file_len,
            queue: Vec::new(),
            queued: 0,
            spare: Vec::new(),
            offset_index,
            time_index,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_max_timestamp: None,
            read_map: None,
            map_window: 0,
            dirty: fresh,
        })
    }

    /// Opens the files of a segment that `recover` will re-read.
    pub fn open_files_for_recovery(dir: &Path, base_offset: i64) -> Result<Segment> {
        Segment::open_files(dir, base_offset, false)
    }

    pub fn create(dir: &Path, base_offset: i64) -> Result<Segment> {
        Segment::open_files(dir, base_offset, true)
    }

    /// Opens an existing segment trusting its indexes (clean shutdown); the
    /// append state is restored by scanning from the last offset-index entry.
    /// Falls back to a full rescan when the indexes do not fit the log file.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval: usize,
    ) -> Result<(Segment, Option<Cut>)> {
        // Missing index files are rebuilt (Kafka does the same on load).
        let indexes_present = ["index", "timeindex"]
            .iter()
            .all(|ext| dir.join(file_name(base_offset, ext)).exists());
        let mut seg = Segment::open_files(dir, base_offset, false)?;
        if !indexes_present || !seg.indexes_look_sane() {
            let cut = seg.recover(index_interval, base_offset)?;
            return Ok((seg, cut));
        }
        let start = match seg.offset_index.len() {
            0 => 0,
            n => index::offset_entry(seg.offset_index.entry(n - 1)).1 as u64,
        };
        if let Some(n) = seg.time_index.len().checked_sub(1) {
            let (ts, rel) = index::time_entry(seg.time_index.entry(n));
            seg.max_timestamp = ts;
            seg.offset_of_max_timestamp = base_offset + rel as i64;
        }
        seg.bytes_since_index = (seg.file_len - start) as usize;
        let map = seg.map()?;
        let mut pos = start as usize;
        let mut first = true;
        if start != 0 {
            if let Some(h) = header_at(&map, 0) {
                seg.first_batch_max_timestamp = Some(h.max_timestamp);
            }
        }
        while let Some(h) = header_at(&map, pos) {
            if pos + h.size() > map.len() {
                break;
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
            pos += h.size();
        }
        if pos as u64 != seg.file_len {
            // Trailing garbage after a "clean" shutdown: treat as unclean.
            let cut = seg.recover(index_interval, base_offset)?;
            return Ok((seg, cut));
        }
        Ok((seg, None))
    }

    fn indexes_look_sane(&self) -> bool {
        let n = self.offset_index.len();
        if n > 0 {
            let (rel, pos) = index::offset_entry(self.offset_index.entry(n - 1));
            if pos as u64 >= self.file_len
                || (n > 1 && index::offset_entry(self.offset_index.entry(n - 2)).1 >= pos)
            {
                return false;
            }
            let _ = rel;
        }
        let t = self.time_index.len();
        if t > 1 {
            let last = index::time_entry(self.time_index.entry(t - 1));
            let prev = index::time_entry(self.time_index.entry(t - 2));
            if last.0 <= prev.0 {
                return false;
            }
        }
        true
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
    /// CRC valid (it starts at attributes).
    pub fn append(
        &mut self,
        mut batch: Vec<u8>,
        h: &BatchHeader,
        patch: Option<(i64, Option<i32>)>,
        interval: usize,
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
        if self.first_batch_max_timestamp.is_none() {
            self.first_batch_max_timestamp = Some(h.max_timestamp);
        }
        self.index_batch(
            position,
            last_offset,
            h.max_timestamp,
            batch.len(),
            interval,
        )?;
        self.next_offset = last_offset + 1;
        self.dirty = true;
        self.queued += batch.len();
        self.queue.push(batch);
        if self.queued >= WRITE_QUEUE_BYTES {
            self.drain()?;
        }
        Ok(())
    }

    /// Writes queued batches to the file (not fsynced). On failure (a full
    /// disk, say) the partial write is cut off and the queue kept for a retry.
    pub fn drain(&mut self) -> Result<()> {
        use std::os::unix::io::AsRawFd;
        let fd = self.file.as_raw_fd();
        let mut at = self.file_len;
        let (mut idx, mut skip) = (0usize, 0usize);
        while idx < self.queue.len() {
            let iov: Vec<libc::iovec> = self.queue[idx..]
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
        // Keep the written buffers for the next batches: fresh allocations of
        // this size would be page-faulted in again and again.
        for buf in self.queue.drain(..) {
            if self.spare.len() < SPARE_BUFFERS {
                self.spare.push(buf);
            }
        }
        self.queued = 0;
        Ok(())
    }

    /// A written batch buffer to build the next batch in, if one is spare.
    pub fn take_buffer(&mut self) -> Option<Vec<u8>> {
        self.spare.pop()
    }

    /// fsync of the log file and both indexes.
    pub fn fsync(&mut self) -> Result<()> {
        self.drain()?;
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
    /// grows. Only the first `file_len` bytes are ever read.
    pub fn map(&mut self) -> Result<MappedFile> {
        let window = self.map_window;
        self.drain()?;
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

    /// Position of the batch holding `offset` (the first batch whose last
    /// offset is `>= offset`), found from the offset index then a short scan.
    pub fn find_batch(&mut self, offset: i64) -> Result<Option<(usize, BatchHeader)>> {
        let start = match self.offset_index.floor(offset - self.base_offset, |e| {
            index::offset_entry(e).0 as i64
        }) {
            // The entry names the last offset of the batch at its position:
            // when it is below `offset`, that batch can be skipped too.
            Some(i) => index::offset_entry(self.offset_index.entry(i)).1 as usize,
            None => 0,
        };
        let map = self.map()?;
        let mut pos = start;
        while let Some(h) = header_at(&map, pos) {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
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
        let Some((mut pos, _)) =
            self.find_batch(from_offset.min(self.next_offset.max(self.base_offset)))?
        else {
            return Ok(None);
        };
        let map = self.map()?;
        while let Some(h) = header_at(&map, pos) {
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
            pos += h.size();
        }
        Ok(None)
    }

    /// Re-reads the whole file batch by batch, rebuilding indexes and state;
    /// cuts the file at the first torn or invalid batch.
    pub fn recover(&mut self, interval: usize, min_base_offset: i64) -> Result<Option<Cut>> {
        self.drain()?;
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
            self.index_batch(
                pos as u64,
                h.last_offset(),
                h.max_timestamp,
                h.size(),
                interval,
            )?;
            self.next_offset = h.last_offset() + 1;
            pos += h.size();
        }
        drop(map);
        match cut {
            None => Ok(None),
            Some(reason) => {
                let bytes = self.file_len - pos as u64;
                self.truncate_file(pos as u64)?;
                Ok(Some(Cut {
                    position: pos as u64,
                    bytes,
                    reason,
                }))
            }
        }
    }

    /// Shrinks the file to `len`. When a mapping of the file is still held by
    /// a reader, the kept prefix is copied to a new file renamed over the old
    /// one, so the reader's mapping never points past the end of its file.
    fn truncate_file(&mut self, len: u64) -> Result<()> {
        self.drain()?;
        let shared = self.read_map.as_ref().is_some_and(|m| m.is_shared());
        self.read_map = None;
        if shared {
            let tmp = self.log_path.with_extension("log.truncating");
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
                .ctx(|| format!("cannot replace {}", self.log_path.display()))?;
            self.file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.log_path)
                .ctx(|| format!("cannot reopen {}", self.log_path.display()))?;
        } else {
            self.file
                .set_len(len)
                .ctx(|| format!("cannot truncate {}", self.log_path.display()))?;
        }
        self.file_len = len;
        self.dirty = true;
        Ok(())
    }

    /// Drops every batch whose last offset is `>= offset`; returns the new next offset.
    pub fn truncate_to(&mut self, offset: i64, interval: usize) -> Result<i64> {
        if let Some((pos, h)) = self.find_batch(offset)? {
            self.truncate_file(pos as u64)?;
            let _ = h;
            self.recover(interval, self.base_offset)?;
        }
        Ok(self.next_offset)
    }

    /// The segment stops being active: a final time-index entry, trimmed indexes.
    pub fn on_roll(&mut self) -> Result<()> {
        self.maybe_append_time_entry()?;
        self.map_window = 0;
        self.read_map = None;
        self.drain()?;
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
            self.log_path.clone(),
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

/// Header of the batch at `pos`, when a whole header is there.
#[inline]
pub fn header_at(map: &[u8], pos: usize) -> Option<BatchHeader> {
    if pos + HEADER_LEN <= map.len() {
        Some(BatchHeader::parse(&map[pos..]))
    } else {
        None
    }
}
