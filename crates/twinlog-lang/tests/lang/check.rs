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

// ---------------------------------------------------------------------------------------
// Helps that lead somewhere: a diagnostic's fixes are its help as edits; following one must
// remove that error and add none.

/// Every `.scc` whose diagnostics are pinned: the checker's fixtures and the parser's bad
/// inputs.
fn all_fixtures() -> Vec<PathBuf> {
    let bad = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lang/syntax/bad");
    let mut files = fixtures();
    files.extend(
        std::fs::read_dir(&bad)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "scc")),
    );
    files
}

fn error_messages(source: &str) -> Vec<String> {
    match compile("f.scc", source) {
        Ok(_) => Vec::new(),
        Err(diags) => diags
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| d.message)
            .collect(),
    }
}

/// Removes one occurrence of `item`; false when there is none.
fn take_one(list: &mut Vec<String>, item: &str) -> bool {
    match list.iter().position(|m| m == item) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

#[test]
fn every_fix_removes_its_error_and_adds_none() {
    let mut applied = 0;
    for path in all_fixtures() {
        let source = std::fs::read_to_string(&path).unwrap();
        let Err(diags) = compile("f.scc", &source) else {
            continue;
        };
        let before = error_messages(&source);
        for d in diags.iter().filter(|d| d.is_error()) {
            for fix in &d.fixes {
                let fixed = fix.apply(&source);
                let mut allowed = before.clone();
                assert!(take_one(&mut allowed, &d.message));
                for m in error_messages(&fixed) {
                    assert!(
                        take_one(&mut allowed, &m),
                        "{}: following the help of `{}` ({:?}) gives `{m}`:\n{fixed}",
                        path.display(),
                        d.message,
                        d.help
                    );
                }
                applied += 1;
            }
        }
    }
    // Guards the test itself: the fixtures do carry fixes.
    assert!(applied >= 25, "only {applied} fixes applied");
}

/// The fixture with each fix of the diagnostics whose message contains `message` applied,
/// one at a time.
#[track_caller]
fn followed(fixture: &str, message: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lang/check")
        .join(fixture);
    let source = std::fs::read_to_string(path).unwrap();
    let Err(diags) = compile(fixture, &source) else {
        panic!("{fixture} has no errors");
    };
    let fixes: Vec<String> = diags
        .iter()
        .filter(|d| d.message.contains(message))
        .flat_map(|d| d.fixes.iter().map(|f| f.apply(&source)))
        .collect();
    assert!(!fixes.is_empty(), "no fix for `{message}` in {fixture}");
    fixes
}

#[test]
fn then_function_suggestion_compiles() {
    for fixed in followed("then_unknown_function.scc", "unknown function `lg`") {
        assert!(fixed.contains("THEN log(\"pressed\")"), "{fixed}");
        assert!(!error_messages(&fixed).iter().any(|m| m.contains("`lg`")));
    }
    for fixed in followed("then_unknown_function.scc", "unknown function `rond`") {
        assert!(fixed.contains("round(1.25, 1)"), "{fixed}");
    }
}

#[test]
fn scale_suggestion_keeps_every_value_and_compiles() {
    let fixed = followed("constraint_scale_largest.scc", "`level`");
    assert_eq!(fixed.len(), 1);
    assert!(
        fixed[0].contains("PUBLISH level {0.00, 0.50}"),
        "{}",
        fixed[0]
    );
    let dim = &followed("constraint_scale_largest.scc", "`dim`")[0];
    assert!(dim.contains("PRIVATE dim {0.00-1.50, 2.25}"), "{dim}");
    let temp = &followed("constraint_scale_largest.scc", "`temp`")[0];
    assert!(temp.contains("PRIVATE temp {-5.0, 10.0-}"), "{temp}");
    let mut all = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/lang/check/constraint_scale_largest.scc"),
    )
    .unwrap();
    for (from, to) in [
        ("{0, 0.50}", "{0.00, 0.50}"),
        ("{0-1.5, 2.25}", "{0.00-1.50, 2.25}"),
        ("{-5, 10.0-}", "{-5.0, 10.0-}"),
    ] {
        all = all.replace(from, to);
    }
    assert!(compile("f.scc", &all).is_ok(), "{all}");
}

#[test]
fn declaring_an_undeclared_enum_shortcut_target_compiles() {
    let fixed = followed("enum_shortcut_undeclared.scc", "`state`");
    assert_eq!(fixed.len(), 1);
    assert!(
        fixed[0].contains("    PUBLISH level {0-10}\n    PRIVATE state {off, on}\n"),
        "{}",
        fixed[0]
    );
    // What is left is the other undeclared variable, whose own fix then compiles.
    assert_eq!(error_messages(&fixed[0]), ["unknown variable `stat`"]);
    let diags = compile("f.scc", &fixed[0]).unwrap_err();
    let both = diags[0].fixes[0].apply(&fixed[0]);
    assert!(compile("f.scc", &both).is_ok(), "{both}");
    // `mode.auto` and `mode.eco`: one declaration lists both values.
    for fixed in followed("enum_shortcut_declared_elsewhere.scc", "`mode`") {
        assert!(fixed.contains("PRIVATE mode {auto, eco}"), "{fixed}");
        assert_eq!(error_messages(&fixed), ["unknown variable `stat`"]);
    }
    for fixed in followed("enum_shortcut_declared_elsewhere.scc", "`stat`") {
        assert!(fixed.contains("THEN state.on"), "{fixed}");
    }
}

