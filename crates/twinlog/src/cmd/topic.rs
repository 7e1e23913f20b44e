//! `twinlog topic create | list | describe`.

use super::{Exit, human_bytes, open_read_only, open_writable, print_json};
use crate::cli::{TopicCreateArgs, TopicDeleteArgs, TopicDescribeArgs};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use twinlog_log::{TopicConfig, TopicDescription};

pub fn create(data_dir: &Path, args: TopicCreateArgs) -> Result<Exit> {
    let log = open_writable(data_dir)?;
    let config = TopicConfig {
        partitions: args.partitions,
        compacted: args.compacted,
        retention_bytes: args.retention_bytes,
        retention_age: args.retention_age,
        ..TopicConfig::default()
    };
    log.create_topic(&args.name, config)?;
    if args.json.json {
        print_json(&TopicJson::from(&log.describe(&args.name)?))?;
    } else {
        let kind = if args.compacted { ", compacted" } else { "" };
        outln!(
            "created topic {} ({} partition{}{kind})",
            args.name,
            args.partitions,
            if args.partitions == 1 { "" } else { "s" }
        )?;
    }
    Ok(Exit::Success)
}

/// Refuses the topics of a mode: they go with it (`mode delete`), or its agent would break.
pub fn refuse_mode_topic(name: &str) -> Result<()> {
    if let Some(mode) = twinlog_runtime::topics::mode_of_topic(name) {
        anyhow::bail!(
            "topic `{name}` belongs to mode `{mode}`; delete the mode instead (`twinlog mode delete {mode}`)"
        );
    }
    Ok(())
}

pub fn delete(data_dir: &Path, args: TopicDeleteArgs) -> Result<Exit> {
    refuse_mode_topic(&args.name)?;
    let log = open_writable(data_dir)?;
    log.delete_topic(&args.name)?;
    outln!("deleted topic {}", args.name)?;
    Ok(Exit::Success)
}

pub fn list(data_dir: &Path, json: bool) -> Result<Exit> {
    let log = open_read_only(data_dir)?;
    let topics = log
        .topics()
        .iter()
        .map(|name| log.describe(name).map(|d| TopicJson::from(&d)))
        .collect::<Result<Vec<_>, _>>()?;
    if json {
        print_json(&topics)?;
        return Ok(Exit::Success);
    }
    print_list(&topics, "`twinlog topic create NAME`")?;
    Ok(Exit::Success)
}

/// `topic list`'s table (SIZE only where the bus knows sizes: the embedded log).
pub(super) fn print_list(topics: &[TopicJson], create_hint: &str) -> Result<()> {
    if topics.is_empty() {
        outln!("no topics; create one with {create_hint}")?;
        return Ok(());
    }
    let sized = topics.iter().all(TopicJson::sized);
    let width = topics
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    if sized {
        outln!(
            "{:<width$}  {:>10}  {:>12}  {:>10}  FLAGS",
            "TOPIC",
            "PARTITIONS",
            "RECORDS",
            "SIZE"
        )?;
    } else {
        outln!(
            "{:<width$}  {:>10}  {:>12}  FLAGS",
            "TOPIC",
            "PARTITIONS",
            "RECORDS"
        )?;
    }
    for t in topics {
        let flags = if t.compacted { "compacted" } else { "" };
        if sized {
            let size: u64 = t.partitions.iter().filter_map(|p| p.size_bytes).sum();
            outln!(
                "{:<width$}  {:>10}  {:>12}  {:>10}  {flags}",
                t.name,
                t.partitions.len(),
                t.records(),
                human_bytes(size)
            )?;
        } else {
            outln!(
                "{:<width$}  {:>10}  {:>12}  {flags}",
                t.name,
                t.partitions.len(),
                t.records()
            )?;
        }
    }
    Ok(())
}

pub fn describe(data_dir: &Path, args: TopicDescribeArgs) -> Result<Exit> {
    let log = open_read_only(data_dir)?;
    let topic = TopicJson::from(&log.describe(&args.name)?);
    if args.json.json {
        print_json(&topic)?;
        return Ok(Exit::Success);
    }
    print_describe(&topic, None)?;
    Ok(Exit::Success)
}

