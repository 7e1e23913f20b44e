//! [`Log`]: the entry point. Opens (and locks) a data dir, recovers it, owns its topics and
//! their partitions, and offers append, read, follow, retention and compaction.
//!
//! Data dir layout (see `docs/LOG_FORMAT.md`):
//! ```text
//! <dir>/FORMAT                      "twinlog-log 1": the format version of the whole dir
//! <dir>/LOCK                        flock()ed by the writer; holds "pid <pid> on <host>"
//! <dir>/topics/<topic>/topic.conf   the TopicConfig, key = value lines
//! <dir>/topics/<topic>/<p>/         one directory per partition:
//!     00000000000000000000.log        segments named by their base offset (20 digits)
//!     00000000000000000000.index      sparse offset index of that segment
//!     00000000000000000000.timeindex  time index of that segment
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use twinlog_core::{Record, StoredRecord, Timestamp, TopicName};

use crate::error::LogError;
use crate::follower::Follower;
use crate::format;
use crate::options::{LogOptions, TopicConfig};
use crate::partition::Partition;
use crate::recovery::{RecoveryEvent, RecoveryReport};
use crate::segment::{self, Segment};
use crate::writer::{self, Pending, Poison, WriterConfig, WriterHandle};

/// The data dir's format version (the `FORMAT` file and every batch's magic byte).
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_FILE: &str = "FORMAT";
const LOCK_FILE: &str = "LOCK";
const TOPICS_DIR: &str = "topics";
const TOPIC_CONF: &str = "topic.conf";
/// A topic dir being deleted is renamed to this prefix and its name: `~` is in no topic name.
const DELETED_PREFIX: &str = "~deleted-";

/// What an append returns once it meets the fsync policy: where its records went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// The partition written.
    pub partition: u32,
    /// The offset of the first record; the others follow densely.
    pub base_offset: u64,
    /// How many records were appended.
    pub count: u32,
}

impl AppendAck {
    /// The offset of the last record (`base_offset` for a one-record batch). For an empty
    /// append (`count == 0`) this is `base_offset - 1` saturated, i.e. meaningless.
    pub fn last_offset(&self) -> u64 {
        (self.base_offset + u64::from(self.count)).saturating_sub(1)
    }
}

/// One partition as [`Log::describe`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: u32,
    /// The first offset still stored (retention moves it forward).
    pub start_offset: u64,
    /// The offset the next record will get (= one past the last visible record).
    pub end_offset: u64,
    /// Bytes on disk: segments and their indexes.
    pub size_bytes: u64,
    /// Number of segment files.
    pub segments: usize,
}

/// A topic as [`Log::describe`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Its name.
    pub name: String,
    /// Its configuration.
    pub config: TopicConfig,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionDescription>,
}

/// What [`Log::enforce_retention`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes freed (segments and indexes).
    pub bytes_deleted: u64,
}

/// What [`Log::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten.
    pub segments_rewritten: usize,
    /// Records dropped (superseded by a later record of the same key, or expired tombstones).
    pub records_removed: u64,
    /// Bytes before and after, for the rewritten segments.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
}

/// An open data dir. Cheap to clone (an `Arc`); the writer threads stop, after finishing
/// every queued append, and the lock is released when the last clone (including those held
/// by [`Follower`]s) is dropped.
#[derive(Debug, Clone)]
pub struct Log {
    pub(crate) inner: Arc<LogInner>,
}

#[derive(Debug)]
pub(crate) struct TopicState {
    pub name: Arc<str>,
    pub config: TopicConfig,
    pub partitions: Vec<PartitionHandle>,
}

#[derive(Debug)]
pub(crate) struct PartitionHandle {
    pub part: Arc<Partition>,
    pub writer: Option<WriterHandle>,
}

