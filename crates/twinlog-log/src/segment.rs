//! One segment: a `.log` file of consecutive batches named by its base offset, with its
//! `.index` and `.timeindex`. Here live the scan that validates batches (used by recovery and
//! by read-only refreshes), the resynchronisation that finds valid batches after damage, and
//! reads by position.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};

use crate::error::LogError;
use crate::format::{self, BATCH_HEADER_LEN, BatchHeader, MAGIC};
use crate::index::{self, SegmentIndex};
use crate::recovery::RecoveryEvent;

/// Bytes read at a time when scanning (1 MiB: large sequential reads, bounded memory).
const SCAN_CHUNK: usize = 1 << 20;

/// File name of the segment with `base` offset and `ext`ension.
pub(crate) fn file_name(base: u64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

/// An open segment. `size`, `next_offset` and `max_timestamp` describe the valid batches;
/// the writer moves them forward after each write.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: u64,
    pub path: PathBuf,
    pub file: File,
    pub size: AtomicU64,
    pub next_offset: AtomicU64,
    pub max_timestamp: AtomicI64,
    pub index: RwLock<SegmentIndex>,
    /// Damage at the end of a sealed segment: bytes after the last valid batch that hold
    /// records the next segment does not (see [`Segment::open`]). Reads of those offsets fail.
    pub tail_damage: Option<TailDamage>,
}

/// Where a sealed segment's valid batches end before its file does, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailDamage {
    /// The byte position of the first bad batch.
    pub position: u64,
    /// What check failed there.
    pub reason: String,
}

