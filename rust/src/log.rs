//! The partition log: an ordered list of segments, the pending batch of
//! embedded appends, checkpoints, recovery, retention and truncation.
//!
//! Invariants:
//! - `segments` is never empty, sorted by base offset; the last one is active;
//! - offsets below `next_offset` are assigned: written to a segment, or held in
//!   `full`/`pending` (which are sealed before any read or flush);
//! - `start_offset <= next_offset`, `recovery_point <= next_offset`, and every
//!   batch below `recovery_point` has been fsynced.

use crate::batch::{self, BatchHeader, Header, PendingBatch};
use crate::varint::varint_len;
use crate::compression::Codec;
use crate::error::{IoContext, LogError, Result};
use crate::segment::{self, header_at, MappedFile, Segment};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

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
        }
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
}

impl BatchRef {
    pub fn bytes(&self) -> &[u8] {
        &self.map[self.pos..self.pos + self.header.size()]
    }
}

/// A byte range of one segment file: what a fetch sends.
pub struct ReadSlice {
    pub map: MappedFile,
    pub path: PathBuf,
    pub position: usize,
    pub len: usize,
}

pub struct PartitionLog {
    dir: PathBuf,
    pub config: LogConfig,
    segments: Vec<Segment>,
    pending: Option<PendingBatch>,
    full: Vec<PendingBatch>,
    next_offset: i64,
    start_offset: i64,
    recovery_point: i64,
    unflushed: u64,
    last_flush_ms: i64,
    pub leader_epoch: i32,
    _lock: File,
    /// What opening found and cut; the Python layer logs these.
    pub recovery_notes: Vec<String>,
}

fn read_checkpoint(path: &Path) -> Result<Option<i64>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LogError::Io {
                context: format!("cannot read {}", path.display()),
                source: e,
            })
        }
    };
    let mut lines = text.lines();
    match (
        lines.next(),
        lines.next().and_then(|l| l.trim().parse::<i64>().ok()),
    ) {
        (Some("0"), Some(v)) if v >= 0 => Ok(Some(v)),
        _ => Err(LogError::Directory(format!(
            "malformed checkpoint file {}: {text:?}",
            path.display()
        ))),
    }
}

