//! Compression codecs of Kafka record batches (attributes bits 0-2).

use crate::error::{LogError, Result};
use std::io::{Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Codec {
    pub fn from_attributes(attributes: i16) -> Result<Codec> {
        Codec::from_id((attributes & 0x07) as u8)
    }

    pub fn from_id(id: u8) -> Result<Codec> {
        Ok(match id {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => {
                return Err(LogError::Corrupt(format!(
                    "unknown compression codec {other}"
                )))
            }
        })
    }

    /// Kafka's `compression.type` names.
    pub fn from_name(name: &str) -> Result<Codec> {
        Ok(match name {
            "none" | "uncompressed" => Codec::None,
            "gzip" => Codec::Gzip,
            "snappy" => Codec::Snappy,
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            other => {
                return Err(LogError::Invalid(format!(
                    "unknown compression type {other:?} (expected none, gzip, snappy, lz4 or zstd)"
                )))
            }
        })
    }
}

/// Magic of the xerial snappy framing that the Java client writes.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_BLOCK: usize = 32 * 1024;

fn corrupt<E: std::fmt::Display>(codec: &str) -> impl FnOnce(E) -> LogError + '_ {
    move |e| LogError::Corrupt(format!("cannot decompress {codec} records: {e}"))
}

pub fn compress(codec: Codec, data: &[u8]) -> Result<Vec<u8>> {
    let fail = |e: std::io::Error| LogError::Invalid(format!("compression failed: {e}"));
    Ok(match codec {
        Codec::None => data.to_vec(),
        Codec::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::default(),
            );
            enc.write_all(data).map_err(fail)?;
            enc.finish().map_err(fail)?
        }
        Codec::Snappy => {
            // xerial framing, as the Java client writes: header, then (i32 length, raw block)*.
            let mut out = Vec::with_capacity(16 + data.len());
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK) {
                let block = enc
                    .compress_vec(chunk)
                    .map_err(|e| LogError::Invalid(format!("snappy: {e}")))?;
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        Codec::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
            enc.write_all(data).map_err(fail)?;
            enc.finish()
                .map_err(|e| LogError::Invalid(format!("lz4: {e}")))?
        }
        Codec::Zstd => zstd::bulk::compress(data, 3).map_err(fail)?,
    })
}

pub fn decompress(codec: Codec, data: &[u8]) -> Result<Vec<u8>> {
    Ok(match codec {
        Codec::None => data.to_vec(),
        Codec::Gzip => {
            let mut out = Vec::with_capacity(data.len() * 4);
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(corrupt("gzip"))?;
            out
        }
        Codec::Snappy => {
            let mut dec = snap::raw::Decoder::new();
            if data.len() >= 16 && &data[..8] == XERIAL_MAGIC {
                let mut out = Vec::with_capacity(data.len() * 2);
                let mut pos = 16;
                while pos < data.len() {
                    if pos + 4 > data.len() {
                        return Err(LogError::Corrupt(
                            "cannot decompress snappy records: truncated xerial block".into(),
                        ));
                    }
                    let n = i32::from_be_bytes(data[pos..pos + 4].try_into().unwrap());
                    pos += 4;
                    if n < 0 || pos + n as usize > data.len() {
                        return Err(LogError::Corrupt(
                            "cannot decompress snappy records: bad xerial block length".into(),
                        ));
                    }
                    out.extend_from_slice(
                        &dec.decompress_vec(&data[pos..pos + n as usize])
                            .map_err(corrupt("snappy"))?,
                    );
                    pos += n as usize;
                }
                out
            } else {
                dec.decompress_vec(data).map_err(corrupt("snappy"))?
            }
        }
        Codec::Lz4 => {
            let mut out = Vec::with_capacity(data.len() * 4);
            lz4_flex::frame::FrameDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(corrupt("lz4"))?;
            out
        }
        Codec::Zstd => {
            let mut out = Vec::with_capacity(data.len() * 4);
            zstd::stream::read::Decoder::new(data)
                .and_then(|mut d| d.read_to_end(&mut out))
                .map_err(corrupt("zstd"))?;
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let packed = compress(codec, &data).unwrap();
            assert_eq!(decompress(codec, &packed).unwrap(), data, "{codec:?}");
        }
    }

    #[test]
    fn raw_snappy_is_accepted() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"hello hello hello")
            .unwrap();
        assert_eq!(
            decompress(Codec::Snappy, &raw).unwrap(),
            b"hello hello hello"
        );
    }

    #[test]
    fn garbage_is_corrupt() {
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            assert!(
                matches!(
                    decompress(codec, b"definitely not compressed"),
                    Err(LogError::Corrupt(_))
                ),
                "{codec:?}"
            );
        }
    }
}