impl Segment {
    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension("index")
    }
    pub fn timeindex_path(&self) -> PathBuf {
        self.path.with_extension("timeindex")
    }

    /// Bytes on disk: the valid part of the segment and its index files.
    pub fn disk_size(&self) -> u64 {
        let idx = self.index.read().expect("index lock");
        self.size.load(Ordering::Acquire)
            + (idx.offsets.len() * index::OFFSET_ENTRY_LEN
                + idx.times.len() * index::TIME_ENTRY_LEN) as u64
    }

    /// Creates an empty segment file (the writer's new active segment).
    pub fn create(dir: &Path, base: u64) -> Result<Segment, LogError> {
        let path = dir.join(file_name(base, "log"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| LogError::io("creating", &path, e))?;
        for ext in ["index", "timeindex"] {
            let p = dir.join(file_name(base, ext));
            File::create(&p).map_err(|e| LogError::io("creating", &p, e))?;
        }
        Ok(Segment {
            base_offset: base,
            path,
            file,
            size: AtomicU64::new(0),
            next_offset: AtomicU64::new(base),
            max_timestamp: AtomicI64::new(i64::MIN),
            index: RwLock::new(SegmentIndex::default()),
            tail_damage: None,
        })
    }

    /// Opens and recovers a segment.
    ///
    /// `full_scan`: validate every batch and rebuild the indexes from them (the active
    /// segment, or when the index files fail validation). Otherwise the index files are
    /// validated and only the batches after the last index entry are scanned.
    /// `next_base`: the base offset of the segment after this one, None for the last segment.
    /// Only the last segment can end in a torn write (the writer syncs a segment's data
    /// before it creates the next one), so only there are bad trailing bytes a torn tail the
    /// writer truncates. In a sealed segment they are damage to acknowledged records: they are
    /// kept, reported as a [`RecoveryEvent::CorruptRegion`] up to `next_base`, and reads of
    /// those offsets fail with [`LogError::Corrupt`].
    /// `writable`: the writer may truncate a torn tail and rewrite index files; read-only
    /// opens change nothing on disk.
    pub fn open(
        path: PathBuf,
        base: u64,
        full_scan: bool,
        next_base: Option<u64>,
        writable: bool,
        interval: u32,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<Segment, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&path)
            .map_err(|e| LogError::io("opening", &path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| LogError::io("reading metadata of", &path, e))?
            .len();
        let mut seg = Segment {
            base_offset: base,
            path,
            file,
            size: AtomicU64::new(0),
            next_offset: AtomicU64::new(base),
            max_timestamp: AtomicI64::new(i64::MIN),
            index: RwLock::new(SegmentIndex::default()),
            tail_damage: None,
        };
        let on_disk = seg.load_index_files(file_len);
        // With a valid index, only the batches after the last entry are scanned; the batch at
        // the last entry is already accounted for (the running maximum of the time index
        // includes it by construction), so the scan skips observing it.
        let (mut idx, start_pos, mut rebuilt_reason) = match (&on_disk, full_scan) {
            (Ok(idx), false) => match seg.check_last_entry(idx, file_len) {
                Ok(()) => {
                    let pos = idx.offsets.last().map_or(0, |&(_, p)| u64::from(p));
                    (idx.clone(), pos, None)
                }
                Err(reason) => (SegmentIndex::default(), 0, Some(reason)),
            },
            (Ok(_), true) => (SegmentIndex::default(), 0, None),
            (Err(reason), _) => (SegmentIndex::default(), 0, Some(reason.clone())),
        };
        let skip = if idx.offsets.is_empty() {
            None
        } else {
            Some(start_pos)
        };
        let mut outcome = scan(&seg.file, &seg.path, file_len, start_pos, base, |pos, h| {
            if Some(pos) != skip {
                idx.observe(interval, base, pos, h);
            }
        })?;
        if outcome.end_pos < file_len && start_pos > 0 {
            // Damage after the last index entry (possibly in the batch it points at): scan the
            // whole segment, so where the valid batches end and their offsets are exact.
            idx = SegmentIndex::default();
            rebuilt_reason.get_or_insert_with(|| "damage after the last index entry".into());
            outcome = scan(&seg.file, &seg.path, file_len, 0, base, |pos, h| {
                idx.observe(interval, base, pos, h);
            })?;
        }
        for r in &outcome.regions {
            tracing::warn!(segment = %seg.path.display(), position = r.position, len = r.len, "corrupt region in the middle of a segment; its records are unreadable");
            events.push(RecoveryEvent::CorruptRegion {
                segment: seg.path.clone(),
                position: r.position,
                len: r.len,
                first_offset: r.first_offset,
                next_offset: r.next_offset,
            });
        }
        let sealed_next = next_base.filter(|_| outcome.end_pos < file_len);
        if let Some(next_base) = sealed_next {
            let reason = damage_reason(&seg.file, &seg.path, file_len, outcome.end_pos)?;
            let first_offset = outcome.next_offset.unwrap_or(base);
            tracing::warn!(segment = %seg.path.display(), position = outcome.end_pos, first_offset, next_offset = next_base, %reason, "corrupt batch at the end of a sealed segment; its records are unreadable");
            events.push(RecoveryEvent::CorruptRegion {
                segment: seg.path.clone(),
                position: outcome.end_pos,
                len: file_len - outcome.end_pos,
                first_offset,
                next_offset: next_base,
            });
            seg.tail_damage = Some(TailDamage {
                position: outcome.end_pos,
                reason,
            });
        } else if outcome.end_pos < file_len && writable {
            tracing::warn!(segment = %seg.path.display(), position = outcome.end_pos, bytes = file_len - outcome.end_pos, "truncating a torn batch at the end of the segment");
            seg.file
                .set_len(outcome.end_pos)
                .and_then(|()| seg.file.sync_all())
                .map_err(|e| LogError::io("truncating", &seg.path, e))?;
            events.push(RecoveryEvent::TruncatedTornTail {
                segment: seg.path.clone(),
                position: outcome.end_pos,
                bytes_removed: file_len - outcome.end_pos,
            });
        }
        seg.size.store(outcome.end_pos, Ordering::Release);
        seg.next_offset
            .store(outcome.next_offset.unwrap_or(base), Ordering::Release);
        seg.max_timestamp
            .store(idx.running_max.unwrap_or(i64::MIN), Ordering::Release);
        let matches_disk = on_disk.as_ref().is_ok_and(|d| d.same_entries(&idx));
        if !matches_disk && writable {
            let reason = rebuilt_reason.unwrap_or_else(|| "index did not match the segment".into());
            let (o, t) = index::encode_files(&idx);
            for (p, bytes) in [(seg.index_path(), o), (seg.timeindex_path(), t)] {
                fs::write(&p, bytes).map_err(|e| LogError::io("writing", &p, e))?;
            }
            tracing::warn!(index = %seg.index_path().display(), %reason, "rebuilt the segment's indexes");
            events.push(RecoveryEvent::RebuiltIndex {
                index: seg.index_path(),
                reason,
            });
        }
        *seg.index.write().expect("index lock") = idx;
        Ok(seg)
    }

    fn load_index_files(&self, file_len: u64) -> Result<SegmentIndex, String> {
        let read =
            |p: PathBuf| fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let o = read(self.index_path())?;
        let t = read(self.timeindex_path())?;
        index::decode_files(&o, &t, file_len)
    }

    fn check_last_entry(&self, idx: &SegmentIndex, file_len: u64) -> Result<(), String> {
        let Some(&(rel, pos)) = idx.offsets.last() else {
            return if file_len == 0 {
                Ok(())
            } else {
                Err("index is empty but the segment is not".into())
            };
        };
        let mut buf = [0u8; BATCH_HEADER_LEN];
        self.file
            .read_exact_at(&mut buf, u64::from(pos))
            .map_err(|e| format!("cannot read the batch at the last index entry: {e}"))?;
        match BatchHeader::parse(&buf) {
            Ok(h) if h.base_offset == self.base_offset + u64::from(rel) => Ok(()),
            _ => Err("the last index entry does not point at its batch".into()),
        }
    }

    /// Rescans from the current end (read-only handles following another process's writes).
    pub fn refresh_tail(&self, interval: u32) -> Result<(), LogError> {
        let file_len = self
            .file
            .metadata()
            .map_err(|e| LogError::io("reading metadata of", &self.path, e))?
            .len();
        let start = self.size.load(Ordering::Acquire);
        if file_len <= start {
            return Ok(());
        }
        let mut idx = self.index.write().expect("index lock");
        let base = self.base_offset;
        let expected = self.next_offset.load(Ordering::Acquire);
        let mut batches = Vec::new();
        let outcome = scan_strict(
            &self.file,
            &self.path,
            file_len,
            start,
            expected,
            |pos, h| batches.push((pos, *h)),
        )?;
        for (pos, h) in batches {
            idx.observe(interval, base, pos, &h);
        }
        if let Some(n) = outcome.next_offset {
            self.next_offset.store(n, Ordering::Release);
        }
        self.max_timestamp
            .store(idx.running_max.unwrap_or(i64::MIN), Ordering::Release);
        self.size.store(outcome.end_pos, Ordering::Release);
        Ok(())
    }

    /// Reads `len` bytes at `pos` into a buffer carved from `pool`. Once every record of an
    /// earlier read was dropped, `reserve` takes the pool's whole allocation back, so steady
    /// reading reuses one buffer instead of mapping (and faulting in) fresh memory each time.
    pub fn read_bytes(&self, pos: u64, len: usize, pool: &mut BytesMut) -> Result<Bytes, LogError> {
        pool.clear();
        pool.reserve(len);
        pool.resize(len, 0);
        self.file
            .read_exact_at(&mut pool[..], pos)
            .map_err(|e| LogError::io("reading", &self.path, e))?;
        Ok(pool.split_to(len).freeze())
    }
}

