//! Talking to a running server: finding it (`--server`, or the SERVER file the server
//! writes into its data dir) and calling its API, with problem documents turned into errors
//! that say what the server said.

use crate::cli::GlobalArgs;
use anyhow::{Context, Result, anyhow};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// The file a running server writes into its data dir: `{"url": …, "pid": …}`.
pub const SERVER_FILE: &str = "SERVER";

/// An answer the server refused with (an RFC 9457 problem document).
#[derive(Debug)]
pub struct ServerError {
    pub status: u16,
    pub problem: Json,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detail = self.problem["detail"]
            .as_str()
            .unwrap_or("the server refused the request");
        match self.problem["field"].as_str().filter(|f| !f.is_empty()) {
            Some(field) => write!(f, "{detail} (field {field}; HTTP {})", self.status),
            None => write!(f, "{detail} (HTTP {})", self.status),
        }
    }
}

impl std::error::Error for ServerError {}

/// A connection to one server, in one mode.
#[derive(Debug)]
pub struct Client {
    base: String,
    mode: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

/// Where a server's SERVER file is.
pub fn server_file(data_dir: &Path) -> PathBuf {
    data_dir.join(SERVER_FILE)
}

/// The URL of the live server holding `data_dir`, if there is one (a file left by a server
/// that died is ignored).
pub fn discover(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(server_file(data_dir)).ok()?;
    let json: Json = serde_json::from_str(&text).ok()?;
    let pid = json["pid"].as_u64()?;
    process_alive(pid).then(|| json["url"].as_str().map(str::to_string))?
}

/// Whether a process runs. On Linux `/proc/PID` exists exactly then; elsewhere the file is
/// trusted (a dead server's URL then fails with "cannot reach the server").
fn process_alive(pid: u64) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

impl Client {
    /// The server for `global`: `--server`, else the data dir's running server, else an error
    /// saying how to start one.
    pub fn connect(global: &GlobalArgs) -> Result<Client> {
        match Self::find(global)? {
            Some(c) => Ok(c),
            None => Err(anyhow!(
                "no server is running on {}; start one with `twinlog serve --data-dir {}` or pass --server URL",
                global.data_dir.display(),
                global.data_dir.display()
            )),
        }
    }

    /// Like [`Client::connect`], but `None` when no server runs.
    pub fn find(global: &GlobalArgs) -> Result<Option<Client>> {
        let Some(url) = global.server.clone().or_else(|| discover(&global.data_dir)) else {
            return Ok(None);
        };
        let rt = super::runtime()?;
        let http = reqwest::Client::builder()
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Some(Client {
            base: url.trim_end_matches('/').to_string(),
            mode: global.mode.clone(),
            http,
            rt,
        }))
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn full(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}mode={}", self.base, self.mode)
    }

    pub fn get(&self, path: &str) -> Result<Json> {
        let req = self.http.get(self.full(path));
        self.send(req).map(|(_, j)| j)
    }

    pub fn post(&self, path: &str, body: &Json) -> Result<(u16, Json)> {
        let req = self
            .http
            .post(self.full(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(req)
    }

    pub fn delete(&self, path: &str) -> Result<()> {
        let req = self.http.delete(self.full(path));
        self.send(req).map(|_| ())
    }

    fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Json)> {
        let base = self.base.clone();
        self.rt.block_on(async move {
            let resp = req
                .send()
                .await
                .with_context(|| format!("cannot reach the server at {base}"))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .bytes()
                .await
                .with_context(|| format!("the server at {base} broke off its answer"))?;
            let json: Json = if bytes.is_empty() {
                Json::Null
            } else {
                serde_json::from_slice(&bytes).with_context(|| {
                    format!("the server at {base} answered something that is not JSON")
                })?
            };
            if status >= 400 {
                return Err(ServerError {
                    status,
                    problem: json,
                }
                .into());
            }
            Ok((status, json))
        })
    }
}
