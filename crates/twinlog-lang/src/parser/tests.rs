//! Unit tests of the parser: the tree it builds for good lines, and where bad lines fail.

use super::parse;
use crate::ast::*;
use crate::time::spec::*;
use rust_decimal::Decimal;

#[track_caller]
fn ok(src: &str) -> Module {
    let (m, diags) = parse(src);
    assert!(
        diags.is_empty(),
        "unexpected diagnostics for {src:?}: {diags:#?}"
    );
    m
}

#[track_caller]
fn errors(src: &str) -> Vec<String> {
    let (_, diags) = parse(src);
    assert!(!diags.is_empty(), "expected diagnostics for {src:?}");
    diags.into_iter().map(|d| d.message).collect()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn only_stmt(m: &Module) -> &Statement {
    m.statements().next().expect("a statement")
}

fn at(src_line: &str) -> AtSpec {
    let m = ok(&format!("MODULE m\nAT {src_line}\n  THEN x = 1"));
    match &only_stmt(&m).trigger {
        Trigger::At(a) => a.clone(),
        t => panic!("not an AT: {t:?}"),
    }
}

#[test]
fn seed_module_parses() {
    let src = "MODULE lamp1                          // one module per file
    SUBSCRIBE mode {off, auto, on}
    SUBSCRIBE button1.press AS press
    PUBLISH state {off, on} = off
    PRIVATE count = 0
    TIMER offTimer 30 minutes
    AT midnight ON weekdays
      AND mode.auto
      THEN state = off
    ON press
      AND state == off
      THEN state = on
      THEN offTimer = start
    ON offTimer
      THEN state.off
    WHEN state == on
      THEN count = count + 1
      THEN log(\"lamp on\")";
    let m = ok(src);
    assert_eq!(m.name(), Some("lamp1"));
    assert_eq!(m.decls().count(), 5);
    assert_eq!(m.statements().count(), 4);
    let h = m.header.as_ref().unwrap();
    assert_eq!(
        h.trivia.trailing.as_ref().unwrap().text,
        " one module per file"
    );
    let decls: Vec<&Decl> = m.decls().collect();
    assert_eq!(decls[1].name.dotted(), "button1.press");
    assert_eq!(decls[1].alias.as_ref().unwrap().name, "press");
    assert_eq!(decls[4].duration.as_ref().unwrap().as_seconds(), 1800);
    let c = decls[0].constraints.as_ref().unwrap();
    assert_eq!(c.items[2].kind, ConstraintKind::Symbol("on".into()));
    let stmts: Vec<&Statement> = m.statements().collect();
    assert_eq!(stmts[1].conditions.len(), 1);
    assert_eq!(stmts[1].actions.len(), 2);
    assert!(matches!(
        stmts[2].actions[0].kind,
        ActionKind::Expr(Expr {
            kind: ExprKind::Path(_),
            ..
        })
    ));
}

#[test]
fn precedence_lowest_first() {
    let m = ok("MODULE m\nWHEN a OR b AND NOT c == 1 + 2 * -x\n THEN y = 1");
    let Trigger::When(e) = &only_stmt(&m).trigger else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Or,
        rhs,
        ..
    } = &e.kind
    else {
        panic!("{e:?}")
    };
    let ExprKind::Binary {
        op: BinaryOp::And,
        rhs,
        ..
    } = &rhs.kind
    else {
        panic!()
    };
    let ExprKind::Unary {
        op: UnaryOp::Not,
        operand,
    } = &rhs.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Eq,
        rhs,
        ..
    } = &operand.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Add,
        rhs,
        ..
    } = &rhs.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Mul,
        rhs,
        ..
    } = &rhs.kind
    else {
        panic!()
    };
    assert!(matches!(
        rhs.kind,
        ExprKind::Unary {
            op: UnaryOp::Neg,
            ..
        }
    ));
}

#[test]
fn subtraction_is_left_associative_and_minus_folds_into_numbers() {
    let m = ok("MODULE m\nWHEN a - b - -5 > 0\n THEN y = 1");
    let Trigger::When(e) = &only_stmt(&m).trigger else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Gt,
        lhs,
        ..
    } = &e.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Sub,
        lhs: inner,
        rhs,
    } = &lhs.kind
    else {
        panic!()
    };
    assert!(matches!(
        inner.kind,
        ExprKind::Binary {
            op: BinaryOp::Sub,
            ..
        }
    ));
    assert_eq!(rhs.kind, ExprKind::Number(dec("-5")));
}

