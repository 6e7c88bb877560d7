//! Kafka RecordBatch v2 (magic 2): header layout, validation, encoding and
//! decoding. A batch on disk is byte-for-byte the batch on the wire.

use crate::compression::{self, Codec};
use crate::error::{LogError, Result};
use crate::varint::*;

// Byte offsets of the 61-byte header fields (big-endian).
pub const BASE_OFFSET: usize = 0;
pub const BATCH_LENGTH: usize = 8;
pub const PARTITION_LEADER_EPOCH: usize = 12;
pub const MAGIC: usize = 16;
pub const CRC: usize = 17;
pub const ATTRIBUTES: usize = 21;
pub const LAST_OFFSET_DELTA: usize = 23;
pub const BASE_TIMESTAMP: usize = 27;
pub const MAX_TIMESTAMP: usize = 35;
pub const PRODUCER_ID: usize = 43;
pub const PRODUCER_EPOCH: usize = 51;
pub const BASE_SEQUENCE: usize = 53;
pub const RECORD_COUNT: usize = 57;
pub const HEADER_LEN: usize = 61;
/// baseOffset + batchLength: the bytes not counted by batchLength.
pub const LOG_OVERHEAD: usize = 12;

pub const ATTR_TIMESTAMP_LOG_APPEND: i16 = 0x08;
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
pub const ATTR_CONTROL: i16 = 0x20;

#[inline]
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
#[inline]
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
#[inline]
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the fixed header; `b` must hold at least `HEADER_LEN` bytes.
    pub fn parse(b: &[u8]) -> BatchHeader {
        BatchHeader {
            base_offset: be_i64(b, BASE_OFFSET),
            batch_length: be_i32(b, BATCH_LENGTH),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: u32::from_be_bytes(b[CRC..CRC + 4].try_into().unwrap()),
            attributes: be_i16(b, ATTRIBUTES),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: be_i16(b, PRODUCER_EPOCH),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            record_count: be_i32(b, RECORD_COUNT),
        }
    }
    /// Whole size of the batch in bytes, header included.
    #[inline]
    pub fn size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }
    #[inline]
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    #[inline]
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    #[inline]
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    #[inline]
    pub fn log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_LOG_APPEND != 0
    }
}

/// What a check of the bytes at some position found.
#[derive(Debug)]
pub enum BatchCheck {
    Valid(BatchHeader),
    /// The bytes end before the batch does: a torn write at the tail.
    Torn(String),
    Corrupt(String),
}

/// Checks framing, magic, CRC32C and (for uncompressed batches) that the
/// record count matches the records present. Does not look at offsets.
pub fn check_batch(buf: &[u8], deep: bool) -> BatchCheck {
    if buf.len() < LOG_OVERHEAD {
        return BatchCheck::Torn(format!(
            "{} bytes left, less than a batch's offset and length fields",
            buf.len()
        ));
    }
    let length = be_i32(buf, BATCH_LENGTH);
    if length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return BatchCheck::Corrupt(format!(
            "batch length {length} is smaller than the {HEADER_LEN}-byte header"
        ));
    }
    let size = length as usize + LOG_OVERHEAD;
    if buf.len() < HEADER_LEN {
        return BatchCheck::Torn(format!(
            "batch of {size} bytes but only {} bytes left",
            buf.len()
        ));
    }
    let magic = buf[MAGIC] as i8;
    if magic != 2 {
        return BatchCheck::Corrupt(format!(
            "unsupported magic {magic} (only record batch v2 is supported)"
        ));
    }
    if buf.len() < size {
        return BatchCheck::Torn(format!(
            "batch of {size} bytes but only {} bytes left",
            buf.len()
        ));
    }
    let h = BatchHeader::parse(buf);
    let crc = crate::crc::crc32c(&buf[ATTRIBUTES..size]);
    if crc != h.crc {
        return BatchCheck::Corrupt(format!(
            "CRC32C mismatch: stored {:#010x}, computed {crc:#010x}",
            h.crc
        ));
    }
    if h.record_count < 0 || h.last_offset_delta < 0 {
        return BatchCheck::Corrupt(format!(
            "negative record count {} or last offset delta {}",
            h.record_count, h.last_offset_delta
        ));
    }
    if h.record_count as i64 > h.last_offset_delta as i64 + 1 {
        return BatchCheck::Corrupt(format!(
            "record count {} exceeds last offset delta {} + 1",
            h.record_count, h.last_offset_delta
        ));
    }
    if deep && h.attributes & 0x07 == 0 {
        // Walk the record lengths: they must tile the records section exactly.
        let records = &buf[HEADER_LEN..size];
        let mut pos = 0usize;
        for i in 0..h.record_count {
            match read_varint(records, &mut pos) {
                Some(n) if n >= 0 && pos + n as usize <= records.len() => pos += n as usize,
                _ => {
                    return BatchCheck::Corrupt(format!(
                        "record {i} of {} overruns the batch",
                        h.record_count
                    ))
                }
            }
        }
        if pos != records.len() {
            return BatchCheck::Corrupt(format!(
                "{} trailing bytes after the {} records the header announces",
                records.len() - pos,
                h.record_count
            ));
        }
    }
    BatchCheck::Valid(h)
}

