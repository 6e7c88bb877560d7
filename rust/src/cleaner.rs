//! Log compaction: Kafka's log cleaner (`LogCleaner`, `Cleaner`,
//! `CleanedTransactionMetadata`, `MemoryRecords.filterTo`).
//!
//! A log is cut in three: the *clean* section (below the cleaner's checkpoint,
//! cleaned before), the *dirty* section up to the first uncleanable offset
//! (the active segment, the upper bound the caller gives — the last stable
//! offset —, a segment younger than `min.compaction.lag.ms`, a transaction
//! still in doubt), and the rest. Cleaning:
//!
//! 1. reads every batch header once: aborted transactions (a transactional
//!    batch whose transaction ended with an ABORT marker), transactions still
//!    in doubt (no marker yet: cleaning stops at the segment holding their
//!    first offset) and each producer's last batch;
//! 2. builds a key -> last offset map (`OffsetMap`, 128-bit XXH3 of the key,
//!    bounded by `dedupe_buffer_bytes`) over the dirty section; when the map
//!    fills up, only the batches mapped so far count as cleaned this round;
//! 3. rewrites the segments below the map's end in groups that stay under
//!    `segment.bytes`, keeping a record when it is the latest of its key (or
//!    past the map), dropping aborted transactional records, tombstones and
//!    control batches whose delete horizon (KIP-534) has passed, and keeping
//!    each producer's last batch (empty if need be) so its sequence numbers
//!    survive a rebuild of producer state from the log;
//! 4. swaps each cleaned group in (see `swap_in` and `complete_swaps`).
//!
//! Invariants:
//! - offsets never change: a rewritten batch keeps its base offset, last
//!   offset delta, producer id/epoch/base sequence, partition leader epoch,
//!   attributes and codec; only records leave it (and its CRC is recomputed);
//! - the latest record of every key below the map's end is kept, unless it is
//!   a tombstone whose delete horizon has passed;
//! - nothing at or above the first uncleanable offset is read for the map or
//!   rewritten; the active segment is never rewritten;
//! - the heavy work runs without the log's lock; the lock is taken only to
//!   snapshot the segments and to swap a cleaned group in (renames, no data I/O);
//! - memory: the offset map (at most `dedupe_buffer_bytes`), one batch being
//!   rewritten and the cleaned segment's index entries.

use crate::batch::{self, BatchCheck, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::compression::{self, Codec};
use crate::error::{IoContext, LogError, Result};
use crate::index::{OFFSET_ENTRY, TIME_ENTRY};
use crate::log::PartitionLog;
use crate::segment::{self, MappedFile, Segment};
use crate::varint::{put_varint, put_varlong};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// Attribute bit 6 (KIP-534): the batch's base timestamp is its delete horizon.
pub const ATTR_DELETE_HORIZON: i16 = 0x40;
/// Suffixes of Kafka's swap protocol.
pub const CLEANED: &str = "cleaned";
pub const SWAP: &str = "swap";
pub const DELETED: &str = "deleted";
/// Files a cleaned segment is made of.
const SEGMENT_EXTS: [&str; 3] = ["log", "index", "timeindex"];
/// Files of a replaced segment: also a transaction index (Kafka's `.txnindex`) if it
/// has one. A cleaned segment needs none: it holds no record of an aborted transaction.
const REPLACED_EXTS: [&str; 4] = ["log", "index", "timeindex", "txnindex"];
/// Bytes read or written between two calls to the throttle.
const THROTTLE_CHUNK: u64 = 64 * 1024;

/// What a cleaning round needs besides the log. Kafka names in comments.
#[derive(Debug, Clone)]
pub struct CleanOptions {
    /// The cleaner's checkpoint (cleaner-offset-checkpoint): where the dirty section starts.
    pub first_dirty: i64,
    /// Nothing at or above it is cleaned: the last stable offset (<= high watermark).
    pub upper_bound: i64,
    pub now_ms: i64,
    /// min.compaction.lag.ms
    pub min_compaction_lag_ms: i64,
    /// delete.retention.ms
    pub delete_retention_ms: i64,
    /// producer.id.expiration.ms: a producer idle that long no longer keeps its last batch.
    pub producer_expiration_ms: i64,
    /// log.cleaner.dedupe.buffer.size / log.cleaner.threads
    pub dedupe_buffer_bytes: usize,
    /// log.cleaner.io.buffer.load.factor
    pub load_factor: f64,
    /// log.cleaner.io.max.bytes.per.second (shared by every cleaning in the process)
    pub io_max_bytes_per_sec: f64,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            first_dirty: 0,
            upper_bound: i64::MAX,
            now_ms: crate::log::now_ms(),
            min_compaction_lag_ms: 0,
            delete_retention_ms: 86_400_000,
            producer_expiration_ms: 86_400_000,
            dedupe_buffer_bytes: 128 << 20,
            load_factor: 0.9,
            io_max_bytes_per_sec: f64::INFINITY,
        }
    }
}

/// What a round did.
#[derive(Debug, Clone, Default)]
pub struct CleanStats {
    pub first_dirty: i64,
    /// The next round's first dirty offset (the new checkpoint).
    pub end_offset: i64,
    pub first_uncleanable: i64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_written: u64,
    pub map_bytes_read: u64,
    pub map_records: u64,
    pub map_keys: u64,
    /// Fraction of the dedupe buffer's key capacity used.
    pub buffer_utilization: f64,
    pub segments_before: usize,
    pub segments_after: usize,
    pub groups_swapped: usize,
    /// Earliest delete horizon among the tombstones and markers kept (i64::MAX: none).
    pub next_delete_horizon: i64,
    pub aborted: bool,
    pub elapsed_s: f64,
    pub map_elapsed_s: f64,
}

// ----- registry of running cleanings: one per log, abortable ------------------

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<AtomicBool>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Arc<AtomicBool>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// A log being cleaned; dropping it ends the registration.
struct Registration {
    dir: PathBuf,
    abort: Arc<AtomicBool>,
}

impl Registration {
    fn new(dir: &Path) -> Result<Registration> {
        let mut r = registry().lock().unwrap_or_else(|p| p.into_inner());
        if r.contains_key(dir) {
            return Err(LogError::Invalid(format!("{} is already being cleaned", dir.display())));
        }
        let abort = Arc::new(AtomicBool::new(false));
        r.insert(dir.to_owned(), abort.clone());
        Ok(Registration { dir: dir.to_owned(), abort })
    }
    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.dir);
    }
}