#[test]
fn steps_assignments_and_calls() {
    let m = ok(
        "MODULE m\nON x\n THEN count++\n THEN count--\n THEN a.b = 2\n THEN activate(alarm)\n THEN round(x, 2)",
    );
    let s = only_stmt(&m);
    assert!(matches!(
        &s.actions[0].kind,
        ActionKind::Step { up: true, .. }
    ));
    assert!(matches!(
        &s.actions[1].kind,
        ActionKind::Step { up: false, .. }
    ));
    assert!(
        matches!(&s.actions[2].kind, ActionKind::Assign { target, .. } if target.dotted() == "a.b")
    );
    assert!(
        matches!(&s.actions[4].kind, ActionKind::Expr(Expr { kind: ExprKind::Call { args, .. }, .. }) if args.len() == 2)
    );
}

#[test]
fn constraints_ranges_and_negative_numbers() {
    let m = ok(
        "MODULE m\nPRIVATE a {0-100}\nPRIVATE b {10-}\nPRIVATE c {-5}\nPRIVATE d {-10--5, 0.50, \"a b\", c}",
    );
    let kinds: Vec<Vec<ConstraintKind>> = m
        .decls()
        .map(|d| {
            d.constraints
                .as_ref()
                .unwrap()
                .items
                .iter()
                .map(|c| c.kind.clone())
                .collect()
        })
        .collect();
    assert_eq!(
        kinds[0],
        [ConstraintKind::Range {
            low: Some(dec("0")),
            high: Some(dec("100"))
        }]
    );
    assert_eq!(
        kinds[1],
        [ConstraintKind::Range {
            low: Some(dec("10")),
            high: None
        }]
    );
    assert_eq!(kinds[2], [ConstraintKind::Number(dec("-5"))]);
    assert_eq!(
        kinds[3][0],
        ConstraintKind::Range {
            low: Some(dec("-10")),
            high: Some(dec("-5"))
        }
    );
    assert_eq!(kinds[3][2], ConstraintKind::String("a b".into()));
    let ConstraintKind::Number(n) = &kinds[3][1] else {
        panic!()
    };
    assert_eq!(n.scale(), 2);
}

#[test]
fn declaration_parts_in_any_order() {
    let a = ok("MODULE m\nPUBLISH x = off {off, on} AS y").without_trivia();
    let b = ok("MODULE m\nPUBLISH x AS y {off, on} = off").without_trivia();
    assert_eq!(a, b);
}

#[test]
fn keywords_ignore_case_and_aliases_are_canonical() {
    let a = ok("module m\npublic x {off, on}\nlocal y = 1\nif x == on\nwith y > 0\nthen y = 2")
        .without_trivia();
    let b = ok("MODULE m\nPUBLISH x {off, on}\nPRIVATE y = 1\nWHEN x == on\nAND y > 0\nTHEN y = 2")
        .without_trivia();
    assert_eq!(a, b);
}

#[test]
fn crlf_and_no_final_newline() {
    let m = ok("MODULE m\r\nPRIVATE a = 1\r\nON a\r\n  THEN a = 2");
    assert_eq!(m.items.len(), 2);
}

#[test]
fn trivia_is_attached() {
    let m = ok("// top\nMODULE m\n\n// about a\n\n// more\nPRIVATE a = 1 // end\n// tail");
    let h = m.header.as_ref().unwrap();
    assert_eq!(h.trivia.leading.len(), 1);
    let Item::Decl(d) = &m.items[0] else { panic!() };
    assert_eq!(d.trivia.leading.len(), 2);
    assert!(d.trivia.leading[0].blank_line_before);
    assert!(d.trivia.leading[1].blank_line_before);
    assert!(!d.trivia.blank_line_before);
    assert_eq!(d.trivia.trailing.as_ref().unwrap().text, " end");
    assert_eq!(m.trailing_comments.len(), 1);
}

#[test]
fn at_times() {
    assert_eq!(at("midnight").time, TimeOfDay::Midnight);
    assert_eq!(at("NOON").time, TimeOfDay::Noon);
    assert_eq!(
        at("4:30pm").time,
        TimeOfDay::Clock {
            hour: 16,
            minute: 30,
            style: ClockStyle::H12
        }
    );
    assert_eq!(
        at("4:30 PM").time,
        TimeOfDay::Clock {
            hour: 16,
            minute: 30,
            style: ClockStyle::H12
        }
    );
    assert_eq!(
        at("12:00 am").time,
        TimeOfDay::Clock {
            hour: 0,
            minute: 0,
            style: ClockStyle::H12
        }
    );
    assert_eq!(
        at("12:15 pm").time,
        TimeOfDay::Clock {
            hour: 12,
            minute: 15,
            style: ClockStyle::H12
        }
    );
    assert_eq!(
        at("09:00").time,
        TimeOfDay::Clock {
            hour: 9,
            minute: 0,
            style: ClockStyle::H24
        }
    );
    let a = at("2 hours after sunset");
    assert_eq!(
        a.offset,
        Some(TimeOffset {
            minutes: 120,
            unit_hours: true,
            before: false
        })
    );
    assert_eq!(a.time, TimeOfDay::Sunset);
    let a = at("1 minute before sunrise");
    assert_eq!(
        a.offset,
        Some(TimeOffset {
            minutes: 1,
            unit_hours: false,
            before: true
        })
    );
}

