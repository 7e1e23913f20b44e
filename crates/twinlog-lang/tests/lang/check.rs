//! Integration tests: the checker's diagnostics, pinned by insta snapshots.
//!
//! Each `tests/lang/check/*.scc` fixture is compiled with `ir::compile` and every diagnostic
//! is rendered the way `twinlog module check` prints it; the snapshot lives in
//! `tests/lang/check/snapshots/`. Regenerate with `INSTA_UPDATE=always cargo test -p
//! twinlog-lang --test lang check::` and read every changed snapshot before committing.

use std::path::PathBuf;
use twinlog_lang::diag::render_all;
use twinlog_lang::ir::compile;

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lang/check");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scc"))
        .collect();
    files.sort();
    files
}

fn outcome(file: &str, source: &str) -> String {
    match compile(file, source) {
        Ok(p) => {
            let (on, at, when) = p.trigger_counts();
            format!(
                "ok: module {} with {} variables, {} timers, {on} ON, {at} AT, {when} WHEN\n",
                p.name,
                p.vars.len(),
                p.timers.len()
            )
        }
        Err(diags) => render_all(&diags, file, source),
    }
}

#[test]
fn diagnostics_snapshots() {
    let files = fixtures();
    assert!(
        files.len() >= 15,
        "expected at least 15 fixtures, found {}",
        files.len()
    );
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let file = path.file_name().unwrap().to_str().unwrap();
        let source = std::fs::read_to_string(&path).unwrap();
        let rendered = outcome(file, &source);
        insta::with_settings!({
            snapshot_path => "check/snapshots",
            prepend_module_to_snapshot => false,
            description => source.clone(),
        }, {
            insta::assert_snapshot!(name, rendered);
        });
    }
}

#[test]
fn every_error_has_a_label_and_a_span_inside_the_source() {
    for path in fixtures() {
        let source = std::fs::read_to_string(&path).unwrap();
        if let Err(diags) = compile("f.scc", &source) {
            for d in diags {
                assert!(
                    d.label.is_some(),
                    "{}: `{}` has no label",
                    path.display(),
                    d.message
                );
                assert!(
                    d.span.end as usize <= source.len(),
                    "{}: span out of range",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn clean_module_compiles_with_its_summary() {
    let source = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lang/check/clean.scc"),
    )
    .unwrap();
    assert_eq!(
        compile("clean.scc", &source).unwrap().summary(),
        "lamp1: 4 variables, 1 timer, 2 ON, 1 AT, 1 WHEN"
    );
    assert_eq!(
        outcome("clean.scc", &source),
        "ok: module lamp1 with 4 variables, 1 timers, 2 ON, 1 AT, 1 WHEN\n"
    );
}

use proptest::prelude::*;

/// Lines built from the language's own words, in any order: mostly wrong modules.
fn soup() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("MODULE"),
        Just("SUBSCRIBE"),
        Just("PUBLISH"),
        Just("PRIVATE"),
        Just("TIMER"),
        Just("TOPIC"),
        Just("ON"),
        Just("AT"),
        Just("WHEN"),
        Just("AND"),
        Just("THEN"),
        Just("AS"),
        Just("m"),
        Just("x"),
        Just("y"),
        Just("a.b"),
        Just("x.on"),
        Just("on"),
        Just("off"),
        Just("{off, on}"),
        Just("{0-10}"),
        Just("{0.5, 1}"),
        Just("= 1"),
        Just("= on"),
        Just("=="),
        Just("+"),
        Just("/"),
        Just("("),
        Just(")"),
        Just("5 minutes"),
        Just("noon"),
        Just("x++"),
        Just("log(x)"),
        Just("activate(y)"),
        Just("round(x, 2)"),
        Just("start"),
        Just("system.clock#hour"),
        Just("x#version"),
        Just("[k]"),
        Just("\"s\""),
        Just("-3"),
    ];
    proptest::collection::vec(proptest::collection::vec(word, 1..6), 1..12).prop_map(|lines| {
        lines
            .into_iter()
            .map(|l| l.join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn compile_never_panics_and_errors_carry_spans(src in soup()) {
        if let Err(diags) = compile("soup.scc", &src) {
            prop_assert!(!diags.is_empty());
            for d in &diags {
                prop_assert!(d.span.end as usize <= src.len());
                let _ = d.render("soup.scc", &src);
            }
        }
    }
}
