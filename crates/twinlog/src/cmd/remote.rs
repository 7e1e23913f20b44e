//! The commands that work through a running server: `module deploy | list | history |
//! source | undeploy | state`, `event send`, `clock show | advance`, `mode create | list`.
//! Each is a thin call of the API (see `docs/API.md`) and a human or `--json` rendering;
//! `module state` alone also works without a server, from the files.

use super::client::{Client, ServerError};
use super::{Exit, print_json};
use crate::cli::{
    ClockAdvanceArgs, EventSendArgs, GlobalArgs, ModeCreateArgs, ModeDeleteArgs, ModuleDeployArgs,
    ModuleNameArgs, ModuleSourceArgs, ModuleStateArgs, ModuleTraceArgs,
};
use anyhow::{Context, Result, bail};
use serde_json::{Value as Json, json};
use std::io::BufRead;
use twinlog_lang::diag::render_all;

/// Events per request when sending JSON lines: big enough to share one fsync among many,
/// far below the API's body limit for any reasonable event.
const EVENTS_PER_REQUEST: usize = 1000;

fn path_segment(s: &str) -> String {
    // Module names are identifiers; anything else is escaped so a path cannot be bent.
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32)
            }
        })
        .collect()
}

pub fn deploy(global: &GlobalArgs, args: ModuleDeployArgs) -> Result<Exit> {
    // Compile everything first: on any error nothing is deployed.
    let mut sources = Vec::new();
    let mut failed = false;
    for file in &args.files {
        let name = file.display().to_string();
        let source =
            std::fs::read_to_string(file).with_context(|| format!("cannot read {name}"))?;
        if let Err(diags) = twinlog_lang::ir::compile(&name, &source) {
            failed = true;
            eprint!("{}", render_all(&diags, &name, &source));
        }
        sources.push((name, source));
    }
    if failed {
        eprintln!("error: the modules do not compile; nothing was deployed");
        return Ok(Exit::Failure);
    }
    let client = Client::connect(global)?;
    for (name, source) in sources {
        let answer = client.post("/api/v1/modules", &json!({"file": name, "source": source}));
        let (_, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                if let Some(se) = e.downcast_ref::<ServerError>()
                    && let Some(rendered) = se.problem["rendered"].as_str()
                {
                    eprint!("{rendered}");
                }
                return Err(e.context(format!("deploying {name}")));
            }
        };
        for w in body["warnings"].as_array().into_iter().flatten() {
            eprint!("{}", w.as_str().unwrap_or_default());
        }
        if args.json {
            print_json(&body)?;
        } else if body["unchanged"] == true {
            outln!(
                "{} unchanged (version {}, {name})",
                body["module"].as_str().unwrap_or("?"),
                body["version"]
            )?;
        } else {
            outln!(
                "deployed {} version {} ({name})",
                body["module"].as_str().unwrap_or("?"),
                body["version"]
            )?;
        }
    }
    Ok(Exit::Success)
}

pub fn list(global: &GlobalArgs, json: bool) -> Result<Exit> {
    let client = Client::connect(global)?;
    let body = client.get("/api/v1/modules")?;
    if json {
        print_json(&body)?;
        return Ok(Exit::Success);
    }
    let items = body.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        outln!(
            "no modules deployed in mode {}; deploy one with `twinlog module deploy FILE`",
            global.mode
        )?;
        return Ok(Exit::Success);
    }
    outln!(
        "{:<20} {:>7} {:>9}  {:<32}  FILE",
        "MODULE",
        "VERSION",
        "INSTANCES",
        "DEPLOYED"
    )?;
    for m in items {
        let name = match m["instanceKey"].as_str() {
            Some(k) => format!("{}[{k}]", m["name"].as_str().unwrap_or("?")),
            None => m["name"].as_str().unwrap_or("?").to_string(),
        };
        outln!(
            "{name:<20} {:>7} {:>9}  {:<32}  {}",
            m["version"].to_string(),
            m["instances"].to_string(),
            m["deployedAt"].as_str().unwrap_or(""),
            m["file"].as_str().unwrap_or("")
        )?;
    }
    Ok(Exit::Success)
}

pub fn history(global: &GlobalArgs, args: ModuleNameArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    let body = client.get(&format!(
        "/api/v1/modules/{}/history",
        path_segment(&args.name)
    ))?;
    if args.json {
        print_json(&body)?;
        return Ok(Exit::Success);
    }
    for v in body.as_array().into_iter().flatten() {
        let what = if v["undeployed"] == true {
            "undeployed".to_string()
        } else {
            format!("from {}", v["file"].as_str().unwrap_or("?"))
        };
        outln!(
            "version {} at {} (sources offset {}), {what}",
            v["version"],
            v["time"].as_str().unwrap_or("?"),
            v["offset"]
        )?;
        for line in v["diff"].as_str().unwrap_or("").lines() {
            outln!("    {line}")?;
        }
    }
    Ok(Exit::Success)
}

