//! `twinlog module check | test | fmt`: the module language with no server running.
//!
//! The language crate does the work (compile, simulate, format) and knows no JSON or files;
//! this module reads files, converts JSON lines to and from the simulator's values, compares
//! with an expected file and prints diagnostics the way a person reads them.

use super::{Exit, print_json};
use crate::cli::{ModuleCheckArgs, ModuleFmtArgs, ModuleTestArgs};
use anyhow::{Context, Result, anyhow, bail};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use twinlog_lang::diag::{Diagnostic, render_all};
use twinlog_lang::ir::{Program, VarKind};
use twinlog_lang::sim::{SimEvent, SimOutput, Simulator};
use twinlog_lang::time::TimeContext;
use twinlog_runtime::json;

// ---------------------------------------------------------------------------------------
// check

pub fn check(args: ModuleCheckArgs) -> Result<Exit> {
    let mut ok = true;
    for file in &args.files {
        // An unreadable file fails the command but does not stop the others being checked.
        let compiled = match compile_file(file) {
            Ok(c) => c,
            Err(e) => {
                ok = false;
                eprintln!("error: {e:#}");
                continue;
            }
        };
        match compiled {
            Ok(program) => {
                let summary = Summary::of(&program);
                if args.json {
                    print_json(&summary.json(file))?;
                } else {
                    outln!("{}", summary.line(file))?;
                }
            }
            Err((diags, source)) => {
                ok = false;
                if args.json {
                    print_json(&diagnostics_json(file, &source, &diags))?;
                } else {
                    eprint!(
                        "{}",
                        render_all(&diags, &file.display().to_string(), &source)
                    );
                    eprintln!("{}: {}\n", file.display(), count_errors(&diags));
                }
            }
        }
    }
    Ok(if ok { Exit::Success } else { Exit::Failure })
}

type Compiled = std::result::Result<Program, (Vec<Diagnostic>, String)>;

/// Reads and compiles one file: an unreadable file is an error of the command, a module
/// with errors is a result (its diagnostics and source, for rendering).
fn compile_file(file: &Path) -> Result<Compiled> {
    let source =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(twinlog_lang::ir::compile(&file.display().to_string(), &source).map_err(|d| (d, source)))
}

fn count_errors(diags: &[Diagnostic]) -> String {
    let n = diags.iter().filter(|d| d.is_error()).count();
    format!("{n} error{}", if n == 1 { "" } else { "s" })
}

/// What `check` says of a module that compiles.
struct Summary {
    name: String,
    subscribed: usize,
    published: usize,
    private: usize,
    timers: usize,
    ons: usize,
    ats: usize,
    whens: usize,
}

impl Summary {
    fn of(p: &Program) -> Summary {
        let count = |k: VarKind| p.vars.iter().filter(|v| v.kind == k).count();
        let name = match &p.instance_key {
            Some(key) => format!("{}[{key}]", p.name),
            None => p.name.to_string(),
        };
        Summary {
            name,
            subscribed: count(VarKind::Subscribe),
            published: count(VarKind::Publish),
            private: count(VarKind::Private),
            timers: p.timers.len(),
            ons: p.ons.len(),
            ats: p.ats.len(),
            whens: p.whens.len(),
        }
    }

    fn line(&self, file: &Path) -> String {
        let vars = self.subscribed + self.published + self.private;
        let triggers = self.ons + self.ats + self.whens;
        format!(
            "ok {} ({}): {vars} variable{} ({} subscribed, {} published, {} private), {} timer{}, {triggers} trigger{} ({} ON, {} AT, {} WHEN)",
            self.name,
            file.display(),
            plural(vars),
            self.subscribed,
            self.published,
            self.private,
            self.timers,
            plural(self.timers),
            plural(triggers),
            self.ons,
            self.ats,
            self.whens
        )
    }