#[derive(Debug)]
pub(crate) struct LogInner {
    // Field order is drop order: the topics (and their writer threads, which drain and
    // sync) go before the lock file, so the lock is released only after the last write.
    pub topics: RwLock<BTreeMap<String, Arc<TopicState>>>,
    pub dir: PathBuf,
    pub options: LogOptions,
    pub read_only: bool,
    pub recovery: RecoveryReport,
    pub poison: Arc<Poison>,
    /// Serialises retention, compaction and topic creation.
    pub maintenance: Mutex<()>,
    _lock: Option<File>,
}

/// Holder text for the lock file: "pid 1234 on host".
fn holder_text() -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown host".into());
    format!("pid {} on {host}", std::process::id())
}

fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LogError::io("opening", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim().to_owned();
            return Err(LogError::Locked {
                path: dir.to_owned(),
                holder: if holder.is_empty() {
                    "unknown".into()
                } else {
                    holder
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(LogError::io("locking", &path, e)),
    }
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{}\n", holder_text()).as_bytes()))
        .map_err(|e| LogError::io("writing", &path, e))?;
    Ok(file)
}

fn check_format(dir: &Path, writable: bool) -> Result<(), LogError> {
    let path = dir.join(FORMAT_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let found = text
                .trim()
                .strip_prefix("twinlog-log ")
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| LogError::InvalidDataDir {
                    path: dir.to_owned(),
                    reason: format!("{} does not say `twinlog-log <version>`", path.display()),
                })?;
            if found != FORMAT_VERSION {
                return Err(LogError::UnsupportedFormat {
                    path,
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if writable {
                write_durably(&path, format!("twinlog-log {FORMAT_VERSION}\n").as_bytes())?;
                Ok(())
            } else if dir.join(TOPICS_DIR).exists() {
                Err(LogError::InvalidDataDir {
                    path: dir.to_owned(),
                    reason: "the FORMAT file is missing".into(),
                })
            } else {
                Ok(())
            }
        }
        Err(e) => Err(LogError::io("reading", &path, e)),
    }
}

/// Creates `dir` and any missing ancestors, then fsyncs the parent of each directory it
/// created, so that the new entries survive a power cut (a topic written into a data dir
/// whose own entry was lost would be lost with it).
fn create_dir_durably(dir: &Path) -> Result<(), LogError> {
    let mut created = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        created.push(p);
        d = p.parent();
    }
    fs::create_dir_all(dir).map_err(|e| LogError::io("creating", dir, e))?;
    for p in created.iter().rev() {
        let parent = p.parent().filter(|q| !q.as_os_str().is_empty());
        sync_dir(parent.unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// Writes a small file atomically: temp file, fsync, rename, fsync of the directory.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| LogError::io("creating", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| LogError::io("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| LogError::io("renaming", &tmp, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io("syncing", dir, e))
}

fn encode_config(c: &TopicConfig) -> String {
    let opt = |v: Option<u64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    format!(
        "# twinlog topic configuration (log format {FORMAT_VERSION})\npartitions = {}\ncompacted = {}\nretention_bytes = {}\nretention_age_ms = {}\ntombstone_retention_ms = {}\n",
        c.partitions,
        c.compacted,
        opt(c.retention_bytes),
        opt(c.retention_age.map(|d| d.as_millis() as u64)),
        c.tombstone_retention.as_millis()
    )
}

fn decode_config(text: &str, path: &Path) -> Result<TopicConfig, LogError> {
    let bad = |reason: String| LogError::InvalidDataDir {
        path: path.to_owned(),
        reason,
    };
    let mut c = TopicConfig::default();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| bad(format!("line `{line}` is not `key = value`")))?;
        let (k, v) = (k.trim(), v.trim());
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| bad(format!("`{k}` must be a number, got `{v}`")))
        };
        let opt = |v: &str| {
            if v == "none" {
                Ok(None)
            } else {
                num(v).map(Some)
            }
        };
        match k {
            "partitions" => {
                c.partitions =
                    u32::try_from(num(v)?).map_err(|_| bad("partitions too large".into()))?
            }
            "compacted" => c.compacted = v == "true",
            "retention_bytes" => c.retention_bytes = opt(v)?,
            "retention_age_ms" => c.retention_age = opt(v)?.map(Duration::from_millis),
            "tombstone_retention_ms" => c.tombstone_retention = Duration::from_millis(num(v)?),
            _ => {} // unknown keys are from a newer minor version; ignore them
        }
    }
    if c.partitions == 0 {
        return Err(bad("partitions must be at least 1".into()));
    }
    Ok(c)
}