/// Cheap check that `buf` starts with the framing of a batch whose base
/// offset is at least `min_base`: header fields only (length, magic, counts,
/// offsets), no CRC. What reads check before handing out or decoding bytes.
pub fn check_frame(buf: &[u8], min_base: i64) -> std::result::Result<BatchHeader, String> {
    if buf.len() < HEADER_LEN {
        return Err(format!("{} bytes left, less than a batch header", buf.len()));
    }
    let h = BatchHeader::parse(buf);
    if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(format!(
            "batch length {} is smaller than the {HEADER_LEN}-byte header",
            h.batch_length
        ));
    }
    if h.magic != 2 {
        return Err(format!("unsupported magic {} (only record batch v2 is supported)", h.magic));
    }
    if h.size() > buf.len() {
        return Err(format!("batch of {} bytes but only {} bytes left", h.size(), buf.len()));
    }
    if h.last_offset_delta < 0
        || h.record_count < 0
        || h.record_count as i64 > h.last_offset_delta as i64 + 1
    {
        return Err(format!(
            "record count {} does not fit last offset delta {}",
            h.record_count, h.last_offset_delta
        ));
    }
    if h.base_offset < min_base || h.base_offset > i64::MAX - h.last_offset_delta as i64 {
        return Err(format!(
            "base offset {} where offsets from {min_base} were expected",
            h.base_offset
        ));
    }
    Ok(h)
}

/// Whether the stored CRC32C of a whole batch matches its bytes.
#[inline]
pub fn crc_ok(batch: &[u8], h: &BatchHeader) -> bool {
    crate::crc::crc32c(&batch[ATTRIBUTES..h.size()]) == h.crc
}

