//! Group commit for one partition: a writer thread and a syncer thread.
//!
//! Appenders encode their batch on their own thread and queue it. The **writer** drains
//! everything queued, assigns offsets, and writes the whole group with one `pwrite(2)`
//! (plus one per index file). The **syncer** makes written data durable per the
//! [`FsyncPolicy`] — at once for `Always` (while the writer already writes the next group,
//! so concurrent appends share fsyncs), at the next tick for `Interval` — then publishes the
//! new visible end offset and resolves the appends' futures. With `Never` the writer does
//! that itself right after the write. Any failed write or fsync poisons the whole log.
//! Sealing a segment syncs its data and indexes on the writer thread before the next segment
//! file is created, so a later segment never exists on disk in front of unsynced records.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::LogError;
use crate::format::{BatchHeader, EncodedBatch};
use crate::index;
use crate::log::AppendAck;
use crate::options::FsyncPolicy;
use crate::partition::Partition;
use crate::segment::{self, Segment};

/// A group stops growing at this many bytes, so one write stays a few milliseconds of disk
/// time and acknowledgements keep flowing under a flood of appends.
const MAX_GROUP_BYTES: usize = 8 * 1024 * 1024;
/// Stack of the writer and syncer threads: their buffers live on the heap, so 256 KiB is
/// plenty and keeps many partitions (two threads each) cheap in address space.
const THREAD_STACK: usize = 256 * 1024;

pub(crate) type AckSender = oneshot::Sender<Result<AppendAck, LogError>>;

/// A queued append.
#[derive(Debug)]
pub(crate) struct Pending {
    pub batch: EncodedBatch,
    pub tx: AckSender,
}

/// The first failure of a write or fsync; once set, the log refuses appends.
#[derive(Debug, Default)]
pub(crate) struct Poison {
    flag: AtomicBool,
    /// The first failure's text, and whether it was a full disk.
    cause: Mutex<Option<(String, bool)>>,
}

impl Poison {
    pub fn check(&self) -> Result<(), LogError> {
        if self.flag.load(Ordering::Acquire) {
            return Err(self.error());
        }
        Ok(())
    }

    /// The [`LogError::Poisoned`] to answer with (call only once poisoned).
    pub fn error(&self) -> LogError {
        let (cause, disk_full) = self
            .cause
            .lock()
            .expect("poison lock")
            .clone()
            .unwrap_or_default();
        LogError::Poisoned { cause, disk_full }
    }

    /// Poisons the log with `err` as the cause (the first cause wins).
    pub fn set_error(&self, err: &LogError) {
        self.set(err.to_string(), matches!(err, LogError::DiskFull { .. }));
    }

    pub fn set(&self, cause: String, disk_full: bool) {
        let mut c = self.cause.lock().expect("poison lock");
        if c.is_none() {
            tracing::error!(%cause, "log poisoned: refusing further appends until reopened");
            *c = Some((cause, disk_full));
        }
        self.flag.store(true, Ordering::Release);
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterConfig {
    pub fsync: FsyncPolicy,
    pub segment_bytes: u64,
    pub index_interval: u32,
}

/// The queue into a partition's writer, and its threads (joined on drop, after the queue
/// drained: every queued append is written and acknowledged before the log closes).
#[derive(Debug)]
pub(crate) struct WriterHandle {
    pub tx: Option<mpsc::Sender<Pending>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug)]
struct SyncState {
    acks: Vec<(AppendAck, AckSender)>,
    end_offset: u64,
    /// The segment being written; sealed ones were synced by the writer when it rolled.
    current: Arc<Segment>,
    shutdown: bool,
}

#[derive(Debug)]
struct SyncShared {
    state: Mutex<SyncState>,
    cv: Condvar,
}

fn clone_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// `fdatasync` of a segment's data, failing instead if the partition's test hook is armed.
fn sync_data(part: &Partition, file: &File) -> io::Result<()> {
    let fault = part.sync_fault.swap(0, Ordering::AcqRel);
    if fault != 0 {
        return Err(io::Error::from_raw_os_error(fault));
    }
    file.sync_data()
}

fn fail_all(acks: Vec<(AppendAck, AckSender)>, op: &'static str, path: &PathBuf, e: &io::Error) {
    for (_, tx) in acks {
        let _ = tx.send(Err(LogError::io(op, path, clone_io(e))));
    }
}

pub(crate) fn spawn(
    part: Arc<Partition>,
    config: WriterConfig,
    poison: Arc<Poison>,
) -> Result<WriterHandle, LogError> {
    let (tx, rx) = mpsc::channel::<Pending>();
    let current = part
        .snapshot()
        .last()
        .cloned()
        .expect("a writable partition has a segment");
    let name = format!("twinlog-w-{}-{}", part.topic, part.id);
    let dir = part.dir.clone();
    let thread = std::thread::Builder::new()
        .name(name.chars().take(15).collect())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let mut w = Writer::new(part, config, poison, current);
            w.run(rx);
        })
        .map_err(|e| LogError::io("starting the writer thread for", &dir, e))?;
    Ok(WriterHandle {
        tx: Some(tx),
        thread: Some(thread),
    })
}