pub fn source(global: &GlobalArgs, args: ModuleSourceArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    let mut path = format!("/api/v1/modules/{}/source", path_segment(&args.name));
    if let Some(v) = args.version {
        path.push_str(&format!("?version={v}"));
    }
    let body = client.get(&path)?;
    match body["source"].as_str() {
        Some(text) => {
            use std::io::Write;
            write!(std::io::stdout(), "{text}")?;
        }
        None => bail!(
            "version {} of {} is an undeploy; it has no source",
            body["version"],
            args.name
        ),
    }
    Ok(Exit::Success)
}

pub fn undeploy(global: &GlobalArgs, args: ModuleNameArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    client.delete(&format!("/api/v1/modules/{}", path_segment(&args.name)))?;
    if args.json {
        print_json(&json!({"module": args.name, "undeployed": true}))?;
    } else {
        outln!(
            "undeployed {} (its history stays: `twinlog module history {}`)",
            args.name,
            args.name
        )?;
    }
    Ok(Exit::Success)
}

/// A value as a person reads it: strings bare, the rest as JSON.
fn show(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "(unset)".to_string(),
        other => other.to_string(),
    }
}

pub fn state(global: &GlobalArgs, args: ModuleStateArgs) -> Result<Exit> {
    let Some(client) = Client::find(global)? else {
        let body = saved_state(global, &args)?;
        return print_state(&args, &body);
    };
    let mut path = format!("/api/v1/modules/{}/state", path_segment(&args.name));
    if let Some(i) = &args.instance {
        path.push_str(&format!("?instance={}", path_segment(i)));
    }
    let body = client.get(&path)?;
    print_state(&args, &body)
}

/// With no server: the state as of the mode's last snapshot, read from the files (the
/// server's answer, in the same shape), and a note on stderr of the inputs not yet applied.
fn saved_state(global: &GlobalArgs, args: &ModuleStateArgs) -> Result<Json> {
    let log = super::open_read_only(&global.data_dir)?;
    let bus = twinlog_bus::embedded::EmbeddedBus::with_log(log)?;
    let mode = twinlog_runtime::ModeName::new(&global.mode)?;
    let topics = twinlog_runtime::ModeTopics::new(&mode);
    let rt = super::runtime()?;
    let saved = rt
        .block_on(twinlog_runtime::saved::saved_state(
            &bus,
            &topics,
            &args.name,
            args.instance.as_deref(),
        ))
        .map_err(|e| {
            if twinlog_runtime::saved::is_unknown_mode(&e) {
                anyhow::anyhow!(
                    "no server is running on {}, and mode `{mode}` has never run there (start one with `twinlog serve`)",
                    global.data_dir.display()
                )
            } else {
                e.into()
            }
        })?;
    let tz = std::env::var("TWINLOG_TZ")
        .ok()
        .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
        .unwrap_or_else(|| jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC));
    let through = match saved.through {
        Some(i) => format!("input {i}"),
        None => "no input yet".to_string(),
    };
    let pending = match saved.pending {
        0 => "every input on the log is applied".to_string(),
        1 => "1 later input is applied when the server starts".to_string(),
        n => format!("{n} later inputs are applied when the server starts"),
    };
    eprintln!("no server is running: the state as of the last snapshot ({through}); {pending}");
    Ok(Json::Array(
        saved
            .instances
            .iter()
            .map(|i| twinlog_api::dto::instance(i, &tz))
            .collect(),
    ))
}

fn print_state(args: &ModuleStateArgs, body: &Json) -> Result<Exit> {
    if args.json {
        print_json(body)?;
        return Ok(Exit::Success);
    }
    let items = body.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        outln!(
            "{} has no instances yet (an instance starts with its first event)",
            args.name
        )?;
    }
    for inst in items {
        let name = match inst["instance"].as_str() {
            Some(k) => format!("{}[{k}]", args.name),
            None => args.name.clone(),
        };
        outln!("{name} (version {})", inst["sourceVersion"])?;
        for v in inst["variables"].as_array().into_iter().flatten() {
            let changed = match v["changed"].as_str() {
                Some(t) => format!(", changed {t}"),
                None => String::new(),
            };
            outln!(
                "  {:<16} = {:<12} ({} v{}{changed})",
                v["name"].as_str().unwrap_or("?"),
                show(&v["value"]),
                v["kind"].as_str().unwrap_or(""),
                v["version"]
            )?;
        }
        for t in inst["timers"].as_array().into_iter().flatten() {
            outln!(
                "  timer {} fires at {}",
                t["name"].as_str().unwrap_or("?"),
                t["deadline"].as_str().unwrap_or("?")
            )?;
        }
    }
    Ok(Exit::Success)
}