/// Asks the cleaning of the log in `dir` (if one runs) to stop at its next
/// batch; a group not yet swapped in is discarded. Returns whether one ran.
pub fn abort(dir: &Path) -> bool {
    match registry().lock().unwrap_or_else(|p| p.into_inner()).get(dir) {
        Some(flag) => {
            flag.store(true, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

// ----- throttle: log.cleaner.io.max.bytes.per.second, process-wide ----------

/// Kafka's `Throttler`: sleeps whenever the bytes of every cleaning together
/// went faster than the rate since the window began.
fn throttle(bytes: u64, rate: f64) {
    struct Window {
        start: Instant,
        bytes: f64,
    }
    static W: OnceLock<Mutex<Window>> = OnceLock::new();
    if !rate.is_finite() || rate <= 0.0 || bytes == 0 {
        return;
    }
    let w = W.get_or_init(|| Mutex::new(Window { start: Instant::now(), bytes: 0.0 }));
    let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
    if w.start.elapsed() > Duration::from_secs(1) && w.bytes / rate < w.start.elapsed().as_secs_f64() {
        *w = Window { start: Instant::now(), bytes: 0.0 }; // an idle spell is not credit
    }
    w.bytes += bytes as f64;
    let ahead = w.bytes / rate - w.start.elapsed().as_secs_f64();
    if ahead > 0.0 {
        // The lock stays held: every cleaning waits, the rate is the process's.
        std::thread::sleep(Duration::from_secs_f64(ahead));
    }
}

/// Counts I/O of one cleaning and hands it to `throttle` in chunks.
struct Io {
    rate: f64,
    pending: u64,
}

impl Io {
    fn add(&mut self, n: usize) {
        self.pending += n as u64;
        if self.pending >= THROTTLE_CHUNK {
            throttle(self.pending, self.rate);
            self.pending = 0;
        }
    }
}

// ----- the key -> offset map ------------------------------------------------

/// Kafka's `SkimpyOffsetMap`: 128-bit key hash -> last offset, open
/// addressing with linear probing, 24 bytes a slot. It starts small and
/// doubles while it may; `max_keys` (from the dedupe buffer and load factor)
/// bounds it: `put` of a new key past it fails.
pub struct OffsetMap {
    /// [hash low, hash high, offset + 1]; offset + 1 == 0: empty.
    slots: Vec<[u64; 3]>,
    len: usize,
    /// Slots the buffer allows.
    max_slots: usize,
    max_keys: usize,
    /// Offsets up to here are mapped (Kafka's latestOffset).
    pub latest: i64,
}

pub const SLOT_BYTES: usize = 24;

impl OffsetMap {
    pub fn new(buffer_bytes: usize, load_factor: f64) -> OffsetMap {
        let max_slots = (buffer_bytes / SLOT_BYTES).max(1);
        let max_keys = ((max_slots as f64 * load_factor.clamp(0.01, 0.99)) as usize).max(1);
        OffsetMap { slots: vec![[0u64; 3]; max_slots.min(1024)], len: 0, max_slots, max_keys, latest: -1 }
    }

    pub fn hash(key: &[u8]) -> [u64; 2] {
        let h = twox_hash::XxHash3_128::oneshot(key);
        [h as u64, (h >> 64) as u64]
    }

    /// Starts loading the slot where `h` probing begins: lookups are memory-bound, so
    /// a batch's keys are hashed and prefetched before they are looked up.
    #[inline]
    pub fn prefetch(&self, h: &[u64; 2]) {
        #[cfg(target_arch = "x86_64")]
        {
            let i = (h[0] % self.slots.len() as u64) as usize;
            // SAFETY: a prefetch of an address inside `slots` has no effect on memory.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch(self.slots.as_ptr().add(i) as *const i8, _MM_HINT_T0);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = h;
    }

    /// Slot of `h`, or the empty slot where it would go.
    #[inline]
    fn find(&self, h: &[u64; 2]) -> usize {
        let n = self.slots.len();
        let mut i = (h[0] % n as u64) as usize;
        loop {
            let s = &self.slots[i];
            if s[2] == 0 || (s[0] == h[0] && s[1] == h[1]) {
                return i;
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The last offset of `key`, if mapped.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.get_hashed(&Self::hash(key))
    }

    pub fn get_hashed(&self, h: &[u64; 2]) -> Option<i64> {
        let s = &self.slots[self.find(h)];
        (s[2] != 0).then(|| s[2] as i64 - 1)
    }

    /// Maps `key` to `offset`; false (and nothing changed) when it is a new key and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_hashed(&Self::hash(key), offset)
    }

    pub fn put_hashed(&mut self, h: &[u64; 2], offset: i64) -> bool {
        let mut i = self.find(h);
        if self.slots[i][2] == 0 {
            if self.len >= self.max_keys {
                return false;
            }
            // Keep the table at most half full while the buffer allows growing.
            if (self.len + 1) * 2 > self.slots.len() && self.slots.len() < self.max_slots {
                self.grow();
                i = self.find(h);
            }
            self.len += 1;
        }
        self.slots[i] = [h[0], h[1], offset as u64 + 1];
        true
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).min(self.max_slots);
        let old = std::mem::replace(&mut self.slots, vec![[0u64; 3]; n]);
        for s in old.into_iter().filter(|s| s[2] != 0) {
            let i = self.find(&[s[0], s[1]]);
            self.slots[i] = s;
        }
    }
}

// ----- a snapshot of the log ------------------------------------------------

struct SegInfo {
    base: i64,
    /// Bytes when the snapshot was taken; the segment must still have them to be swapped.
    size: u64,
    map: MappedFile,
    largest_ts: i64,
    first_batch_ts: Option<i64>,
    mtime: Option<SystemTime>,
}

impl SegInfo {
    fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// The segments as the cleaner found them (the last one is the active segment).
struct Snapshot {
    dir: PathBuf,
    start: i64,
    end: i64,
    segs: Vec<SegInfo>,
    segment_bytes: u64,
    index_bytes: usize,
    interval: usize,
}

impl Snapshot {
    fn take(log: &mut PartitionLog) -> Result<Snapshot> {
        Snapshot::take_mapped(log, true)
    }

    /// With `maps` false the segments are not mapped (enough to compute the section).
    fn take_mapped(log: &mut PartitionLog, maps: bool) -> Result<Snapshot> {
        log.seal_for_read(); // records appended so far go to the segments first, as for a read
        let (start, end, dir) = (log.start_offset(), log.next_offset(), log.dir().to_owned());
        let c = &log.config;
        let (segment_bytes, index_bytes, interval) =
            (c.segment_bytes, c.segment_index_bytes, c.index_interval_bytes);
        let mut segs = Vec::new();
        for s in log.segments_mut().iter_mut() {
            let map = if maps { s.map()? } else { MappedFile::empty() };
            segs.push(SegInfo {
                base: s.base_offset,
                size: s.size(),
                map,
                largest_ts: s.largest_timestamp(),
                first_batch_ts: s.first_batch_max_timestamp,
                mtime: if maps { fs::metadata(s.log_path()).and_then(|m| m.modified()).ok() } else { None },
            });
        }
        Ok(Snapshot { dir, start, end, segs, segment_bytes, index_bytes, interval })
    }

    fn sealed(&self) -> &[SegInfo] {
        &self.segs[..self.segs.len() - 1]
    }

    /// Index of the segment holding `offset` (the first when below it).
    fn floor(&self, offset: i64) -> usize {
        self.segs.partition_point(|s| s.base <= offset).saturating_sub(1)
    }

    /// Indices of the segments holding offsets of `[from, to)`.
    fn overlapping(&self, from: i64, to: i64) -> std::ops::Range<usize> {
        let first = self.floor(from);
        let end = self.segs.partition_point(|s| s.base < to).max(first);
        first..end
    }
}

fn with_log<R>(
    inner: &Mutex<Option<PartitionLog>>,
    f: impl FnOnce(&mut PartitionLog) -> Result<R>,
) -> Result<R> {
    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.as_mut().ok_or(LogError::Closed)?)
}

/// Iterates the whole batches of a segment's bytes: `(position, header)`.
/// Framing is checked (`batch::check_frame`: length, magic, counts, offsets
/// increasing); CRCs are not.
fn for_each_batch(
    bytes: &[u8],
    path_hint: &Path,
    mut f: impl FnMut(usize, &BatchHeader) -> Result<bool>,
) -> Result<()> {
    let (mut pos, mut min_base) = (0usize, i64::MIN);
    while pos < bytes.len() {
        let h = batch::check_frame(&bytes[pos..], min_base).map_err(|why| corrupt(path_hint, pos, &why))?;
        if !f(pos, &h)? {
            return Ok(());
        }
        min_base = h.last_offset() + 1;
        pos += h.size();
    }
    Ok(())
}

fn corrupt(path: &Path, pos: usize, why: &str) -> LogError {
    LogError::Corrupt(format!("cleaner: {} at byte {pos}: {why}", path.display()))
}

fn checked<'a>(bytes: &'a [u8], pos: usize, h: &BatchHeader, path: &Path) -> Result<&'a [u8]> {
    let b = &bytes[pos..pos + h.size()];
    match batch::check_batch(b, false) {
        BatchCheck::Valid(_) => Ok(b),
        BatchCheck::Torn(why) | BatchCheck::Corrupt(why) => Err(corrupt(path, pos, &why)),
    }
}

// ----- the cleanable section (LogCleanerManager.cleanableOffsets, LogToClean) ---

/// Where a log's dirty section lies and how dirty it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    pub first_dirty: i64,
    /// Base offset of the first segment not to clean.
    pub first_uncleanable: i64,
    pub clean_bytes: u64,
    pub cleanable_bytes: u64,
    /// How long past max.compaction.lag.ms the oldest dirty record is (0: not due).
    pub compaction_delay_ms: i64,
}

impl Section {
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.cleanable_bytes;
        if total == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / total as f64
        }
    }
}

fn section(snap: &Snapshot, checkpoint: i64, upper_bound: i64, now: i64, min_lag: i64, max_lag: i64) -> Section {
    let first_dirty = if checkpoint < snap.start || checkpoint > snap.end { snap.start } else { checkpoint };
    let active = snap.segs.len() - 1;
    let mut limit = upper_bound.min(snap.segs[active].base);
    if min_lag > 0 {
        let horizon = now.saturating_sub(min_lag);
        for i in snap.overlapping(first_dirty, snap.segs[active].base) {
            if snap.segs[i].largest_ts > horizon {
                limit = limit.min(snap.segs[i].base);
                break;
            }
        }
    }
    // Cleaning covers whole segments: stop at the start of the one holding `limit`.
    let first_uncleanable = snap.segs[snap.floor(limit.max(snap.segs[0].base))].base;
    let clean_bytes = snap.segs.iter().filter(|s| s.base < first_dirty).map(|s| s.size).sum();
    let dirty = snap.overlapping(first_dirty, first_uncleanable.max(first_dirty));
    let cleanable_bytes = if first_uncleanable > first_dirty { dirty.clone().map(|i| snap.segs[i].size).sum() } else { 0 };
    let earliest = snap
        .overlapping(first_dirty, snap.segs[active].base)
        .filter_map(|i| snap.segs[i].first_batch_ts)
        .filter(|&t| t > 0)
        .min();
    let clean_until = now.saturating_sub(max_lag.max(0));
    let compaction_delay_ms = match earliest {
        Some(t) if t < clean_until => clean_until - t,
        _ => 0,
    };
    Section { first_dirty, first_uncleanable, clean_bytes, cleanable_bytes, compaction_delay_ms }
}

/// The dirty section of `log` given the cleaner's checkpoint (no I/O).
pub fn cleanable(
    log: &mut PartitionLog,
    checkpoint: i64,
    upper_bound: i64,
    now: i64,
    min_lag: i64,
    max_lag: i64,
) -> Result<Section> {
    let snap = Snapshot::take_mapped(log, false)?;
    Ok(section(&snap, checkpoint, upper_bound, now, min_lag, max_lag))
}

// ----- transactions and producers: one pass over the batch headers -----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Abort,
    Commit,
    Other,
}

/// Type of a control batch: the key of its record is `version i16, type i16`
/// (Kafka's ControlRecordType: 0 ABORT, 1 COMMIT).
fn marker_type(b: &[u8], h: &BatchHeader) -> Result<Marker> {
    let data = batch::records_data(b, h)?;
    let mut kind = Marker::Other;
    batch::for_each_record(data.bytes(), h, |r, d| {
        if let Some((s, e)) = r.key {
            if e - s >= 4 {
                kind = match i16::from_be_bytes([d[s + 2], d[s + 3]]) {
                    0 => Marker::Abort,
                    1 => Marker::Commit,
                    _ => Marker::Other,
                };
            }
        }
        false
    })?;
    Ok(kind)
}

