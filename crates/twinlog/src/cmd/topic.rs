//! `twinlog topic create | list | describe`.

use super::{Exit, human_bytes, open_read_only, open_writable, print_json};
use crate::cli::{TopicCreateArgs, TopicDescribeArgs};
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
    if topics.is_empty() {
        outln!("no topics; create one with `twinlog topic create NAME`")?;
        return Ok(Exit::Success);
    }
    let width = topics
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    outln!(
        "{:<width$}  {:>10}  {:>12}  {:>10}  FLAGS",
        "TOPIC",
        "PARTITIONS",
        "RECORDS",
        "SIZE"
    )?;
    for t in &topics {
        let records: u64 = t
            .partitions
            .iter()
            .map(|p| p.end_offset - p.start_offset)
            .sum();
        let size: u64 = t.partitions.iter().map(|p| p.size_bytes).sum();
        let flags = if t.compacted { "compacted" } else { "" };
        outln!(
            "{:<width$}  {:>10}  {:>12}  {:>10}  {flags}",
            t.name,
            t.partitions.len(),
            records,
            human_bytes(size)
        )?;
    }
    Ok(Exit::Success)
}

pub fn describe(data_dir: &Path, args: TopicDescribeArgs) -> Result<Exit> {
    let log = open_read_only(data_dir)?;
    let topic = TopicJson::from(&log.describe(&args.name)?);
    if args.json.json {
        print_json(&topic)?;
        return Ok(Exit::Success);
    }
    outln!("topic       {}", topic.name)?;
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
    outln!(
        "{:>9}  {:>12}  {:>12}  {:>12}  {:>10}  {:>8}",
        "PARTITION",
        "START",
        "END",
        "RECORDS",
        "SIZE",
        "SEGMENTS"
    )?;
    for p in &topic.partitions {
        outln!(
            "{:>9}  {:>12}  {:>12}  {:>12}  {:>10}  {:>8}",
            p.partition,
            p.start_offset,
            p.end_offset,
            p.end_offset - p.start_offset,
            human_bytes(p.size_bytes),
            p.segments
        )?;
    }
    Ok(Exit::Success)
}

/// The JSON shape of a topic (an edge DTO: the log's types stay free of serde).
#[derive(Debug, Serialize)]
struct TopicJson {
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
    size_bytes: u64,
    segments: usize,
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
                    size_bytes: p.size_bytes,
                    segments: p.segments,
                })
                .collect(),
        }
    }
}