pub fn event_send(global: &GlobalArgs, args: EventSendArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    let print = |acks: &Json| -> Result<()> {
        for a in acks["accepted"].as_array().into_iter().flatten() {
            if args.json {
                print_json(a)?;
            } else {
                outln!(
                    "{}/{}@{}",
                    a["topic"].as_str().unwrap_or("?"),
                    a["partition"],
                    a["offset"]
                )?;
            }
        }
        Ok(())
    };
    if args.event != "-" {
        twinlog_runtime::json::parse_event(&args.event).context("the event")?;
        let event: Json = serde_json::from_str(&args.event)?;
        let (_, acks) = client.post("/api/v1/events", &Json::Array(vec![event]))?;
        print(&acks)?;
        return Ok(Exit::Success);
    }
    // JSON lines, sent in requests of many: a bad line stops the run, every line before it
    // is sent and acknowledged.
    let stdin = std::io::stdin();
    let mut batch: Vec<Json> = Vec::new();
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.with_context(|| format!("stdin:{}: cannot read", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let checked = twinlog_runtime::json::parse_event(&line)
            .with_context(|| format!("stdin:{}", i + 1))
            .and_then(|_| Ok(serde_json::from_str::<Json>(&line)?));
        let event = match checked {
            Ok(e) => e,
            Err(e) => {
                if !batch.is_empty() {
                    let (_, acks) =
                        client.post("/api/v1/events", &Json::Array(std::mem::take(&mut batch)))?;
                    print(&acks)?;
                }
                return Err(e.context("stopped; every event before this line was sent"));
            }
        };
        batch.push(event);
        if batch.len() >= EVENTS_PER_REQUEST {
            let (_, acks) =
                client.post("/api/v1/events", &Json::Array(std::mem::take(&mut batch)))?;
            print(&acks)?;
        }
    }
    if !batch.is_empty() {
        let (_, acks) = client.post("/api/v1/events", &Json::Array(batch))?;
        print(&acks)?;
    }
    Ok(Exit::Success)
}

fn print_clock(body: &Json, json: bool) -> Result<()> {
    if json {
        return print_json(body);
    }
    let now = body["now"]
        .as_str()
        .unwrap_or("not started (it starts with the first event)");
    let next = match body["nextDue"].as_str() {
        Some(t) => format!("; next due {t}"),
        None => String::new(),
    };
    outln!(
        "{} clock at {now}{next}",
        body["clock"].as_str().unwrap_or("?")
    )?;
    Ok(())
}

pub fn clock_show(global: &GlobalArgs, json: bool) -> Result<Exit> {
    let client = Client::connect(global)?;
    print_clock(&client.get("/api/v1/clock")?, json)?;
    Ok(Exit::Success)
}

pub fn clock_advance(global: &GlobalArgs, args: ClockAdvanceArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    let body = match (&args.to, &args.by) {
        (Some(to), _) => json!({"to": to}),
        (None, Some(by)) => json!({"by": by}),
        (None, None) => bail!("give --to or --by"),
    };
    let (_, answer) = client.post("/api/v1/clock/advance", &body)?;
    print_clock(&answer, args.json)?;
    Ok(Exit::Success)
}

pub fn mode_delete(global: &GlobalArgs, args: ModeDeleteArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    client.delete(&format!("/api/v1/modes/{}", path_segment(&args.name)))?;
    outln!("deleted mode {}", args.name)?;
    Ok(Exit::Success)
}

pub fn topic_delete(client: &Client, args: crate::cli::TopicDeleteArgs) -> Result<Exit> {
    client.delete(&format!("/api/v1/topics/{}", path_segment(&args.name)))?;
    outln!("deleted topic {}", args.name)?;
    Ok(Exit::Success)
}

pub fn mode_create(global: &GlobalArgs, args: ModeCreateArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    client.post("/api/v1/modes", &json!({"name": args.name}))?;
    outln!(
        "created mode {}; use it with --mode {}",
        args.name,
        args.name
    )?;
    Ok(Exit::Success)
}

pub fn mode_list(global: &GlobalArgs, json: bool) -> Result<Exit> {
    let client = Client::connect(global)?;
    let body = client.get("/api/v1/modes")?;
    if json {
        print_json(&body)?;
        return Ok(Exit::Success);
    }
    outln!("{:<20} {:>7}  CLOCK", "MODE", "MODULES")?;
    for m in body.as_array().into_iter().flatten() {
        let clock = &m["clock"];
        outln!(
            "{:<20} {:>7}  {} {}",
            m["name"].as_str().unwrap_or("?"),
            m["modules"].to_string(),
            clock["clock"].as_str().unwrap_or("?"),
            clock["now"].as_str().unwrap_or("(not started)")
        )?;
    }
    Ok(Exit::Success)
}

/// `topic create` while a server holds the data dir.
pub fn topic_create(client: &Client, args: crate::cli::TopicCreateArgs) -> Result<Exit> {
    if args.retention_bytes.is_some() || args.retention_age.is_some() {
        bail!(
            "the server at {} holds the data dir, and retention settings cannot go through it yet; create the topic without them, or stop the server first",
            client.url()
        );
    }
    let (_, body) = client.post(
        "/api/v1/topics",
        &json!({"name": args.name, "partitions": args.partitions, "compacted": args.compacted}),
    )?;
    if args.json.json {
        print_json(&body)?;
    } else {
        let kind = if args.compacted { ", compacted" } else { "" };
        outln!(
            "created topic {} ({} partition{}{kind}) through the server at {}",
            args.name,
            args.partitions,
            if args.partitions == 1 { "" } else { "s" },
            client.url()
        )?;
    }
    Ok(Exit::Success)
}

/// `publish` while a server holds the data dir: the same input and output, sent through
/// its API in requests of many records.
pub fn publish(client: &Client, args: crate::cli::PublishArgs) -> Result<Exit> {
    let path = format!("/api/v1/topics/{}/records", path_segment(&args.topic));
    let record = |value: &str| -> Result<Json> {
        serde_json::from_str::<Json>(value).context("the value is not valid JSON")?;
        let mut r = json!({"value": value});
        if let Some(k) = &args.key {
            r["key"] = json!(k);
        }
        if let Some(p) = args.partition {
            r["partition"] = json!(p);
        }
        Ok(r)
    };
    let send = |records: Vec<Json>| -> Result<()> {
        let (_, body) = client.post(&path, &Json::Array(records))?;
        for a in body["acks"].as_array().into_iter().flatten() {
            if args.json {
                print_json(
                    &json!({"topic": args.topic, "partition": a["partition"], "offset": a["offset"]}),
                )?;
            } else {
                outln!("{}/{}@{}", args.topic, a["partition"], a["offset"])?;
            }
        }
        Ok(())
    };
    if args.value != "-" {
        send(vec![record(&args.value)?])?;
        return Ok(Exit::Success);
    }
    let mut batch = Vec::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.with_context(|| format!("stdin:{}: cannot read", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        match record(&line) {
            Ok(r) => batch.push(r),
            Err(e) => {
                if !batch.is_empty() {
                    send(std::mem::take(&mut batch))?;
                }
                return Err(e.context(format!(
                    "line {}; every line before it was published",
                    i + 1
                )));
            }
        }
        if batch.len() >= EVENTS_PER_REQUEST {
            send(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        send(batch)?;
    }
    Ok(Exit::Success)
}

pub fn trace(global: &GlobalArgs, args: ModuleTraceArgs) -> Result<Exit> {
    let client = Client::connect(global)?;
    let mut path = format!(
        "/api/v1/modules/{}/trace?limit={}",
        path_segment(&args.name),
        args.limit
    );
    if let Some(i) = &args.instance {
        path.push_str(&format!("&instance={}", path_segment(i)));
    }
    if let Some(t) = &args.since {
        path.push_str(&format!("&since={}", path_segment(t)));
    }
    let body = client.get(&path)?;
    for tr in body.as_array().into_iter().flatten() {
        if args.json {
            print_json(tr)?;
            continue;
        }
        let who = match tr["instance"].as_str() {
            Some(k) => format!("{}[{k}]", args.name),
            None => args.name.clone(),
        };
        outln!(
            "{} {who} (version {}) {}",
            tr["time"].as_str().unwrap_or("?"),
            tr["version"],
            tr["input"].as_str().unwrap_or("?")
        )?;
        let steps = tr["statements"].as_array().cloned().unwrap_or_default();
        if steps.is_empty() {
            outln!("  no statement reacts to this input")?;
        }
        for st in steps {
            let outcome = match st["failed"].as_str() {
                Some(c) => format!("not fired: `{c}` did not hold"),
                None if st["fired"] == true => "fired".to_string(),
                None => "conditions held, but the cycle failed".to_string(),
            };
            outln!(
                "  line {}: {} — {outcome}",
                st["line"],
                st["statement"].as_str().unwrap_or("?")
            )?;
        }
        for ch in tr["changes"].as_array().into_iter().flatten() {
            outln!(
                "  {}: {} → {}",
                ch["variable"].as_str().unwrap_or("?"),
                show(&ch["old"]),
                show(&ch["new"])
            )?;
        }
        if let Some(e) = tr["error"].as_str() {
            outln!("  error: {e} (the cycle's changes were rolled back)")?;
        }
    }
    Ok(Exit::Success)
}