#[test]
fn at_date_specs() {
    let a = at(
        "noon ON Monday, Wednesdays ON weekends ON December 31 IN winter, March IN 2024 FROM June 1 THROUGH July FROM December THROUGH January 6 STARTING May 1, 2024 ENDING February 29 2028",
    );
    assert_eq!(
        a.days,
        [
            DaySpec::Day {
                day: Weekday::Monday,
                plural: false
            },
            DaySpec::Day {
                day: Weekday::Wednesday,
                plural: true
            },
            DaySpec::Weekends
        ]
    );
    assert_eq!(a.dates, [MonthDay { month: 12, day: 31 }]);
    assert_eq!(
        a.parts_of_year,
        [YearPart::Season(Season::Winter), YearPart::Month(3)]
    );
    assert_eq!(a.years, [2024]);
    assert_eq!(
        a.ranges[0],
        DateRange {
            from: RangeEnd {
                month: 6,
                day: Some(1)
            },
            through: RangeEnd {
                month: 7,
                day: None
            }
        }
    );
    assert_eq!(
        a.ranges[1].through,
        RangeEnd {
            month: 1,
            day: Some(6)
        }
    );
    assert_eq!(
        a.starting,
        Some(CivilDate {
            year: 2024,
            month: 5,
            day: 1
        })
    );
    assert_eq!(
        a.ending,
        Some(CivilDate {
            year: 2028,
            month: 2,
            day: 29
        })
    );
}

#[test]
fn bad_times_and_dates() {
    assert_eq!(
        errors("MODULE m\nAT 25:00\n THEN x = 1"),
        ["`25:00` is not a time"]
    );
    assert_eq!(
        errors("MODULE m\nAT 13:00 pm\n THEN x = 1"),
        ["`13:00 pm` mixes a 24-hour time with `pm`"]
    );
    assert_eq!(
        errors("MODULE m\nAT noon ON February 30\n THEN x = 1"),
        ["`February 30` is not a date"]
    );
    assert_eq!(
        errors("MODULE m\nAT noon STARTING February 29, 2023\n THEN x = 1"),
        ["`February 29, 2023` is not a date"]
    );
    assert_eq!(
        errors("MODULE m\nAT noon ON Fri\n THEN x = 1"),
        ["`Fri` is not a day; write `Friday` or `Fridays`"]
    );
    assert_eq!(
        errors("MODULE m\nAT noon IN Dec\n THEN x = 1"),
        ["`Dec` is not a month; write `December`"]
    );
}

#[test]
fn every_bad_line_is_reported_and_the_rest_still_parses() {
    let (m, diags) =
        parse("MODULE m\nSUBSCRIBE\nPRIVATE a = 1\nPUBLSH b\nAND x\nON a\n  THEN a = 2\nTHEN");
    let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert_eq!(msgs[0], "SUBSCRIBE needs `module.variable` or a topic name");
    assert_eq!(diags[1].help.as_deref(), Some("did you mean `PUBLISH`?"));
    assert_eq!(msgs[2], "`AND` line with no statement above it");
    assert!(msgs[3].starts_with("expected an action after THEN"));
    // The statement with the broken THEN line is left out; the declaration stays.
    assert_eq!(m.items.len(), 1);
}

#[test]
fn poisoned_statement_swallows_its_lines() {
    let (_, diags) = parse("MODULE m\nON (a\n  AND b\n  THEN c = 1\n");
    assert_eq!(diags.len(), 1, "{diags:#?}");
}

#[test]
fn a_broken_line_does_not_also_count_as_a_missing_then() {
    assert_eq!(
        errors("MODULE m\nON a\n  THN b = 1"),
        ["expected a declaration or a statement, found `THN`"]
    );
    assert_eq!(
        errors("MODULE m\nON a\n  THEN log(\"x)"),
        ["unterminated string"]
    );
}

#[test]
fn statement_without_then() {
    assert_eq!(
        errors("MODULE m\nON a\nON b\n THEN c = 1"),
        ["expected an `AND` or `THEN` line after this `ON`"]
    );
}

#[test]
fn missing_module_line() {
    assert_eq!(errors("PRIVATE a = 1"), ["missing `MODULE` line"]);
    assert_eq!(errors(""), ["missing `MODULE` line"]);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "MODULE m\nWHEN {}a{}\n THEN x = 1",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert_eq!(errors(&deep), ["expression nested too deeply"]);
    let long = format!("MODULE m\nWHEN a{}\n THEN x = 1", " + a".repeat(5000));
    assert_eq!(errors(&long), ["expression too long"]);
    let negs = format!("MODULE m\nWHEN {}a\n THEN x = 1", "-".repeat(10_000));
    assert_eq!(errors(&negs), ["expression nested too deeply"]);
}