/// A transaction that ended with an ABORT marker: its batches lie in
/// `[first_offset, marker_offset)` and carry `producer_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub marker_offset: i64,
}

/// What a producer's batches must keep (Kafka's `LastRecord`): the batch
/// ending at its last data offset, or with no data in its current epoch, its
/// control batches of that epoch.
#[derive(Debug, Clone, Copy)]
struct ProducerLast {
    last_data: Option<(i64, i16)>,
    epoch: i16,
    last_ts: i64,
}

#[derive(Default)]
struct HeaderScan {
    aborted: Vec<AbortedTxn>,
    aborted_by_pid: HashMap<i64, Vec<(i64, i64)>>,
    /// First offset of the earliest transaction with no marker yet.
    first_in_doubt: Option<i64>,
    /// Producers whose last batch stays (expired producers left out).
    producers: HashMap<i64, ProducerLast>,
    dirty_records: u64,
}

impl HeaderScan {
    fn run(snap: &Snapshot, first_dirty: i64, dirty_end: i64, now: i64, expiration_ms: i64) -> Result<HeaderScan> {
        let mut scan = HeaderScan::default();
        let mut open: HashMap<i64, i64> = HashMap::new();
        for seg in &snap.segs {
            let bytes = seg.bytes();
            let path = snap.dir.join(segment::file_name(seg.base, "log"));
            for_each_batch(bytes, &path, |pos, h| {
                if h.last_offset() >= first_dirty && h.base_offset < dirty_end {
                    scan.dirty_records += h.record_count.max(0) as u64;
                }
                if h.producer_id < 0 {
                    return Ok(true);
                }
                let p = scan.producers.entry(h.producer_id).or_insert(ProducerLast { last_data: None, epoch: h.producer_epoch, last_ts: h.max_timestamp });
                p.epoch = h.producer_epoch;
                p.last_ts = h.max_timestamp;
                if h.is_control() {
                    let kind = marker_type(checked(bytes, pos, h, &path)?, h)?;
                    if let Some(first) = open.remove(&h.producer_id) {
                        if kind == Marker::Abort {
                            scan.aborted.push(AbortedTxn { producer_id: h.producer_id, first_offset: first, marker_offset: h.last_offset() });
                        }
                    }
                } else {
                    p.last_data = Some((h.last_offset(), h.producer_epoch));
                    if h.is_transactional() {
                        open.entry(h.producer_id).or_insert(h.base_offset);
                    }
                }
                Ok(true)
            })?;
        }
        scan.first_in_doubt = open.values().copied().min();
        let horizon = now.saturating_sub(expiration_ms.max(0));
        scan.producers.retain(|pid, p| p.last_ts >= horizon || open.contains_key(pid));
        scan.aborted.sort_by_key(|t| t.first_offset);
        for t in &scan.aborted {
            scan.aborted_by_pid.entry(t.producer_id).or_default().push((t.first_offset, t.marker_offset));
        }
        Ok(scan)
    }

    fn is_aborted(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self
                .aborted_by_pid
                .get(&h.producer_id)
                .is_some_and(|v| v.iter().any(|&(first, marker)| first <= h.base_offset && h.last_offset() < marker))
    }

    /// Kafka's `isBatchLastRecordOfProducer`.
    fn is_last_of_producer(&self, h: &BatchHeader) -> bool {
        match self.producers.get(&h.producer_id) {
            None => false,
            Some(p) => match p.last_data {
                Some((last, epoch)) if epoch == p.epoch => !h.is_control() && h.last_offset() == last,
                _ => h.is_control() && h.producer_epoch == p.epoch,
            },
        }
    }
}

/// Kafka's `CleanedTransactionMetadata`, as the cleaning pass walks the log:
/// decides which aborted batches go and when markers may go.
struct TxnState<'a> {
    aborted: &'a [AbortedTxn],
    next: usize,
    ongoing_committed: HashSet<i64>,
    /// producer id -> whether a batch of its aborted transaction was seen
    ongoing_aborted: HashMap<i64, bool>,
}

impl<'a> TxnState<'a> {
    fn new(aborted: &'a [AbortedTxn]) -> TxnState<'a> {
        TxnState { aborted, next: 0, ongoing_committed: HashSet::new(), ongoing_aborted: HashMap::new() }
    }

    fn consume_up_to(&mut self, offset: i64) {
        while self.next < self.aborted.len() && self.aborted[self.next].first_offset <= offset {
            self.ongoing_aborted.insert(self.aborted[self.next].producer_id, false);
            self.next += 1;
        }
    }

    /// A control batch: whether it may be discarded (its transaction has no batch left).
    fn on_control(&mut self, h: &BatchHeader, kind: Marker) -> bool {
        self.consume_up_to(h.last_offset());
        match kind {
            Marker::Abort => !matches!(self.ongoing_aborted.remove(&h.producer_id), Some(true)),
            Marker::Commit => !self.ongoing_committed.remove(&h.producer_id),
            Marker::Other => false,
        }
    }

    /// A data batch: whether it belongs to an aborted transaction (and goes).
    fn on_batch(&mut self, h: &BatchHeader) -> bool {
        self.consume_up_to(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&h.producer_id) {
            Some(seen) => {
                *seen = true;
                true
            }
            None => {
                self.ongoing_committed.insert(h.producer_id);
                false
            }
        }
    }
}

// ----- building the offset map (Cleaner.buildOffsetMap) ------------------------

#[allow(clippy::too_many_arguments)]
fn build_offset_map(
    snap: &Snapshot,
    first_dirty: i64,
    first_uncleanable: i64,
    scan: &HeaderScan,
    map: &mut OffsetMap,
    reg: &Registration,
    io: &mut Io,
    stats: &mut CleanStats,
) -> Result<()> {
    map.latest = first_dirty - 1;
    let dirty = snap.overlapping(first_dirty, first_uncleanable);
    for i in dirty.clone() {
        let seg = &snap.segs[i];
        let next_start = if i + 1 < dirty.end { snap.segs[i + 1].base } else { first_uncleanable };
        let bytes = seg.bytes();
        let path = snap.dir.join(segment::file_name(seg.base, "log"));
        let mut full = false;
        let mut hashed: Vec<([u64; 2], i64)> = Vec::new(); // one batch's keys
        for_each_batch(bytes, &path, |pos, h| {
            if h.last_offset() < first_dirty {
                return Ok(true);
            }
            if h.base_offset >= first_uncleanable || reg.aborted() {
                return Ok(false);
            }
            io.add(h.size());
            let b = checked(bytes, pos, h, &path)?;
            stats.map_bytes_read += h.size() as u64;
            if !h.is_control() && !scan.is_aborted(h) {
                let data = batch::records_data(b, h)?;
                hashed.clear();
                batch::for_each_record(data.bytes(), h, |r, d| {
                    stats.map_records += 1;
                    if let Some((s, e)) = r.key.filter(|_| r.offset >= first_dirty) {
                        let k = OffsetMap::hash(&d[s..e]);
                        map.prefetch(&k);
                        hashed.push((k, r.offset));
                    }
                    true
                })?;
                if !hashed.iter().all(|(k, offset)| map.put_hashed(k, *offset)) {
                    full = true;
                    return Ok(false);
                }
            }
            map.latest = map.latest.max(h.last_offset());
            Ok(true)
        })?;
        if full || reg.aborted() {
            break;
        }
        // Offsets in a gap up to the next segment are mapped too (nothing lies there).
        map.latest = map.latest.max(next_start - 1);
    }
    if map.latest < first_dirty && !map.is_empty() {
        return Err(LogError::Invalid(format!(
            "the cleaner's offset map holds {} keys (log.cleaner.dedupe.buffer.size / log.cleaner.threads): \
             too few for the first batch of {} from offset {first_dirty}",
            map.max_keys(),
            snap.dir.display()
        )));
    }
    Ok(())
}

// ----- rewriting one batch (MemoryRecords.filterTo with the cleaner's filter) ---

type Range = (usize, usize);

/// A record kept from a batch being rewritten (byte ranges of the records section).
struct Kept {
    offset: i64,
    timestamp: i64,
    key: Option<Range>,
    value: Option<Range>,
    headers: Vec<(Range, Option<Range>)>,
}

enum Outcome {
    /// The batch goes to the cleaned segment unchanged.
    Whole,
    /// Rewritten (some records left, or a delete horizon set); the new bytes.
    Rebuilt(Vec<u8>),
    Dropped,
}

struct BatchFilter<'a> {
    map: &'a OffsetMap,
    scan: &'a HeaderScan,
    now: i64,
    delete_retention_ms: i64,
    first_uncleanable: i64,
    next_horizon: i64,
}