    fn json(&self, file: &Path) -> Json {
        serde_json::json!({
            "file": file.display().to_string(),
            "ok": true,
            "module": self.name,
            "variables": {"subscribed": self.subscribed, "published": self.published, "private": self.private},
            "timers": self.timers,
            "triggers": {"on": self.ons, "at": self.ats, "when": self.whens},
        })
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn diagnostics_json(file: &Path, source: &str, diags: &[Diagnostic]) -> Json {
    let items = json::diagnostics(source, diags);
    serde_json::json!({"file": file.display().to_string(), "ok": false, "diagnostics": items})
}

// ---------------------------------------------------------------------------------------
// test

pub fn test(args: ModuleTestArgs) -> Result<Exit> {
    let tz = args.tz.clone();
    let mut programs = Vec::with_capacity(args.files.len());
    let mut failed = false;
    for file in &args.files {
        match compile_file(file)? {
            Ok(p) => programs.push(p),
            Err((diags, source)) => {
                failed = true;
                eprint!(
                    "{}",
                    render_all(&diags, &file.display().to_string(), &source)
                );
            }
        }
    }
    if failed {
        eprintln!("error: the modules do not compile; nothing was run");
        return Ok(Exit::Failure);
    }
    let mut ctx = TimeContext::new(tz.clone());
    if let (Some(lat), Some(lon)) = (args.lat, args.lon) {
        ctx = ctx.with_location(lat, lon);
    }
    let events_name = args.events.display().to_string();
    let text = std::fs::read_to_string(&args.events)
        .with_context(|| format!("cannot read {events_name}"))?;
    let (events, lines) = parse_events(&text, &events_name)?;

    if let (Some(until), Some(last)) = (args.until, events.last())
        && until < last.time
    {
        eprintln!(
            "warning: --until {until} is before the last event ({}); the clock stops at the last event",
            last.time
        );
    }
    let mut sim = Simulator::new(programs, ctx)?;
    let outputs = match sim.run(&events, args.until) {
        Ok(o) => o,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {events_name}:{}: {e}", lines[e.index()]);
            }
            return Ok(Exit::Failure);
        }
    };
    let produced: Vec<Json> = outputs
        .iter()
        .map(|o| {
            let mut j = output_json(o, &tz);
            // A refused event names its line: the run went on without it.
            if let (SimOutput::Refused { event, message, .. }, Json::Object(m)) = (o, &mut j) {
                let line = lines.get(*event).copied().unwrap_or(0);
                m.insert(
                    "error".into(),
                    Json::String(format!("event on line {line} refused: {message}")),
                );
            }
            j
        })
        .collect();
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for line in &produced {
            serde_json::to_writer(&mut out, line)?;
            writeln!(out)?;
        }
        out.flush()?;
    }
    match &args.expect {
        None => Ok(Exit::Success),
        Some(path) => compare(path, &produced),
    }
}

/// The events file as simulator events, with the 1-based line number of each.
fn parse_events(text: &str, name: &str) -> Result<(Vec<SimEvent>, Vec<usize>)> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_event(line).with_context(|| format!("{name}:{}", i + 1))?;
        events.push(event);
        lines.push(i + 1);
    }
    Ok((events, lines))
}

/// One line of an events file: the server's event object (shared parser), with a `time`
/// (the test clock moves by the events) and no `mode` (a test runs one).
fn parse_event(line: &str) -> Result<SimEvent> {
    let e = json::parse_event(line)?;
    let time = e.time.ok_or_else(|| anyhow!("missing `time`"))?;
    if e.mode.is_some() {
        bail!("`mode` is for a server; `module test` runs its modules in one mode");
    }
    Ok(SimEvent {
        time,
        module: e.module,
        variable: e.variable,
        instance: e.instance,
        value: e.value,
    })
}

fn output_json(o: &SimOutput, tz: &TimeZone) -> Json {
    json::output_json(o, tz)
}

