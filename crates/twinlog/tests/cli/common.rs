//! Running the binary in a scratch data dir and reading what it printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch directory with a data dir inside, removed when dropped.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `twinlog --data-dir <scratch> ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = twinlog();
        cmd.arg("--data-dir").arg(self.data_dir()).args(args);
        run_cmd(cmd, stdin)
    }

    /// Starts `twinlog --data-dir <scratch> ARGS…` with piped stdin, stdout and stderr, for
    /// tests that talk to a running process.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        twinlog()
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn twinlog")
    }

    /// Like [`Env::run_with_stdin`], for input that is not UTF-8.
    pub fn run_with_bytes(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut cmd = twinlog();
        cmd.arg("--data-dir").arg(self.data_dir()).args(args);
        run_cmd_bytes(cmd, Some(stdin))
    }
}

pub fn twinlog() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twinlog"));
    cmd.env_remove("TWINLOG_DATA_DIR").env_remove("RUST_LOG");
    cmd
}

pub fn run_cmd(cmd: Command, stdin: Option<&str>) -> Run {
    run_cmd_bytes(cmd, stdin.map(str::as_bytes))
}

pub fn run_cmd_bytes(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn twinlog");
    // Stdin is written from its own thread while this one reads stdout: writing it all first
    // deadlocks once the child blocks on a full stdout pipe before it has read its input.
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("stdin piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            // The child may exit without reading everything (a bad line stops it).
            let _ = pipe.write_all(&input);
        })
    });
    let output = child.wait_with_output().expect("wait for twinlog");
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = output;
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }
}

/// The repository root (for examples/).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/twinlog")
}