#[test]
fn writing_the_alias_compiles() {
    let all = followed("known_by_its_alias.scc", "is known as");
    assert_eq!(all.len(), 3);
    assert!(all[0].contains("THEN activate(bedtime)"), "{}", all[0]);
    assert!(all[1].contains("ON push"), "{}", all[1]);
    assert!(all[2].contains("THEN houseMode = away"), "{}", all[2]);
    for fixed in &all {
        assert_eq!(error_messages(fixed).len(), 2, "{fixed}");
    }
}

#[test]
fn listing_the_values_or_quoting_the_word_compiles() {
    let fixes = followed("value_of_unconstrained_variable.scc", "`on`");
    assert_eq!(fixes.len(), 2);
    assert!(
        fixes[0].contains("SUBSCRIBE lamp {off, on}\n"),
        "{}",
        fixes[0]
    );
    assert!(fixes[1].contains("WHEN lamp == \"on\""), "{}", fixes[1]);
    for fixed in fixes {
        assert_eq!(
            error_messages(&fixed),
            ["unknown variable `off`"],
            "{fixed}"
        );
    }
    // A variable used as a number elsewhere gets no list to break that.
    let src = "MODULE m\n    SUBSCRIBE lamp\n    PRIVATE n = 0\n    WHEN lamp == on\n      THEN n = lamp + 1\n";
    let diags = compile("f.scc", src).unwrap_err();
    assert_eq!(diags.len(), 1);
    assert_eq!(
        diags[0].help.as_deref(),
        Some("if `on` is text, write `\"on\"`")
    );
    assert!(compile("f.scc", &diags[0].fixes[0].apply(src)).is_ok());
}

#[test]
fn a_syntax_error_leaves_the_names_of_its_statement_checked() {
    let src = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/lang/check/syntax_error_keeps_other_names.scc"),
    )
    .unwrap();
    assert_eq!(
        error_messages(&src),
        [
            "unknown variable `state.on`",
            "unknown variable `whatever`",
            "unknown variable `x`",
            "unknown variable `y`",
            "expected end of line, found `(`",
        ]
    );
}

#[test]
fn a_broken_declaration_is_one_error() {
    let src = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/lang/check/syntax_error_no_cascade.scc"),
    )
    .unwrap();
    let msgs = error_messages(&src);
    // `state` is used five times and `of` compared with it, none of them an error of its own.
    assert!(
        !msgs
            .iter()
            .any(|m| m.contains("`state`") || m.contains("`of`")),
        "{msgs:?}"
    );
    // The other statements still report their own names, each once.
    for name in ["stat", "mode", "count", "undefined1"] {
        let n = msgs
            .iter()
            .filter(|m| **m == format!("unknown variable `{name}`"))
            .count();
        assert_eq!(n, 1, "{name}: {msgs:?}");
    }
    assert_eq!(msgs.len(), 6, "{msgs:?}");
}

#[test]
fn every_did_you_mean_carries_its_fix() {
    for path in all_fixtures() {
        let source = std::fs::read_to_string(&path).unwrap();
        let Err(diags) = compile("f.scc", &source) else {
            continue;
        };
        for d in diags {
            let guesses = d
                .help
                .as_deref()
                .is_some_and(|h| h.starts_with("did you mean"));
            assert!(
                !guesses || !d.fixes.is_empty(),
                "{}: `{}` suggests {:?} but carries no fix",
                path.display(),
                d.message,
                d.help
            );
        }
    }
}

#[test]
fn a_suggested_declaration_goes_below_the_last_one_in_the_file_s_layout() {
    let src = "MODULE m\r\n  SUBSCRIBE x // the input\r\n  ON x\r\n    THEN count = 1\r\n";
    let diags = compile("f.scc", src).unwrap_err();
    let fixed = diags[0].fixes[0].apply(src);
    assert_eq!(
        fixed,
        "MODULE m\r\n  SUBSCRIBE x // the input\r\n  PRIVATE count\r\n  ON x\r\n    THEN count = 1\r\n"
    );
    assert!(compile("f.scc", &fixed).is_ok());
    // No declarations yet: below the MODULE line.
    let src = "MODULE m\nWHEN TRUE\n  THEN state.on\n";
    let diags = compile("f.scc", src).unwrap_err();
    let fixed = diags[0].fixes[0].apply(src);
    assert_eq!(
        fixed,
        "MODULE m\n    PRIVATE state {off, on}\nWHEN TRUE\n  THEN state.on\n"
    );
    assert!(compile("f.scc", &fixed).is_ok());
}
