//! `module check | test | fmt`, and every example under `examples/modules/` run through the
//! real `twinlog module test` against its expected output.

use super::common::{Env, repo_root};
use std::path::{Path, PathBuf};

/// One example: its modules, events, expected output and extra flags (`args`, optional).
pub struct Example {
    pub name: String,
    pub modules: Vec<PathBuf>,
    pub events: PathBuf,
    pub expected: PathBuf,
    pub args: Vec<String>,
}

pub fn examples() -> Vec<Example> {
    let root = repo_root().join("examples/modules");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("examples/modules exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let mut modules: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "scc"))
                .collect();
            modules.sort();
            let args = std::fs::read_to_string(dir.join("args"))
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            Example {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                modules,
                events: dir.join("events.jsonl"),
                expected: dir.join("expected.jsonl"),
                args,
            }
        })
        .collect()
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn there_are_enough_examples() {
    let all = examples();
    assert!(
        all.len() >= 11,
        "lamp1 and at least ten more: {}",
        all.len()
    );
    assert!(all.iter().any(|e| e.name == "lamp1"));
    for e in &all {
        assert!(!e.modules.is_empty(), "{}: no .scc file", e.name);
        assert!(e.events.exists(), "{}: no events.jsonl", e.name);
        assert!(e.expected.exists(), "{}: no expected.jsonl", e.name);
    }
}

