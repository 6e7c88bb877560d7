//! Zig-zag varints as used inside Kafka records (protobuf `sint32`/`sint64`).

#[inline]
pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
pub fn put_varint(buf: &mut Vec<u8>, v: i32) {
    put_uvarint(buf, ((v << 1) ^ (v >> 31)) as u32 as u64);
}

#[inline]
pub fn put_varlong(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

#[inline]
pub fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[inline]
pub fn varint_len(v: i32) -> usize {
    uvarint_len(((v << 1) ^ (v >> 31)) as u32 as u64)
}

#[inline]
pub fn varlong_len(v: i64) -> usize {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

/// Reads an unsigned varint of at most `max_bytes` bytes; `None` when truncated or too long.
#[inline(always)]
fn read_uvarint(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<u64> {
    // Fast paths: inside records most varints take one or two bytes.
    let p = *pos;
    if let Some(&b0) = buf.get(p) {
        if b0 < 0x80 {
            *pos = p + 1;
            return Some(b0 as u64);
        }
        if let Some(&b1) = buf.get(p + 1) {
            if b1 < 0x80 {
                *pos = p + 2;
                return Some((b0 & 0x7f) as u64 | ((b1 as u64) << 7));
            }
        }
    }
    read_uvarint_slow(buf, pos, max_bytes)
}

#[cold]
fn read_uvarint_slow(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<u64> {
    let mut result: u64 = 0;
    let mut shift = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos + i)?;
        result |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            *pos += i + 1;
            return Some(result);
        }
        shift += 7;
    }
    None
}

#[inline(always)]
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let raw = read_uvarint(buf, pos, 5)?;
    if raw > u32::MAX as u64 {
        return None;
    }
    let raw = raw as u32;
    Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

#[inline(always)]
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let raw = read_uvarint(buf, pos, 10)?;
    Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_edges() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v));
            let mut p = 0;
            assert_eq!(read_varlong(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
        }
        for v in [0i32, 1, -1, 150, i32::MAX, i32::MIN] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            let mut p = 0;
            assert_eq!(read_varint(&b, &mut p), Some(v));
        }
        // Kafka's example: 300 zig-zags to 600 = 0xd8 0x04.
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, vec![0xd8, 0x04]);
    }

    #[test]
    fn truncated_is_none() {
        let mut p = 0;
        assert_eq!(read_varint(&[0x80, 0x80], &mut p), None);
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], &mut p),
            None
        );
    }
}
