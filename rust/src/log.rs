//! The partition log: an ordered list of segments, the pending batch of
//! embedded appends, checkpoints, recovery, retention and truncation.
//!
//! Invariants:
//! - `segments` is never empty, sorted by base offset; the last one is active;
//!   offsets may have gaps between segments (compaction, a damaged segment
//!   cut by recovery) and readers skip them;
//! - offsets below `next_offset` are assigned: written to a segment, or held in
//!   `full`/`pending` (which are sealed before any read or flush);
//! - between calls no segment has queued (unwritten) batches: every call that
//!   appends is one step (`begin` .. `end`) that either hands all it appended
//!   to the OS or is undone whole (`rollback`), so a failed write never leaves
//!   bytes, index entries or offsets behind;
//! - `start_offset <= next_offset`, `recovery_point <= next_offset`, and every
//!   batch below `recovery_point` has been fsynced.

use crate::batch::{self, BatchHeader, Header, PendingBatch, PendingMark};
use crate::compression::Codec;
use crate::error::{IoContext, LogError, Result};
use crate::segment::{AppendState, MappedFile, Pool, Segment};
use crate::varint::varint_len;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const RECOVERY_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const START_CHECKPOINT: &str = "log-start-offset-checkpoint";
pub const CLEAN_SHUTDOWN: &str = ".clean_shutdown";
pub const LOCK_FILE: &str = ".lock";

/// Names a partition directory may hold besides segments and our checkpoints.
const KNOWN_FILES: &[&str] = &[
    LOCK_FILE,
    RECOVERY_CHECKPOINT,
    START_CHECKPOINT,
    CLEAN_SHUTDOWN,
    "leader-epoch-checkpoint",
    "partition.metadata",
];

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub index_interval_bytes: usize,
    pub segment_index_bytes: usize,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub flush_messages: Option<u64>,
    pub flush_ms: Option<i64>,
    pub batch_size: usize,
    pub compression: Codec,
    /// Hold a flock on the directory's `.lock` while open, so a second writer is refused.
    /// Off when an owner that locks the whole data directory (the LogManager) opens its
    /// logs: one file descriptor less per partition.
    pub lock_dir: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            flush_messages: None,
            flush_ms: None,
            batch_size: 16384,
            compression: Codec::None,
            lock_dir: true,
        }
    }
}