impl BatchFilter<'_> {
    fn filter(&mut self, b: &[u8], h: &BatchHeader, txn: &mut TxnState, stats: &mut CleanStats) -> Result<Outcome> {
        let control = h.is_control();
        let horizon = (h.attributes & ATTR_DELETE_HORIZON != 0).then_some(h.base_timestamp);
        let can_discard = if control { txn.on_control(h, marker_type(b, h)?) } else { txn.on_batch(h) };
        let discard_records = if control { can_discard && horizon.is_some_and(|t| t <= self.now) } else { can_discard };
        // Kafka's RETAIN_EMPTY: a producer's last batch, and the last batch
        // before the uncleanable section (so readers find the end of the cleaned offsets).
        let retain_empty = (h.producer_id >= 0 && self.scan.is_last_of_producer(h))
            || h.last_offset() + 1 == self.first_uncleanable;
        stats.records_read += h.record_count.max(0) as u64;
        if discard_records && !retain_empty {
            return Ok(Outcome::Dropped);
        }
        let data = batch::records_data(b, h)?;
        let mut kept: Vec<Kept> = Vec::new();
        let mut dropped = 0usize;
        let mut tombstones = false;
        if discard_records {
            dropped = h.record_count.max(0) as usize;
        } else {
            let retain_deletes = horizon.is_none_or(|t| self.now < t);
            // Parse and hash the batch first (prefetching each key's slot), then decide.
            let mut recs: Vec<(Kept, Option<[u64; 2]>)> = Vec::with_capacity(h.record_count.max(0) as usize);
            batch::for_each_record(data.bytes(), h, |r, d| {
                let hash = (!control && r.offset <= self.map.latest).then(|| r.key.map(|(s, e)| OffsetMap::hash(&d[s..e])));
                if let Some(Some(k)) = &hash {
                    self.map.prefetch(k);
                }
                let k = Kept { offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers.clone() };
                recs.push((k, hash.unwrap_or(None)));
                true
            })?;
            for (k, hash) in recs {
                let keep = control
                    || k.offset > self.map.latest
                    || hash.is_some_and(|hk| {
                        self.map.get_hashed(&hk).is_none_or(|last| k.offset >= last) && (k.value.is_some() || retain_deletes)
                    });
                if keep {
                    tombstones |= !control && k.value.is_none();
                    kept.push(k);
                } else {
                    dropped += 1;
                }
            }
        }
        stats.records_written += kept.len() as u64;
        let need_horizon = (tombstones || (control && can_discard)) && horizon.is_none();
        let new_horizon = if need_horizon { Some(self.now.saturating_add(self.delete_retention_ms.max(0))) } else { horizon };
        if !kept.is_empty() && (tombstones || control) {
            if let Some(t) = new_horizon {
                self.next_horizon = self.next_horizon.min(t);
            }
        }
        if kept.is_empty() {
            return Ok(if retain_empty { Outcome::Rebuilt(empty_batch(h)) } else { Outcome::Dropped });
        }
        if dropped == 0 && !need_horizon {
            return Ok(Outcome::Whole);
        }
        Ok(Outcome::Rebuilt(rebuild(h, &kept, data.bytes(), if need_horizon { new_horizon } else { horizon })?))
    }
}