/// Writes `0\n<value>\n` atomically: temp file, fsync, rename.
fn write_checkpoint(dir: &Path, name: &str, value: i64) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).ctx(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(format!("0\n{value}\n").as_bytes())
        .ctx(|| format!("cannot write {}", tmp.display()))?;
    f.sync_data()
        .ctx(|| format!("cannot fsync {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(name)).ctx(|| format!("cannot rename {}", tmp.display()))
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("cannot fsync directory {}", dir.display()))
}

fn parse_segment_name(name: &str) -> Option<(i64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
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

        let clean = dir.join(CLEAN_SHUTDOWN).exists();
        let ckpt_recovery = read_checkpoint(&dir.join(RECOVERY_CHECKPOINT))?.unwrap_or(0);
        let ckpt_start = read_checkpoint(&dir.join(START_CHECKPOINT))?.unwrap_or(0);
        let interval = config.index_interval_bytes;
        let mut notes = swap_notes;
        let mut segments: Vec<Segment> = Vec::new();
        let mut recovered = false;
        let mut i = 0;
        while i < bases.len() {
            let base = bases[i];
            let prev_next = segments
                .last()
                .map_or(base, |s: &Segment| s.next_offset.max(s.base_offset));
            // Unclean: re-read every segment from the one holding the recovery point.
            let must_recover = !clean
                && bases
                    .get(i + 1)
                    .is_none_or(|&next_base| next_base > ckpt_recovery);
            let (seg, cut) = if must_recover {
                recovered = true;
                let mut seg = Segment::open_files_for_recovery(dir, base)?;
                let cut = seg.recover(interval, prev_next)?;
                (seg, cut)
            } else {
                Segment::open(dir, base, interval)?
            };
            segments.push(seg);
            if cut.is_none() && i + 1 < bases.len() {
                // A segment that is not the last was rolled: a rebuilt one gets back its
                // final time-index entry and trimmed index files (a no-op for the others).
                segments.last_mut().unwrap().on_roll()?;
            }
            if let Some(cut) = cut {
                let seg = segments.last().unwrap();
                notes.push(format!(
                    "{}: cut {} bytes at position {} ({}); log end offset is now {}",
                    seg.log_path().display(),
                    cut.bytes,
                    cut.position,
                    cut.reason,
                    seg.next_offset
                ));
                for &later in &bases[i + 1..] {
                    notes.push(format!(
                        "deleted segment {} that followed the cut",
                        segment::file_name(later, "log")
                    ));
                    for ext in ["log", "index", "timeindex"] {
                        let _ = fs::remove_file(dir.join(segment::file_name(later, ext)));
                    }
                }
                break;
            }
            i += 1;
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
        };
        if recovered {
            log.flush()?;
        }
        match fs::remove_file(dir.join(CLEAN_SHUTDOWN)) {
            Ok(()) => fsync_dir(dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(LogError::Io {
                    context: format!("cannot remove {CLEAN_SHUTDOWN}"),
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

    fn map_segment(&mut self, i: usize) -> Result<MappedFile> {
        self.segments[i].map()
    }

    fn active(&mut self) -> &mut Segment {
        self.segments.last_mut().unwrap()
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
        let cap = self.config.batch_size.min(1 << 20);
        let active = self.segments.last_mut().unwrap();
        let mut fresh = || match active.take_buffer() {
            Some(buf) => PendingBatch::with_buffer(offset, buf),
            None => PendingBatch::new(offset, cap),
        };
        let mut p = self.pending.get_or_insert_with(&mut fresh);
        let mut body = p.body_size(timestamp, key, value, headers);
        if p.count > 0 && p.records_len() + varint_len(body as i32) + body > self.config.batch_size {
            let done = std::mem::replace(p, fresh());
            self.full.push(done);
            p = self.pending.as_mut().unwrap();
            body = p.body_size(timestamp, key, value, headers);
        }
        p.push_sized(body, timestamp, key, value, headers);
        self.next_offset += 1;
        self.unflushed += 1;
        offset
    }

    pub fn has_full_batches(&self) -> bool {
        !self.full.is_empty()
    }

    pub fn full_batches(&self) -> usize {
        self.full.len()
    }

    /// Encodes and writes the batches that filled up. On an I/O error the bytes
    /// stay queued in the segment (see `Segment::drain`) for the next write.
    pub fn write_full(&mut self) -> Result<()> {
        let mut batches = std::mem::take(&mut self.full).into_iter();
        while let Some(p) = batches.next() {
            let written = p
                .into_batch(self.config.compression, self.leader_epoch)
                .and_then(|batch| self.append_batch(batch.clone(), &BatchHeader::parse(&batch), None));
            if let Err(e) = written {
                self.full.extend(batches); // the later batches wait for the next attempt
                return Err(e);
            }
        }
        Ok(())
    }

    /// Seals the pending batch and writes everything appended so far.
    pub fn seal(&mut self) -> Result<()> {
        if let Some(p) = self.pending.take() {
            self.full.push(p);
        }
        self.write_full()
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

    fn roll(&mut self, base: i64) -> Result<()> {
        self.active().on_roll()?;
        let mut seg = Segment::create(&self.dir, base)?;
        seg.make_active(self.config.segment_index_bytes, self.config.segment_bytes)?;
        self.segments.push(seg);
        Ok(())
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
        self.active().append(batch, h, patch, interval)
    }

    /// Appends wire batches. With `assign_offsets` (a leader taking a Produce)
    /// each batch gets the next offsets and the log's leader epoch; without it
    /// (a follower copying its leader) offsets must be at or past the end.
    /// Everything is validated before anything is written.
    pub fn append_raw(&mut self, buf: &[u8], assign_offsets: bool) -> Result<(i64, i64)> {
        let batches = batch::validate_batches(buf)?;
        self.seal()?;
        if !assign_offsets {
            let mut expect = self.next_offset;
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
            self.next_offset
        } else {
            batches[0].1.base_offset
        };
        for (pos, h) in &batches {
            let bytes = buf[*pos..*pos + h.size()].to_vec();
            let patch = assign_offsets.then_some((self.next_offset, Some(self.leader_epoch)));
            self.append_batch(bytes, h, patch)?;
            self.next_offset = self.active().next_offset;
            self.unflushed += h.record_count.max(0) as u64;
        }
        // Invariant for the broker: once append_raw returns, the bytes are in
        // the OS page cache, so an acknowledged write survives a process kill.
        self.active().drain()?;
        Ok((first, self.next_offset - 1))
    }

    // ----- durability ----------------------------------------------------

    pub fn needs_flush(&self) -> bool {
        self.config
            .flush_messages
            .is_some_and(|n| self.unflushed >= n)
            || self
                .config
                .flush_ms
                .is_some_and(|ms| self.unflushed > 0 && now_ms() - self.last_flush_ms >= ms)
    }

    /// Seals, fsyncs every segment written since the last flush, and moves the
    /// recovery point to the end.
    pub fn flush(&mut self) -> Result<()> {
        self.seal()?;
        for seg in self.segments.iter_mut().filter(|s| s.is_dirty()) {
            seg.fsync()?;
        }
        if self.recovery_point != self.next_offset {
            self.recovery_point = self.next_offset;
            write_checkpoint(&self.dir, RECOVERY_CHECKPOINT, self.recovery_point)?;
        }
        self.unflushed = 0;
        self.last_flush_ms = now_ms();
        Ok(())
    }

    /// Seals and hands every appended byte to the OS (page cache), without fsync:
    /// the data then survives the process, not the machine.
    pub fn write_out(&mut self) -> Result<()> {
        self.seal()?;
        self.active().drain()
    }

    pub fn close(&mut self) -> Result<()> {
        self.flush()?;
        self.active().trim_indexes()?;
        write_checkpoint(&self.dir, START_CHECKPOINT, self.start_offset)?;
        write_checkpoint(&self.dir, RECOVERY_CHECKPOINT, self.recovery_point)?;
        File::create(self.dir.join(CLEAN_SHUTDOWN))
            .ctx(|| format!("cannot write {CLEAN_SHUTDOWN}"))?;
        fsync_dir(&self.dir)
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

    /// The first batch holding an offset `>= offset`, searching from its segment on.
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
    pub fn read(
        &mut self,
        offset: i64,
        max_bytes: usize,
        upto: Option<i64>,
    ) -> Result<Option<ReadSlice>> {
        self.seal()?;
        self.check_offset(offset)?;
        let upto = upto.unwrap_or(i64::MAX).min(self.next_offset);
        if offset >= upto {
            return Ok(None);
        }
        let Some((i, pos, first)) = self.locate(offset)? else {
            return Ok(None);
        };
        if first.base_offset >= upto {
            return Ok(None);
        }
        let map = self.map_segment(i)?;
        let seg = &self.segments[i];
        let mut len = first.size();
        while let Some(h) = header_at(&map, pos + len) {
            if len + h.size() > max_bytes
                || h.base_offset >= upto
                || pos + len + h.size() > map.len()
            {
                break;
            }
            len += h.size();
        }
        Ok(Some(ReadSlice {
            map,
            path: seg.log_path().to_owned(),
            position: pos,
            len,
        }))
    }

    /// Batches from the one holding `offset`, across segments, until they
    /// cover `max_records` offsets or reach `upto`.
    pub fn batches(
        &mut self,
        offset: i64,
        max_records: Option<u64>,
        upto: Option<i64>,
    ) -> Result<Vec<BatchRef>> {
        self.seal()?;
        self.check_offset(offset)?;
        let upto = upto.unwrap_or(i64::MAX).min(self.next_offset);
        let mut out = Vec::new();
        let Some((first_seg, mut pos, _)) = self.locate(offset)? else {
            return Ok(out);
        };
        // Records covered so far, counted (offsets may have gaps after compaction
        // or a follower's appends); the first batch counts only from `offset`.
        let want = max_records.unwrap_or(u64::MAX);
        let mut covered: u64 = 0;
        for i in first_seg..self.segments.len() {
            let map = self.map_segment(i)?;
            let first_pos = pos;
            let mut done = false;
            while let Some(h) = header_at(&map, pos) {
                if h.base_offset >= upto || covered >= want || pos + h.size() > map.len() {
                    done = true;
                    break;
                }
                let n = if out.is_empty() {
                    (h.last_offset() - offset + 1).clamp(0, h.record_count as i64)
                } else {
                    h.record_count as i64
                };
                covered += n.max(0) as u64;
                out.push(BatchRef { map: map.clone(), pos, header: h });
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
        self.seal()?;
        let start = self.start_offset;
        for i in self.segment_for(start)..self.segments.len() {
            if let Some(off) = self.segments[i].find_timestamp(ts, start)? {
                return Ok(Some(off));
            }
        }
        Ok(None)
    }

    // ----- truncation and retention ---------------------------------------

    /// Drops every batch whose last offset is `>= offset` (Kafka's rule).
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        self.seal()?;
        if offset >= self.next_offset {
            return Ok(());
        }
        let interval = self.config.index_interval_bytes;
        while self
            .segments
            .last()
            .is_some_and(|s| s.base_offset >= offset)
        {
            self.segments.pop().unwrap().delete()?;
        }
        if self.segments.is_empty() {
            self.segments
                .push(Segment::create(&self.dir, offset.max(0))?);
            self.start_offset = offset.max(0);
            write_checkpoint(&self.dir, START_CHECKPOINT, self.start_offset)?;
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
            write_checkpoint(&self.dir, RECOVERY_CHECKPOINT, self.recovery_point)?;
        }
        fsync_dir(&self.dir)
    }

    /// Moves the log start offset up to `offset` (at most the end offset) and
    /// deletes the segments that lie wholly below it. Returns the start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        self.seal()?;
        let offset = offset.min(self.next_offset);
        if offset <= self.start_offset {
            return Ok(self.start_offset);
        }
        self.start_offset = offset;
        if offset == self.next_offset && !self.active().is_empty() {
            self.roll(offset)?;
        }
        while self.segments.len() > 1 && self.segments[1].base_offset <= offset {
            self.segments.remove(0).delete()?;
        }
        write_checkpoint(&self.dir, START_CHECKPOINT, self.start_offset)?;
        Ok(self.start_offset)
    }

    /// Deletes old non-active segments by `retention.ms` and `retention.bytes`.
    pub fn enforce_retention(&mut self, now: i64) -> Result<usize> {
        self.seal()?;
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
            write_checkpoint(&self.dir, START_CHECKPOINT, self.start_offset)?;
        }
        Ok(deleted)
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        // Not a clean shutdown (no marker), but do not lose what was appended.
        let _ = self.seal();
        for seg in &mut self.segments {
            let _ = seg.drain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let s = log.read(probe, 1, None).unwrap().unwrap();
            let h = BatchHeader::parse(&s.map[s.position..]);
            assert!(h.base_offset <= probe && probe <= h.last_offset(), "offset {probe} not in batch {h:?}");
        }
        assert!(log.read(2_000, 1 << 20, None).unwrap().is_none());
        assert!(matches!(log.read(2_001, 1, None), Err(LogError::OffsetOutOfRange(_))));
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
        assert!(matches!(log.read(99, 1, None), Err(LogError::OffsetOutOfRange(_))));
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
}