/// Compares the output with the expected file: times as instants, numbers numerically.
/// Prints a diff on stderr and fails on a mismatch.
fn compare(path: &Path, produced: &[Json]) -> Result<Exit> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let mut expected = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let json: Json = serde_json::from_str(line)
            .with_context(|| format!("{name}:{}: not valid JSON", i + 1))?;
        expected.push(json);
    }
    let norm_expected: Vec<String> = expected.iter().map(normalize).collect();
    let norm_produced: Vec<String> = produced.iter().map(normalize).collect();
    if norm_expected == norm_produced {
        return Ok(Exit::Success);
    }
    eprintln!("error: the output differs from {name} (- expected, + actual):");
    let ops =
        similar::capture_diff_slices(similar::Algorithm::Myers, &norm_expected, &norm_produced);
    for op in ops {
        for change in op.iter_changes(&norm_expected, &norm_produced) {
            let (sign, line) = match change.tag() {
                similar::ChangeTag::Equal => (' ', change.old_index().map(|i| &expected[i])),
                similar::ChangeTag::Delete => ('-', change.old_index().map(|i| &expected[i])),
                similar::ChangeTag::Insert => ('+', change.new_index().map(|i| &produced[i])),
            };
            if let Some(line) = line {
                eprintln!("{sign} {line}");
            }
        }
    }
    eprintln!(
        "error: {} expected line{}, {} produced",
        expected.len(),
        plural(expected.len()),
        produced.len()
    );
    Ok(Exit::Failure)
}

/// A canonical text of one output line for comparison: `time` as a UTC instant, numbers as
/// normalised decimals, keys sorted, null fields dropped.
fn normalize(json: &Json) -> String {
    fn canon(key: Option<&str>, v: &Json) -> Json {
        match v {
            Json::String(s) if key == Some("time") => match Timestamp::from_str(s) {
                Ok(t) => Json::String(t.to_string()),
                Err(_) => v.clone(),
            },
            Json::Number(n) => match Decimal::from_str(&n.to_string()) {
                Ok(d) => Json::String(format!("#num:{}", d.normalize())),
                Err(_) => v.clone(),
            },
            Json::Array(items) => Json::Array(items.iter().map(|i| canon(None, i)).collect()),
            Json::Object(m) => {
                // A null field and an absent one say the same (`"instance": null`, the
                // value of an `activate`).
                let mut keys: Vec<_> = m
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, _)| k)
                    .collect();
                keys.sort();
                Json::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), canon(Some(k), &m[k])))
                        .collect(),
                )
            }
            _ => v.clone(),
        }
    }
    canon(None, json).to_string()
}

// ---------------------------------------------------------------------------------------
// fmt

pub fn fmt(args: ModuleFmtArgs) -> Result<Exit> {
    let mut would_change: Vec<&PathBuf> = Vec::new();
    let mut broken = 0usize;
    for file in &args.files {
        let source = match std::fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => {
                broken += 1;
                eprintln!("error: cannot read {}: {e}", file.display());
                continue;
            }
        };
        let pretty = match twinlog_lang::fmt::format_source(&source) {
            Ok(p) => p,
            Err(diags) => {
                broken += 1;
                eprint!(
                    "{}",
                    render_all(&diags, &file.display().to_string(), &source)
                );
                eprintln!(
                    "{}: not formatted: {}\n",
                    file.display(),
                    count_errors(&diags)
                );
                continue;
            }
        };
        if pretty == source {
            continue;
        }
        if args.check {
            outln!("would reformat {}", file.display())?;
            would_change.push(file);
        } else {
            write_atomically(file, &pretty)?;
            outln!("formatted {}", file.display())?;
        }
    }
    if args.check && !would_change.is_empty() {
        eprintln!(
            "error: {} file{} not in canonical layout; run `twinlog module fmt` on {}",
            would_change.len(),
            plural(would_change.len()),
            if would_change.len() == 1 {
                "it"
            } else {
                "them"
            }
        );
    }
    Ok(if broken > 0 || !would_change.is_empty() {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// Writes through a temporary file in the same directory and renames it over the original,
/// so a crash never leaves a half-written module.
fn write_atomically(file: &Path, text: &str) -> Result<()> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.twinlog-fmt.tmp",
        file.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(file) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, file).with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}
