//! Removing data: retention (delete whole old segments by size or age) and key compaction
//! (rewrite sealed segments keeping the latest record per key). Both work on sealed
//! segments only — the active segment is the writer's — and on fully visible ones.
//! Readers holding an old segment keep reading it (its file handle outlives the unlink).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use twinlog_core::{Record, Timestamp};

use crate::error::LogError;
use crate::format::BatchBuilder;
use crate::log::{CompactionReport, RetentionReport, sync_dir};
use crate::options::TopicConfig;
use crate::partition::Partition;
use crate::segment::Segment;

/// Compaction writes batches of at most this many records / bytes: big enough for fast
/// reads, small enough that a damaged batch loses little.
const COMPACT_BATCH_RECORDS: u32 = 1000;
const COMPACT_BATCH_BYTES: usize = 256 * 1024;

fn remove_segment_files(seg: &Segment) -> Result<u64, LogError> {
    let mut freed = 0;
    for p in [seg.path.clone(), seg.index_path(), seg.timeindex_path()] {
        match fs::metadata(&p) {
            Ok(m) => freed += m.len(),
            Err(_) => continue,
        }
        fs::remove_file(&p).map_err(|e| LogError::io("removing", &p, e))?;
    }
    Ok(freed)
}

/// Deletes the oldest sealed segments of `part` that retention says must go.
pub(crate) fn enforce(
    part: &Partition,
    config: &TopicConfig,
    now: Timestamp,
    report: &mut RetentionReport,
) -> Result<(), LogError> {
    let segs = part.snapshot();
    let end = part.end_offset();
    // Candidates: sealed (not the last) and fully visible.
    let sealed = segs[..segs.len().saturating_sub(1)]
        .iter()
        .take_while(|s| s.next_offset.load(Ordering::Acquire) <= end)
        .count();
    let mut delete = 0;
    if let Some(limit) = config.retention_bytes {
        let mut total: u64 = segs.iter().map(|s| s.disk_size()).sum();
        while delete < sealed && total > limit {
            total -= segs[delete].disk_size();
            delete += 1;
        }
    }
    if let Some(age) = config.retention_age {
        let cutoff = now.saturating_sub(age).as_micros();
        while delete < sealed && segs[delete].max_timestamp.load(Ordering::Acquire) < cutoff {
            delete += 1;
        }
    }
    if delete == 0 {
        return Ok(());
    }
    let doomed: Vec<Arc<Segment>> = {
        let mut list = part.segments.write().expect("segments lock");
        let n = list
            .iter()
            .take(delete)
            .zip(&segs)
            .take_while(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        list.drain(..n).collect()
    };
    for seg in &doomed {
        report.bytes_deleted += remove_segment_files(seg)?;
        report.segments_deleted += 1;
        tracing::info!(segment = %seg.path.display(), "retention deleted a segment");
    }
    sync_dir(&part.dir)
}

/// Rewrites the sealed segments of `part` keeping the latest record per key.
pub(crate) fn compact(
    part: &Partition,
    config: &TopicConfig,
    now: Timestamp,
    interval: u32,
    report: &mut CompactionReport,
) -> Result<(), LogError> {
    let segs = part.snapshot();
    if segs.len() < 2 {
        return Ok(());
    }
    let end = part.end_offset();
    let mut latest: HashMap<Bytes, u64> = HashMap::new();
    for seg in &segs {
        part.segment_records(seg, |offset, r, _| {
            if let Some(k) = r.key {
                // Copied: a slice would pin the whole read buffer in memory.
                latest.insert(Bytes::copy_from_slice(&k), offset);
            }
        })?;
    }
    let tombstone_cutoff = now.saturating_sub(config.tombstone_retention);
    for seg in &segs[..segs.len() - 1] {
        let seg_next = seg.next_offset.load(Ordering::Acquire);
        if seg_next > end {
            break;
        }
        let mut total = 0u64;
        let mut kept: Vec<(u64, Record)> = Vec::new();
        part.segment_records(seg, |offset, r, _| {
            total += 1;
            let keep = match &r.key {
                None => true,
                Some(k) => {
                    latest.get(k) == Some(&offset)
                        && !(r.value.is_none() && r.timestamp < tombstone_cutoff)
                }
            };
            if keep {
                kept.push((offset, r));
            }
        })?;
        if kept.len() as u64 == total {
            continue;
        }
        let before = seg.disk_size();
        report.records_removed += total - kept.len() as u64;
        report.segments_rewritten += 1;
        report.bytes_before += before;
        if kept.is_empty() {
            part.segments
                .write()
                .expect("segments lock")
                .retain(|s| !Arc::ptr_eq(s, seg));
            remove_segment_files(seg)?;
            sync_dir(&part.dir)?;
            continue;
        }
        let new = rewrite(seg, &kept, seg_next, interval)?;
        report.bytes_after += new.disk_size();
        let mut list = part.segments.write().expect("segments lock");
        if let Some(slot) = list.iter_mut().find(|s| Arc::ptr_eq(s, seg)) {
            *slot = Arc::new(new);
        }
    }
    Ok(())
}

/// Writes `kept` as the new content of `seg` (same base offset and offset span) and
/// swaps it in: `<base>.log.cleaned` is written and synced, the old indexes removed, the
/// file renamed over the old one, the directory synced, then the indexes rebuilt. A crash at
/// any point leaves either segment whole (a leftover `.cleaned` is removed on open, missing
/// indexes are rebuilt).
fn rewrite(
    seg: &Segment,
    kept: &[(u64, Record)],
    seg_next: u64,
    interval: u32,
) -> Result<Segment, LogError> {
    let tmp = seg.path.with_extension("log.cleaned");
    let mut out = Vec::new();
    let mut i = 0;
    while i < kept.len() {
        let base = kept[i].0;
        let mut b = BatchBuilder::with_capacity(64 * 1024);
        while i < kept.len()
            && b.record_count() < COMPACT_BATCH_RECORDS
            && b.len() < COMPACT_BATCH_BYTES
        {
            b.push((kept[i].0 - base) as u32, &kept[i].1);
            i += 1;
        }
        if i == kept.len() {
            // Keep the segment's offset span, so the next offset after it stays the same.
            b.extend_span((seg_next - 1 - base) as u32);
        }
        let mut batch = b.finish();
        batch.seal(base);
        out.extend_from_slice(batch.as_bytes());
    }
    let mut f = File::create(&tmp).map_err(|e| LogError::io("creating", &tmp, e))?;
    f.write_all(&out)
        .and_then(|()| f.sync_all())
        .map_err(|e| LogError::io("writing", &tmp, e))?;
    for p in [seg.index_path(), seg.timeindex_path()] {
        let _ = fs::remove_file(&p);
    }
    fs::rename(&tmp, &seg.path).map_err(|e| LogError::io("renaming", &tmp, e))?;
    sync_dir(seg.path.parent().unwrap_or(Path::new(".")))?;
    // Never the last segment (compaction leaves the active one alone), and the file was just
    // written whole: `next_base` only matters for damage, so the segment's own end will do.
    Segment::open(
        seg.path.clone(),
        seg.base_offset,
        true,
        Some(seg_next),
        true,
        interval,
        &mut Vec::new(),
    )
}