/// `topic describe`'s text: settings, then a line per partition (SIZE and SEGMENTS where
/// the bus knows them); `cluster` names the Kafka cluster described.
pub(super) fn print_describe(topic: &TopicJson, cluster: Option<&str>) -> Result<()> {
    outln!("topic       {}", topic.name)?;
    if let Some(c) = cluster {
        outln!("cluster     {c}")?;
    }
    outln!("compacted   {}", if topic.compacted { "yes" } else { "no" })?;
    outln!(
        "retention   {}",
        match (topic.retention_bytes, topic.retention_age_s) {
            (None, None) => "none (keep everything)".to_string(),
            (b, a) => [
                b.map(|b| format!("{} per partition", human_bytes(b))),
                a.map(|a| format!("{a} s")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        }
    )?;
    outln!()?;
    let sized = topic.sized();
    if sized {
        outln!(
            "{:>9}  {:>12}  {:>12}  {:>12}  {:>10}  {:>8}",
            "PARTITION",
            "START",
            "END",
            "RECORDS",
            "SIZE",
            "SEGMENTS"
        )?;
    } else {
        outln!(
            "{:>9}  {:>12}  {:>12}  {:>12}",
            "PARTITION",
            "START",
            "END",
            "RECORDS"
        )?;
    }
    for p in &topic.partitions {
        let records = p.end_offset - p.start_offset;
        match (p.size_bytes, p.segments) {
            (Some(size), Some(segments)) => outln!(
                "{:>9}  {:>12}  {:>12}  {:>12}  {:>10}  {:>8}",
                p.partition,
                p.start_offset,
                p.end_offset,
                records,
                human_bytes(size),
                segments
            )?,
            _ => outln!(
                "{:>9}  {:>12}  {:>12}  {:>12}",
                p.partition,
                p.start_offset,
                p.end_offset,
                records
            )?,
        }
    }
    Ok(())
}

/// The JSON shape of a topic (an edge DTO: the log's types stay free of serde).
/// Sizes and segments are the embedded log's; a Kafka topic has none (the fields are left
/// out of its JSON).
#[derive(Debug, Serialize)]
pub(super) struct TopicJson {
    name: String,
    compacted: bool,
    retention_bytes: Option<u64>,
    retention_age_s: Option<u64>,
    partitions: Vec<PartitionJson>,
}

#[derive(Debug, Serialize)]
struct PartitionJson {
    partition: u32,
    start_offset: u64,
    end_offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<usize>,
}

impl TopicJson {
    /// A topic as a bus describes it (no sizes).
    pub(super) fn of_bus(d: &twinlog_bus::TopicDescription) -> TopicJson {
        TopicJson {
            name: d.name.to_string(),
            compacted: d.spec.compacted,
            retention_bytes: d.spec.retention_bytes,
            retention_age_s: d.spec.retention_age.map(|a| a.as_secs()),
            partitions: d
                .partitions
                .iter()
                .map(|p| PartitionJson {
                    partition: p.partition,
                    start_offset: p.start_offset,
                    end_offset: p.end_offset,
                    size_bytes: None,
                    segments: None,
                })
                .collect(),
        }
    }

    fn sized(&self) -> bool {
        self.partitions.iter().all(|p| p.size_bytes.is_some())
    }

    fn records(&self) -> u64 {
        self.partitions
            .iter()
            .map(|p| p.end_offset - p.start_offset)
            .sum()
    }
}

impl From<&TopicDescription> for TopicJson {
    fn from(d: &TopicDescription) -> Self {
        TopicJson {
            name: d.name.clone(),
            compacted: d.config.compacted,
            retention_bytes: d.config.retention_bytes,
            retention_age_s: d.config.retention_age.map(|a| a.as_secs()),
            partitions: d
                .partitions
                .iter()
                .map(|p| PartitionJson {
                    partition: p.partition,
                    start_offset: p.start_offset,
                    end_offset: p.end_offset,
                    size_bytes: Some(p.size_bytes),
                    segments: Some(p.segments),
                })
                .collect(),
        }
    }
}
