//! A partition: its ordered segments, the watch of its visible end offset (the offset below
//! which records are acknowledged and may be served), and its reads — by offset, by
//! timestamp — which use the segment list and the sparse indexes for O(log n) positioning.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;
use twinlog_core::{StoredRecord, Timestamp};

use crate::error::LogError;
use crate::format::{self, BATCH_HEADER_LEN, BatchHeader};
use crate::segment::{self, Segment};

/// Smallest and largest read chunk: large enough to amortise the syscall over thousands of
/// small records, small enough that a read of a few records does not pull megabytes.
const MIN_READ_CHUNK: usize = 64 * 1024;
const MAX_READ_CHUNK: usize = 1024 * 1024;

#[derive(Debug)]
pub(crate) struct Partition {
    pub topic: Arc<str>,
    pub id: u32,
    pub dir: PathBuf,
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// One past the last acknowledged (visible) offset. Followers wait on it.
    pub visible: watch::Sender<u64>,
    /// Test hook: an errno the writer's next write fails with (0: none).
    pub fault: AtomicI32,
    /// Test hook: an errno the next fsync of segment data fails with (0: none).
    pub sync_fault: AtomicI32,
    /// Set when the topic is deleted: followers end instead of waiting forever.
    pub deleted: AtomicBool,
    /// The read buffer reused across reads (see [`Segment::read_bytes`]).
    read_pool: Mutex<BytesMut>,
}

/// What the batch loop does next.
enum Flow {
    Continue,
    Stop,
}

/// How a batch loop over a segment ended.
enum Stopped {
    /// End of the valid data, the visible end, or the callback said stop.
    Done,
    /// Damage at this position.
    Damage(u64),
}

impl Partition {
    pub fn new(topic: Arc<str>, id: u32, dir: PathBuf, segments: Vec<Arc<Segment>>) -> Partition {
        let end = segments
            .last()
            .map_or(0, |s| s.next_offset.load(Ordering::Acquire));
        Partition {
            topic,
            id,
            dir,
            segments: RwLock::new(segments),
            visible: watch::Sender::new(end),
            fault: AtomicI32::new(0),
            sync_fault: AtomicI32::new(0),
            deleted: AtomicBool::new(false),
            read_pool: Mutex::new(BytesMut::new()),
        }
    }

    pub fn end_offset(&self) -> u64 {
        *self.visible.borrow()
    }

    pub fn start_offset(&self) -> u64 {
        let segs = self.segments.read().expect("segments lock");
        segs.first()
            .map_or_else(|| self.end_offset(), |s| s.base_offset)
    }

    pub fn snapshot(&self) -> Vec<Arc<Segment>> {
        self.segments.read().expect("segments lock").clone()
    }

