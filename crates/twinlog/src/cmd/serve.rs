//! `twinlog serve`: the single server process — the embedded log, every mode's module
//! agent and the HTTP API — until SIGINT or SIGTERM.
//!
//! Settings are layered: built-in defaults < `twinlog.toml` < `TWINLOG_*` < flags (clap
//! reads flags and variables together; the file fills what neither gave).

use super::Exit;
use super::client::server_file;
use crate::cli::{GlobalArgs, ServeArgs, parse_clock};
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use twinlog_bus::Bus;
use twinlog_bus::embedded::EmbeddedBus;
use twinlog_lang::time::TimeContext;
use twinlog_log::{FsyncPolicy, Log, LogOptions};
use twinlog_runtime::{ClockKind, Modes};

/// The default listen address: loopback only, so a laptop's server is not on the network
/// unless asked.
const DEFAULT_HTTP: &str = "127.0.0.1:7878";

/// `twinlog.toml`: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    http: Option<String>,
    clock: Option<String>,
    tz: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    fsync: Option<String>,
}

/// Everything `serve` runs with, resolved.
#[derive(Debug)]
struct Settings {
    http: SocketAddr,
    clock: ClockKind,
    tz: jiff::tz::TimeZone,
    tz_name: String,
    location: Option<(f64, f64)>,
    fsync: FsyncPolicy,
}

fn resolve(args: ServeArgs) -> Result<Settings> {
    let (file, path) = match &args.config {
        Some(p) => (Some(read_settings(p)?), Some(p.clone())),
        None if Path::new("twinlog.toml").exists() => {
            let p = PathBuf::from("twinlog.toml");
            (Some(read_settings(&p)?), Some(p))
        }
        None => (None, None),
    };
    let file = file.unwrap_or_default();
    let at = |key: &str| match &path {
        Some(p) => format!("`{key}` in {}", p.display()),
        None => format!("`{key}`"),
    };
    let http = match (args.http, &file.http) {
        (Some(a), _) => a,
        (None, Some(s)) => s.parse().map_err(|_| {
            anyhow!(
                "{} must be an address like 127.0.0.1:7878; got `{s}`",
                at("http")
            )
        })?,
        (None, None) => DEFAULT_HTTP.parse().expect("a valid default"),
    };
    let clock = match (args.clock, &file.clock) {
        (Some(c), _) => c,
        (None, Some(s)) => parse_clock(s).map_err(|e| anyhow!("{}: {e}", at("clock")))?,
        (None, None) => ClockKind::Real,
    };
    let (tz, tz_name) = match args.tz.or(file.tz) {
        Some(name) => (
            jiff::tz::TimeZone::get(&name).map_err(|e| {
                anyhow!(
                    "unknown time zone `{name}` ({e}); use an IANA name like Europe/Berlin or UTC"
                )
            })?,
            name,
        ),
        None => {
            let tz = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
            let name = tz.iana_name().unwrap_or("UTC").to_string();
            (tz, name)
        }
    };
    let location = match (args.lat.or(file.lat), args.lon.or(file.lon)) {
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                bail!(
                    "latitude must be within ±90 and longitude within ±180 degrees; got {lat}, {lon}"
                );
            }
            Some((lat, lon))
        }
        (None, None) => None,
        _ => bail!("give both --lat and --lon (or neither)"),
    };
    let fsync = match (args.fsync, &file.fsync) {
        (Some(f), _) => f,
        (None, Some(s)) => s
            .parse()
            .map_err(|e: twinlog_log::ParseFsyncPolicyError| anyhow!("{}: {e}", at("fsync")))?,
        (None, None) => FsyncPolicy::Always,
    };
    Ok(Settings {
        http,
        clock,
        tz,
        tz_name,
        location,
        fsync,
    })
}

fn read_settings(path: &Path) -> Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the settings file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> Result<Exit> {
    let settings = resolve(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(global.data_dir.clone(), settings))?;
    Ok(Exit::Success)
}

async fn serve(data_dir: PathBuf, s: Settings) -> Result<()> {
    let log = Log::open(
        &data_dir,
        LogOptions {
            fsync: s.fsync,
            ..LogOptions::default()
        },
    )?;
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::with_log(log)?);
    let mut time = TimeContext::new(s.tz.clone());
    if let Some((lat, lon)) = s.location {
        time = time.with_location(lat, lon);
    }
    let modes = Arc::new(
        Modes::open(bus.clone(), s.clock, time)
            .await
            .context("cannot start the module agents")?,
    );
    let listener = tokio::net::TcpListener::bind(s.http)
        .await
        .with_context(|| format!("cannot listen on {}", s.http))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let marker = server_file(&data_dir);
    write_atomically(
        &marker,
        &serde_json::json!({"url": url, "pid": std::process::id()}).to_string(),
    )?;
    tracing::info!(%url, data_dir = %data_dir.display(), clock = s.clock.name(), tz = %s.tz_name, "serving");
    outln!(
        "twinlog serving {url} — data dir {}, clock {}, time zone {}, modes: {}",
        data_dir.display(),
        s.clock.name(),
        s.tz_name,
        modes.names().join(", ")
    )?;
    let served = twinlog_api::serve(listener, modes.clone(), shutdown_signal()).await;
    tracing::info!("stopping: finishing the inputs in progress");
    modes.shutdown().await;
    let _ = std::fs::remove_file(&marker);
    drop(modes);
    drop(bus);
    served.context("the HTTP server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