/// Writes the batch header fields that depend on the records, then the CRC.
fn finish_header(out: &mut [u8], h: &BatchHeader, attributes: i16, base_ts: i64, max_ts: i64, count: i32) {
    let length = (out.len() - LOG_OVERHEAD) as i32;
    out[batch::BASE_OFFSET..batch::BASE_OFFSET + 8].copy_from_slice(&h.base_offset.to_be_bytes());
    out[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    out[batch::PARTITION_LEADER_EPOCH..batch::PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&h.partition_leader_epoch.to_be_bytes());
    out[batch::MAGIC] = 2;
    out[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    out[batch::LAST_OFFSET_DELTA..batch::LAST_OFFSET_DELTA + 4].copy_from_slice(&h.last_offset_delta.to_be_bytes());
    out[batch::BASE_TIMESTAMP..batch::BASE_TIMESTAMP + 8].copy_from_slice(&base_ts.to_be_bytes());
    out[batch::MAX_TIMESTAMP..batch::MAX_TIMESTAMP + 8].copy_from_slice(&max_ts.to_be_bytes());
    out[batch::PRODUCER_ID..batch::PRODUCER_ID + 8].copy_from_slice(&h.producer_id.to_be_bytes());
    out[batch::PRODUCER_EPOCH..batch::PRODUCER_EPOCH + 2].copy_from_slice(&h.producer_epoch.to_be_bytes());
    out[batch::BASE_SEQUENCE..batch::BASE_SEQUENCE + 4].copy_from_slice(&h.base_sequence.to_be_bytes());
    out[batch::RECORD_COUNT..batch::RECORD_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&out[batch::ATTRIBUTES..]);
    out[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Kafka's `writeEmptyHeader`: no records, the offsets, producer fields and
/// max timestamp of `h`, no base timestamp, uncompressed.
fn empty_batch(h: &BatchHeader) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    let attrs = h.attributes & (batch::ATTR_TIMESTAMP_LOG_APPEND | batch::ATTR_TRANSACTIONAL | batch::ATTR_CONTROL);
    finish_header(&mut out, h, attrs, -1, h.max_timestamp, 0);
    out
}

/// Kafka's `buildRetainedRecordsInto`: the kept records in a batch with the
/// base offset, last offset delta, producer fields, leader epoch and codec of
/// `h`; the base timestamp is the delete horizon when there is one, else the
/// first kept record's timestamp (record timestamps are unchanged).
fn rebuild(h: &BatchHeader, kept: &[Kept], d: &[u8], horizon: Option<i64>) -> Result<Vec<u8>> {
    let codec = Codec::from_attributes(h.attributes)?;
    let base_ts = horizon.unwrap_or(kept[0].timestamp);
    let max_ts = if h.log_append_time() { h.max_timestamp } else { kept.iter().map(|k| k.timestamp).max().unwrap_or(-1) };
    let mut records = Vec::with_capacity(d.len());
    let mut body = Vec::with_capacity(256);
    let bytes = |r: Option<(usize, usize)>, out: &mut Vec<u8>| match r {
        Some((s, e)) => {
            put_varint(out, (e - s) as i32);
            out.extend_from_slice(&d[s..e]);
        }
        None => put_varint(out, -1),
    };
    for k in kept {
        body.clear();
        body.push(0); // record attributes (unused in v2)
        put_varlong(&mut body, k.timestamp - base_ts);
        put_varint(&mut body, (k.offset - h.base_offset) as i32);
        bytes(k.key, &mut body);
        bytes(k.value, &mut body);
        put_varint(&mut body, k.headers.len() as i32);
        for (hk, hv) in &k.headers {
            bytes(Some(*hk), &mut body);
            bytes(*hv, &mut body);
        }
        put_varint(&mut records, body.len() as i32);
        records.extend_from_slice(&body);
    }
    let section = if codec == Codec::None { records } else { compression::compress(codec, &records)? };
    let mut out = Vec::with_capacity(HEADER_LEN + section.len());
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(&section);
    let mut attrs = h.attributes & !ATTR_DELETE_HORIZON;
    if horizon.is_some() {
        attrs |= ATTR_DELETE_HORIZON;
    }
    finish_header(&mut out, h, attrs, base_ts, max_ts, kept.len() as i32);
    Ok(out)
}

// ----- the cleaned segment ---------------------------------------------------

fn suffixed(dir: &Path, base: i64, ext: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{}.{suffix}", segment::file_name(base, ext)))
}

/// Writes `<base>.log.cleaned` and its two indexes, with Kafka's
/// `LogSegment.append` indexing rule (the one `Segment` follows).
struct CleanedWriter {
    dir: PathBuf,
    base: i64,
    log: BufWriter<File>,
    position: u64,
    interval: usize,
    offset_index: Vec<u8>,
    time_index: Vec<u8>,
    bytes_since_index: usize,
    max_ts: i64,
    offset_of_max_ts: i64,
    last_time_entry_ts: i64,
}

impl CleanedWriter {
    fn create(dir: &Path, base: i64, interval: usize) -> Result<CleanedWriter> {
        for ext in SEGMENT_EXTS {
            let _ = fs::remove_file(suffixed(dir, base, ext, CLEANED));
        }
        let path = suffixed(dir, base, "log", CLEANED);
        let file = File::create(&path).ctx(|| format!("cannot create {}", path.display()))?;
        Ok(CleanedWriter {
            dir: dir.to_owned(),
            base,
            log: BufWriter::with_capacity(1 << 20, file),
            position: 0,
            interval,
            offset_index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
            max_ts: -1,
            offset_of_max_ts: -1,
            last_time_entry_ts: -1,
        })
    }

    fn maybe_time_entry(&mut self) {
        if self.max_ts > self.last_time_entry_ts {
            self.time_index.extend_from_slice(&self.max_ts.to_be_bytes());
            self.time_index.extend_from_slice(&((self.offset_of_max_ts - self.base) as u32).to_be_bytes());
            self.last_time_entry_ts = self.max_ts;
        }
    }

    fn append(&mut self, b: &[u8], h: &BatchHeader) -> Result<()> {
        let last = h.last_offset();
        if h.max_timestamp > self.max_ts {
            self.max_ts = h.max_timestamp;
            self.offset_of_max_ts = last;
        }
        if self.bytes_since_index > self.interval {
            self.offset_index.extend_from_slice(&((last - self.base) as u32).to_be_bytes());
            self.offset_index.extend_from_slice(&(self.position as u32).to_be_bytes());
            self.maybe_time_entry();
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += b.len();
        self.log.write_all(b).ctx(|| format!("cannot write the cleaned segment {} in {}", self.base, self.dir.display()))?;
        self.position += b.len() as u64;
        Ok(())
    }

    /// Final time-index entry (as a segment that rolls), then all three files fsynced.
    fn finish(mut self, mtime: Option<SystemTime>) -> Result<u64> {
        self.maybe_time_entry();
        let what = |p: &Path| format!("cannot write {}", p.display());
        let path = suffixed(&self.dir, self.base, "log", CLEANED);
        let file = self.log.into_inner().map_err(|e| LogError::Io { context: what(&path), source: e.into_error() })?;
        if let Some(t) = mtime {
            let _ = file.set_modified(t); // Kafka keeps the last replaced segment's mtime
        }
        file.sync_all().ctx(|| what(&path))?;
        for (ext, data) in [("index", &self.offset_index), ("timeindex", &self.time_index)] {
            debug_assert!(data.len() % if ext == "index" { OFFSET_ENTRY } else { TIME_ENTRY } == 0);
            let p = suffixed(&self.dir, self.base, ext, CLEANED);
            let mut f = File::create(&p).ctx(|| what(&p))?;
            f.write_all(data).ctx(|| what(&p))?;
            f.sync_all().ctx(|| what(&p))?;
        }
        Ok(self.position)
    }
}

fn remove_cleaned(dir: &Path, base: i64) {
    for ext in SEGMENT_EXTS {
        let _ = fs::remove_file(suffixed(dir, base, ext, CLEANED));
    }
}

/// Kafka's `groupSegmentsBySize`: consecutive sealed segments below `end`,
/// each group small enough to become one segment (log bytes, index entries,
/// offsets relative to the group's base fitting an int32).
fn group_segments(snap: &Snapshot, end: i64, first_uncleanable: i64) -> Vec<std::ops::Range<usize>> {
    let n = snap.sealed().iter().take_while(|s| s.base < end).count();
    let mut groups = Vec::new();
    let mut i = 0;
    while i < n {
        let start = i;
        let mut size = snap.segs[i].size;
        i += 1;
        while i < n {
            let s = &snap.segs[i];
            let last_offset = if i + 1 < snap.segs.len() { snap.segs[i + 1].base - 1 } else { first_uncleanable - 1 };
            let entries = ((size + s.size) / snap.interval.max(1) as u64 + 2) as usize;
            let fits = size + s.size <= snap.segment_bytes
                && entries * TIME_ENTRY <= snap.index_bytes
                && (s.size == 0 || last_offset - snap.segs[start].base <= i32::MAX as i64);
            if !fits {
                break;
            }
            size += s.size;
            i += 1;
        }
        groups.push(start..i);
    }
    groups
}

// ----- the swap -----------------------------------------------------------------

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).ctx(|| format!("cannot fsync directory {}", dir.display()))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).ctx(|| format!("cannot rename {} to {}", from.display(), to.display()))
}

/// Renames `<b>.<ext>` to `<b>.<ext>.deleted`; a missing index file is fine.
fn mark_deleted(dir: &Path, bases: &[i64]) -> Result<()> {
    for &b in bases {
        for ext in REPLACED_EXTS {
            let from = dir.join(segment::file_name(b, ext));
            match fs::rename(&from, suffixed(dir, b, ext, DELETED)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && ext != "log" => {}
                Err(e) => {
                    return Err(LogError::Io { context: format!("cannot rename {}", from.display()), source: e });
                }
            }
        }
    }
    Ok(())
}

/// Renames every `*.deleted` file of the directory back (an uncommitted swap).
fn restore_deleted(dir: &Path, names: &[String]) -> Result<()> {
    for name in names.iter().filter(|n| n.ends_with(".deleted")) {
        rename(&dir.join(name), &dir.join(name.trim_end_matches(".deleted")))?;
    }
    Ok(())
}

/// Replaces the sealed segments `old` (consecutive, as snapshotted) by the
/// cleaned segment `<base>.log.cleaned`, under the log's lock. Kafka's
/// `.cleaned -> .swap -> rename` protocol, with the replaced segments renamed
/// to `.deleted` *before* the commit point (the rename of `<base>.log.cleaned`
/// to `<base>.log.swap`) so that recovery (`complete_swaps`) knows exactly
/// what to finish or undo. Returns false (nothing changed) when the log no
/// longer has those segments as they were.
fn swap_in(inner: &Mutex<Option<PartitionLog>>, dir: &Path, old: &[&SegInfo]) -> Result<bool> {
    let base = old[0].base;
    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
    let Some(log) = guard.as_mut() else { return Ok(false) };
    let interval = log.config.index_interval_bytes;
    let segs = log.segments_mut();
    let Some(at) = segs.iter().position(|s| s.base_offset == base) else { return Ok(false) };
    let unchanged = at + old.len() < segs.len()
        && old.iter().zip(&segs[at..at + old.len()]).all(|(o, s)| o.base == s.base_offset && o.size == s.size());
    if !unchanged {
        return Ok(false);
    }
    let bases: Vec<i64> = old.iter().map(|s| s.base).collect();
    if let Err(e) = mark_deleted(dir, &bases) {
        // Undo the renames done so far: the swap never happened.
        for &b in &bases {
            for ext in REPLACED_EXTS {
                let _ = fs::rename(suffixed(dir, b, ext, DELETED), dir.join(segment::file_name(b, ext)));
            }
        }
        return Err(e);
    }
    for ext in ["index", "timeindex", "log"] {
        // The last rename, of the log file, commits the swap.
        rename(&suffixed(dir, base, ext, CLEANED), &suffixed(dir, base, ext, SWAP))?;
    }
    for ext in ["index", "timeindex", "log"] {
        // Index files first: `<base>.log.swap` exists until the swap is complete.
        rename(&suffixed(dir, base, ext, SWAP), &dir.join(segment::file_name(base, ext)))?;
    }
    let (seg, cut) = Segment::open(dir, base, interval)?;
    if let Some(cut) = cut {
        return Err(LogError::Corrupt(format!("the cleaned segment {base} of {} was cut at {}: {}", dir.display(), cut.position, cut.reason)));
    }
    segs.splice(at..at + old.len(), [seg]);
    drop(guard);
    for &b in &bases {
        for ext in REPLACED_EXTS {
            let _ = fs::remove_file(suffixed(dir, b, ext, DELETED));
        }
    }
    fsync_dir(dir)?;
    Ok(true)
}

/// Finishes or undoes a swap interrupted by a crash; called by
/// `PartitionLog::open` before it lists the segments. With `<B>.log.swap`
/// present the swap was committed: the `.deleted` segments go and the `.swap`
/// files take their final names. Without it, a `<B>.log.cleaned` means it was
/// not: the `.deleted` segments come back and the cleaned files go. Any other
/// leftover (`.deleted` after a completed swap, stray index files) is removed.
pub fn complete_swaps(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for e in fs::read_dir(dir).ctx(|| format!("cannot list {}", dir.display()))? {
        let name = e.ctx(|| format!("cannot list {}", dir.display()))?.file_name().to_string_lossy().into_owned();
        if [CLEANED, SWAP, DELETED].iter().any(|s| name.ends_with(&format!(".{s}"))) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Ok(Vec::new());
    }
    names.sort();
    let mut notes = Vec::new();
    let committed: Vec<&String> = names.iter().filter(|n| n.ends_with(".log.swap")).collect();
    let uncommitted = names.iter().any(|n| n.ends_with(".log.cleaned"));
    let remove = |name: &str| fs::remove_file(dir.join(name)).ctx(|| format!("cannot remove {}", dir.join(name).display()));
    if !committed.is_empty() {
        for n in names.iter().filter(|n| n.ends_with(".deleted") || n.ends_with(".cleaned")) {
            remove(n)?;
        }
        for n in names.iter().filter(|n| n.ends_with(".swap")) {
            rename(&dir.join(n), &dir.join(n.trim_end_matches(".swap")))?;
        }
        notes.push(format!("completed an interrupted log cleaner swap of {}", committed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    } else if uncommitted {
        restore_deleted(dir, &names)?;
        for n in names.iter().filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap")) {
            remove(n)?;
        }
        notes.push("discarded an interrupted log cleaning (its segments were not swapped in)".to_string());
    } else {
        for n in &names {
            remove(n)?;
        }
    }
    fsync_dir(dir)?;
    Ok(notes)
}

// ----- a cleaning round ---------------------------------------------------------

/// Cleans the log behind `inner` once (Kafka's `Cleaner.doClean`); see the module doc.
/// The log's lock is held only to snapshot it and to swap each cleaned group in.
pub fn clean(inner: &Mutex<Option<PartitionLog>>, o: &CleanOptions) -> Result<CleanStats> {
    let started = Instant::now();
    let dir = with_log(inner, |log| Ok(log.dir().to_owned()))?;
    let reg = Registration::new(&dir)?;
    let snap = with_log(inner, Snapshot::take)?;
    let sec = section(&snap, o.first_dirty, o.upper_bound, o.now_ms, o.min_compaction_lag_ms, i64::MAX);
    let mut stats = CleanStats {
        first_dirty: sec.first_dirty,
        end_offset: sec.first_dirty,
        segments_before: snap.segs.len(),
        segments_after: snap.segs.len(),
        next_delete_horizon: i64::MAX,
        ..CleanStats::default()
    };
    let mut io = Io { rate: o.io_max_bytes_per_sec, pending: 0 };
    let scan = HeaderScan::run(&snap, sec.first_dirty, sec.first_uncleanable, o.now_ms, o.producer_expiration_ms)?;
    let mut first_uncleanable = sec.first_uncleanable;
    if let Some(first) = scan.first_in_doubt {
        first_uncleanable = first_uncleanable.min(snap.segs[snap.floor(first)].base);
    }
    stats.first_uncleanable = first_uncleanable;
    // Size the buffer for the keys the dirty section can have at most.
    let want = (scan.dirty_records as f64 / o.load_factor.clamp(0.01, 0.99)) as usize + 1;
    let buffer = o.dedupe_buffer_bytes.min(want.saturating_mul(SLOT_BYTES)).max(SLOT_BYTES);
    let mut map = OffsetMap::new(buffer, o.load_factor);
    map.latest = sec.first_dirty - 1;
    if first_uncleanable > sec.first_dirty {
        build_offset_map(&snap, sec.first_dirty, first_uncleanable, &scan, &mut map, &reg, &mut io, &mut stats)?;
    }
    stats.map_keys = map.len() as u64;
    // Of the keys the whole buffer could hold (Kafka's max-buffer-utilization-percent).
    let capacity = (o.dedupe_buffer_bytes / SLOT_BYTES) as f64 * o.load_factor.clamp(0.01, 0.99);
    stats.buffer_utilization = map.len() as f64 / capacity.max(1.0);
    stats.map_elapsed_s = started.elapsed().as_secs_f64();
    // With nothing dirty the clean section is still rewritten: tombstones and
    // markers whose delete horizon has passed go (the caller decides when).
    if reg.aborted() {
        stats.aborted = true;
    } else {
        let end = map.latest + 1;
        clean_groups(inner, &snap, &map, &scan, first_uncleanable, o, &reg, &mut io, &mut stats)?;
        if !stats.aborted {
            stats.end_offset = end;
        }
    }
    throttle(io.pending, io.rate);
    stats.elapsed_s = started.elapsed().as_secs_f64();
    Ok(stats)
}

#[allow(clippy::too_many_arguments)]
fn clean_groups(
    inner: &Mutex<Option<PartitionLog>>,
    snap: &Snapshot,
    map: &OffsetMap,
    scan: &HeaderScan,
    first_uncleanable: i64,
    o: &CleanOptions,
    reg: &Registration,
    io: &mut Io,
    stats: &mut CleanStats,
) -> Result<()> {
    let mut txn = TxnState::new(&scan.aborted);
    let mut filter = BatchFilter {
        map,
        scan,
        now: o.now_ms,
        delete_retention_ms: o.delete_retention_ms,
        first_uncleanable,
        next_horizon: i64::MAX,
    };
    for group in group_segments(snap, map.latest + 1, first_uncleanable) {
        let segs: Vec<&SegInfo> = snap.segs[group.clone()].iter().collect();
        let base = segs[0].base;
        let mut w = CleanedWriter::create(&snap.dir, base, snap.interval)?;
        // A lone segment that comes out as it went in is not swapped.
        let mut changed = segs.len() > 1;
        let written = (|| -> Result<bool> {
            for seg in &segs {
                let bytes = seg.bytes();
                let path = snap.dir.join(segment::file_name(seg.base, "log"));
                for_each_batch(bytes, &path, |pos, h| {
                    if reg.aborted() {
                        return Ok(false);
                    }
                    io.add(h.size());
                    let b = checked(bytes, pos, h, &path)?;
                    stats.bytes_read += h.size() as u64;
                    let out = filter.filter(b, h, &mut txn, stats)?;
                    changed |= !matches!(out, Outcome::Whole);
                    let (bytes_out, header) = match &out {
                        Outcome::Whole => (b, *h),
                        Outcome::Rebuilt(v) => (&v[..], BatchHeader::parse(v)),
                        Outcome::Dropped => return Ok(true),
                    };
                    io.add(bytes_out.len());
                    stats.bytes_written += bytes_out.len() as u64;
                    w.append(bytes_out, &header)?;
                    Ok(true)
                })?;
                if reg.aborted() {
                    return Ok(false);
                }
            }
            Ok(true)
        })();
        match written {
            Ok(true) => {}
            Ok(false) => {
                drop(w);
                remove_cleaned(&snap.dir, base);
                stats.aborted = true;
                return Ok(());
            }
            Err(e) => {
                drop(w);
                remove_cleaned(&snap.dir, base);
                return Err(e);
            }
        }
        if !changed {
            drop(w);
            remove_cleaned(&snap.dir, base);
            continue;
        }
        if let Err(e) = w.finish(segs.last().and_then(|s| s.mtime)) {
            remove_cleaned(&snap.dir, base);
            return Err(e);
        }
        match swap_in(inner, &snap.dir, &segs) {
            Ok(true) => {
                stats.groups_swapped += 1;
                stats.segments_after -= segs.len() - 1;
            }
            Ok(false) => {
                // The log changed under us (retention, truncation, closed): this round ends.
                remove_cleaned(&snap.dir, base);
                stats.aborted = true;
                return Ok(());
            }
            Err(e) => {
                remove_cleaned(&snap.dir, base);
                return Err(e);
            }
        }
    }
    stats.next_delete_horizon = filter.next_horizon;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{PendingBatch, ATTR_CONTROL, ATTR_TRANSACTIONAL};
    use crate::log::LogConfig;

    fn config(segment_bytes: u64) -> LogConfig {
        LogConfig { segment_bytes, index_interval_bytes: 256, batch_size: 1024, ..LogConfig::default() }
    }

    fn open(dir: &Path, segment_bytes: u64) -> Mutex<Option<PartitionLog>> {
        Mutex::new(Some(PartitionLog::open(dir, config(segment_bytes)).unwrap()))
    }

    /// Appends `(key, value)` records (value None: tombstone) at timestamp `ts`.
    fn put(log: &Mutex<Option<PartitionLog>>, recs: &[(String, Option<String>)], ts: i64) {
        with_log(log, |l| {
            for (k, v) in recs {
                l.add_record(ts, Some(k.as_bytes()), v.as_ref().map(|v| v.as_bytes()), &[]);
            }
            l.seal()
        })
        .unwrap();
    }

    /// Every record: (offset, key, value).
    fn records(log: &Mutex<Option<PartitionLog>>) -> Vec<(i64, String, Option<String>)> {
        with_log(log, |l| {
            let mut out = Vec::new();
            let start = l.start_offset();
            for b in l.batches(start, None, None)? {
                if b.header.is_control() {
                    continue;
                }
                let data = batch::records_data(b.bytes(), &b.header)?;
                batch::for_each_record(data.bytes(), &b.header, |r, d| {
                    let s = |x: Option<(usize, usize)>| x.map(|(a, b)| String::from_utf8(d[a..b].to_vec()).unwrap());
                    out.push((r.offset, s(r.key).unwrap_or_default(), s(r.value)));
                    true
                })?;
            }
            Ok(out)
        })
        .unwrap()
    }

    fn latest(recs: &[(i64, String, Option<String>)]) -> HashMap<String, (i64, Option<String>)> {
        let mut m = HashMap::new();
        for (o, k, v) in recs {
            m.insert(k.clone(), (*o, v.clone()));
        }
        m
    }

    fn opts(now: i64) -> CleanOptions {
        CleanOptions { now_ms: now, delete_retention_ms: 1_000, ..CleanOptions::default() }
    }

    fn kv(i: usize, keys: usize, tag: &str) -> (String, Option<String>) {
        (format!("key-{:04}", i % keys), Some(format!("{tag}-{i}")))
    }

    /// A log with small segments holding `n` records over 30 keys, 50 a batch.
    fn log_of_30_keys(n: usize) -> (tempfile::TempDir, Mutex<Option<PartitionLog>>) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 2048);
        for c in (0..n).map(|i| kv(i, 30, "v")).collect::<Vec<_>>().chunks(50) {
            put(&log, c, 1_000);
        }
        (dir, log)
    }

    #[test]
    fn offset_map_grows_and_stops_at_its_bound() {
        let mut m = OffsetMap::new(SLOT_BYTES * 10_000, 0.5);
        for i in 0..5_000i64 {
            assert!(m.put(format!("k{i}").as_bytes(), i));
        }
        assert!(!m.put(b"one too many", 1), "5,000 keys fill 10,000 slots at load factor 0.5");
        assert!(m.put(b"k7", 99), "an existing key still updates");
        assert_eq!(m.get(b"k7"), Some(99));
        assert_eq!(m.get(b"k4999"), Some(4999));
        assert_eq!(m.get(b"absent"), None);
        assert_eq!(m.len(), 5_000);
    }

    #[test]
    fn keeps_the_latest_value_of_every_key_and_every_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 4096);
        let recs: Vec<_> = (0..3_000).map(|i| kv(i, 50, "v")).collect();
        for chunk in recs.chunks(100) {
            put(&log, chunk, 1_000);
        }
        let before = records(&log);
        let size_before = with_log(&log, |l| Ok(l.size_bytes())).unwrap();
        let stats = clean(&log, &opts(10_000)).unwrap();
        assert!(!stats.aborted && stats.groups_swapped > 0, "{stats:?}");
        let after = records(&log);
        // Every key keeps its latest value at its original offset; the active segment is untouched.
        let active_base = with_log(&log, |l| Ok(l.segment_info().last().unwrap().0)).unwrap();
        assert!(latest(&after) == latest(&before));
        let below: Vec<_> = before.iter().filter(|r| r.0 < active_base).cloned().collect();
        let want = latest(&below);
        for (o, k, _) in after.iter().filter(|r| r.0 < active_base) {
            assert!(want[k].0 == *o, "offset {o} of {k} is not its latest below the active segment");
        }
        assert_eq!(after.iter().filter(|r| r.0 < active_base).count(), want.len());
        assert!(before.iter().filter(|r| r.0 >= active_base).eq(after.iter().filter(|r| r.0 >= active_base)));
        let size_after = with_log(&log, |l| Ok(l.size_bytes())).unwrap();
        assert!(size_after * 4 < size_before, "{size_before} -> {size_after}");
        assert_eq!(stats.end_offset, active_base);
        // Reopening finds the same log.
        with_log(&log, |l| l.close()).unwrap();
        *log.lock().unwrap() = None;
        let log = open(dir.path(), 4096);
        assert!(records(&log) == after);
        // A second round with nothing dirty changes no record.
        let again = clean(&log, &CleanOptions { first_dirty: stats.end_offset, ..opts(10_000) }).unwrap();
        assert_eq!(again.end_offset, stats.end_offset);
        assert!(records(&log) == after);
    }

    #[test]
    fn tombstones_stay_until_their_delete_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 2048);
        let mut recs: Vec<_> = (0..400).map(|i| kv(i, 20, "v")).collect();
        recs.push(("key-0003".into(), None));
        recs.extend((0..400).map(|i| (format!("filler-{i}"), Some("x".repeat(20)))));
        for chunk in recs.chunks(50) {
            put(&log, chunk, 1_000);
        }
        let first = clean(&log, &opts(10_000)).unwrap();
        let after = records(&log);
        assert!(after.iter().any(|r| r.1 == "key-0003" && r.2.is_none()), "the tombstone stays for delete.retention.ms");
        assert!(!after.iter().any(|r| r.1 == "key-0003" && r.2.is_some()), "the deleted key's values are gone");
        assert_eq!(first.next_delete_horizon, 11_000);
        // Before the horizon it stays; after it, it goes.
        clean(&log, &CleanOptions { first_dirty: first.end_offset, ..opts(10_999) }).unwrap();
        assert!(records(&log).iter().any(|r| r.1 == "key-0003"));
        clean(&log, &CleanOptions { first_dirty: first.end_offset, ..opts(11_000) }).unwrap();
        assert!(!records(&log).iter().any(|r| r.1 == "key-0003"));
        let without: Vec<_> = after.into_iter().filter(|r| r.1 != "key-0003").collect();
        assert!(records(&log) == without);
    }

    #[test]
    fn min_compaction_lag_keeps_young_segments_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 2048);
        let old: Vec<_> = (0..300).map(|i| kv(i, 10, "old")).collect();
        let young: Vec<_> = (300..600).map(|i| kv(i, 10, "young")).collect();
        put(&log, &old, 1_000);
        put(&log, &young, 9_000);
        put(&log, &[kv(0, 10, "active")], 9_500);
        let before = records(&log);
        let stats = clean(&log, &CleanOptions { min_compaction_lag_ms: 5_000, ..opts(10_000) }).unwrap();
        let after = records(&log);
        // Only segments whose largest timestamp is older than now - lag were cleaned.
        let young_first = before.iter().find(|r| r.2.as_deref().unwrap().starts_with("young")).unwrap().0;
        assert!(stats.end_offset <= young_first, "{stats:?}");
        assert!(after.len() < before.len());
        assert_eq!(
            before.iter().filter(|r| r.0 >= young_first).collect::<Vec<_>>(),
            after.iter().filter(|r| r.0 >= young_first).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_full_map_cleans_only_what_it_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 2048);
        let vs: Vec<_> = (0..2_000).map(|i| (format!("k{i}"), Some(format!("v{i}")))).collect();
        let ws: Vec<_> = (0..2_000).map(|i| (format!("k{i}"), Some(format!("w{i}")))).collect();
        for chunk in vs.chunks(100).chain(ws.chunks(100)) {
            put(&log, chunk, 1_000);
        }
        roll(&log, 100); // every 'w' in a sealed segment
        let want = latest(&records(&log));
        let o = CleanOptions { dedupe_buffer_bytes: SLOT_BYTES * 1_000, load_factor: 0.5, ..opts(10_000) };
        let stats = clean(&log, &o).unwrap();
        assert!(stats.map_keys == 500 && stats.end_offset > 0 && stats.end_offset < 1_000, "{stats:?}");
        assert!(latest(&records(&log)) == want);
        // Rounds from the returned checkpoint finish the job, 500 keys at a time.
        let mut next = stats.end_offset;
        for _ in 0..12 {
            next = clean(&log, &CleanOptions { first_dirty: next, ..o.clone() }).unwrap().end_offset;
        }
        let all: Vec<_> = records(&log).into_iter().filter(|r| r.1.starts_with('k')).collect();
        assert!(latest(&all) == want.into_iter().filter(|(k, _)| k.starts_with('k')).collect());
        assert_eq!(all.len(), 2_000, "one record per key");
        assert!(all.iter().all(|r| r.2.as_deref().unwrap().starts_with('w')));
    }

    /// A batch with producer fields (and a CRC to match).
    fn producer_batch(base: i64, pid: i64, epoch: i16, seq: i32, recs: &[(&str, Option<&str>)], attrs: i16) -> Vec<u8> {
        let mut p = PendingBatch::new(base, 256);
        for (k, v) in recs {
            p.push(1_000, Some(k.as_bytes()), v.map(|v| v.as_bytes()), &[]);
        }
        let mut b = p.into_batch(Codec::None, 0).unwrap();
        b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        b[batch::PRODUCER_ID..batch::PRODUCER_ID + 8].copy_from_slice(&pid.to_be_bytes());
        b[batch::PRODUCER_EPOCH..batch::PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
        b[batch::BASE_SEQUENCE..batch::BASE_SEQUENCE + 4].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[batch::ATTRIBUTES..]);
        b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn marker(pid: i64, epoch: i16, commit: bool) -> Vec<u8> {
        let key: [u8; 4] = [0, 0, 0, commit as u8];
        let value: [u8; 6] = [0; 6];
        let mut p = PendingBatch::new(0, 64);
        p.push(1_000, Some(&key), Some(&value), &[]);
        let mut b = p.into_batch(Codec::None, 0).unwrap();
        let attrs = ATTR_TRANSACTIONAL | ATTR_CONTROL;
        b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        b[batch::PRODUCER_ID..batch::PRODUCER_ID + 8].copy_from_slice(&pid.to_be_bytes());
        b[batch::PRODUCER_EPOCH..batch::PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
        let crc = crc32c::crc32c(&b[batch::ATTRIBUTES..]);
        b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn append(log: &Mutex<Option<PartitionLog>>, b: &[u8]) {
        with_log(log, |l| l.append_raw(b, true)).unwrap();
    }

    fn headers(log: &Mutex<Option<PartitionLog>>) -> Vec<BatchHeader> {
        with_log(log, |l| Ok(l.batches(l.start_offset(), None, None)?.into_iter().map(|b| b.header).collect())).unwrap()
    }

    fn roll(log: &Mutex<Option<PartitionLog>>, n: usize) {
        let filler: Vec<_> = (0..n).map(|i| (format!("filler-{i}"), Some("f".repeat(40)))).collect();
        for c in filler.chunks(20) {
            put(log, c, 1_000);
        }
    }

    #[test]
    fn transactions_aborted_records_go_committed_stay_markers_wait() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 1024);
        let t = ATTR_TRANSACTIONAL;
        append(&log, &producer_batch(0, 7, 0, 0, &[("a", Some("committed"))], t));
        append(&log, &marker(7, 0, true));
        append(&log, &producer_batch(0, 7, 0, 1, &[("a", Some("aborted")), ("b", Some("aborted"))], t));
        append(&log, &marker(7, 0, false));
        roll(&log, 100);
        let doubt = with_log(&log, |l| Ok(l.next_offset())).unwrap();
        append(&log, &producer_batch(0, 8, 0, 0, &[("c", Some("in doubt"))], t));
        roll(&log, 100);
        let doubt_segment = with_log(&log, |l| Ok(l.segment_info().iter().rev().find(|s| s.0 <= doubt).unwrap().0)).unwrap();
        let stats = clean(&log, &opts(10_000)).unwrap();
        let recs = records(&log);
        assert!(recs.iter().any(|r| r.1 == "a" && r.2.as_deref() == Some("committed")), "{recs:?}");
        assert!(!recs.iter().any(|r| r.2.as_deref() == Some("aborted")));
        assert!(recs.iter().any(|r| r.1 == "c"), "a transaction in doubt is not cleaned");
        assert_eq!(stats.end_offset, doubt_segment, "cleaning stops at the segment of the open transaction: {stats:?}");
        // Producer 7's last batch (the aborted one) stays, empty, with its sequence numbers.
        let hs = headers(&log);
        let last7 = hs.iter().find(|h| h.producer_id == 7 && !h.is_control() && h.base_sequence == 1).unwrap();
        assert_eq!((last7.record_count, last7.last_offset_delta, last7.base_offset), (0, 1, 2));
        // Commit the open transaction and overwrite "a": the first transaction has no record
        // left, so its COMMIT marker may go once its delete horizon passes. The ABORT marker
        // stays: its transaction's last batch is kept (empty) as producer 7's last batch.
        append(&log, &marker(8, 0, true));
        put(&log, &[("a".into(), Some("new".into()))], 2_000);
        roll(&log, 100);
        let s2 = clean(&log, &opts(20_000)).unwrap();
        // As in Kafka, the round that removes the transaction's last batch still saw it:
        // the marker gets its horizon in the next round.
        assert!(headers(&log).iter().any(|h| h.base_offset == 1 && h.attributes & ATTR_DELETE_HORIZON == 0));
        assert!(!headers(&log).iter().any(|h| h.base_offset == 0));
        clean(&log, &CleanOptions { first_dirty: s2.end_offset, ..opts(20_000) }).unwrap();
        let hs = headers(&log);
        let commit7 = hs.iter().find(|h| h.base_offset == 1).unwrap();
        assert!(commit7.is_control() && commit7.attributes & ATTR_DELETE_HORIZON != 0, "{commit7:?}");
        assert_eq!(commit7.base_timestamp, 21_000, "the horizon is now + delete.retention.ms");
        let abort7 = hs.iter().find(|h| h.base_offset == 4).unwrap();
        assert!(abort7.is_control() && abort7.attributes & ATTR_DELETE_HORIZON == 0);
        assert!(records(&log).iter().any(|r| r.1 == "c"), "the committed transaction's record stays");
        clean(&log, &CleanOptions { first_dirty: s2.end_offset, ..opts(20_999) }).unwrap();
        assert!(headers(&log).iter().any(|h| h.base_offset == 1));
        clean(&log, &CleanOptions { first_dirty: s2.end_offset, ..opts(21_000) }).unwrap();
        let hs = headers(&log);
        assert!(!hs.iter().any(|h| h.base_offset == 1), "the COMMIT marker is gone after its horizon");
        assert!(hs.iter().any(|h| h.base_offset == 4) && hs.iter().any(|h| h.base_offset == 2));
        let recs = records(&log);
        assert!(recs.iter().any(|r| r.1 == "a" && r.2.as_deref() == Some("new")));
        assert!(!recs.iter().any(|r| r.2.as_deref() == Some("committed")));
    }

    #[test]
    fn rewritten_batches_keep_producer_fields_and_codec() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 2048);
        with_log(&log, |l| {
            l.config.compression = Codec::Zstd;
            Ok(())
        })
        .unwrap();
        append(&log, &producer_batch(0, 42, 3, 10, &[("x", Some("1")), ("y", Some("1")), ("z", Some("1"))], 0));
        put(&log, &[("x".into(), Some("2".into()))], 2_000);
        roll(&log, 200);
        clean(&log, &CleanOptions { producer_expiration_ms: i64::MAX, ..opts(10_000) }).unwrap();
        let hs = headers(&log);
        let b = hs.iter().find(|h| h.producer_id == 42).unwrap();
        assert_eq!((b.base_offset, b.last_offset_delta, b.producer_epoch, b.base_sequence, b.record_count), (0, 2, 3, 10, 2));
        let z = hs.iter().find(|h| h.base_offset == 3).unwrap();
        assert_eq!(z.attributes & 7, Codec::Zstd as i16, "recompressed with its own codec");
        let recs = records(&log);
        assert_eq!(recs.iter().filter(|r| r.1 == "x").map(|r| r.2.clone().unwrap()).collect::<Vec<_>>(), ["2"]);
        assert!(recs.iter().any(|r| r.0 == 1 && r.1 == "y") && recs.iter().any(|r| r.0 == 2 && r.1 == "z"));
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn recovery_undoes_an_uncommitted_swap_and_finishes_a_committed_one() {
        let (dir, log) = log_of_30_keys(1_000);
        let before = records(&log);
        with_log(&log, |l| l.close()).unwrap();
        *log.lock().unwrap() = None;
        let d = dir.path();
        // Crash after some segments were renamed .deleted, before the commit: nothing changes.
        let copy = tempfile::tempdir().unwrap();
        for f in files(d) {
            fs::copy(d.join(&f), copy.path().join(&f)).unwrap();
        }
        mark_deleted(d, &[0]).unwrap();
        fs::write(suffixed(d, 0, "log", CLEANED), b"partial").unwrap();
        fs::write(suffixed(d, 0, "index", SWAP), b"").unwrap();
        let log = open(d, 2048);
        assert!(records(&log) == before);
        assert!(files(d).iter().all(|f| !f.contains(".cleaned") && !f.contains(".swap") && !f.contains(".deleted")));
        // A clean that completes, then the same swap replayed as a crash right after the commit.
        let stats = clean(&log, &opts(10_000)).unwrap();
        let after = records(&log);
        assert!(stats.groups_swapped > 0);
        with_log(&log, |l| l.close()).unwrap();
        *log.lock().unwrap() = None;
        // Rebuild the crash state from the pre-clean copy: old segments .deleted, new ones .swap.
        let cleaned_files = files(d);
        let staged = tempfile::tempdir().unwrap();
        for f in &cleaned_files {
            fs::copy(d.join(f), staged.path().join(f)).unwrap();
        }
        for f in files(d) {
            fs::remove_file(d.join(f)).unwrap();
        }
        for f in files(copy.path()) {
            fs::copy(copy.path().join(&f), d.join(&f)).unwrap();
        }
        let old_bases: Vec<i64> = files(d).iter().filter_map(|f| f.strip_suffix(".log")).map(|b| b.parse().unwrap()).collect();
        let new_bases: Vec<i64> = cleaned_files.iter().filter_map(|f| f.strip_suffix(".log")).map(|b| b.parse().unwrap()).collect();
        let active = *old_bases.last().unwrap();
        mark_deleted(d, &old_bases[..old_bases.len() - 1]).unwrap();
        for &b in new_bases.iter().filter(|&&b| b != active) {
            for ext in SEGMENT_EXTS {
                fs::copy(staged.path().join(segment::file_name(b, ext)), suffixed(d, b, ext, SWAP)).unwrap();
            }
        }
        let log = open(d, 2048);
        assert!(records(&log) == after);
        assert!(files(d).iter().all(|f| !f.contains(".swap") && !f.contains(".deleted")), "{:?}", files(d));
    }

    /// A crash after every step of `swap_in` (the same renames, in its order): recovery
    /// leaves the old segments (before the commit rename) or the cleaned one (after).
    #[test]
    fn recovery_after_a_crash_at_each_step_of_the_swap() {
        let name = |b: i64, ext: &str, suffix: &str| {
            let n = segment::file_name(b, ext);
            if suffix.is_empty() { n } else { format!("{n}.{suffix}") }
        };
        let mut steps: Vec<(String, Option<String>)> = Vec::new(); // (from, to): None = unlink
        for b in [0, 100] {
            for ext in REPLACED_EXTS {
                steps.push((name(b, ext, ""), Some(name(b, ext, DELETED))));
            }
        }
        for ext in ["index", "timeindex", "log"] {
            steps.push((name(0, ext, CLEANED), Some(name(0, ext, SWAP))));
        }
        let commit = steps.len(); // steps[..commit] done: the log file is .swap
        for ext in ["index", "timeindex", "log"] {
            steps.push((name(0, ext, SWAP), Some(name(0, ext, ""))));
        }
        for b in [0, 100] {
            for ext in REPLACED_EXTS {
                steps.push((name(b, ext, DELETED), None));
            }
        }
        for done in 0..=steps.len() {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            for b in [0, 100] {
                for ext in REPLACED_EXTS {
                    fs::write(d.join(name(b, ext, "")), format!("old {b} {ext}")).unwrap();
                }
            }
            for ext in SEGMENT_EXTS {
                fs::write(d.join(name(0, ext, CLEANED)), format!("new 0 {ext}")).unwrap();
            }
            for (from, to) in &steps[..done] {
                match to {
                    Some(to) => fs::rename(d.join(from), d.join(to)).unwrap(),
                    None => fs::remove_file(d.join(from)).unwrap(),
                }
            }
            complete_swaps(d).unwrap();
            let want: Vec<(String, String)> = if done < commit {
                [0, 100].iter().flat_map(|&b| REPLACED_EXTS.map(move |e| (name(b, e, ""), format!("old {b} {e}")))).collect()
            } else {
                SEGMENT_EXTS.map(|e| (name(0, e, ""), format!("new 0 {e}"))).to_vec()
            };
            let mut have: Vec<(String, String)> = files(d).into_iter().map(|f| (f.clone(), fs::read_to_string(d.join(&f)).unwrap())).collect();
            have.sort();
            let mut want = want;
            want.sort();
            assert_eq!(have, want, "after a crash at step {done} of {}", steps.len());
        }
    }

    #[test]
    fn a_log_changed_under_the_cleaner_is_left_alone() {
        let (dir, log) = log_of_30_keys(1_000);
        let snap = with_log(&log, Snapshot::take).unwrap();
        with_log(&log, |l| l.enforce_retention(i64::MAX).map(|_| ())).unwrap();
        let seg = &snap.segs[0];
        let mut w = CleanedWriter::create(dir.path(), seg.base, 256).unwrap();
        w.append(&seg.bytes()[..seg.size as usize], &BatchHeader::parse(seg.bytes())).unwrap();
        w.finish(None).unwrap();
        assert!(!swap_in(&log, dir.path(), &[seg]).unwrap(), "segment 0 was deleted by retention meanwhile");
    }

    #[test]
    fn abort_stops_a_cleaning() {
        let (dir, log) = log_of_30_keys(3_000);
        let before = records(&log);
        let reg = Registration::new(dir.path()).unwrap();
        assert!(matches!(clean(&log, &opts(1)), Err(LogError::Invalid(_))), "one cleaning per log");
        drop(reg);
        assert!(!abort(dir.path()), "no cleaning runs");
        // A throttled cleaning (about 4 s) stopped after 300 ms.
        let stats = std::thread::scope(|s| {
            let t = s.spawn(|| clean(&log, &CleanOptions { io_max_bytes_per_sec: 50_000.0, ..opts(10_000) }));
            std::thread::sleep(Duration::from_millis(300));
            assert!(abort(dir.path()));
            t.join().unwrap().unwrap()
        });
        assert!(stats.aborted && stats.end_offset == stats.first_dirty, "{stats:?}");
        // Groups swapped in before the abort stay; every key keeps its latest value.
        assert!(latest(&records(&log)) == latest(&before));
        assert!(files(dir.path()).iter().all(|f| !f.contains(".cleaned")));
    }
}