    /// Reads up to `max` records from `from`; also returns the visible end used.
    pub fn read(&self, from: u64, max: usize) -> Result<(Vec<StoredRecord>, u64), LogError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(LogError::UnknownTopic {
                topic: self.topic.to_string(),
            });
        }
        let end = self.end_offset();
        let segs = self.snapshot();
        let mut out = Vec::new();
        let Some(first) = segs.first() else {
            return Ok((out, end));
        };
        let mut from = from.max(first.base_offset);
        if from >= end || max == 0 {
            return Ok((out, end));
        }
        let mut i = segs
            .partition_point(|s| s.base_offset <= from)
            .saturating_sub(1);
        while i < segs.len() && out.len() < max && from < end {
            let seg = &segs[i];
            let next_base = segs.get(i + 1).map(|s| s.base_offset);
            let seg_next = seg.next_offset.load(Ordering::Acquire);
            if from < seg_next {
                let (next, damaged) =
                    self.read_segment(seg, from, end, max, next_base, &mut out)?;
                from = next;
                if damaged {
                    // Serve what came before the damage; the next read reports it.
                    break;
                }
            }
            if let (Some(damage), Some(nb)) = (&seg.tail_damage, next_base)
                && from >= seg_next
                && from < nb
                && from < end
                && out.len() < max
            {
                // The offsets between this segment's valid end and the next segment are in
                // damaged bytes: report them, never skip them silently.
                if !out.is_empty() {
                    break;
                }
                return Err(LogError::Corrupt {
                    segment: seg.path.clone(),
                    position: damage.position,
                    offset: from,
                    next_readable: Some(nb).filter(|&o| o < end),
                    reason: damage.reason.clone(),
                });
            }
            if let Some(nb) = next_base {
                from = from.max(nb);
            }
            i += 1;
        }
        Ok((out, end))
    }

    /// Reads records of one segment; returns the offset to continue from, and whether the
    /// read stopped at damage (after returning the records before it).
    fn read_segment(
        &self,
        seg: &Segment,
        mut from: u64,
        end: u64,
        max: usize,
        next_base: Option<u64>,
        out: &mut Vec<StoredRecord>,
    ) -> Result<(u64, bool), LogError> {
        let limit = seg.size.load(Ordering::Acquire);
        let mut pos = seg
            .index
            .read()
            .expect("index lock")
            .position_for(from - seg.base_offset);
        let span = seg
            .next_offset
            .load(Ordering::Acquire)
            .saturating_sub(seg.base_offset)
            .max(1);
        let avg = (limit / span).max(16) as usize;
        let chunk = (max.saturating_mul(avg)).clamp(MIN_READ_CHUNK, MAX_READ_CHUNK);
        // One past the last offset of the last valid batch seen: after damage, valid batches
        // resume at or above it.
        let mut good_end = seg.base_offset;
        loop {
            let stopped = self.batches(seg, pos, limit, end, chunk, |h, batch| {
                good_end = good_end.max(h.next_offset());
                if h.next_offset() <= from {
                    return Ok(Flow::Continue);
                }
                let mut full = false;
                format::decode_records(&batch, h, |offset, record| {
                    if offset < from {
                        return true;
                    }
                    if offset >= end {
                        full = true;
                        return false;
                    }
                    out.push(StoredRecord {
                        topic: self.topic.clone(),
                        partition: self.id,
                        offset,
                        record,
                    });
                    from = offset + 1;
                    if out.len() >= max {
                        full = true;
                    }
                    !full
                })
                .map_err(|e| (e.to_string(), ()))
                .map_err(|(reason, ())| reason)?;
                if !full {
                    from = from.max(h.next_offset());
                }
                Ok(if full { Flow::Stop } else { Flow::Continue })
            })?;
            let (damage_pos, reason) = match stopped {
                (Stopped::Done, _) => return Ok((from, false)),
                (Stopped::Damage(p), reason) => (p, reason),
            };
            if !out.is_empty() {
                return Ok((from, true));
            }
            // The search starts from the end of the last good batch, not from `from`: the
            // batch that holds `from` may begin below it, and records before `from` in it
            // are skipped by the loop above.
            match segment::find_next_valid(seg, damage_pos, limit, good_end)? {
                Some((q, h)) if h.base_offset <= from => pos = q,
                resumed => {
                    let next_readable = resumed
                        .map(|(_, h)| h.base_offset)
                        .or(next_base)
                        .filter(|&o| o < end);
                    return Err(LogError::Corrupt {
                        segment: seg.path.clone(),
                        position: damage_pos,
                        offset: from,
                        next_readable,
                        reason,
                    });
                }
            }
        }
    }

    /// Calls `f` for each CRC-valid batch from `pos` with a base offset below `end`.
    fn batches(
        &self,
        seg: &Segment,
        pos: u64,
        limit: u64,
        end: u64,
        chunk: usize,
        f: impl FnMut(&BatchHeader, Bytes) -> Result<Flow, String>,
    ) -> Result<(Stopped, String), LogError> {
        // Taken out of the lock for the whole read: concurrent readers each get their own.
        let mut pool = std::mem::take(&mut *self.read_pool.lock().expect("pool lock"));
        let result = self.batches_with(seg, pos, limit, end, chunk, &mut pool, f);
        *self.read_pool.lock().expect("pool lock") = pool;
        result
    }

    #[allow(clippy::too_many_arguments)] // private helper of `batches`
    fn batches_with(
        &self,
        seg: &Segment,
        mut pos: u64,
        limit: u64,
        end: u64,
        chunk: usize,
        pool: &mut BytesMut,
        mut f: impl FnMut(&BatchHeader, Bytes) -> Result<Flow, String>,
    ) -> Result<(Stopped, String), LogError> {
        while pos < limit {
            let want = (chunk as u64).min(limit - pos) as usize;
            let buf = seg.read_bytes(pos, want, pool)?;
            let mut off = 0usize;
            let mut need = 0usize;
            while off < buf.len() {
                let h = match BatchHeader::parse(&buf[off..]) {
                    Ok(h) => h,
                    Err(format::FormatError::Incomplete { .. })
                        if pos + (off + BATCH_HEADER_LEN) as u64 <= limit =>
                    {
                        break;
                    }
                    Err(e) => return Ok((Stopped::Damage(pos + off as u64), e.to_string())),
                };
                if h.base_offset >= end {
                    return Ok((Stopped::Done, String::new()));
                }
                let blen = h.batch_len as usize;
                if pos + (off + blen) as u64 > limit {
                    return Ok((
                        Stopped::Damage(pos + off as u64),
                        "batch extends past the segment's valid end".into(),
                    ));
                }
                if off + blen > buf.len() {
                    need = blen;
                    break;
                }
                let batch = buf.slice(off..off + blen);
                if let Err(e) = format::check_crc(&h, &batch) {
                    return Ok((Stopped::Damage(pos + off as u64), e.to_string()));
                }
                match f(&h, batch) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Stop) => return Ok((Stopped::Done, String::new())),
                    Err(reason) => return Ok((Stopped::Damage(pos + off as u64), reason)),
                }
                off += blen;
            }
            if off == 0 && need > 0 {
                // One batch larger than the chunk: read exactly it.
                let batch = seg.read_bytes(pos, need, pool)?;
                let h = BatchHeader::parse(&batch).expect("parsed above");
                if let Err(e) = format::check_crc(&h, &batch) {
                    return Ok((Stopped::Damage(pos), e.to_string()));
                }
                match f(&h, batch) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Stop) => return Ok((Stopped::Done, String::new())),
                    Err(reason) => return Ok((Stopped::Damage(pos), reason)),
                }
                off = need;
            }
            pos += off as u64;
        }
        Ok((Stopped::Done, String::new()))
    }

    /// The first visible offset whose record timestamp is >= `ts`.
    pub fn offset_for_timestamp(&self, ts: Timestamp) -> Result<Option<u64>, LogError> {
        let ts = ts.as_micros();
        let end = self.end_offset();
        for seg in &self.snapshot() {
            if seg.base_offset >= end {
                break;
            }
            if seg.max_timestamp.load(Ordering::Acquire) < ts {
                continue;
            }
            let (from, pos) = {
                let idx = seg.index.read().expect("index lock");
                let rel = idx.rel_offset_for_time(ts);
                (seg.base_offset + rel, idx.position_for(rel))
            };
            let limit = seg.size.load(Ordering::Acquire);
            let mut found = None;
            let stopped = self.batches(seg, pos, limit, end, MIN_READ_CHUNK, |h, batch| {
                if h.next_offset() <= from || h.max_timestamp < ts {
                    return Ok(Flow::Continue);
                }
                format::decode_records(&batch, h, |offset, r| {
                    if offset >= from && offset < end && r.timestamp.as_micros() >= ts {
                        found = Some(offset);
                        return false;
                    }
                    true
                })
                .map_err(|e| e.to_string())?;
                Ok(if found.is_some() {
                    Flow::Stop
                } else {
                    Flow::Continue
                })
            })?;
            if found.is_some() {
                return Ok(found);
            }
            if let (Stopped::Damage(p), reason) = stopped {
                return Err(LogError::Corrupt {
                    segment: seg.path.clone(),
                    position: p,
                    offset: from,
                    next_readable: None,
                    reason,
                });
            }
        }
        Ok(None)
    }

    /// Every visible record of a segment (compaction), failing on damage.
    pub fn segment_records(
        &self,
        seg: &Segment,
        mut f: impl FnMut(u64, twinlog_core::Record, &BatchHeader),
    ) -> Result<(), LogError> {
        let limit = seg.size.load(Ordering::Acquire);
        let end = self.end_offset();
        let stopped = self.batches(seg, 0, limit, end, MAX_READ_CHUNK, |h, batch| {
            format::decode_records(&batch, h, |o, r| {
                if o < end {
                    f(o, r, h);
                }
                o < end
            })
            .map_err(|e| e.to_string())?;
            Ok(Flow::Continue)
        })?;
        if let (Stopped::Damage(p), reason) = stopped {
            return Err(LogError::Corrupt {
                segment: seg.path.clone(),
                position: p,
                offset: seg.base_offset,
                next_readable: None,
                reason,
            });
        }
        if let Some(damage) = &seg.tail_damage {
            // Compaction must not rewrite a segment without its damaged tail: that would
            // turn unreadable records into a silent gap.
            return Err(LogError::Corrupt {
                segment: seg.path.clone(),
                position: damage.position,
                offset: seg.next_offset.load(Ordering::Acquire),
                next_readable: None,
                reason: damage.reason.clone(),
            });
        }
        Ok(())
    }
}