#[test]
fn slashes_inside_strings_are_not_comments() {
    let m = ok("MODULE m\nON a // real\n  THEN log(\"a // b\")  // also real");
    let s = only_stmt(&m);
    assert_eq!(s.trivia.trailing.as_ref().unwrap().text, " real");
    let ActionKind::Expr(Expr {
        kind: ExprKind::Call { args, .. },
        ..
    }) = &s.actions[0].kind
    else {
        panic!()
    };
    assert_eq!(args[0].kind, ExprKind::String("a // b".into()));
    assert_eq!(
        s.actions[0].trivia.trailing.as_ref().unwrap().text,
        " also real"
    );
}

#[test]
fn keywords_serve_as_names_where_unambiguous() {
    // `on`, `in`, `at` are keywords at the start of a line and in AT lines, names elsewhere.
    let m = ok(
        "MODULE m\nPUBLISH state {off, on} = on\nPRIVATE in = 1\nWHEN state == on\n  THEN in = in + 1\n  THEN state.on",
    );
    let d: Vec<&Decl> = m.decls().collect();
    assert_eq!(d[1].name.dotted(), "in");
    let ExprKind::Path(p) = &d[0].initial.as_ref().unwrap().kind else {
        panic!()
    };
    assert_eq!(p.dotted(), "on");
}

#[test]
fn attributes_and_enum_shortcuts() {
    let m =
        ok("MODULE m\nWHEN system.clock#hour == 7 AND mode.auto AND v#version > 1\n  THEN x = 1");
    let Trigger::When(e) = &only_stmt(&m).trigger else {
        panic!()
    };
    let ExprKind::Binary { lhs, .. } = &e.kind else {
        panic!()
    };
    let ExprKind::Binary { lhs, .. } = &lhs.kind else {
        panic!()
    };
    let ExprKind::Binary { lhs, .. } = &lhs.kind else {
        panic!()
    };
    let ExprKind::Attribute { base, attr } = &lhs.kind else {
        panic!("{lhs:?}")
    };
    assert_eq!(
        (base.dotted().as_str(), attr.name.as_str()),
        ("system.clock", "hour")
    );
}

#[test]
fn header_forms() {
    let m = ok("MODULE lamp[room] AGENT kitchen1");
    let h = m.header.unwrap();
    assert_eq!(h.instance_key.unwrap().name, "room");
    assert_eq!(h.agent.unwrap().name, "kitchen1");
    let m = ok("MODULE lamp AGENT a1 [room]");
    assert!(m.header.unwrap().instance_key.is_some());
}

#[test]
fn declaration_part_hints() {
    let (_, d) = parse("MODULE m\nPUBLISH state off");
    assert_eq!(
        d[0].help.as_deref(),
        Some("to give an initial value, write `= off`")
    );
    let (_, d) = parse("MODULE m\nSUBSCRIBE a.b ALIAS x");
    assert_eq!(
        d[0].help.as_deref(),
        Some("`ALIAS` is not a keyword here; an alias is written `AS name`")
    );
}

#[test]
fn misspelled_operator_gets_a_hint() {
    let (_, d) = parse("MODULE m\nWHEN a ANd b\n  THEN x = 1\nWHEN a AN b\n  THEN x = 1");
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].help.as_deref(), Some("did you mean `AND`?"));
}

#[test]
fn a_broken_declaration_keeps_its_names_for_the_checker() {
    let (m, diags) = parse(
        "MODULE m\n  PUBLISH state {off, on\n  SUBSCRIBE wall.button AS push = \n  PRIVATE ok\n",
    );
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert_eq!(m.decls().count(), 1);
    assert_eq!(
        m.unparsed.names,
        ["state", "button", "wall.button", "push"].map(String::from)
    );
}

#[test]
fn a_statement_with_a_broken_line_keeps_its_other_lines_out_of_the_tree() {
    let (m, diags) = parse(
        "MODULE m\n  ON a\n    AND b\n    THEN c = (\n    THEN d = 1\n  ON e\n    THEN f = 2\n  WHEN )\n    AND g\n",
    );
    assert_eq!(diags.len(), 2, "{diags:#?}");
    // Only the whole statement is in the tree (and formatted, and run).
    assert_eq!(m.statements().count(), 1);
    let u = &m.unparsed;
    assert_eq!(u.triggers.len(), 1, "the trigger that parsed");
    assert_eq!(u.conditions.len(), 2, "`AND b` and `AND g`");
    assert_eq!(u.actions.len(), 1, "`THEN d = 1`");
    // A file without errors has nothing unparsed.
    assert_eq!(
        ok("MODULE m\n  ON a\n    THEN b = 1\n").unparsed,
        Unparsed::default()
    );
}