struct Writer {
    part: Arc<Partition>,
    config: WriterConfig,
    poison: Arc<Poison>,
    seg: Arc<Segment>,
    index_file: Option<File>,
    timeindex_file: Option<File>,
    /// Valid bytes in `seg`.
    size: u64,
    next_offset: u64,
    max_ts: i64,
    buf: Vec<u8>,
    index_buf: Vec<u8>,
    time_buf: Vec<u8>,
    sync: Option<(Arc<SyncShared>, JoinHandle<()>)>,
}

impl Writer {
    fn new(
        part: Arc<Partition>,
        config: WriterConfig,
        poison: Arc<Poison>,
        seg: Arc<Segment>,
    ) -> Writer {
        let size = seg.size.load(Ordering::Acquire);
        let next_offset = seg.next_offset.load(Ordering::Acquire);
        let max_ts = seg.max_timestamp.load(Ordering::Acquire);
        let sync = match config.fsync {
            FsyncPolicy::Never => None,
            policy => {
                let shared = Arc::new(SyncShared {
                    state: Mutex::new(SyncState {
                        acks: Vec::new(),
                        end_offset: next_offset,
                        current: seg.clone(),
                        shutdown: false,
                    }),
                    cv: Condvar::new(),
                });
                let s = shared.clone();
                let p = part.clone();
                let poison_s = poison.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("twinlog-s-{}", part.id))
                    .stack_size(THREAD_STACK)
                    .spawn(move || sync_loop(&s, &p, policy, &poison_s));
                match spawned {
                    Ok(t) => Some((shared, t)),
                    Err(e) => {
                        // Without a syncer nothing could be acknowledged: refuse appends.
                        poison.set(format!("cannot start the syncer thread: {e}"), false);
                        None
                    }
                }
            }
        };
        let mut w = Writer {
            part,
            config,
            poison,
            seg,
            index_file: None,
            timeindex_file: None,
            size,
            next_offset,
            max_ts,
            buf: Vec::with_capacity(1 << 20),
            index_buf: Vec::new(),
            time_buf: Vec::new(),
            sync,
        };
        if let Err(e) = w.open_index_files() {
            w.poison.set_error(&e);
        }
        w
    }

    fn open_index_files(&mut self) -> Result<(), LogError> {
        let open = |p: PathBuf| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(|e| LogError::io("opening", &p, e))
        };
        self.index_file = Some(open(self.seg.index_path())?);
        self.timeindex_file = Some(open(self.seg.timeindex_path())?);
        Ok(())
    }

    fn run(&mut self, rx: mpsc::Receiver<Pending>) {
        let mut group: Vec<Pending> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut bytes = first.batch.len();
            group.push(first);
            while bytes < MAX_GROUP_BYTES {
                match rx.try_recv() {
                    Ok(p) => {
                        bytes += p.batch.len();
                        group.push(p);
                    }
                    Err(_) => break,
                }
            }
            self.write_group(&mut group);
        }
        // The queue is closed: make everything durable whatever the policy, then stop.
        if self.poison.check().is_ok()
            && let Err(e) = self.seg.file.sync_data()
        {
            tracing::error!(segment = %self.seg.path.display(), error = %e, "final fsync failed");
        }
        if let Some((shared, t)) = self.sync.take() {
            shared.state.lock().expect("sync lock").shutdown = true;
            shared.cv.notify_all();
            let _ = t.join();
        }
    }

    fn write_group(&mut self, group: &mut Vec<Pending>) {
        if self.poison.check().is_err() {
            for p in group.drain(..) {
                let _ = p.tx.send(Err(self.poison.error()));
            }
            return;
        }
        let mut acks = Vec::with_capacity(group.len());
        let mut result = Ok(());
        let mut rest = group.drain(..);
        for mut p in rest.by_ref() {
            let len = p.batch.len() as u64;
            if self.size + self.buf.len() as u64 > 0
                && self.size + self.buf.len() as u64 + len > self.config.segment_bytes
            {
                result = self.flush().and_then(|()| self.roll());
                if let Err((path, e)) = &result {
                    let _ = p.tx.send(Err(LogError::io("sealing", path, clone_io(e))));
                    break;
                }
            }
            p.batch.seal(self.next_offset);
            let h = BatchHeader::parse(p.batch.as_bytes()).expect("a freshly encoded batch parses");
            let pos = self.size + self.buf.len() as u64;
            let entries = self.seg.index.write().expect("index lock").observe(
                self.config.index_interval,
                self.seg.base_offset,
                pos,
                &h,
            );
            if let Some(e) = entries.offset {
                index::encode_offset_entry(e, &mut self.index_buf);
            }
            if let Some(e) = entries.time {
                index::encode_time_entry(e, &mut self.time_buf);
            }
            acks.push((
                AppendAck {
                    partition: self.part.id,
                    base_offset: self.next_offset,
                    count: h.record_count,
                },
                p.tx,
            ));
            self.next_offset = h.next_offset();
            self.max_ts = self.max_ts.max(h.max_timestamp);
            self.buf.extend_from_slice(p.batch.as_bytes());
        }
        // Left over only when sealing a segment failed part-way through the group.
        let rest: Vec<Pending> = rest.collect();
        if result.is_ok() {
            result = self.flush();
        }
        if let Err((path, e)) = result {
            let err = LogError::io("writing", &path, clone_io(&e));
            self.poison.set_error(&err);
            fail_all(acks, "writing", &path, &e);
            for p in rest {
                let _ = p.tx.send(Err(self.poison.error()));
            }
            return;
        }
        match &self.sync {
            None => {
                self.part.visible.send_replace(self.next_offset);
                for (ack, tx) in acks {
                    let _ = tx.send(Ok(ack));
                }
            }
            Some((shared, _)) => {
                let mut st = shared.state.lock().expect("sync lock");
                st.acks.extend(acks);
                st.end_offset = self.next_offset;
                st.current = self.seg.clone();
                drop(st);
                shared.cv.notify_one();
            }
        }
    }

    /// Writes the buffered group and its index entries.
    fn flush(&mut self) -> Result<(), (PathBuf, io::Error)> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let fault = self.part.fault.swap(0, Ordering::AcqRel);
        if fault != 0 {
            // Simulate a write cut short by a full disk: half the bytes land, then the error.
            let half = self.buf.len() / 2;
            let _ = self.seg.file.write_all_at(&self.buf[..half], self.size);
            return Err((self.seg.path.clone(), io::Error::from_raw_os_error(fault)));
        }
        self.seg
            .file
            .write_all_at(&self.buf, self.size)
            .map_err(|e| (self.seg.path.clone(), e))?;
        use std::io::Write;
        if !self.index_buf.is_empty() {
            if let Some(f) = self.index_file.as_mut() {
                f.write_all(&self.index_buf)
                    .map_err(|e| (self.seg.index_path(), e))?;
            }
            self.index_buf.clear();
        }
        if !self.time_buf.is_empty() {
            if let Some(f) = self.timeindex_file.as_mut() {
                f.write_all(&self.time_buf)
                    .map_err(|e| (self.seg.timeindex_path(), e))?;
            }
            self.time_buf.clear();
        }
        self.size += self.buf.len() as u64;
        self.buf.clear();
        self.seg.size.store(self.size, Ordering::Release);
        self.seg.max_timestamp.store(self.max_ts, Ordering::Release);
        self.seg
            .next_offset
            .store(self.next_offset, Ordering::Release);
        Ok(())
    }

    /// Seals the current segment and starts a new one at the next offset.
    ///
    /// Unless the policy is `Never`, the old segment's data and then its indexes are synced
    /// before the new file is created: were the new segment durable first, a power cut could
    /// keep it while losing the end of the old one, leaving a permanent gap of offsets that
    /// recovery cannot tell from damage (and the syncer then only ever syncs one file).
    fn roll(&mut self) -> Result<(), (PathBuf, io::Error)> {
        let durable = self.config.fsync != FsyncPolicy::Never;
        if durable {
            sync_data(&self.part, &self.seg.file).map_err(|e| (self.seg.path.clone(), e))?;
            let indexes = [
                (&self.index_file, self.seg.index_path()),
                (&self.timeindex_file, self.seg.timeindex_path()),
            ];
            for (f, path) in indexes {
                if let Some(f) = f {
                    f.sync_data().map_err(|e| (path, e))?;
                }
            }
        }
        let new_path = self
            .part
            .dir
            .join(segment::file_name(self.next_offset, "log"));
        let new =
            Segment::create(&self.part.dir, self.next_offset).map_err(|e| split(e, new_path))?;
        if durable {
            File::open(&self.part.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| (self.part.dir.clone(), e))?;
        }
        let new = Arc::new(new);
        self.seg = new.clone();
        self.part.segments.write().expect("segments lock").push(new);
        self.size = 0;
        self.max_ts = i64::MIN;
        self.open_index_files()
            .map_err(|e| split(e, self.seg.index_path()))?;
        Ok(())
    }
}