/// Validates a buffer of one or more whole batches (as a Produce request
/// carries them). Returns each batch's (position, header).
pub fn validate_batches(buf: &[u8]) -> Result<Vec<(usize, BatchHeader)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match check_batch(&buf[pos..], true) {
            BatchCheck::Valid(h) => {
                out.push((pos, h));
                pos += h.size();
            }
            BatchCheck::Torn(why) | BatchCheck::Corrupt(why) => {
                return Err(LogError::Corrupt(format!(
                    "invalid record batch at byte {pos}: {why}"
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(LogError::Corrupt(
            "no record batch in the given bytes".into(),
        ));
    }
    Ok(out)
}

/// Records accumulated for one batch, encoded as they arrive (uncompressed).
/// Invariant: `records` starts with `HEADER_LEN` bytes reserved for the batch
/// header, then holds exactly `count` encoded records whose offset deltas are
/// 0..count and timestamp deltas are relative to `base_timestamp`; an
/// uncompressed batch is finished in place, without a copy.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    pub base_offset: i64,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub count: i32,
    pub records: Vec<u8>,
}

pub type Header<'a> = (&'a [u8], Option<&'a [u8]>);

/// The state of a `PendingBatch` at some point (see `PendingBatch::mark`).
#[derive(Debug, Clone, Copy)]
pub struct PendingMark {
    pub base_offset: i64,
    len: usize,
    pub count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl PendingBatch {
    pub fn new(base_offset: i64, capacity: usize) -> PendingBatch {
        let mut records = Vec::with_capacity(HEADER_LEN + capacity);
        records.resize(HEADER_LEN, 0);
        PendingBatch {
            base_offset,
            base_timestamp: -1,
            max_timestamp: -1,
            count: 0,
            records,
        }
    }

    /// A batch built in a recycled buffer (its old contents are discarded).
    pub fn with_buffer(base_offset: i64, mut records: Vec<u8>) -> PendingBatch {
        records.clear();
        records.resize(HEADER_LEN, 0);
        PendingBatch { base_offset, base_timestamp: -1, max_timestamp: -1, count: 0, records }
    }

    /// Bytes of encoded records (the uncompressed records section).
    #[inline]
    pub fn records_len(&self) -> usize {
        self.records.len() - HEADER_LEN
    }

    fn body_len(
        ts_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let field = |f: Option<&[u8]>| f.map_or(1, |b| varint_len(b.len() as i32) + b.len());
        let mut n =
            1 + varlong_len(ts_delta) + varint_len(offset_delta) + field(key) + field(value);
        n += varint_len(headers.len() as i32);
        for (k, v) in headers {
            n += varint_len(k.len() as i32) + k.len() + field(*v);
        }
        n
    }

    /// Encoded size the record would take in this batch.
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let body = self.body_size(timestamp, key, value, headers);
        varint_len(body as i32) + body
    }

    /// Size of the record's body (after its length varint) in this batch.
    #[inline]
    pub fn body_size(&self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
        let base_ts = if self.count == 0 { timestamp } else { self.base_timestamp };
        Self::body_len(timestamp - base_ts, self.count, key, value, headers)
    }

    pub fn push(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) {
        let body = self.body_size(timestamp, key, value, headers);
        self.push_sized(body, timestamp, key, value, headers);
    }

    /// `push` with the body size already computed by `body_size` for this batch.
    pub fn push_sized(
        &mut self,
        body: usize,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let ts_delta = timestamp - self.base_timestamp;
        let r = &mut self.records;
        put_varint(r, body as i32);
        r.push(0); // record attributes
        put_varlong(r, ts_delta);
        put_varint(r, self.count);
        for f in [key, value] {
            match f {
                Some(b) => {
                    put_varint(r, b.len() as i32);
                    r.extend_from_slice(b);
                }
                None => put_varint(r, -1),
            }
        }
        put_varint(r, headers.len() as i32);
        for (k, v) in headers {
            put_varint(r, k.len() as i32);
            r.extend_from_slice(k);
            match v {
                Some(b) => {
                    put_varint(r, b.len() as i32);
                    r.extend_from_slice(b);
                }
                None => put_varint(r, -1),
            }
        }
        self.count += 1;
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.count as i64 - 1
    }

    /// Where the batch stands now: `rewind` or `prefix` come back to it.
    pub fn mark(&self) -> PendingMark {
        PendingMark {
            base_offset: self.base_offset,
            len: self.records.len(),
            count: self.count,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
        }
    }

    /// Drops the records added since `m` was taken of this batch.
    pub fn rewind(&mut self, m: &PendingMark) {
        debug_assert_eq!(self.base_offset, m.base_offset);
        self.records.truncate(m.len);
        self.count = m.count;
        self.base_timestamp = m.base_timestamp;
        self.max_timestamp = m.max_timestamp;
    }

    /// A copy of this batch as it stood at `m` (taken of it, before it was sealed).
    pub fn prefix(&self, m: &PendingMark) -> PendingBatch {
        let mut records = Vec::with_capacity(self.records.capacity());
        records.extend_from_slice(&self.records[..m.len]);
        PendingBatch {
            base_offset: m.base_offset,
            base_timestamp: m.base_timestamp,
            max_timestamp: m.max_timestamp,
            count: m.count,
            records,
        }
    }

    /// Finishes the batch: header, optional compression, CRC.
    pub fn into_batch(mut self, codec: Codec, partition_leader_epoch: i32) -> Result<Vec<u8>> {
        if codec != Codec::None {
            let body = compression::compress(codec, &self.records[HEADER_LEN..])?;
            self.records.truncate(HEADER_LEN);
            self.records.extend_from_slice(&body);
        }
        self.write_header(codec, partition_leader_epoch);
        Ok(self.records)
    }

    /// Appends the finished batch to `out`, leaving `self` as it was.
    pub fn encode_into(
        &self,
        codec: Codec,
        partition_leader_epoch: i32,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.extend_from_slice(&self.clone().into_batch(codec, partition_leader_epoch)?);
        Ok(())
    }

    fn write_header(&mut self, codec: Codec, partition_leader_epoch: i32) {
        let len = self.records.len();
        let h = &mut self.records[..HEADER_LEN];
        h[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&self.base_offset.to_be_bytes());
        h[BATCH_LENGTH..BATCH_LENGTH + 4]
            .copy_from_slice(&((len - LOG_OVERHEAD) as i32).to_be_bytes());
        h[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
            .copy_from_slice(&partition_leader_epoch.to_be_bytes());
        h[MAGIC] = 2;
        h[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&(codec as i16).to_be_bytes());
        h[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4]
            .copy_from_slice(&(self.count - 1).to_be_bytes());
        h[BASE_TIMESTAMP..BASE_TIMESTAMP + 8].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&self.max_timestamp.to_be_bytes());
        h[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&(-1i64).to_be_bytes());
        h[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&(-1i16).to_be_bytes());
        h[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&(-1i32).to_be_bytes());
        h[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&self.count.to_be_bytes());
        let crc = crate::crc::crc32c(&self.records[ATTRIBUTES..]);
        self.records[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// A decoded record; key, value and header parts are byte ranges into the
/// batch's (decompressed) records section.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRef {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<(usize, usize)>,
    pub value: Option<(usize, usize)>,
    pub headers: Vec<((usize, usize), Option<(usize, usize)>)>,
}

/// The records section of a batch, decompressed when needed.
pub enum RecordsData<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl RecordsData<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            RecordsData::Borrowed(b) => b,
            RecordsData::Owned(v) => v,
        }
    }
}

pub fn records_data<'a>(batch: &'a [u8], h: &BatchHeader) -> Result<RecordsData<'a>> {
    let section = &batch[HEADER_LEN..h.size()];
    match Codec::from_attributes(h.attributes)? {
        Codec::None => Ok(RecordsData::Borrowed(section)),
        codec => Ok(RecordsData::Owned(compression::decompress(codec, section)?)),
    }
}