impl LogConfig {
    /// Capacity of the buffer an embedded batch is built in.
    fn batch_capacity(&self) -> usize {
        self.batch_size.min(1 << 20)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A batch located in a segment mapping.
pub struct BatchRef {
    pub map: MappedFile,
    pub pos: usize,
    pub header: BatchHeader,
    /// The segment file, for error messages.
    pub path: Arc<Path>,
}

impl BatchRef {
    pub fn bytes(&self) -> &[u8] {
        &self.map[self.pos..self.pos + self.header.size()]
    }
    /// A decoding error of this batch, as `CorruptData` naming its file and position.
    pub fn corrupt(&self, e: LogError) -> LogError {
        match e {
            LogError::Corrupt(reason) => LogError::CorruptData {
                path: self.path.to_path_buf(),
                position: self.pos as u64,
                offset: self.header.base_offset,
                reason,
            },
            other => other,
        }
    }
    /// Checks the batch's CRC32C (`check.crcs`).
    pub fn check_crc(&self) -> Result<()> {
        let h = &self.header;
        if batch::crc_ok(self.bytes(), h) {
            return Ok(());
        }
        Err(LogError::CorruptData {
            path: self.path.to_path_buf(),
            position: self.pos as u64,
            offset: h.base_offset,
            reason: format!(
                "CRC32C mismatch: stored {:#010x}, computed {:#010x}",
                h.crc,
                crate::crc::crc32c(&self.bytes()[batch::ATTRIBUTES..])
            ),
        })
    }
}

/// A byte range of one segment file: what a fetch sends.
pub struct ReadSlice {
    pub map: MappedFile,
    pub path: PathBuf,
    pub position: usize,
    pub len: usize,
}

/// One problem found by `PartitionLog::verify`: the first bad batch of a segment.
pub struct Problem {
    pub path: PathBuf,
    pub position: u64,
    pub offset: i64,
    pub reason: String,
}

/// A batch sealed but not written yet: its records, or (after a write that
/// failed) the encoded batch, written again by the next write.
enum Sealed {
    Records(PendingBatch),
    Encoded(Vec<u8>),
}

impl Sealed {
    fn last_offset(&self) -> i64 {
        match self {
            Sealed::Records(p) => p.last_offset(),
            Sealed::Encoded(b) => BatchHeader::parse(b).last_offset(),
        }
    }
}

/// The log as a call that appends found it (see `begin`).
#[derive(Clone, Copy)]
struct Mark {
    next_offset: i64,
    unflushed: u64,
    segments: usize,
    active: AppendState,
    pending: Option<PendingMark>,
}

pub struct PartitionLog {
    dir: PathBuf,
    pub config: LogConfig,
    segments: Vec<Segment>,
    pending: Option<PendingBatch>,
    full: Vec<Sealed>,
    next_offset: i64,
    start_offset: i64,
    recovery_point: i64,
    unflushed: u64,
    last_flush_ms: i64,
    pub leader_epoch: i32,
    _lock: Option<File>,
    /// What opening found and cut; the Python layer logs these.
    pub recovery_notes: Vec<String>,
    /// Warnings of later calls (a checkpoint not written, a read that could
    /// not write pending records first); the bindings log and clear them.
    pub warnings: Vec<String>,
    /// Batch buffers for reuse, bounded (released on roll).
    pool: Pool,
    /// Set between `begin` and `end`.
    txn: Option<Mark>,
    /// The pending batch of the mark as it was, when the call sealed it with
    /// records of its own (see `retire`).
    straddle: Option<PendingBatch>,
    /// The checkpoint files are behind (a write failed): written again by the next flush.
    checkpoints_stale: bool,
    /// A failed write could not be undone: appends are refused until reopening.
    failed: Option<String>,
    /// A read already warned that pending records could not be written.
    read_warned: bool,
}

/// Reads a `0\n<value>\n` checkpoint. `Ok(None)` when absent; `Err(reason)`
/// when it is not a well-formed checkpoint (it is then untrusted input).
fn read_checkpoint(path: &Path) -> std::result::Result<Option<i64>, String> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let text = String::from_utf8_lossy(&text);
    let mut lines = text.lines();
    match (
        lines.next(),
        lines.next().and_then(|l| l.trim().parse::<i64>().ok()),
    ) {
        (Some("0"), Some(v)) if v >= 0 => Ok(Some(v)),
        _ => Err(format!(
            "malformed content {:?}",
            text.chars().take(60).collect::<String>()
        )),
    }
}

/// Writes `0\n<value>\n` atomically: temp file, fsync, rename.
fn write_checkpoint(dir: &Path, name: &str, value: i64) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let written = (|| {
        let mut f = File::create(&tmp).ctx(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(format!("0\n{value}\n").as_bytes())
            .ctx(|| format!("cannot write {}", tmp.display()))?;
        f.sync_data()
            .ctx(|| format!("cannot fsync {}", tmp.display()))?;
        fs::rename(&tmp, dir.join(name)).ctx(|| format!("cannot rename {}", tmp.display()))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("cannot fsync directory {}", dir.display()))
}

/// Removes whatever sits at `path` (a file, or a directory put where a file
/// of ours belongs).
fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn parse_segment_name(name: &str) -> Option<(i64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

fn new_batch(pool: &mut Pool, offset: i64, capacity: usize) -> PendingBatch {
    match pool.take() {
        Some(buf) => PendingBatch::with_buffer(offset, buf),
        None => PendingBatch::new(offset, capacity),
    }
}

impl PartitionLog {
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog> {
        if config.batch_size == 0 || config.segment_bytes < 64 || config.segment_index_bytes < 8 {
            return Err(LogError::Invalid(
                "batch_size, segment_bytes (>= 64) and segment_index_bytes (>= 8) must be positive"
                    .into(),
            ));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(LogError::Directory(format!(
                "{} exists and is not a directory",
                dir.display()
            )));
        }
        fs::create_dir_all(dir).ctx(|| format!("cannot create log directory {}", dir.display()))?;
        let lock = if config.lock_dir {
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(LOCK_FILE))
                .ctx(|| format!("cannot create lock file in {}", dir.display()))?;
            // SAFETY: plain flock(2) on a descriptor we own.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                return Err(LogError::Directory(format!(
                    "{} is locked: another writer has this log open",
                    dir.display()
                )));
            }
            Some(lock)
        } else {
            None
        };

        // A log cleaner swap interrupted by a crash is finished or undone first.
        let swap_notes = crate::cleaner::complete_swaps(dir)?;
        let mut bases = Vec::new();
        let mut strangers = Vec::new();
        for entry in fs::read_dir(dir).ctx(|| format!("cannot list {}", dir.display()))? {
            let entry = entry.ctx(|| format!("cannot list {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match parse_segment_name(&name) {
                Some((base, "log")) => bases.push(base),
                Some((_, "log.truncating")) => {
                    let _ = fs::remove_file(entry.path()); // an interrupted copy-and-rename
                }
                Some(_) => {}
                None if KNOWN_FILES.contains(&name.as_str()) || name.ends_with(".tmp") => {}
                None => strangers.push(name),
            }
        }
        if bases.is_empty() && !strangers.is_empty() {
            strangers.sort();
            return Err(LogError::Directory(format!(
                "{} is not a partition log directory: it holds {:?} and no segment",
                dir.display(),
                strangers
            )));
        }
        bases.sort_unstable();

        // Checkpoints and the marker are untrusted: a damaged one is set aside
        // and the log recovers from its segments instead.
        let mut notes = swap_notes;
        let marker = dir.join(CLEAN_SHUTDOWN);
        let mut clean = match fs::symlink_metadata(&marker) {
            Ok(m) if m.is_file() => true,
            Ok(_) => {
                notes.push(format!(
                    "{} is not a regular file: removed it; recovering from the segments",
                    marker.display()
                ));
                remove_any(&marker).ctx(|| format!("cannot remove {}", marker.display()))?;
                false
            }
            Err(_) => false,
        };
        // (value, whether the file was damaged)
        let mut checkpoint = |name: &str, fallback: &str| -> Result<(Option<i64>, bool)> {
            let path = dir.join(name);
            match read_checkpoint(&path) {
                Ok(v) => Ok((v, false)),
                Err(why) => {
                    notes.push(format!("{}: {why}; {fallback}", path.display()));
                    remove_any(&path).ctx(|| format!("cannot remove {}", path.display()))?;
                    Ok((None, true))
                }
            }
        };
        let (recovery_ckpt, damaged) = checkpoint(RECOVERY_CHECKPOINT, "recovering every segment")?;
        let (start_ckpt, _) = checkpoint(START_CHECKPOINT, "the log starts at its first segment")?;
        clean &= !damaged;
        let ckpt_recovery = recovery_ckpt.unwrap_or(0);
        let ckpt_start = start_ckpt.unwrap_or(0);
        let interval = config.index_interval_bytes;
        let mut segments: Vec<Segment> = Vec::new();
        let mut pool = Pool::new(2 * (batch::HEADER_LEN + config.batch_capacity()));
        let mut recovered = false;
        for (i, &base) in bases.iter().enumerate() {
            let prev_next = segments
                .last()
                .map_or(base, |s: &Segment| s.next_offset.max(s.base_offset));
            // Unclean: re-read every segment from the one holding the recovery point.
            let must_recover = !clean
                && bases
                    .get(i + 1)
                    .is_none_or(|&next_base| next_base > ckpt_recovery);
            let (mut seg, mut cut) = if must_recover {
                recovered = true;
                let mut seg = Segment::open_files_for_recovery(dir, base)?;
                let cut = seg.recover(interval, prev_next)?;
                (seg, cut)
            } else {
                Segment::open(dir, base, interval)?
            };
            if cut.is_none() && !must_recover && base < prev_next && !seg.is_empty() {
                // Overlaps the segment before it: keep only its offsets past that one's.
                cut = seg.recover(interval, prev_next)?;
            }
            notes.append(&mut seg.notes);
            if let Some(cut) = cut {
                notes.push(format!(
                    "{}: cut {} bytes at position {} ({}); the segment now ends at offset {}",
                    seg.log_path().display(),
                    cut.bytes,
                    cut.position,
                    cut.reason,
                    seg.next_offset.max(seg.base_offset)
                ));
            }
            // A segment with no batch is only ever the last one, starting where the
            // one before ends (a roll): any other is dropped, so that the log end
            // offset is where the data really ends.
            let is_last = i + 1 == bases.len();
            if seg.is_empty() && !segments.is_empty() && !(is_last && base == prev_next) {
                notes.push(format!(
                    "{}: deleted this segment, which holds no batch{}",
                    seg.log_path().display(),
                    if is_last { format!("; the log ends at offset {prev_next}") } else { String::new() }
                ));
                seg.delete()?;
                continue;
            }
            if !is_last {
                // It was rolled: a rebuilt one gets back its final time-index entry and
                // trimmed index files (a no-op for the others), also after a cut.
                if let Err(e) = seg.on_roll(&mut pool) {
                    notes.push(format!(
                        "{}: cannot finish its index files ({e}); they are rebuilt at the next open",
                        seg.log_path().display()
                    ));
                }
            }
            segments.push(seg);
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, ckpt_start)?);
        }
        let last = segments.last_mut().unwrap();
        last.make_active(config.segment_index_bytes, config.segment_bytes)?;
        let next_offset = last.next_offset.max(last.base_offset);
        let start_offset = ckpt_start.max(segments[0].base_offset).min(next_offset);
        let mut log = PartitionLog {
            dir: dir.to_owned(),
            config,
            segments,
            pending: None,
            full: Vec::new(),
            next_offset,
            start_offset,
            recovery_point: ckpt_recovery.min(next_offset),
            unflushed: 0,
            last_flush_ms: now_ms(),
            leader_epoch: 0,
            _lock: lock,
            recovery_notes: notes,
            warnings: Vec::new(),
            pool,
            txn: None,
            straddle: None,
            checkpoints_stale: false,
            failed: None,
            read_warned: false,
        };
        if recovered {
            // Without room for the checkpoint (a full disk) the log still opens:
            // the next open then recovers again.
            if let Err(e) = log.flush() {
                log.recovery_notes.push(format!("cannot flush after recovery: {e}"));
            }
        }
        let warnings = std::mem::take(&mut log.warnings);
        log.recovery_notes.extend(warnings);
        match fs::remove_file(&marker) {
            Ok(()) => fsync_dir(dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(LogError::Io {
                    context: format!("cannot remove {}", marker.display()),
                    source: e,
                })
            }
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size()).sum()
    }
    /// (base offset, size in bytes) of each segment.
    pub fn segment_info(&self) -> Vec<(i64, u64)> {
        self.segments
            .iter()
            .map(|s| (s.base_offset, s.size()))
            .collect()
    }

    /// The segments, oldest first; the last is active. For the log cleaner
    /// (cleaner.rs), which replaces runs of sealed ones (never the active one).
    pub(crate) fn segments_mut(&mut self) -> &mut Vec<Segment> {
        &mut self.segments
    }

    /// End offset of what the segment files hold (below `next_offset` only
    /// while records wait in memory that could not be written).
    fn written_end(&self) -> i64 {
        let last = self.segments.last().unwrap();
        last.next_offset.max(last.base_offset)
    }

    fn active(&mut self) -> &mut Segment {
        self.segments.last_mut().unwrap()
    }

    /// The warnings since the last call (see `warnings`), emptied.
    #[inline]
    pub fn take_warnings(&mut self) -> Vec<String> {
        if self.warnings.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut self.warnings)
        }
    }

    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    // ----- atomic steps ---------------------------------------------------

    /// Starts a call that appends: everything up to `end` is undone if it fails.
    /// Refused after a failure that could not be undone.
    pub fn begin(&mut self) -> Result<()> {
        if let Some(why) = &self.failed {
            return Err(LogError::Io {
                context: format!("{}: {why}", self.dir.display()),
                source: std::io::Error::from_raw_os_error(libc::EIO),
            });
        }
        let active = self.segments.last().unwrap();
        debug_assert!(active.state().file_len == active.size());
        self.txn = Some(Mark {
            next_offset: self.next_offset,
            unflushed: self.unflushed,
            segments: self.segments.len(),
            active: active.state(),
            pending: self.pending.as_ref().filter(|p| p.count > 0).map(|p| p.mark()),
        });
        self.straddle = None;
        Ok(())
    }

    /// Ends the call started by `begin`: on success every byte it appended is
    /// handed to the OS (written, not fsynced); on failure (`r` or that write)
    /// the call is undone and the log is as `begin` found it.
    pub fn end<R>(&mut self, r: Result<R>) -> Result<R> {
        let r = r.and_then(|v| {
            let seg = self.segments.last_mut().unwrap();
            seg.drain(&mut self.pool).map(|()| v)
        });
        let mark = self.txn.take();
        let straddle = self.straddle.take();
        if r.is_err() {
            if let Some(m) = mark {
                if let Err(undo) = self.rollback(m, straddle) {
                    let why = format!(
                        "a failed write could not be undone ({undo}); appends are refused until the log is reopened"
                    );
                    self.warn(format!("{}: {why}", self.dir.display()));
                    self.failed = Some(why);
                }
            }
        }
        r
    }

    /// Runs `f` as one atomic step (inside the caller's step when there is one).
    fn atomic<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        if self.txn.is_some() {
            return f(self);
        }
        self.begin()?;
        let r = f(self);
        self.end(r)
    }

    /// Puts the log back as `m` found it, keeping the batches of earlier calls
    /// that were sealed but not written (they are written again later).
    fn rollback(&mut self, m: Mark, straddle: Option<PendingBatch>) -> Result<()> {
        let cut = m.next_offset;
        let interval = self.config.index_interval_bytes;
        let mut unwritten = Vec::new();
        for b in self.segments.last_mut().unwrap().discard_queue()? {
            if BatchHeader::parse(&b).last_offset() < cut {
                unwritten.push(Sealed::Encoded(b));
            }
        }
        unwritten.extend(std::mem::take(&mut self.full).into_iter().filter(|s| s.last_offset() < cut));
        self.full = unwritten;
        // Written batches ending at or past `cut` go, with segments rolled for them.
        // Segments rolled by this call go unless earlier batches were written to them.
        while self.segments.len() > m.segments {
            let last = self.segments.last_mut().unwrap();
            if last.base_offset < cut {
                let empty = AppendState::empty(last.base_offset);
                last.rewind(&empty, cut, interval)?;
                if !last.is_empty() {
                    break;
                }
            }
            self.segments.pop().unwrap().delete()?;
        }
        if self.segments.len() == m.segments {
            self.segments.last_mut().unwrap().rewind(&m.active, cut, interval)?;
        }
        let (index_bytes, segment_bytes) = (self.config.segment_index_bytes, self.config.segment_bytes);
        self.active().make_active(index_bytes, segment_bytes)?;
        self.pending = match (straddle, m.pending) {
            (Some(prefix), _) => Some(prefix),
            (None, Some(pm)) => match self.pending.take() {
                Some(mut p) if p.base_offset == pm.base_offset => {
                    p.rewind(&pm);
                    Some(p)
                }
                _ => None,
            },
            (None, None) => None,
        };
        self.next_offset = cut;
        self.unflushed = m.unflushed;
        if self.recovery_point > cut {
            self.recovery_point = cut;
            self.save_checkpoint(RECOVERY_CHECKPOINT, cut);
        }
        Ok(())
    }

    // ----- appends -------------------------------------------------------

    /// Adds a record to the pending batch and returns its offset. Memory only:
    /// a batch that fills up waits in `full` until `write_full`.
    pub fn add_record(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> i64 {
        let offset = self.next_offset;
        let cap = self.config.batch_capacity();
        let p = self
            .pending
            .get_or_insert_with(|| new_batch(&mut self.pool, offset, cap));
        let body = p.body_size(timestamp, key, value, headers);
        if p.count > 0 && p.records_len() + varint_len(body as i32) + body > self.config.batch_size {
            let done = std::mem::replace(p, new_batch(&mut self.pool, offset, cap));
            self.retire(done);
            let p = self.pending.as_mut().unwrap();
            let body = p.body_size(timestamp, key, value, headers);
            p.push_sized(body, timestamp, key, value, headers);
        } else {
            p.push_sized(body, timestamp, key, value, headers);
        }
        self.next_offset += 1;
        self.unflushed += 1;
        offset
    }

    /// Moves a sealed batch to `full`. A batch that the current step found
    /// pending and has added records to is kept as it was first (`straddle`),
    /// so that undoing the step can give it back without this step's records.
    fn retire(&mut self, p: PendingBatch) {
        if let Some(pm) = self.txn.as_ref().and_then(|m| m.pending) {
            if p.base_offset == pm.base_offset && p.count > pm.count && self.straddle.is_none() {
                self.straddle = Some(p.prefix(&pm));
            }
        }
        self.full.push(Sealed::Records(p));
    }

    pub fn has_full_batches(&self) -> bool {
        !self.full.is_empty()
    }

    pub fn full_batches(&self) -> usize {
        self.full.len()
    }

    /// Encodes and appends the batches that filled up, oldest first. On an
    /// error the ones not appended stay in `full`, and the step's `end`
    /// undoes the rest.
    pub fn write_full(&mut self) -> Result<()> {
        let interval = self.config.index_interval_bytes;
        let mut batches = std::mem::take(&mut self.full).into_iter();
        while let Some(s) = batches.next() {
            let b = match s {
                Sealed::Encoded(b) => b,
                Sealed::Records(p) => match p.into_batch(self.config.compression, self.leader_epoch) {
                    Ok(b) => b,
                    Err(e) => {
                        self.full.extend(batches);
                        return Err(e);
                    }
                },
            };
            let h = BatchHeader::parse(&b);
            if let Err(e) = self.maybe_roll(b.len(), h.base_offset, h.last_offset(), h.max_timestamp) {
                self.full.push(Sealed::Encoded(b));
                self.full.extend(batches);
                return Err(e);
            }
            let seg = self.segments.last_mut().unwrap();
            if let Err(e) = seg.append(b, &h, None, interval, &mut self.pool) {
                self.full.extend(batches); // the batch itself is in the segment's queue
                return Err(e);
            }
        }
        Ok(())
    }

    fn seal_inner(&mut self) -> Result<()> {
        if let Some(p) = self.pending.take() {
            if p.count > 0 {
                self.retire(p);
            } else {
                self.pool.put(p.records);
            }
        }
        self.write_full()
    }

    /// Seals the pending batch and writes everything appended so far (one
    /// atomic step: on failure the records stay pending, as they were).
    pub fn seal(&mut self) -> Result<()> {
        if self.pending.is_none() && self.full.is_empty() {
            return Ok(());
        }
        self.atomic(|log| log.seal_inner())
    }

    /// `seal` before a read. When the records cannot be written (a full disk)
    /// the read goes on over what the files hold, and the records stay pending.
    pub fn seal_for_read(&mut self) {
        match self.seal() {
            Ok(()) => self.read_warned = false,
            Err(e) => {
                if !self.read_warned {
                    let end = self.written_end();
                    self.warn(format!(
                        "{}: records up to offset {} wait in memory, not written ({e}); reads see the log up to offset {end}",
                        self.dir.display(),
                        self.next_offset
                    ));
                    self.read_warned = true;
                }
            }
        }
    }

    /// Drops every record not written yet (all of them past the written end).
    fn drop_unwritten(&mut self) {
        if let Some(p) = self.pending.take() {
            self.pool.put(p.records);
        }
        self.full.clear();
        self.next_offset = self.written_end();
        self.recovery_point = self.recovery_point.min(self.next_offset);
    }

    fn maybe_roll(&mut self, size: usize, base: i64, last: i64, max_ts: i64) -> Result<()> {
        let cfg = &self.config;
        let seg = self.segments.last().unwrap();
        if seg.is_empty() {
            return Ok(());
        }
        let roll = seg.size() + size as u64 > cfg.segment_bytes
            || seg
                .first_batch_max_timestamp
                .is_some_and(|t| max_ts - t > cfg.segment_ms)
            || seg.index_full()
            || last - seg.base_offset > i32::MAX as i64;
        if roll {
            self.roll(base)?;
        }
        Ok(())
    }

    /// A new active segment at `base`. On failure the old one stays active.
    fn roll(&mut self, base: i64) -> Result<()> {
        let (index_bytes, segment_bytes) = (self.config.segment_index_bytes, self.config.segment_bytes);
        let seg = self.segments.last_mut().unwrap();
        seg.on_roll(&mut self.pool)?;
        let created = Segment::create(&self.dir, base).and_then(|mut new| {
            match new.make_active(index_bytes, segment_bytes) {
                Ok(()) => Ok(new),
                Err(e) => {
                    let _ = new.delete();
                    Err(e)
                }
            }
        });
        match created {
            Ok(new) => {
                self.segments.push(new);
                // Buffers sized for the old segment's batches are not kept around.
                self.pool.clear();
                Ok(())
            }
            Err(e) => {
                let _ = self.active().make_active(index_bytes, segment_bytes);
                Err(e)
            }
        }
    }

    fn append_batch(
        &mut self,
        batch: Vec<u8>,
        h: &BatchHeader,
        patch: Option<(i64, Option<i32>)>,
    ) -> Result<()> {
        let base = patch.map_or(h.base_offset, |p| p.0);
        self.maybe_roll(
            batch.len(),
            base,
            base + h.last_offset_delta as i64,
            h.max_timestamp,
        )?;
        let interval = self.config.index_interval_bytes;
        let seg = self.segments.last_mut().unwrap();
        seg.append(batch, h, patch, interval, &mut self.pool)
    }

    /// Appends wire batches. With `assign_offsets` (a leader taking a Produce)
    /// each batch gets the next offsets and the log's leader epoch; without it
    /// (a follower copying its leader) offsets must be at or past the end.
    /// Everything is validated before anything is written, and the call is
    /// atomic: on any error no batch of it is in the log.
    pub fn append_raw(&mut self, buf: &[u8], assign_offsets: bool) -> Result<(i64, i64)> {
        let batches = batch::validate_batches(buf)?;
        self.atomic(|log| {
            log.seal_inner()?;
            if !assign_offsets {
                let mut expect = log.next_offset;
                for (_, h) in &batches {
                    if h.base_offset < expect {
                        return Err(LogError::Corrupt(format!(
                            "batch base offset {} is below the log end offset {expect}",
                            h.base_offset
                        )));
                    }
                    expect = h.last_offset() + 1;
                }
            }
            let first = if assign_offsets {
                log.next_offset
            } else {
                batches[0].1.base_offset
            };
            for (pos, h) in &batches {
                let bytes = buf[*pos..*pos + h.size()].to_vec();
                let patch = assign_offsets.then_some((log.next_offset, Some(log.leader_epoch)));
                log.append_batch(bytes, h, patch)?;
                log.next_offset = log.active().next_offset;
                log.unflushed += h.record_count.max(0) as u64;
            }
            // Once append_raw returns, the bytes are in the OS page cache (`end`
            // writes them), so an acknowledged write survives a process kill.
            Ok((first, log.next_offset - 1))
        })
    }

    // ----- durability ----------------------------------------------------

    pub fn needs_flush(&self) -> bool {
        self.needs_flush_after(0)
    }

    /// Whether the flush policy will want a flush once `more` records are added.
    pub fn needs_flush_after(&self, more: u64) -> bool {
        let unflushed = self.unflushed + more;
        self.config.flush_messages.is_some_and(|n| unflushed >= n)
            || self
                .config
                .flush_ms
                .is_some_and(|ms| unflushed > 0 && now_ms() - self.last_flush_ms >= ms)
    }

    /// Writes a checkpoint; without room for it the failure is a warning and
    /// the checkpoints are written again by the next flush (until then a
    /// restart recovers more than it needs to, which is safe).
    fn save_checkpoint(&mut self, name: &str, value: i64) -> bool {
        match write_checkpoint(&self.dir, name, value) {
            Ok(()) => true,
            Err(e) => {
                self.warn(format!("{e}; written again at the next flush"));
                self.checkpoints_stale = true;
                false
            }
        }
    }

    fn save_checkpoints(&mut self) -> bool {
        self.checkpoints_stale = false;
        let (start, recovery) = (self.start_offset, self.recovery_point);
        self.save_checkpoint(START_CHECKPOINT, start) && self.save_checkpoint(RECOVERY_CHECKPOINT, recovery)
    }

    /// Seals, fsyncs every segment written since the last flush, and moves the
    /// recovery point to the end.
    pub fn flush(&mut self) -> Result<()> {
        self.atomic(|log| {
            log.seal_inner()?;
            for seg in log.segments.iter_mut().filter(|s| s.is_dirty()) {
                seg.fsync(&mut log.pool)?;
            }
            Ok(())
        })?;
        self.unflushed = 0;
        self.last_flush_ms = now_ms();
        if self.checkpoints_stale {
            self.recovery_point = self.next_offset;
            self.save_checkpoints();
        } else if self.recovery_point != self.next_offset {
            self.recovery_point = self.next_offset;
            self.save_checkpoint(RECOVERY_CHECKPOINT, self.next_offset);
        }
        Ok(())
    }

    /// Seals and hands every appended byte to the OS (page cache), without fsync:
    /// the data then survives the process, not the machine.
    pub fn write_out(&mut self) -> Result<()> {
        self.seal()
    }

    /// Flushes, then writes the checkpoints and the clean-shutdown marker. An
    /// error flushing is returned; without room for the checkpoints or the
    /// marker (a full disk) the close still succeeds with a warning, and the
    /// next open recovers from the segments.
    pub fn close(&mut self) -> Result<()> {
        if self.failed.is_some() {
            // Nothing more can be written safely: no clean-shutdown marker, so
            // the next open recovers (and repairs) the files.
            self.warn(format!("{}: closed without a clean shutdown after a failed write", self.dir.display()));
            return Ok(());
        }
        self.flush()?;
        self.active().trim_indexes()?;
        if !self.save_checkpoints() {
            return Ok(());
        }
        if let Err(e) = File::create(self.dir.join(CLEAN_SHUTDOWN)) {
            self.warn(format!("cannot write {}: {e}; the next open recovers", self.dir.join(CLEAN_SHUTDOWN).display()));
            return Ok(());
        }
        if let Err(e) = fsync_dir(&self.dir) {
            self.warn(e.to_string());
        }
        Ok(())
    }

    // ----- reads ---------------------------------------------------------

    fn check_offset(&self, offset: i64) -> Result<()> {
        if offset < self.start_offset || offset > self.next_offset {
            return Err(LogError::OffsetOutOfRange(format!(
                "offset {offset} is out of range [{}, {}] of {}",
                self.start_offset,
                self.next_offset,
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Index of the segment that may hold `offset`.
    fn segment_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }

    /// The first batch holding an offset `>= offset`, searching from its segment on
    /// (past gaps). Corrupt bytes met on the way raise `CorruptData`.
    fn locate(&mut self, offset: i64) -> Result<Option<(usize, usize, BatchHeader)>> {
        for i in self.segment_for(offset)..self.segments.len() {
            if let Some((pos, h)) = self.segments[i].find_batch(offset)? {
                return Ok(Some((i, pos, h)));
            }
        }
        Ok(None)
    }

    /// Whole batches of one segment from the batch holding `offset`, at most
    /// `max_bytes` but at least one batch; none at the end (or at `upto`).
    /// Every batch in the range is well framed (and, with `verify_crc`, has a
    /// valid CRC32C, checked once per batch: see `Segment::crc_ok`): the range
    /// stops before the first that is not, and when that is the first batch,
    /// `CorruptData` is raised.
    pub fn read(
        &mut self,
        offset: i64,
        max_bytes: usize,
        upto: Option<i64>,
        verify_crc: bool,
    ) -> Result<Option<ReadSlice>> {
        self.seal_for_read();
        self.check_offset(offset)?;
        let upto = upto.unwrap_or(i64::MAX).min(self.written_end());
        if offset >= upto {
            return Ok(None);
        }
        let Some((i, pos, first)) = self.locate(offset)? else {
            return Ok(None);
        };
        if first.base_offset >= upto {
            return Ok(None);
        }
        let seg = &mut self.segments[i];
        let map = seg.map()?;
        if verify_crc && !seg.crc_ok(&map, pos, &first) {
            return Err(seg.corrupt(pos, first.base_offset, "CRC32C mismatch".into()));
        }
        let mut len = first.size();
        let mut min_base = first.last_offset() + 1;
        while pos + len < map.len() {
            let Ok(h) = seg.frame_at(&map, pos + len, min_base) else {
                break; // the next read, starting there, reports it
            };
            if len + h.size() > max_bytes
                || h.base_offset >= upto
                || (verify_crc && !seg.crc_ok(&map, pos + len, &h))
            {
                break;
            }
            len += h.size();
            min_base = h.last_offset() + 1;
        }
        Ok(Some(ReadSlice {
            map,
            path: seg.log_path().to_owned(),
            position: pos,
            len,
        }))
    }

    /// Batches from the one holding `offset`, across segments (and gaps), until
    /// they cover `max_records` offsets or reach `upto`. Each is checked for
    /// framing; a batch in the range that is not well framed raises
    /// `CorruptData`. CRCs are the caller's to check (`BatchRef::check_crc`).
    pub fn batches(
        &mut self,
        offset: i64,
        max_records: Option<u64>,
        upto: Option<i64>,
    ) -> Result<Vec<BatchRef>> {
        self.seal_for_read();
        self.check_offset(offset)?;
        let upto = upto.unwrap_or(i64::MAX).min(self.written_end());
        let mut out = Vec::new();
        if offset >= upto {
            return Ok(out);
        }
        let Some((first_seg, mut pos, first)) = self.locate(offset)? else {
            return Ok(out);
        };
        // Records covered so far, counted (offsets may have gaps after compaction
        // or a follower's appends); the first batch counts only from `offset`.
        let want = max_records.unwrap_or(u64::MAX);
        let mut covered: u64 = 0;
        let mut min_base = first.base_offset;
        for i in first_seg..self.segments.len() {
            let seg = &mut self.segments[i];
            let map = seg.map()?;
            let path = seg.shared_path();
            min_base = min_base.max(seg.base_offset);
            let first_pos = pos;
            let mut done = false;
            while pos < map.len() {
                if covered >= want {
                    done = true;
                    break;
                }
                let h = seg.frame_at(&map, pos, min_base)?;
                if h.base_offset >= upto {
                    done = true;
                    break;
                }
                let n = if out.is_empty() {
                    (h.last_offset() - offset + 1).clamp(0, h.record_count as i64)
                } else {
                    h.record_count as i64
                };
                covered += n.max(0) as u64;
                out.push(BatchRef { map: map.clone(), pos, header: h, path: path.clone() });
                min_base = h.last_offset() + 1;
                pos += h.size();
            }
            map.populate(first_pos, pos);
            if done {
                break;
            }
            pos = 0;
        }
        Ok(out)
    }

    /// First offset at or above the log start whose timestamp is `>= ts`.
    pub fn offset_for_timestamp(&mut self, ts: i64) -> Result<Option<i64>> {
        self.seal_for_read();
        let start = self.start_offset;
        for i in self.segment_for(start)..self.segments.len() {
            if let Some(off) = self.segments[i].find_timestamp(ts, start)? {
                return Ok(Some(off));
            }
        }
        Ok(None)
    }

    /// Fully checks every batch of every segment (framing, CRC32C, records,
    /// increasing offsets): the first bad batch of each segment that has one.
    pub fn verify(&mut self) -> Result<Vec<Problem>> {
        self.seal_for_read();
        let mut out = Vec::new();
        for seg in &mut self.segments {
            if let Some((position, offset, reason)) = seg.verify()? {
                out.push(Problem { path: seg.log_path().to_owned(), position, offset, reason });
            }
        }
        Ok(out)
    }

    // ----- truncation and retention ---------------------------------------

    /// Drops every batch whose last offset is `>= offset` (Kafka's rule).
    /// Works on a full disk: it only cuts and deletes files.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        if let Err(e) = self.seal() {
            if offset >= self.written_end() {
                return Err(e);
            }
            self.drop_unwritten(); // all of it lies past `offset`
        }
        if offset >= self.next_offset {
            return Ok(());
        }
        let interval = self.config.index_interval_bytes;
        while self.segments.len() > 1 && self.segments.last().unwrap().base_offset >= offset {
            self.segments.pop().unwrap().delete()?;
        }
        let only = &self.segments[0];
        if self.segments.len() == 1 && only.base_offset >= offset && only.base_offset != offset.max(0) {
            // Nothing is left below `offset`: the log starts again there.
            let fresh = Segment::create(&self.dir, offset.max(0))?;
            let old = std::mem::replace(&mut self.segments[0], fresh);
            old.delete()?;
            self.start_offset = offset.max(0);
            self.save_checkpoint(START_CHECKPOINT, self.start_offset);
        } else {
            self.active().truncate_to(offset, interval)?;
        }
        let (idx_bytes, seg_bytes) = (self.config.segment_index_bytes, self.config.segment_bytes);
        let last = self.active();
        last.make_active(idx_bytes, seg_bytes)?;
        self.next_offset = last.next_offset.max(last.base_offset);
        self.start_offset = self.start_offset.min(self.next_offset);
        if self.recovery_point > self.next_offset {
            self.recovery_point = self.next_offset;
            self.save_checkpoint(RECOVERY_CHECKPOINT, self.recovery_point);
        }
        if let Err(e) = fsync_dir(&self.dir) {
            self.warn(e.to_string());
        }
        Ok(())
    }

    /// Moves the log start offset up to `offset` (at most the end offset) and
    /// deletes the segments that lie wholly below it. Returns the start offset.
    /// Works on a full disk (deleting first frees the room the roll needs).
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        self.seal_for_read();
        let offset = offset.min(self.next_offset);
        if offset <= self.start_offset {
            return Ok(self.start_offset);
        }
        self.start_offset = offset;
        self.delete_segments_below(offset)?;
        let all_written = self.written_end() == self.next_offset;
        if offset == self.next_offset && all_written && !self.active().is_empty() {
            match self.roll(offset) {
                Ok(()) => self.delete_segments_below(offset)?,
                Err(e) => self.warn(format!(
                    "{}: cannot roll a new segment ({e}); the records below the log start offset stay on disk until the next roll",
                    self.dir.display()
                )),
            }
        }
        self.save_checkpoint(START_CHECKPOINT, self.start_offset);
        Ok(self.start_offset)
    }

    /// Deletes the segments (not the active one) whose offsets all lie below `offset`.
    fn delete_segments_below(&mut self, offset: i64) -> Result<()> {
        while self.segments.len() > 1 && self.segments[1].base_offset <= offset {
            self.segments.remove(0).delete()?;
        }
        Ok(())
    }

    /// Kafka's truncateFullyAndStartAt: deletes every record and restarts the log, empty,
    /// at `offset` (a follower whose end fell below the leader's log start). Afterwards
    /// start = end = recovery point = `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        let offset = offset.max(0);
        self.seal()?;
        while let Some(seg) = self.segments.pop() {
            seg.delete()?;
        }
        self.segments.push(Segment::create(&self.dir, offset)?);
        let (idx_bytes, seg_bytes) = (self.config.segment_index_bytes, self.config.segment_bytes);
        self.active().make_active(idx_bytes, seg_bytes)?;
        self.next_offset = offset;
        self.start_offset = offset;
        self.recovery_point = offset;
        write_checkpoint(&self.dir, START_CHECKPOINT, offset)?;
        write_checkpoint(&self.dir, RECOVERY_CHECKPOINT, offset)?;
        fsync_dir(&self.dir)
    }

    /// Deletes old non-active segments by `retention.ms` and `retention.bytes`.
    pub fn enforce_retention(&mut self, now: i64) -> Result<usize> {
        self.seal_for_read();
        let mut deleted = 0;
        if self.config.retention_ms >= 0 {
            while self.segments.len() > 1
                && now - self.segments[0].largest_timestamp() > self.config.retention_ms
            {
                self.segments.remove(0).delete()?;
                deleted += 1;
            }
        }
        if self.config.retention_bytes >= 0 {
            let mut total = self.size_bytes() as i64;
            while self.segments.len() > 1
                && total - self.segments[0].size() as i64 >= self.config.retention_bytes
            {
                total -= self.segments[0].size() as i64;
                self.segments.remove(0).delete()?;
                deleted += 1;
            }
        }
        if deleted > 0 && self.segments[0].base_offset > self.start_offset {
            self.start_offset = self.segments[0].base_offset;
            self.save_checkpoint(START_CHECKPOINT, self.start_offset);
        }
        Ok(deleted)
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        // Not a clean shutdown (no marker), but do not lose what was appended.
        let _ = self.seal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment;

    fn config(segment_bytes: u64) -> LogConfig {
        LogConfig { segment_bytes, index_interval_bytes: 256, batch_size: 512, ..LogConfig::default() }
    }

    fn fill(log: &mut PartitionLog, n: i64) {
        for i in 0..n {
            let v = format!("value-{i:06}");
            log.add_record(1_000 + i, None, Some(v.as_bytes()), &[]);
        }
        log.seal().unwrap();
    }

    fn values(log: &mut PartitionLog, from: i64) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        for b in log.batches(from, None, None).unwrap() {
            let data = batch::records_data(b.bytes(), &b.header).unwrap();
            batch::for_each_record(data.bytes(), &b.header, |r, d| {
                let (s, e) = r.value.unwrap();
                out.push((r.offset, d[s..e].to_vec()));
                true
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn rolls_and_reads_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(4096)).unwrap();
        fill(&mut log, 2_000);
        assert!(log.segment_info().len() > 5, "expected several segments: {:?}", log.segment_info());
        let all = values(&mut log, 0);
        assert_eq!(all.len(), 2_000);
        assert!(all.iter().enumerate().all(|(i, (o, v))| *o == i as i64 && v == format!("value-{i:06}").as_bytes()));
        for probe in [0, 1, 499, 500, 1_234, 1_999] {
            let s = log.read(probe, 1, None, false).unwrap().unwrap();
            let h = BatchHeader::parse(&s.map[s.position..]);
            assert!(h.base_offset <= probe && probe <= h.last_offset(), "offset {probe} not in batch {h:?}");
        }
        assert!(log.read(2_000, 1 << 20, None, false).unwrap().is_none());
        assert!(matches!(log.read(2_001, 1, None, false), Err(LogError::OffsetOutOfRange(_))));
        assert_eq!(log.offset_for_timestamp(1_500).unwrap(), Some(500));
        assert_eq!(log.offset_for_timestamp(9_999).unwrap(), None);
    }

    #[test]
    fn reopen_after_clean_close_is_identical() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(8192)).unwrap();
        fill(&mut log, 1_000);
        log.close().unwrap();
        drop(log);
        let snapshot: Vec<(String, Vec<u8>)> = {
            let mut v: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "log" || x == "index" || x == "timeindex"))
                .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
                .collect();
            v.sort();
            v
        };
        let mut log = PartitionLog::open(dir.path(), config(8192)).unwrap();
        assert!(log.recovery_notes.is_empty());
        assert_eq!(log.next_offset(), 1_000);
        assert_eq!(values(&mut log, 0).len(), 1_000);
        log.close().unwrap();
        drop(log);
        for (name, bytes) in snapshot {
            assert_eq!(fs::read(dir.path().join(&name)).unwrap(), bytes, "{name} changed across reopen");
        }
    }

    #[test]
    fn unclean_open_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(1 << 20)).unwrap();
        fill(&mut log, 300);
        log.flush().unwrap();
        drop(log); // no close(): no clean-shutdown marker
        let seg = dir.path().join(segment::file_name(0, "log"));
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 7).unwrap();
        let mut log = PartitionLog::open(dir.path(), config(1 << 20)).unwrap();
        assert_eq!(log.recovery_notes.len(), 1, "{:?}", log.recovery_notes);
        let kept = values(&mut log, 0);
        assert!(kept.len() < 300 && !kept.is_empty());
        assert_eq!(log.next_offset(), kept.len() as i64);
        fill(&mut log, 10);
        assert_eq!(values(&mut log, 0).len(), kept.len() + 10);
    }

    #[test]
    fn truncate_fully_and_start_at() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(1024)).unwrap();
        fill(&mut log, 50);
        log.truncate_fully_and_start_at(120).unwrap();
        assert_eq!((log.start_offset(), log.next_offset()), (120, 120));
        fill(&mut log, 5);
        assert_eq!(log.next_offset(), 125);
        drop(log);
        let log = PartitionLog::open(dir.path(), config(1024)).unwrap();
        assert_eq!((log.start_offset(), log.next_offset()), (120, 125));
    }

    #[test]
    fn truncate_and_delete_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(4096)).unwrap();
        fill(&mut log, 1_000);
        let batches = log.batches(0, None, None).unwrap();
        let boundary = batches[10].header.base_offset;
        log.truncate_to(boundary).unwrap();
        assert_eq!(log.next_offset(), boundary);
        assert_eq!(values(&mut log, 0).len() as i64, boundary);
        assert_eq!(log.delete_records_before(100).unwrap(), 100);
        assert!(matches!(log.read(99, 1, None, false), Err(LogError::OffsetOutOfRange(_))));
        // Reads start at the batch holding offset 100, which may begin below it.
        let from_100 = values(&mut log, 100);
        assert!(from_100[0].0 <= 100 && from_100.iter().any(|v| v.0 == 100));
    }

    #[test]
    fn append_raw_rejects_bad_crc_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(1 << 20)).unwrap();
        fill(&mut log, 5);
        let mut p = PendingBatch::new(0, 64);
        p.push(1, None, Some(b"x"), &[]);
        let mut good = p.into_batch(Codec::None, 0).unwrap();
        let (first, last) = log.append_raw(&good, true).unwrap();
        assert_eq!((first, last), (5, 5));
        let n = good.len();
        good[n - 1] ^= 1;
        assert!(matches!(log.append_raw(&good, true), Err(LogError::Corrupt(_))));
        assert_eq!(log.next_offset(), 6);
    }

    /// xorshift64*: a small deterministic generator for the fault tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Appends `values` the way the Python `append_batch` does: one step.
    fn append_values(log: &mut PartitionLog, values: &[Vec<u8>], ts: i64) -> Result<i64> {
        log.begin()?;
        let first = log.next_offset();
        for v in values {
            log.add_record(ts, None, Some(v), &[]);
            if log.full_batches() >= 2 {
                if let Err(e) = log.write_full() {
                    return log.end(Err(e));
                }
            }
        }
        let r = log.write_full().map(|()| first);
        log.end(r)
    }

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
            .collect();
        v.sort();
        v
    }

    /// Every kind of append against a disk that fills up at random points: a
    /// failed call changes nothing (offsets, files, index state, pending
    /// records), a successful one is all there, and after space returns the
    /// log holds exactly the acknowledged values at contiguous offsets, also
    /// after an unclean reopen.
    #[test]
    fn appends_are_atomic_on_a_full_disk() {
        for compression in [Codec::None, Codec::Lz4] {
            appends_are_atomic_with(compression);
        }
    }

    fn appends_are_atomic_with(compression: Codec) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig { segment_bytes: 6000, index_interval_bytes: 300, batch_size: 700, compression, ..LogConfig::default() };
        let mut log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut model: Vec<Vec<u8>> = Vec::new();
        let (mut failed, mut ok) = (0, 0);
        for round in 0..400 {
            let n = 1 + rng.below(40) as usize;
            let batch_values: Vec<Vec<u8>> = (0..n)
                .map(|i| format!("r{round}-{i}-{}", "x".repeat(rng.below(60) as usize)).into_bytes())
                .collect();
            let before = (log.next_offset(), files(dir.path()), log.segments.last().unwrap().state());
            segment::fault::set(Some(rng.below(2500) as usize));
            let kind = rng.below(3);
            let r = match kind {
                0 => append_values(&mut log, &batch_values, 1_000 + round),
                1 => {
                    let mut p = PendingBatch::new(0, 64);
                    for v in &batch_values {
                        p.push(1_000 + round, None, Some(v), &[]);
                    }
                    let b = p.into_batch(Codec::None, 0).unwrap();
                    log.append_raw(&b, true).map(|(first, _)| first)
                }
                _ => {
                    // single appends: records pile up in the pending batch across calls
                    let mut first = None;
                    let mut r = Ok(0);
                    for v in &batch_values {
                        r = log.begin().and_then(|()| {
                            let off = log.add_record(1_000 + round, None, Some(v), &[]);
                            let w = log.write_full().map(|()| off);
                            log.end(w)
                        });
                        match &r {
                            Ok(off) => {
                                first.get_or_insert(*off);
                                model.push(v.clone());
                            }
                            Err(_) => break,
                        }
                    }
                    r.map(|_| first.unwrap_or(0))
                }
            };
            segment::fault::set(None);
            match r {
                Ok(first) => {
                    ok += 1;
                    if kind != 2 {
                        assert_eq!(first, model.len() as i64, "round {round}: first offset");
                        model.extend(batch_values);
                    }
                }
                Err(LogError::Io { source, .. }) => {
                    failed += 1;
                    assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
                    let after = (log.next_offset(), files(dir.path()), log.segments.last().unwrap().state());
                    if kind != 2 && before.0 == before.2.next_offset {
                        assert_eq!(before, after, "round {round}: a failed call changed the log");
                    } else {
                        // Records earlier calls left pending may have been written meanwhile.
                        assert!(after.2.next_offset <= log.next_offset(), "round {round}");
                    }
                }
                Err(e) => panic!("round {round}: {e}"),
            }
            assert_eq!(log.next_offset(), model.len() as i64, "round {round}");
            if round % 50 == 49 {
                let got = values(&mut log, 0);
                assert_eq!(got.len(), model.len(), "round {round}");
                for (i, (o, v)) in got.iter().enumerate() {
                    assert_eq!((*o, v), (i as i64, &model[i]), "round {round}");
                }
            }
        }
        assert!(failed > 50 && ok > 50, "failed {failed}, ok {ok}");
        assert!(log.segment_info().len() > 3, "rolls were exercised");
        log.seal().unwrap();
        drop(log); // unclean
        let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
        let got = values(&mut log, 0);
        assert_eq!(got.len(), model.len());
        assert!(got.iter().enumerate().all(|(i, (o, v))| *o == i as i64 && *v == model[i]));
    }

    /// A failed call leaves the records that earlier calls left pending (in
    /// memory, not yet written) where they were: still at their offsets.
    #[test]
    fn a_failed_call_keeps_earlier_pending_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config(1 << 20)).unwrap();
        for i in 0..5 {
            log.add_record(i, None, Some(format!("early-{i}").as_bytes()), &[]);
        }
        segment::fault::set(Some(0));
        let big: Vec<Vec<u8>> = (0..200).map(|i| format!("late-{i:04}").into_bytes()).collect();
        assert!(append_values(&mut log, &big, 7).is_err());
        assert_eq!(log.next_offset(), 5);
        assert!(log.seal().is_err(), "no space: the pending records cannot be written yet");
        assert_eq!(log.next_offset(), 5);
        segment::fault::set(None);
        assert_eq!(append_values(&mut log, &big, 7).unwrap(), 5);
        let got = values(&mut log, 0);
        assert_eq!(got.len(), 205);
        assert_eq!(got[4].1, b"early-4");
        assert_eq!(got[5].1, b"late-0000");
    }
}
