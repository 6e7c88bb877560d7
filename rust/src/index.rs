//! Memory-mapped index files of a segment: the sparse offset index
//! (`u32 relative offset, u32 position`) and the time index (`i64 timestamp,
//! u32 relative offset`), both big-endian, entries sorted ascending.
//!
//! While a segment is active its index files are preallocated to
//! `segment.index.bytes` and mapped whole (as Kafka does); `trim` cuts them
//! to their entries when the segment rolls or the log closes.
//!
//! No file descriptor is held between calls: the mapping stays valid without
//! one, and the few operations that need the file (resize, reserve, hole
//! check) open it for their duration. Ten thousand partitions thus cost ten
//! thousand descriptors (their `.log` files), not thirty thousand.
//!
//! The preallocation is sparse. Writing through the mapping into a page that
//! the filesystem has not allocated yet would raise SIGBUS on a full disk, so
//! pages are reserved (fallocate(2)) before entries are written into them:
//! a full disk then fails `push` with ENOSPC instead of killing the process.

use crate::error::{IoContext, Result};
use memmap2::{MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub struct IndexFile {
    path: PathBuf,
    map: Option<MmapMut>,
    entry_size: usize,
    /// Entries in use; bytes past `entries * entry_size` are preallocation.
    entries: usize,
    /// The file did not hold a whole number of entries when opened (the
    /// partial entry was cut off): it was damaged, its entries are suspect.
    pub torn: bool,
    /// Entries the current mapping can hold.
    capacity: usize,
    /// Bytes from the start of the file known to be allocated on disk (see
    /// `reserve`); entries are only written below this mark.
    reserved: usize,
}

/// Bytes reserved at a time ahead of the entries being written (one page:
/// thousands of partitions each with an active index must not take much disk).
const RESERVE_CHUNK: usize = 4096;

impl IndexFile {
    /// Opens (creating if missing) with the entries the file holds.
    pub fn open(path: &Path, entry_size: usize) -> Result<IndexFile> {
        let len = open_rw(path)?
            .metadata()
            .ctx(|| format!("cannot stat {}", path.display()))?
            .len() as usize;
        let mut idx = IndexFile {
            path: path.to_owned(),
            map: None,
            entry_size,
            entries: len / entry_size,
            torn: !len.is_multiple_of(entry_size),
            capacity: 0,
            reserved: len / entry_size * entry_size,
        };
        idx.remap(idx.entries)?;
        Ok(idx)
    }

    fn remap(&mut self, capacity_entries: usize) -> Result<()> {
        self.map = None;
        let bytes = capacity_entries * self.entry_size;
        let file = open_rw(&self.path)?;
        file.set_len(bytes as u64)
            .ctx(|| format!("cannot resize index {}", self.path.display()))?;
        self.capacity = capacity_entries;
        self.reserved = self.reserved.min(bytes);
        if bytes > 0 {
            // SAFETY: the file is ours (the log holds its directory lock); we never
            // shrink it while this mapping lives (remap drops the mapping first).
            let map = unsafe { MmapOptions::new().len(bytes).map_mut(&file) }
                .ctx(|| format!("cannot map index {}", self.path.display()))?;
            self.map = Some(map);
        }
        Ok(())
    }

    /// Preallocates room for `max_bytes` of entries (the active segment).
    pub fn make_active(&mut self, max_bytes: usize) -> Result<()> {
        let cap = (max_bytes / self.entry_size).max(self.entries).max(1);
        if cap != self.capacity {
            self.remap(cap)?;
        }
        Ok(())
    }

    /// Cuts the file to the entries in use.
    pub fn trim(&mut self) -> Result<()> {
        if self.capacity != self.entries {
            self.remap(self.entries)?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries
    }
    /// Bytes of the file (a whole number of entries unless the file is damaged).
    pub fn file_len(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.path)
            .ctx(|| format!("cannot stat {}", self.path.display()))?
            .len())
    }
    /// Whether the file has a hole (unallocated blocks) before `end`: reading
    /// it through the mapping could then fault, so its entries are not trusted.
    pub fn has_hole_before(&self, end: u64) -> bool {
        use std::os::unix::io::AsRawFd;
        if end == 0 {
            return false;
        }
        let Ok(file) = File::open(&self.path) else { return false };
        // SAFETY: lseek(2) on a descriptor we own.
        let hole = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_HOLE) };
        hole >= 0 && (hole as u64) < end
    }
    pub fn is_full(&self) -> bool {
        self.entries >= self.capacity
    }

    /// The raw bytes of entry `i`.
    #[inline]
    pub fn entry(&self, i: usize) -> &[u8] {
        let m = self
            .map
            .as_ref()
            .expect("index entry read from an empty index");
        &m[i * self.entry_size..(i + 1) * self.entry_size]
    }

    /// Makes sure the file's blocks up to `end` are allocated, so that writing
    /// there through the mapping cannot fault on a full disk.
    fn reserve(&mut self, end: usize) -> Result<()> {
        let from = self.reserved.max(self.entries * self.entry_size);
        let to = (end.div_ceil(RESERVE_CHUNK) * RESERVE_CHUNK).min(self.capacity * self.entry_size);
        if to <= from {
            self.reserved = self.reserved.max(end);
            return Ok(());
        }
        use std::os::unix::io::AsRawFd;
        let file = open_rw(&self.path)?;
        let fd = file.as_raw_fd();
        // SAFETY: plain fallocate(2) on a descriptor we own, inside the file's size.
        let r = unsafe { libc::fallocate(fd, 0, from as libc::off_t, (to - from) as libc::off_t) };
        if r != 0 {
            let err = std::io::Error::last_os_error();
            let unsupported = matches!(err.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS));
            if !unsupported {
                return Err(err).ctx(|| format!("cannot allocate index space in {}", self.path.display()));
            }
            // No fallocate here: writing zeros allocates the blocks just as well
            // (the range holds no live entry).
            file
                .write_all_at(&vec![0u8; to - from], from as u64)
                .ctx(|| format!("cannot allocate index space in {}", self.path.display()))?;
        }
        self.reserved = to;
        Ok(())
    }

    /// Appends an entry; grows the mapping if the index was not made active.
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(bytes.len(), self.entry_size);
        if self.entries >= self.capacity {
            let cap = (self.capacity * 2).max(64);
            self.remap(cap)?;
        }
        let at = self.entries * self.entry_size;
        if at + self.entry_size > self.reserved {
            self.reserve(at + self.entry_size)?;
        }
        self.map.as_mut().unwrap()[at..at + self.entry_size].copy_from_slice(bytes);
        self.entries += 1;
        Ok(())
    }

    pub fn truncate_entries(&mut self, n: usize) {
        self.entries = self.entries.min(n);
        // What lies past the kept entries may be a hole: reserve it again before use.
        self.reserved = self.reserved.min(self.entries * self.entry_size);
    }

    /// Index of the last entry whose key is `<= target`, given `key(i)`, by binary search.
    pub fn floor<K: Ord, F: Fn(&[u8]) -> K>(&self, target: K, key: F) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    pub fn flush(&self) -> Result<()> {
        if let Some(m) = &self.map {
            m.flush()
                .ctx(|| format!("cannot flush index {}", self.path.display()))?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[inline]
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
#[inline]
pub fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

pub const OFFSET_ENTRY: usize = 8;
pub const TIME_ENTRY: usize = 12;

/// Offset index entry: (relative offset, position).
pub fn offset_entry(e: &[u8]) -> (u32, u32) {
    (u32_at(e, 0), u32_at(e, 4))
}
/// Time index entry: (timestamp, relative offset).
pub fn time_entry(e: &[u8]) -> (i64, u32) {
    (i64_at(e, 0), u32_at(e, 8))
}

/// The index file, opened (created when missing) for reading and writing.
fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .ctx(|| format!("cannot open index {}", path.display()))
}