/// Decodes every record of a batch, calling `f` for each. Validates the
/// record framing, the count and that offset deltas are increasing and within
/// lastOffsetDelta.
pub fn for_each_record<F: FnMut(&RecordRef, &[u8]) -> bool>(
    data: &[u8],
    h: &BatchHeader,
    mut f: F,
) -> Result<()> {
    let bad = |what: &str| LogError::Corrupt(format!("batch at offset {}: {what}", h.base_offset));
    let mut pos = 0usize;
    let mut last_delta: i64 = -1;
    let mut rec = RecordRef {
        offset: 0,
        timestamp: 0,
        key: None,
        value: None,
        headers: Vec::new(),
    };
    for _ in 0..h.record_count {
        let len = read_varint(data, &mut pos).ok_or_else(|| bad("truncated record length"))?;
        if len < 0 || pos + len as usize > data.len() {
            return Err(bad("record overruns the batch"));
        }
        let end = pos + len as usize;
        let rd = &data[..end];
        pos += 1; // attributes
        let ts_delta =
            read_varlong(rd, &mut pos).ok_or_else(|| bad("truncated timestamp delta"))?;
        let off_delta =
            read_varint(rd, &mut pos).ok_or_else(|| bad("truncated offset delta"))? as i64;
        if off_delta <= last_delta || off_delta > h.last_offset_delta as i64 {
            return Err(bad(&format!(
                "offset delta {off_delta} out of order or beyond lastOffsetDelta {}",
                h.last_offset_delta
            )));
        }
        last_delta = off_delta;
        let field = |pos: &mut usize| -> Result<Option<(usize, usize)>> {
            let n = read_varint(rd, pos).ok_or_else(|| bad("truncated length"))?;
            if n < 0 {
                return Ok(None);
            }
            let start = *pos;
            *pos += n as usize;
            if *pos > end {
                return Err(bad("field overruns its record"));
            }
            Ok(Some((start, *pos)))
        };
        rec.key = field(&mut pos)?;
        rec.value = field(&mut pos)?;
        let nh = read_varint(rd, &mut pos).ok_or_else(|| bad("truncated header count"))?;
        if nh < 0 {
            return Err(bad("negative header count"));
        }
        rec.headers.clear();
        for _ in 0..nh {
            let k = field(&mut pos)?.ok_or_else(|| bad("null header key"))?;
            let v = field(&mut pos)?;
            rec.headers.push((k, v));
        }
        if pos != end {
            return Err(bad("record length does not match its fields"));
        }
        rec.offset = h.base_offset + off_delta;
        rec.timestamp = if h.log_append_time() {
            h.max_timestamp
        } else {
            h.base_timestamp + ts_delta
        };
        if !f(&rec, data) {
            return Ok(());
        }
    }
    if pos != data.len() {
        return Err(bad("trailing bytes after the last record"));
    }
    Ok(())
}

