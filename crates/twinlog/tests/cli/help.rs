//! The help texts, pinned by snapshots: they are the first documentation a user reads.

use super::common::{run_cmd, twinlog};

#[track_caller]
fn help(args: &[&str]) -> String {
    let mut cmd = twinlog();
    cmd.args(args).env("COLUMNS", "100");
    let run = run_cmd(cmd, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn every_command_has_examples() {
    for args in [
        &["topic", "create", "--help"][..],
        &["topic", "describe", "--help"],
        &["publish", "--help"],
        &["tail", "--help"],
        &["module", "check", "--help"],
        &["module", "test", "--help"],
        &["module", "fmt", "--help"],
        &["bench", "log", "--help"],
        &["bench", "lang", "--help"],
        &["serve", "--help"],
        &["event", "send", "--help"],
        &["clock", "show", "--help"],
        &["clock", "advance", "--help"],
        &["mode", "create", "--help"],
        &["mode", "list", "--help"],
        &["module", "deploy", "--help"],
        &["module", "list", "--help"],
        &["module", "history", "--help"],
        &["module", "source", "--help"],
        &["module", "undeploy", "--help"],
        &["module", "state", "--help"],
        &["module", "trace", "--help"],
    ] {
        let text = help(args);
        assert!(
            text.contains("Examples:"),
            "{args:?} has no Examples block:\n{text}"
        );
    }
}

#[test]
fn module_test_help() {
    insta::assert_snapshot!(help(&["module", "test", "--help"]));
}

#[test]
fn serve_help() {
    insta::assert_snapshot!(help(&["serve", "--help"]));
}