/// A damaged stretch in the middle of a segment, with valid batches after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region {
    pub position: u64,
    pub len: u64,
    pub first_offset: u64,
    pub next_offset: u64,
}

#[derive(Debug)]
pub(crate) struct ScanOutcome {
    /// Where the valid batches end.
    pub end_pos: u64,
    /// One past the last offset of the last valid batch (None: no batch).
    pub next_offset: Option<u64>,
    /// Damage with valid batches after it.
    pub regions: Vec<Region>,
}

/// Reads a file in large chunks and hands out byte ranges.
struct ChunkReader<'a> {
    file: &'a File,
    path: &'a Path,
    file_len: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> ChunkReader<'a> {
    fn new(file: &'a File, path: &'a Path, file_len: u64) -> Self {
        ChunkReader {
            file,
            path,
            file_len,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// Bytes `[pos, pos + len)`, or None if the file ends before.
    fn get(&mut self, pos: u64, len: usize) -> Result<Option<&[u8]>, LogError> {
        if pos + len as u64 > self.file_len {
            return Ok(None);
        }
        let in_buf =
            pos >= self.buf_start && pos + len as u64 <= self.buf_start + self.buf.len() as u64;
        if !in_buf {
            let want = (len.max(SCAN_CHUNK) as u64).min(self.file_len - pos) as usize;
            self.buf.resize(want, 0);
            self.file
                .read_exact_at(&mut self.buf, pos)
                .map_err(|e| LogError::io("reading", self.path, e))?;
            self.buf_start = pos;
        }
        let s = (pos - self.buf_start) as usize;
        Ok(Some(&self.buf[s..s + len]))
    }
}

/// Whether a valid batch with base offset >= `min_offset` starts at `pos`.
fn valid_at(
    r: &mut ChunkReader<'_>,
    pos: u64,
    min_offset: u64,
) -> Result<Option<BatchHeader>, LogError> {
    let Some(head) = r.get(pos, BATCH_HEADER_LEN)? else {
        return Ok(None);
    };
    let Ok(h) = BatchHeader::parse(head) else {
        return Ok(None);
    };
    if h.base_offset < min_offset {
        return Ok(None);
    }
    let Some(batch) = r.get(pos, h.batch_len as usize)? else {
        return Ok(None);
    };
    Ok(format::check_crc(&h, batch).ok().map(|()| h))
}

/// Why the bytes at `pos` (where a scan stopped before `file_len`) are not a valid batch.
fn damage_reason(file: &File, path: &Path, file_len: u64, pos: u64) -> Result<String, LogError> {
    let mut r = ChunkReader::new(file, path, file_len);
    let Some(head) = r.get(pos, BATCH_HEADER_LEN)? else {
        return Ok(format!(
            "{} bytes after the last valid batch are too short for a batch header",
            file_len - pos
        ));
    };
    let h = match BatchHeader::parse(head) {
        Ok(h) => h,
        Err(e) => return Ok(e.to_string()),
    };
    let Some(batch) = r.get(pos, h.batch_len as usize)? else {
        return Ok("batch extends past the end of the segment".into());
    };
    Ok(match format::check_crc(&h, batch) {
        Err(e) => e.to_string(),
        Ok(()) => format!(
            "batch with base offset {} is out of order in the segment",
            h.base_offset
        ),
    })
}

/// Finds the first valid batch starting after `pos` (resynchronisation after damage).
fn resync(
    r: &mut ChunkReader<'_>,
    pos: u64,
    min_offset: u64,
) -> Result<Option<(u64, BatchHeader)>, LogError> {
    let mut q = pos + 1;
    while q + BATCH_HEADER_LEN as u64 <= r.file_len {
        let is_magic = r.get(q + 16, 1)?.is_some_and(|b| b[0] == MAGIC);
        if is_magic && let Some(h) = valid_at(r, q, min_offset)? {
            return Ok(Some((q, h)));
        }
        q += 1;
    }
    Ok(None)
}

/// Validates batches from `start` on, calling `on_batch` for each valid one. Damage followed
/// by a valid batch becomes a [`Region`]; damage with nothing valid after it ends the scan
/// (`end_pos` is where it begins: a torn tail).
pub(crate) fn scan(
    file: &File,
    path: &Path,
    file_len: u64,
    start: u64,
    min_offset: u64,
    mut on_batch: impl FnMut(u64, &BatchHeader),
) -> Result<ScanOutcome, LogError> {
    let mut r = ChunkReader::new(file, path, file_len);
    let mut pos = start;
    let mut next: Option<u64> = None;
    let mut regions = Vec::new();
    while pos < file_len {
        let min = next.unwrap_or(min_offset);
        if let Some(h) = valid_at(&mut r, pos, min)? {
            on_batch(pos, &h);
            next = Some(h.next_offset());
            pos += u64::from(h.batch_len);
            continue;
        }
        match resync(&mut r, pos, min)? {
            Some((q, h)) => {
                regions.push(Region {
                    position: pos,
                    len: q - pos,
                    first_offset: min,
                    next_offset: h.base_offset,
                });
                pos = q;
            }
            None => break,
        }
    }
    Ok(ScanOutcome {
        end_pos: pos.min(file_len),
        next_offset: next,
        regions,
    })
}

/// Like [`scan`] but stops at the first invalid batch (read-only refresh: the writer may be
/// in the middle of writing it).
fn scan_strict(
    file: &File,
    path: &Path,
    file_len: u64,
    start: u64,
    min_offset: u64,
    mut on_batch: impl FnMut(u64, &BatchHeader),
) -> Result<ScanOutcome, LogError> {
    let mut r = ChunkReader::new(file, path, file_len);
    let mut pos = start;
    let mut next = None;
    while let Some(h) = valid_at(&mut r, pos, next.unwrap_or(min_offset))? {
        on_batch(pos, &h);
        next = Some(h.next_offset());
        pos += u64::from(h.batch_len);
    }
    Ok(ScanOutcome {
        end_pos: pos,
        next_offset: next,
        regions: Vec::new(),
    })
}

/// For a read that hit damage at `pos`: where valid batches resume (position and header).
pub(crate) fn find_next_valid(
    seg: &Segment,
    pos: u64,
    limit: u64,
    min_offset: u64,
) -> Result<Option<(u64, BatchHeader)>, LogError> {
    let mut r = ChunkReader::new(&seg.file, &seg.path, limit);
    resync(&mut r, pos, min_offset)
}