/// Kafka's LogAppendTime: a copy of `buf` (whole batches, validated first, so
/// a corrupt input is refused and never re-signed) where every batch has the
/// timestamp-type attribute bit set, maxTimestamp = `now_ms`, and its CRC
/// recomputed. Readers then take every record's timestamp from maxTimestamp.
pub fn stamp_log_append_time(buf: &[u8], now_ms: i64) -> Result<Vec<u8>> {
    let batches = validate_batches(buf)?;
    let mut out = buf.to_vec();
    for (pos, h) in &batches {
        let b = &mut out[*pos..*pos + h.size()];
        let attributes = h.attributes | ATTR_TIMESTAMP_LOG_APPEND;
        b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        b[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(codec: Codec) -> Vec<u8> {
        let mut p = PendingBatch::new(100, 1024);
        p.push(1_000, Some(b"k1"), Some(b"v1"), &[(b"h", Some(b"x"))]);
        p.push(1_005, None, None, &[]);
        p.push(
            999,
            Some(b""),
            Some(b"value-3"),
            &[(b"a", None), (b"b", Some(b""))],
        );
        let mut out = Vec::new();
        p.encode_into(codec, 7, &mut out).unwrap();
        out
    }

    #[test]
    fn encode_then_decode() {
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let b = sample(codec);
            let h = match check_batch(&b, true) {
                BatchCheck::Valid(h) => h,
                other => panic!("{other:?}"),
            };
            assert_eq!(
                (
                    h.base_offset,
                    h.record_count,
                    h.last_offset_delta,
                    h.partition_leader_epoch
                ),
                (100, 3, 2, 7)
            );
            assert_eq!((h.base_timestamp, h.max_timestamp), (1_000, 1_005));
            let data = records_data(&b, &h).unwrap();
            let mut seen = Vec::new();
            for_each_record(data.bytes(), &h, |r, d| {
                let val = r.value.map(|(s, e)| d[s..e].to_vec());
                seen.push((r.offset, r.timestamp, val, r.headers.len()));
                true
            })
            .unwrap();
            assert_eq!(
                seen,
                vec![
                    (100, 1_000, Some(b"v1".to_vec()), 1),
                    (101, 1_005, None, 0),
                    (102, 999, Some(b"value-3".to_vec()), 2)
                ]
            );
        }
    }

    #[test]
    fn flipped_byte_fails_crc() {
        let mut b = sample(Codec::None);
        let last = b.len() - 1;
        b[last] ^= 0x40;
        assert!(matches!(check_batch(&b, true), BatchCheck::Corrupt(m) if m.contains("CRC32C")));
    }

    #[test]
    fn short_buffer_is_torn() {
        let b = sample(Codec::None);
        assert!(matches!(
            check_batch(&b[..b.len() - 1], true),
            BatchCheck::Torn(_)
        ));
        assert!(matches!(check_batch(&b[..5], true), BatchCheck::Torn(_)));
    }

    #[test]
    fn bad_magic_and_length() {
        let mut b = sample(Codec::None);
        b[MAGIC] = 1;
        assert!(matches!(check_batch(&b, true), BatchCheck::Corrupt(m) if m.contains("magic")));
        let mut b = sample(Codec::None);
        b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(check_batch(&b, true), BatchCheck::Corrupt(_)));
        assert!(validate_batches(&b).is_err());
    }

    #[test]
    fn log_append_time_stamp_keeps_the_batch_valid() {
        let mut two = sample(Codec::None);
        two.extend(sample(Codec::Gzip));
        let stamped = stamp_log_append_time(&two, 1_700_000_000_123).unwrap();
        let batches = validate_batches(&stamped).unwrap();
        assert_eq!(batches.len(), 2);
        for (_, h) in &batches {
            assert!(h.log_append_time());
            assert_eq!(h.max_timestamp, 1_700_000_000_123);
        }
        let mut bad = two.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(stamp_log_append_time(&bad, 1).is_err());
    }
}