/// Segment base offsets found in a partition dir, sorted; removes compaction leftovers.
fn list_segments(
    dir: &Path,
    writable: bool,
    events: &mut Vec<RecoveryEvent>,
) -> Result<Vec<u64>, LogError> {
    let mut bases = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| LogError::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("listing", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".cleaned") {
            if writable {
                let p = entry.path();
                fs::remove_file(&p).map_err(|e| LogError::io("removing", &p, e))?;
                tracing::warn!(path = %p.display(), "removed the leftover of an interrupted compaction");
                events.push(RecoveryEvent::RemovedTempFile { path: p });
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(".log") else {
            continue;
        };
        // Only the writer's own names (exactly 20 digits) are segments: anything else — a
        // copy, `123.log` — is not ours to open, let alone to recover or truncate.
        match stem.parse::<u64>() {
            Ok(base) if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) => {
                bases.push(base);
            }
            _ => {
                tracing::warn!(path = %entry.path().display(), "ignoring a .log file whose name is not a segment's (20 digits)");
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

impl LogInner {
    fn open_partition(
        &self,
        topic: &Arc<str>,
        id: u32,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<PartitionHandle, LogError> {
        let dir = self
            .dir
            .join(TOPICS_DIR)
            .join(&**topic)
            .join(id.to_string());
        let writable = !self.read_only;
        if writable {
            fs::create_dir_all(&dir).map_err(|e| LogError::io("creating", &dir, e))?;
        }
        let bases = if dir.exists() {
            list_segments(&dir, writable, events)?
        } else {
            Vec::new()
        };
        let interval = self.options.index_interval_bytes;
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            let path = dir.join(segment::file_name(base, "log"));
            segments.push(Arc::new(Segment::open(
                path,
                base,
                next_base.is_none(),
                next_base,
                writable,
                interval,
                events,
            )?));
        }
        if segments.is_empty() && writable {
            segments.push(Arc::new(Segment::create(&dir, 0)?));
            sync_dir(&dir)?;
        }
        let part = Arc::new(Partition::new(topic.clone(), id, dir, segments));
        let writer = if writable {
            let config = WriterConfig {
                fsync: self.options.fsync,
                segment_bytes: self.options.segment_bytes,
                index_interval: interval,
            };
            Some(writer::spawn(part.clone(), config, self.poison.clone())?)
        } else {
            None
        };
        Ok(PartitionHandle { part, writer })
    }

    fn load_topic(
        &self,
        name: &str,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<Option<TopicState>, LogError> {
        let conf = self.dir.join(TOPICS_DIR).join(name).join(TOPIC_CONF);
        let text = match fs::read_to_string(&conf) {
            Ok(t) => t,
            // A topic dir without its configuration is a creation that did not finish.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LogError::io("reading", &conf, e)),
        };
        let config = decode_config(&text, &conf)?;
        let name: Arc<str> = Arc::from(name);
        let mut partitions = Vec::with_capacity(config.partitions as usize);
        for p in 0..config.partitions {
            partitions.push(self.open_partition(&name, p, events)?);
        }
        Ok(Some(TopicState {
            name,
            config,
            partitions,
        }))
    }

    fn topic(&self, name: &str) -> Result<Arc<TopicState>, LogError> {
        self.topics
            .read()
            .expect("topics lock")
            .get(name)
            .cloned()
            .ok_or_else(|| LogError::UnknownTopic {
                topic: name.to_owned(),
            })
    }

    pub(crate) fn partition(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<(Arc<TopicState>, usize), LogError> {
        let t = self.topic(topic)?;
        if partition >= t.config.partitions {
            return Err(LogError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: t.config.partitions,
            });
        }
        Ok((t, partition as usize))
    }

    pub(crate) fn part(&self, topic: &str, partition: u32) -> Result<Arc<Partition>, LogError> {
        let (t, i) = self.partition(topic, partition)?;
        Ok(t.partitions[i].part.clone())
    }
}

enum Enqueued {
    Waiting(tokio::sync::oneshot::Receiver<Result<AppendAck, LogError>>),
    Done(Result<AppendAck, LogError>),
}

impl Log {
    /// Opens `dir` for writing (creating it if needed), taking its exclusive lock, and
    /// recovers every partition (see [`RecoveryReport`]).
    ///
    /// Errors: [`LogError::Locked`] naming the holder if another process writes it;
    /// [`LogError::InvalidDataDir`] / [`LogError::Io`] if it cannot be used.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log, LogError> {
        let dir = dir.as_ref().to_owned();
        if options.segment_bytes < 4096 || options.segment_bytes > u64::from(u32::MAX / 2) {
            return Err(LogError::InvalidConfig {
                field: "segment_bytes",
                reason: format!(
                    "must be between 4 KiB and 2 GiB, got {}",
                    options.segment_bytes
                ),
            });
        }
        if options.index_interval_bytes == 0 {
            return Err(LogError::InvalidConfig {
                field: "index_interval_bytes",
                reason: "must be at least 1".into(),
            });
        }
        if dir.exists() && !dir.is_dir() {
            return Err(LogError::InvalidDataDir {
                path: dir,
                reason: "it exists and is not a directory".into(),
            });
        }
        create_dir_durably(&dir)?;
        let lock = lock_dir(&dir)?;
        check_format(&dir, true)?;
        create_dir_durably(&dir.join(TOPICS_DIR))?;
        Self::load(dir, options, false, Some(lock))
    }

    /// Opens `dir` for reading only, without the lock, so it works while another process
    /// writes. It sees complete, CRC-valid batches that were on disk when it opened or when
    /// [`Log::refresh`] last ran (these may include records the writer has written but not
    /// yet acknowledged). It never modifies the dir: a torn tail is skipped, not truncated.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Log, LogError> {
        let dir = dir.as_ref().to_owned();
        if !dir.is_dir() {
            return Err(LogError::InvalidDataDir {
                path: dir,
                reason: "no such directory (nothing was written there yet?)".into(),
            });
        }
        check_format(&dir, false)?;
        Self::load(dir, LogOptions::default(), true, None)
    }

    fn load(
        dir: PathBuf,
        options: LogOptions,
        read_only: bool,
        lock: Option<File>,
    ) -> Result<Log, LogError> {
        let maintenance_interval = options.maintenance_interval;
        let mut inner = LogInner {
            topics: RwLock::new(BTreeMap::new()),
            dir,
            options,
            read_only,
            recovery: RecoveryReport::default(),
            poison: Arc::new(Poison::default()),
            maintenance: Mutex::new(()),
            _lock: lock,
        };
        let mut events = Vec::new();
        let mut topics = BTreeMap::new();
        for name in inner.topic_names_on_disk()? {
            if let Some(t) = inner.load_topic(&name, &mut events)? {
                topics.insert(name, Arc::new(t));
            }
        }
        inner.topics = RwLock::new(topics);
        inner.recovery = RecoveryReport { events };
        let log = Log {
            inner: Arc::new(inner),
        };
        if let (Some(every), false) = (maintenance_interval, read_only) {
            spawn_maintenance(Arc::downgrade(&log.inner), every);
        }
        Ok(log)
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether this handle was opened with [`Log::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &LogOptions {
        &self.inner.options
    }

    /// What recovery found and repaired when the log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Creates a topic. Errors: [`LogError::InvalidTopicName`], [`LogError::TopicExists`],
    /// [`LogError::InvalidConfig`] (e.g. 0 partitions), [`LogError::ReadOnly`].
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<(), LogError> {
        let name = TopicName::new(name)?.into_string();
        self.writable()?;
        if config.partitions == 0 || config.partitions > TopicConfig::MAX_PARTITIONS {
            return Err(LogError::InvalidConfig {
                field: "partitions",
                reason: format!(
                    "must be between 1 and {}, got {}",
                    TopicConfig::MAX_PARTITIONS,
                    config.partitions
                ),
            });
        }
        let _guard = self.inner.maintenance.lock().expect("maintenance lock");
        if self
            .inner
            .topics
            .read()
            .expect("topics lock")
            .contains_key(&name)
        {
            return Err(LogError::TopicExists { topic: name });
        }
        let tdir = self.inner.dir.join(TOPICS_DIR).join(&name);
        fs::create_dir_all(&tdir).map_err(|e| LogError::io("creating", &tdir, e))?;
        let arc: Arc<str> = Arc::from(name.as_str());
        let mut events = Vec::new();
        let mut partitions = Vec::with_capacity(config.partitions as usize);
        for p in 0..config.partitions {
            partitions.push(self.inner.open_partition(&arc, p, &mut events)?);
        }
        sync_dir(&tdir)?;
        // The configuration is written last: a topic dir without it is an unfinished creation.
        write_durably(&tdir.join(TOPIC_CONF), encode_config(&config).as_bytes())?;
        sync_dir(&self.inner.dir.join(TOPICS_DIR))?;
        let state = TopicState {
            name: arc,
            config,
            partitions,
        };
        self.inner
            .topics
            .write()
            .expect("topics lock")
            .insert(name, Arc::new(state));
        Ok(())
    }

    /// Deletes a topic with all its records. Appends queued to it before the call are
    /// written (and acknowledged) first; later ones, reads, and followers of its partitions
    /// get [`LogError::UnknownTopic`]. The directory is first renamed to a name no topic can
    /// have, so a crash part-way leaves either the whole topic or nothing of it (recovery
    /// removes the rest). Errors: [`LogError::UnknownTopic`], [`LogError::ReadOnly`],
    /// [`LogError::Io`].
    pub fn delete_topic(&self, name: &str) -> Result<(), LogError> {
        self.writable()?;
        let _guard = self.inner.maintenance.lock().expect("maintenance lock");
        let mut state = self
            .inner
            .topics
            .write()
            .expect("topics lock")
            .remove(name)
            .ok_or_else(|| LogError::UnknownTopic {
                topic: name.to_owned(),
            })?;
        // Calls in flight hold the topic only while they queue an append or read; once they
        // let go, dropping it stops the writers after their queues drain.
        let state = loop {
            match Arc::try_unwrap(state) {
                Ok(s) => break s,
                Err(shared) => {
                    state = shared;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        let parts: Vec<Arc<Partition>> = state.partitions.iter().map(|h| h.part.clone()).collect();
        drop(state);
        for part in parts {
            part.deleted.store(true, Ordering::Release);
            part.visible.send_modify(|_| {});
        }
        let topics_dir = self.inner.dir.join(TOPICS_DIR);
        let tdir = topics_dir.join(name);
        let grave = topics_dir.join(format!("{DELETED_PREFIX}{name}"));
        fs::rename(&tdir, &grave).map_err(|e| LogError::io("renaming", &tdir, e))?;
        sync_dir(&topics_dir)?;
        fs::remove_dir_all(&grave).map_err(|e| LogError::io("removing", &grave, e))?;
        Ok(())
    }

    /// The names of all topics, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.inner
            .topics
            .read()
            .expect("topics lock")
            .keys()
            .cloned()
            .collect()
    }

    /// A topic's configuration. Error: [`LogError::UnknownTopic`].
    pub fn topic_config(&self, topic: &str) -> Result<TopicConfig, LogError> {
        Ok(self.inner.topic(topic)?.config.clone())
    }

    /// A topic's number of partitions. Error: [`LogError::UnknownTopic`].
    pub fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        Ok(self.inner.topic(topic)?.config.partitions)
    }

    /// A topic's configuration and, per partition, start/end offsets and size on disk.
    pub fn describe(&self, topic: &str) -> Result<TopicDescription, LogError> {
        let t = self.inner.topic(topic)?;
        let partitions = t
            .partitions
            .iter()
            .map(|h| {
                let segs = h.part.snapshot();
                PartitionDescription {
                    partition: h.part.id,
                    start_offset: h.part.start_offset(),
                    end_offset: h.part.end_offset(),
                    size_bytes: segs.iter().map(|s| s.disk_size()).sum(),
                    segments: segs.len(),
                }
            })
            .collect();
        Ok(TopicDescription {
            name: t.name.to_string(),
            config: t.config.clone(),
            partitions,
        })
    }

    fn writable(&self) -> Result<(), LogError> {
        if self.inner.read_only {
            return Err(LogError::ReadOnly {
                path: self.inner.dir.clone(),
            });
        }
        Ok(())
    }

    /// Appends `records` to one partition, as one batch with dense offsets.
    ///
    /// The append is queued when this function is called (not when the future is first
    /// polled), so appends to a partition get offsets in call order, and callers can keep many
    /// in flight (pipelining) before awaiting any. The future resolves once the batch meets
    /// the [`crate::FsyncPolicy`]; records become visible to readers at the same moment.
    /// Works without a tokio runtime (the future only waits on a oneshot channel).
    ///
    /// Errors (through the future): [`LogError::RecordTooLarge`] (nothing written),
    /// [`LogError::UnknownTopic`], [`LogError::UnknownPartition`], [`LogError::ReadOnly`],
    /// [`LogError::Poisoned`], or the I/O error ([`LogError::DiskFull`], [`LogError::Io`]) of
    /// the failed write or fsync that poisoned the log. An empty `records` resolves at once
    /// with `count: 0` and `base_offset` = the current end offset.
    pub fn append(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<Record>,
    ) -> impl Future<Output = Result<AppendAck, LogError>> + Send + 'static {
        let queued = self.enqueue(topic, partition, &records);
        async move {
            match queued {
                Enqueued::Done(r) => r,
                Enqueued::Waiting(rx) => rx.await.unwrap_or(Err(LogError::Closed)),
            }
        }
    }

    fn enqueue(&self, topic: &str, partition: u32, records: &[Record]) -> Enqueued {
        let run = || -> Result<Enqueued, LogError> {
            self.writable()?;
            let (t, i) = self.inner.partition(topic, partition)?;
            self.inner.poison.check()?;
            let max = self.inner.options.max_record_bytes;
            let mut total = format::BATCH_HEADER_LEN;
            let mut capacity = format::BATCH_HEADER_LEN;
            for (index, r) in records.iter().enumerate() {
                let size = r.payload_len();
                if size > max {
                    return Err(LogError::RecordTooLarge { index, size, max });
                }
                // Generous per-record overhead (varints, header names): the bound must hold.
                total += size + 32 + 12 * r.headers.len();
                capacity += size + 10 + 8 * r.headers.len();
            }
            if total > format::MAX_BATCH_LEN {
                return Err(LogError::BatchTooLarge {
                    size: total,
                    max: format::MAX_BATCH_LEN,
                });
            }
            let handle = &t.partitions[i];
            if records.is_empty() {
                return Ok(Enqueued::Done(Ok(AppendAck {
                    partition,
                    base_offset: handle.part.end_offset(),
                    count: 0,
                })));
            }
            let batch = format::encode_batch_with_capacity(records, capacity);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let sender = handle
                .writer
                .as_ref()
                .and_then(|w| w.tx.as_ref())
                .ok_or(LogError::Closed)?;
            sender
                .send(Pending { batch, tx })
                .map_err(|_| LogError::Closed)?;
            Ok(Enqueued::Waiting(rx))
        };
        run().unwrap_or_else(|e| Enqueued::Done(Err(e)))
    }

    /// Reads up to `max_records` visible records of a partition starting at `from_offset`
    /// (or at the next record after it, if compaction removed it). Reading before the start
    /// offset (records deleted by retention) starts at the start offset; reading at or past
    /// the end returns an empty vector. Cost: a binary search over segments and over the
    /// segment's offset index, then a scan of at most `index_interval_bytes`.
    ///
    /// Keys and values of the returned records share the buffers they were read into.
    ///
    /// Errors: [`LogError::Corrupt`] if the first batch to serve is damaged (records before
    /// the damage are returned first; the error names the segment, position and offset and
    /// the offset where records resume).
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        Ok(self
            .inner
            .part(topic, partition)?
            .read(from_offset, max_records)?
            .0)
    }

    /// The offset of the first visible record whose timestamp is at or after `timestamp`, or
    /// `None` if there is none (yet). O(log n) via the time index. Timestamps need not be
    /// monotonic: the index stores the running maximum, so the answer is the first record
    /// at or after `timestamp` in offset order.
    pub fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: u32,
        timestamp: Timestamp,
    ) -> Result<Option<u64>, LogError> {
        self.inner
            .part(topic, partition)?
            .offset_for_timestamp(timestamp)
    }

    /// The first offset still stored in the partition.
    pub fn start_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        Ok(self.inner.part(topic, partition)?.start_offset())
    }

    /// The offset the next appended record will get; records below it are visible.
    pub fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        Ok(self.inner.part(topic, partition)?.end_offset())
    }

    /// A [`Follower`] of a partition starting at `from_offset`.
    pub fn subscribe(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
    ) -> Result<Follower, LogError> {
        let part = self.inner.part(topic, partition)?;
        Ok(Follower::new(self.clone(), part, from_offset))
    }

    /// The topics as they are now, so work over all of them holds no lock while it runs.
    fn topic_snapshot(&self) -> Vec<Arc<TopicState>> {
        let topics = self.inner.topics.read().expect("topics lock");
        topics.values().cloned().collect()
    }

    /// Applies retention to every topic: deletes whole old segments (never the active one)
    /// while a partition is over `retention_bytes`, and segments whose newest record is older
    /// than `retention_age` (by [`LogOptions::clock`]). Start offsets move forward.
    pub fn enforce_retention(&self) -> Result<RetentionReport, LogError> {
        self.writable()?;
        let _guard = self.inner.maintenance.lock().expect("maintenance lock");
        let now = self.inner.options.clock.now();
        let mut report = RetentionReport::default();
        let topics = self.topic_snapshot();
        for t in topics {
            for h in &t.partitions {
                crate::retention::enforce(&h.part, &t.config, now, &mut report)?;
            }
        }
        Ok(report)
    }

    /// Compacts a topic created with `compacted: true`: rewrites its sealed segments keeping
    /// only the latest record per key (the active segment is left alone; a record in it still
    /// supersedes older ones). Tombstones survive until older than `tombstone_retention`.
    /// Records without a key are kept. Offsets are preserved (gaps appear). A topic that is
    /// not compacted is left alone (an empty report).
    pub fn compact(&self, topic: &str) -> Result<CompactionReport, LogError> {
        self.writable()?;
        let t = self.inner.topic(topic)?;
        let _guard = self.inner.maintenance.lock().expect("maintenance lock");
        let mut report = CompactionReport::default();
        if !t.config.compacted {
            return Ok(report);
        }
        let now = self.inner.options.clock.now();
        for h in &t.partitions {
            crate::retention::compact(
                &h.part,
                &t.config,
                now,
                self.inner.options.index_interval_bytes,
                &mut report,
            )?;
        }
        Ok(report)
    }

    /// Read-only handle: rescans the data dir for new topics, segments and records written
    /// by the writer process. A no-op for the writer.
    pub fn refresh(&self) -> Result<(), LogError> {
        if !self.inner.read_only {
            return Ok(());
        }
        let mut events = Vec::new();
        for name in self.inner.topic_names_on_disk()? {
            let known = self
                .inner
                .topics
                .read()
                .expect("topics lock")
                .contains_key(&name);
            if !known && let Some(t) = self.inner.load_topic(&name, &mut events)? {
                self.inner
                    .topics
                    .write()
                    .expect("topics lock")
                    .insert(name, Arc::new(t));
            }
        }
        let topics = self.topic_snapshot();
        for t in topics {
            for h in &t.partitions {
                self.refresh_partition(&h.part)?;
            }
        }
        Ok(())
    }

    /// Read-only: picks up what the writer appended to one partition.
    pub(crate) fn refresh_partition(&self, part: &Partition) -> Result<(), LogError> {
        if !self.inner.read_only || !part.dir.exists() {
            return Ok(());
        }
        let interval = self.inner.options.index_interval_bytes;
        let bases = list_segments(&part.dir, false, &mut Vec::new())?;
        let mut segs = part.snapshot();
        segs.retain(|s| bases.contains(&s.base_offset));
        if let Some(last) = segs.last() {
            last.refresh_tail(interval)?;
        }
        let known_last = segs.last().map(|s| s.base_offset);
        for (i, &base) in bases.iter().enumerate() {
            if known_last.is_some_and(|k| base <= k) {
                continue;
            }
            let path = part.dir.join(segment::file_name(base, "log"));
            let next_base = bases.get(i + 1).copied();
            match Segment::open(
                path,
                base,
                true,
                next_base,
                false,
                interval,
                &mut Vec::new(),
            ) {
                Ok(s) => segs.push(Arc::new(s)),
                Err(LogError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let end = segs
            .last()
            .map_or(0, |s| s.next_offset.load(Ordering::Acquire));
        *part.segments.write().expect("segments lock") = segs;
        part.visible.send_if_modified(|v| {
            let changed = *v != end;
            *v = end;
            changed
        });
        Ok(())
    }

    /// Test hook: the next fsync of this partition's segment data (by the syncer, or when the
    /// writer seals a segment) fails with OS error `errno` (e.g. 5, EIO), as a failing disk
    /// would.
    #[doc(hidden)]
    pub fn inject_sync_error(
        &self,
        topic: &str,
        partition: u32,
        errno: i32,
    ) -> Result<(), LogError> {
        self.inner
            .part(topic, partition)?
            .sync_fault
            .store(errno, Ordering::Release);
        Ok(())
    }

    /// Test hook: the next write of this partition's writer writes half its bytes and then
    /// fails with OS error `errno` (e.g. 28, ENOSPC), as a full disk would.
    #[doc(hidden)]
    pub fn inject_write_error(
        &self,
        topic: &str,
        partition: u32,
        errno: i32,
    ) -> Result<(), LogError> {
        self.inner
            .part(topic, partition)?
            .fault
            .store(errno, Ordering::Release);
        Ok(())
    }
}

impl LogInner {
    fn topic_names_on_disk(&self) -> Result<Vec<String>, LogError> {
        let tdir = self.dir.join(TOPICS_DIR);
        if !tdir.exists() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&tdir).map_err(|e| LogError::io("listing", &tdir, e))? {
            let entry = entry.map_err(|e| LogError::io("listing", &tdir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(DELETED_PREFIX) && !self.read_only {
                // A deletion interrupted after its rename: finish it.
                let p = entry.path();
                fs::remove_dir_all(&p).map_err(|e| LogError::io("removing", &p, e))?;
                tracing::warn!(path = %p.display(), "removed the rest of an interrupted topic deletion");
                continue;
            }
            if entry.path().is_dir() && TopicName::new(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Runs retention and compaction every `every` until the log is dropped.
fn spawn_maintenance(weak: Weak<LogInner>, every: Duration) {
    let _ = std::thread::Builder::new()
        .name("twinlog-maint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                let Some(inner) = weak.upgrade() else { return };
                let log = Log { inner };
                if let Err(e) = log.enforce_retention() {
                    tracing::warn!(error = %e, "background retention failed");
                }
                for t in log.topics() {
                    if let Err(e) = log.compact(&t) {
                        tracing::warn!(topic = %t, error = %e, "background compaction failed");
                    }
                }
            }
        });
}