#[test]
fn every_example_matches_its_expected_output() {
    let env = Env::new();
    let mut failures = Vec::new();
    for e in examples() {
        let mut args: Vec<&str> = vec!["module", "test"];
        args.extend(e.modules.iter().map(|p| s(p)));
        args.extend(["--events", s(&e.events), "--expect", s(&e.expected)]);
        args.extend(e.args.iter().map(String::as_str));
        let run = env.run(&args);
        if run.code != 0 {
            failures.push(format!(
                "{} (exit {}):\n{}{}",
                e.name, run.code, run.stdout, run.stderr
            ));
        } else {
            // The output itself is the expected file, line for line.
            let expected = std::fs::read_to_string(&e.expected).unwrap();
            assert_eq!(
                run.stdout.lines().count(),
                expected.lines().filter(|l| !l.trim().is_empty()).count(),
                "{}",
                e.name
            );
        }
    }
    assert!(
        failures.is_empty(),
        "examples that do not match:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_example_compiles_and_is_formatted() {
    let env = Env::new();
    let files: Vec<PathBuf> = examples().into_iter().flat_map(|e| e.modules).collect();
    let mut check: Vec<&str> = vec!["module", "check"];
    check.extend(files.iter().map(|p| s(p)));
    let out = env.run(&check).success();
    assert_eq!(
        out.stdout.lines().count(),
        files.len(),
        "one summary line per module:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("lamp1"), "{}", out.stdout);

    let mut fmt: Vec<&str> = vec!["module", "fmt", "--check"];
    fmt.extend(files.iter().map(|p| s(p)));
    env.run(&fmt).success();
}

/// Writes `files` (name, text) into the env's scratch dir and returns their paths.
fn write(env: &Env, files: &[(&str, &str)]) -> Vec<String> {
    files
        .iter()
        .map(|(name, text)| {
            let p = env.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_owned()
        })
        .collect()
}

const LAMP: &str = "MODULE lamp\n    SUBSCRIBE press\n    PUBLISH state {off, on} = off\n    ON press\n      THEN state = on\n";

#[test]
fn check_reports_every_error_with_file_line_and_caret() {
    let env = Env::new();
    let src = "MODULE broken\n    PUBLISH state {off, on} = off\n    ON press\n      THEN stat = on\n      THEN state = dim\n";
    let files = write(&env, &[("broken.scc", src), ("lamp.scc", LAMP)]);
    let out = env
        .run(&["module", "check", &files[0], &files[1]])
        .failure(1);
    // The good module still gets its summary; the broken one all of its errors.
    assert!(out.stdout.starts_with("ok lamp ("), "{}", out.stdout);
    assert!(out.stderr.contains("broken.scc:3:"), "{}", out.stderr);
    assert!(out.stderr.contains("broken.scc:4:12"), "{}", out.stderr);
    assert!(
        out.stderr.contains("      THEN stat = on\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("^^^^"), "{}", out.stderr);
    assert!(
        out.stderr.contains("did you mean `state`?"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`dim`"), "{}", out.stderr);
    let json = env
        .run(&["module", "check", "--json", &files[0]])
        .failure(1)
        .json_lines();
    assert_eq!(json[0]["ok"], serde_json::json!(false));
    assert!(
        json[0]["diagnostics"].as_array().unwrap().len() >= 3,
        "{json:?}"
    );
}

#[test]
fn test_prints_a_diff_on_mismatch() {
    let env = Env::new();
    let files = write(
        &env,
        &[
            ("lamp.scc", LAMP),
            (
                "events.jsonl",
                "{\"time\": \"2024-01-01T10:00:00Z\", \"variable\": \"press\"}\n",
            ),
            (
                "right.jsonl",
                "{\"time\": \"2024-01-01T11:00:00+01:00\", \"module\": \"lamp\", \"instance\": null, \"variable\": \"state\", \"value\": \"on\"}\n",
            ),
            (
                "wrong.jsonl",
                "{\"time\": \"2024-01-01T10:00:00Z\", \"module\": \"lamp\", \"variable\": \"state\", \"value\": \"off\"}\n",
            ),
        ],
    );
    // Times compare as instants (+01:00 at 11:00 is 10:00Z); a null field equals an absent one.
    env.run(&[
        "module", "test", &files[0], "--events", &files[1], "--expect", &files[2],
    ])
    .success();
    let out = env
        .run(&[
            "module", "test", &files[0], "--events", &files[1], "--expect", &files[3],
        ])
        .failure(1);
    assert!(out.stderr.contains("differs from"), "{}", out.stderr);
    assert!(
        out.stderr.contains("- {") && out.stderr.contains("\"off\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("+ {") && out.stderr.contains("\"on\""),
        "{}",
        out.stderr
    );
    // The output itself is still printed, on stdout.
    assert_eq!(out.stdout.lines().count(), 1);
}

#[test]
fn bad_events_are_reported_with_their_line_number() {
    let env = Env::new();
    let thermo = "MODULE t\n    SUBSCRIBE level {0-10}\n    PUBLISH copy = 0\n    ON level\n      THEN copy = level\n";
    let cases = [
        (
            "{\"time\": \"2024-01-01T10:00:00Z\", \"variable\": \"level\", \"value\": 1}\n{\"time\": \"2024-01-01T09:00:00Z\", \"variable\": \"level\", \"value\": 2}\n",
            ":2:",
            "time order",
        ),
        (
            "{\"time\": \"2024-01-01T10:00:00Z\", \"variable\": \"level\"\n",
            ":1",
            "not valid JSON",
        ),
        (
            "{\"time\": \"yesterday\", \"variable\": \"level\"}\n",
            ":1",
            "RFC 3339",
        ),
        (
            "{\"time\": \"2024-01-01T10:00:00Z\", \"variable\": \"level\", \"colour\": 1}\n",
            ":1",
            "unknown field `colour`",
        ),
    ];
    for (i, (events, at, what)) in cases.iter().enumerate() {
        let files = write(&env, &[("t.scc", thermo), (&format!("e{i}.jsonl"), events)]);
        let out = env
            .run(&["module", "test", &files[0], "--events", &files[1]])
            .failure(1);
        assert!(
            out.stderr.contains(&format!("e{i}.jsonl{at}")),
            "case {i}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(what), "case {i}: {}", out.stderr);
    }
    let files = write(
        &env,
        &[
            ("t.scc", thermo),
            (
                "ok.jsonl",
                "{\"time\": \"2024-01-01T10:00:00Z\", \"variable\": \"level\", \"value\": 1}\n",
            ),
        ],
    );
    let tz = env
        .run(&[
            "module",
            "test",
            &files[0],
            "--events",
            &files[1],
            "--tz",
            "Mars/Olympus",
        ])
        .failure(2);
    assert!(
        tz.stderr.contains("unknown time zone `Mars/Olympus`"),
        "{}",
        tz.stderr
    );
}

/// Issue 10: an event a module cannot take used to stop the run before any output.
#[test]
fn refused_events_are_error_lines_naming_their_line_and_the_run_goes_on() {
    let env = Env::new();
    let mode = "MODULE m\n    SUBSCRIBE mode {off, auto, on}\n    PUBLISH copy {off, auto, on} = off\n    ON mode\n      THEN copy = mode\n";
    let events = [
        r#"{"time": "2024-01-01T10:00:00Z", "variable": "mode", "value": "auto"}"#,
        "",
        r#"{"time": "2024-01-01T10:01:00Z", "variable": "mode", "value": "dim"}"#,
        r#"{"time": "2024-01-01T10:02:00Z", "variable": "nope"}"#,
        r#"{"time": "2024-01-01T10:03:00Z", "module": "ghost", "variable": "x"}"#,
        r#"{"time": "2024-01-01T10:04:00Z", "variable": "mode", "value": "on"}"#,
    ]
    .join("\n");
    let files = write(&env, &[("m.scc", mode), ("e.jsonl", &events)]);
    let lines = env
        .run(&["module", "test", &files[0], "--events", &files[1]])
        .success()
        .json_lines();
    let shown: Vec<String> = lines
        .iter()
        .map(|j| {
            let what = j.get("error").or(j.get("value")).unwrap();
            format!(
                "{} {} {}",
                j["time"],
                j.get("module").unwrap_or(&serde_json::Value::Null),
                what
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            r#""2024-01-01T10:00:00+00:00" "m" "auto""#,
            r#""2024-01-01T10:01:00+00:00" "m" "event on line 3 refused: `dim` is not allowed for `mode`; expected {off, auto, on}""#,
            r#""2024-01-01T10:02:00+00:00" null "event on line 4 refused: no module subscribes to `nope`""#,
            r#""2024-01-01T10:03:00+00:00" "ghost" "event on line 5 refused: unknown module `ghost`: no module given is named so or subscribes to `ghost.x`""#,
            r#""2024-01-01T10:04:00+00:00" "m" "on""#,
        ]
    );
}

#[test]
fn fmt_rewrites_to_the_canonical_layout_and_check_lists_files() {
    let env = Env::new();
    let messy = "module lamp // a lamp\nsubscribe press\n\n\n  public state {off,on}=off\non press\nthen state=on\n";
    let files = write(&env, &[("messy.scc", messy), ("tidy.scc", LAMP)]);
    let check = env
        .run(&["module", "fmt", "--check", &files[0], &files[1]])
        .failure(1);
    assert_eq!(check.stdout, format!("would reformat {}\n", files[0]));
    assert_eq!(
        std::fs::read_to_string(&files[0]).unwrap(),
        messy,
        "--check changes nothing"
    );

    let out = env.run(&["module", "fmt", &files[0], &files[1]]).success();
    assert_eq!(out.stdout, format!("formatted {}\n", files[0]));
    let tidy = std::fs::read_to_string(&files[0]).unwrap();
    insta::assert_snapshot!(tidy);
    env.run(&["module", "fmt", "--check", &files[0]]).success();

    let broken = write(&env, &[("broken.scc", "MODULE x\n    PUBLISH \"oops\n")]);
    let out = env.run(&["module", "fmt", &broken[0]]).failure(1);
    assert!(out.stderr.contains("not formatted"), "{}", out.stderr);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // `twinlog module check … | head -1`: the reader stops early; no panic, no error. The
    // files are named many times over so the output outgrows the pipe's buffer.
    let files: Vec<String> = examples()
        .into_iter()
        .flat_map(|e| e.modules)
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    let files = vec![files.join(" "); 100];
    let script = format!(
        "'{}' module check {} | head -1 >/dev/null; echo \"exit=${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_twinlog"),
        files.join(" ")
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stdout.trim(), "exit=0", "{stderr}");
}