/// Back to the (path, I/O error) the writer reports, keeping the OS error (ENOSPC stays
/// recognisable as a full disk).
fn split(e: LogError, fallback: PathBuf) -> (PathBuf, io::Error) {
    match e {
        LogError::Io { path, source, .. } | LogError::DiskFull { path, source } => (path, source),
        other => (fallback, io::Error::other(other.to_string())),
    }
}

fn sync_loop(shared: &SyncShared, part: &Partition, policy: FsyncPolicy, poison: &Poison) {
    let period = match policy {
        FsyncPolicy::Interval(d) => d,
        _ => Duration::ZERO,
    };
    let mut last_sync = Instant::now();
    loop {
        let mut st = shared.state.lock().expect("sync lock");
        while st.acks.is_empty() && !st.shutdown {
            st = shared.cv.wait(st).expect("sync lock");
        }
        if st.acks.is_empty() && st.shutdown {
            return;
        }
        loop {
            let deadline = last_sync + period;
            let now = Instant::now();
            if now >= deadline || st.shutdown {
                break;
            }
            st = shared
                .cv
                .wait_timeout(st, deadline - now)
                .expect("sync lock")
                .0;
        }
        let acks = std::mem::take(&mut st.acks);
        let current = st.current.clone();
        let end = st.end_offset;
        drop(st);
        last_sync = Instant::now();
        let result = sync_data(part, &current.file).map_err(|e| (current.path.clone(), e));
        match result {
            Ok(()) if poison.check().is_ok() => {
                part.visible.send_if_modified(|v| {
                    let changed = end > *v;
                    *v = (*v).max(end);
                    changed
                });
                for (ack, tx) in acks {
                    let _ = tx.send(Ok(ack));
                }
            }
            Ok(()) => {
                // Written before the log was poisoned, but a later failure means the kernel
                // may have dropped dirty pages: do not claim durability.
                for (_, tx) in acks {
                    let _ = tx.send(Err(poison.error()));
                }
            }
            Err((path, e)) => {
                let err = LogError::io("syncing", &path, clone_io(&e));
                poison.set_error(&err);
                fail_all(acks, "syncing", &path, &e);
            }
        }
    }
}
