//! Integration tests of the front end: lexer, parser, formatter.
//!
//! - `syntax/bad/*.scc`: every file must produce diagnostics; their rendered text is pinned
//!   by an insta snapshot (`syntax/snapshots/bad@<name>.snap`, input included).
//! - `syntax/good/*.scc`: every file parses cleanly; its formatted text is pinned; formatting
//!   is idempotent and keeps the tree.
//! - Properties (proptest): for random module trees, `parse(format(m)) == m` up to spans and
//!   trivia and formatting is idempotent; the parser never panics on arbitrary text or on
//!   random mutations of valid modules, and whatever parses cleanly formats stably.
//!
//! Regenerate snapshots with `INSTA_UPDATE=always cargo test -p twinlog-lang --test lang
//! syntax`, then read every changed `.snap` before committing.

use proptest::prelude::*;
use rust_decimal::Decimal;
use std::path::{Path as FsPath, PathBuf};
use twinlog_lang::ast::*;
use twinlog_lang::diag::render_all;
use twinlog_lang::fmt::{format, format_source};
use twinlog_lang::parser::parse;
use twinlog_lang::span::Span;
use twinlog_lang::time::spec::*;

fn fixtures(kind: &str) -> Vec<(String, String)> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "lang", "syntax", kind]
        .iter()
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "scc"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let src = std::fs::read_to_string(&p).unwrap();
            (name, src)
        })
        .collect()
}

fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("tests/lang/syntax/snapshots"),
    );
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn bad_inputs_render_their_diagnostics() {
    let files = fixtures("bad");
    assert!(files.len() >= 15, "only {} bad fixtures", files.len());
    for (name, src) in files {
        let (_, diags) = parse(&src);
        assert!(
            diags.iter().any(|d| d.is_error()),
            "{name}.scc parsed without errors"
        );
        for d in &diags {
            assert!(
                d.label.is_some(),
                "{name}.scc: `{}` has no label",
                d.message
            );
            assert!(
                d.span.end as usize <= src.len(),
                "{name}.scc: span beyond the text"
            );
        }
        let rendered = render_all(&diags, &format!("{name}.scc"), &src);
        snapshot_settings().bind(|| {
            insta::assert_snapshot!(format!("bad@{name}"), format!("{src}\n=====\n{rendered}"));
        });
        assert!(
            format_source(&src).is_err(),
            "{name}.scc: the formatter must refuse it"
        );
    }
}

#[test]
fn good_inputs_format_canonically_and_stably() {
    let files = fixtures("good");
    assert!(files.len() >= 3);
    for (name, src) in files {
        let (m, diags) = parse(&src);
        assert!(
            diags.is_empty(),
            "{name}.scc: {}",
            render_all(&diags, &name, &src)
        );
        let out = format_source(&src).unwrap();
        snapshot_settings().bind(|| {
            insta::assert_snapshot!(format!("fmt@{name}"), out);
        });
        assert_eq!(
            format_source(&out).unwrap(),
            out,
            "{name}.scc: formatting is not idempotent"
        );
        let (m2, diags) = parse(&out);
        assert!(diags.is_empty());
        assert_eq!(
            m2.without_trivia(),
            m.without_trivia(),
            "{name}.scc: formatting changed the tree"
        );
    }
}

#[test]
fn messy_input_keeps_every_comment() {
    let src = std::fs::read_to_string(
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("tests/lang/syntax/good/messy.scc"),
    )
    .unwrap();
    let out = format_source(&src).unwrap();
    for c in [
        "// settings",
        "// degrees",
        "// global",
        "// hysteresis",
        "// the end",
    ] {
        assert!(out.contains(c), "lost {c:?} in\n{out}");
    }
    assert!(!out.contains("\n\n\n"), "more than one blank line in a row");
    assert!(out.ends_with(")\n") || out.ends_with("end\n"));
    assert!(!out.contains('\r'));
}

#[test]
fn spans_point_at_the_text() {
    let src = "MODULE m\n  PRIVATE count = 0\n  ON count\n    THEN count = count + 10\n";
    let (m, diags) = parse(src);
    assert!(diags.is_empty());
    let s = m.statements().next().unwrap();
    let ActionKind::Assign { target, value } = &s.actions[0].kind else {
        panic!()
    };
    assert_eq!(&src[target.span.range()], "count");
    assert_eq!(&src[value.span.range()], "count + 10");
    assert_eq!(
        &src[s.span.range()],
        "ON count\n    THEN count = count + 10"
    );
    assert_eq!(&src[s.actions[0].span.range()], "THEN count = count + 10");
}

#[test]
fn without_trivia_ignores_layout_only() {
    let a = parse("MODULE m // x\n PRIVATE a = 1\n\n ON a\n   THEN a = 2").0;
    let b = parse("module m\nprivate a=1\non a\nthen a=2\n").0;
    let c = parse("module m\nprivate a=1\non a\nthen a=3\n").0;
    assert_ne!(a, b);
    assert_eq!(a.without_trivia(), b.without_trivia());
    assert_ne!(a.without_trivia(), c.without_trivia());
}

// ---------------------------------------------------------------------------------------
// Property tests: random trees.

const NAMES: &[&str] = &[
    "a",
    "b",
    "x1",
    "state",
    "mode",
    "count",
    "press",
    "camelCase",
    "snake_case",
    "on",
    "off",
    "auto",
    "in",
    "from",
    "timer",
    "agent",
    "midnight",
    "Monday",
    "pm",
    "Äpfel",
];

fn sp() -> Span {
    Span::default()
}

fn ident() -> impl Strategy<Value = Ident> {
    prop::sample::select(NAMES).prop_map(|n| Ident {
        name: n.to_string(),
        span: sp(),
    })
}

fn path(max: usize) -> impl Strategy<Value = Path> {
    prop::collection::vec(ident(), 1..=max).prop_map(|segments| Path {
        segments,
        span: sp(),
    })
}

fn decimal() -> impl Strategy<Value = Decimal> {
    (-100_000i64..100_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s))
}

fn text() -> impl Strategy<Value = String> {
    "[a-z \"\\\\é]{0,8}"
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        decimal().prop_map(|d| e(ExprKind::Number(d))),
        text().prop_map(|s| e(ExprKind::String(s))),
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        path(3).prop_map(|p| e(ExprKind::Path(p))),
        (path(2), ident()).prop_map(|(base, attr)| e(ExprKind::Attribute { base, attr })),
    ]
}

const OPS: [BinaryOp; 12] = [
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
];

/// Trees of any shape; [`fix`] then adds the parentheses a reader would need.
fn raw_expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (prop::sample::select(&OPS[..]), inner.clone(), inner.clone()).prop_map(
                |(op, l, r)| e(ExprKind::Binary {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r)
                })
            ),
            (any::<bool>(), inner.clone()).prop_map(|(not, x)| e(ExprKind::Unary {
                op: if not { UnaryOp::Not } else { UnaryOp::Neg },
                operand: Box::new(x)
            })),
            inner.clone().prop_map(|x| e(ExprKind::Paren(Box::new(x)))),
            (ident(), prop::collection::vec(inner, 0..3))
                .prop_map(|(func, args)| e(ExprKind::Call { func, args })),
        ]
    })
}

/// Binding level of an expression as the parser sees it (higher binds tighter).
fn level(x: &Expr) -> u8 {
    match &x.kind {
        ExprKind::Binary { op, .. } => match op {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div => 6,
            _ => 4,
        },
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => 3,
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => 7,
        _ => 8,
    }
}

fn paren(x: Expr) -> Expr {
    e(ExprKind::Paren(Box::new(x)))
}

/// Adds the parentheses that make the printed tree parse back to itself: a child that binds
/// more loosely than its parent (or equally, on the right of a left-associative operator, or
/// as any operand of a comparison) and a non-negative number right after a unary minus
/// (`-5` would be read as the literal −5).
fn fix(x: Expr) -> Expr {
    let kind = match x.kind {
        ExprKind::Binary { op, lhs, rhs } => {
            let p = level(&e(ExprKind::Binary {
                op,
                lhs: lhs.clone(),
                rhs: rhs.clone(),
            }));
            let (l, r) = (fix(*lhs), fix(*rhs));
            let l = if level(&l) < p || (p == 4 && level(&l) == 4) {
                paren(l)
            } else {
                l
            };
            let r = if level(&r) <= p { paren(r) } else { r };
            ExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            }
        }
        ExprKind::Unary { op, operand } => {
            let o = fix(*operand);
            let o = match op {
                UnaryOp::Not if level(&o) < 3 => paren(o),
                UnaryOp::Neg
                    if level(&o) < 7
                        || matches!(&o.kind, ExprKind::Number(n) if !n.is_sign_negative()) =>
                {
                    paren(o)
                }
                _ => o,
            };
            ExprKind::Unary {
                op,
                operand: Box::new(o),
            }
        }
        ExprKind::Paren(inner) => ExprKind::Paren(Box::new(fix(*inner))),
        ExprKind::Call { func, args } => ExprKind::Call {
            func,
            args: args.into_iter().map(fix).collect(),
        },
        k => k,
    };
    e(kind)
}

fn expr() -> impl Strategy<Value = Expr> {
    raw_expr().prop_map(fix)
}

fn comment() -> impl Strategy<Value = Comment> {
    ("[ a-zA-Z/#!]{0,12}", any::<bool>()).prop_map(|(text, blank_line_before)| Comment {
        text,
        span: sp(),
        blank_line_before,
    })
}

fn trivia() -> impl Strategy<Value = Trivia> {
    (
        prop::collection::vec(comment(), 0..2),
        prop::option::of(comment()),
        any::<bool>(),
    )
        .prop_map(|(leading, trailing, blank_line_before)| Trivia {
            leading,
            trailing,
            blank_line_before,
        })
}

fn constraint() -> impl Strategy<Value = Constraint> {
    let kind = prop_oneof![
        ident().prop_map(|i| ConstraintKind::Symbol(i.name)),
        decimal().prop_map(ConstraintKind::Number),
        text().prop_map(ConstraintKind::String),
        (decimal(), prop::option::of(0i64..1000)).prop_map(|(low, up)| ConstraintKind::Range {
            low: Some(low),
            high: up.map(|u| low + Decimal::from(u)),
        }),
    ];
    kind.prop_map(|kind| Constraint { kind, span: sp() })
}

fn initial() -> impl Strategy<Value = Expr> {
    prop_oneof![
        decimal().prop_map(|d| e(ExprKind::Number(d))),
        text().prop_map(|s| e(ExprKind::String(s))),
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        path(1).prop_map(|p| e(ExprKind::Path(p))),
    ]
}

fn decl() -> impl Strategy<Value = Decl> {
    let kind = prop::sample::select(
        &[
            DeclKind::Subscribe,
            DeclKind::Publish,
            DeclKind::Private,
            DeclKind::Topic,
            DeclKind::Timer,
        ][..],
    );
    (
        kind,
        path(2),
        prop::option::of(ident()),
        prop::option::of(ident()),
        prop::option::of(prop::collection::vec(constraint(), 1..4)),
        prop::option::of(initial()),
        (
            0u64..5000,
            prop::sample::select(
                &[
                    TimeUnit::Seconds,
                    TimeUnit::Minutes,
                    TimeUnit::Hours,
                    TimeUnit::Days,
                ][..],
            ),
        ),
        trivia(),
    )
        .prop_map(
            |(kind, mut name, instance_key, alias, cons, init, (amount, unit), trivia)| {
                let timer = kind == DeclKind::Timer;
                if matches!(kind, DeclKind::Private | DeclKind::Timer) {
                    name.segments.truncate(1);
                }
                Decl {
                    kind,
                    keyword: sp(),
                    name,
                    instance_key,
                    alias,
                    constraints: if timer {
                        None
                    } else {
                        cons.map(|items| Constraints { items, span: sp() })
                    },
                    initial: if timer { None } else { init },
                    duration: timer.then_some(DurationLit {
                        amount,
                        unit,
                        span: sp(),
                    }),
                    trivia,
                    span: sp(),
                }
            },
        )
}

fn days_in(month: u8, year: Option<i32>) -> u8 {
    match month {
        2 if year.is_some_and(|y| !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) => 28,
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn month_day() -> impl Strategy<Value = MonthDay> {
    (1u8..=12, 1u8..=31).prop_map(|(month, d)| MonthDay {
        month,
        day: (d - 1) % days_in(month, None) + 1,
    })
}

fn civil() -> impl Strategy<Value = CivilDate> {
    (1900i16..2100, 1u8..=12, 1u8..=31).prop_map(|(year, month, d)| CivilDate {
        year,
        month,
        day: (d - 1) % days_in(month, Some(i32::from(year))) + 1,
    })
}

fn range_end() -> impl Strategy<Value = RangeEnd> {
    (month_day(), any::<bool>()).prop_map(|(md, whole)| RangeEnd {
        month: md.month,
        day: (!whole).then_some(md.day),
    })
}

fn at_spec() -> impl Strategy<Value = AtSpec> {
    let weekday = prop::sample::select(
        &[
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
            Weekday::Sunday,
        ][..],
    );
    let day = prop_oneof![
        (weekday, any::<bool>()).prop_map(|(day, plural)| DaySpec::Day { day, plural }),
        Just(DaySpec::Weekdays),
        Just(DaySpec::Weekends),
    ];
    let part = prop_oneof![
        (1u8..=12).prop_map(YearPart::Month),
        prop::sample::select(
            &[
                Season::Winter,
                Season::Spring,
                Season::Summer,
                Season::Fall,
                Season::Autumn
            ][..]
        )
        .prop_map(YearPart::Season),
    ];
    let time = prop_oneof![
        Just(TimeOfDay::Midnight),
        Just(TimeOfDay::Noon),
        Just(TimeOfDay::Sunrise),
        Just(TimeOfDay::Sunset),
        (0u8..24, 0u8..60, any::<bool>()).prop_map(|(hour, minute, h12)| TimeOfDay::Clock {
            hour,
            minute,
            style: if h12 {
                ClockStyle::H12
            } else {
                ClockStyle::H24
            },
        }),
    ];
    let offset = prop::option::of((0u32..=1440, any::<bool>(), any::<bool>()).prop_map(
        |(m, hours, before)| TimeOffset {
            minutes: if hours { (m % 25) * 60 } else { m },
            unit_hours: hours,
            before,
        },
    ));
    (
        offset,
        time,
        prop::collection::vec(day, 0..3),
        prop::collection::vec(month_day(), 0..3),
        prop::collection::vec(part, 0..3),
        prop::collection::vec(1i16..=9999, 0..2),
        prop::collection::vec((range_end(), range_end()), 0..2),
        prop::option::of(civil()),
        prop::option::of(civil()),
    )
        .prop_map(
            |(offset, time, days, dates, parts_of_year, years, ranges, a, b)| {
                let (starting, ending) = match (a, b) {
                    (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                    other => other,
                };
                AtSpec {
                    offset,
                    time,
                    days,
                    dates,
                    parts_of_year,
                    years,
                    ranges: ranges
                        .into_iter()
                        .map(|(from, through)| DateRange { from, through })
                        .collect(),
                    starting,
                    ending,
                    span: sp(),
                }
            },
        )
}

fn action() -> impl Strategy<Value = Action> {
    let kind = prop_oneof![
        (path(3), expr()).prop_map(|(target, value)| ActionKind::Assign { target, value }),
        (path(2), any::<bool>()).prop_map(|(target, up)| ActionKind::Step { target, up }),
        path(2).prop_map(|p| ActionKind::Expr(e(ExprKind::Path(p)))),
        (ident(), prop::collection::vec(expr(), 0..3))
            .prop_map(|(func, args)| ActionKind::Expr(e(ExprKind::Call { func, args }))),
    ];
    (kind, trivia()).prop_map(|(kind, trivia)| Action {
        kind,
        trivia,
        span: sp(),
    })
}

fn statement() -> impl Strategy<Value = Statement> {
    let trigger = prop_oneof![
        expr().prop_map(|x| match x.kind {
            ExprKind::Binary {
                op: BinaryOp::And, ..
            } => Trigger::On(paren(x)),
            _ => Trigger::On(x),
        }),
        expr().prop_map(Trigger::When),
        at_spec().prop_map(Trigger::At),
    ];
    let condition = (expr(), trivia()).prop_map(|(expr, trivia)| Condition {
        expr,
        trivia,
        span: sp(),
    });
    (
        trigger,
        prop::collection::vec(condition, 0..3),
        prop::collection::vec(action(), 1..4),
        trivia(),
    )
        .prop_map(|(trigger, conditions, actions, trivia)| Statement {
            trigger,
            keyword: sp(),
            conditions,
            actions,
            trivia,
            span: sp(),
        })
}

fn module() -> impl Strategy<Value = Module> {
    let item = prop_oneof![
        decl().prop_map(Item::Decl),
        statement().prop_map(Item::Statement)
    ];
    (
        ident(),
        prop::option::of(ident()),
        prop::option::of(ident()),
        trivia(),
        prop::collection::vec(item, 0..8),
        prop::collection::vec(comment(), 0..2),
    )
        .prop_map(
            |(name, instance_key, agent, trivia, items, trailing_comments)| Module {
                header: Some(ModuleHeader {
                    name,
                    instance_key,
                    agent,
                    trivia,
                    span: sp(),
                }),
                items,
                trailing_comments,
                leading_comments: Vec::new(),
                unparsed: Unparsed::default(),
            },
        )
}

/// Whatever parses without errors must format stably and keep its tree.
#[track_caller]
fn assert_formats_stably(src: &str) {
    let (m, diags) = parse(src);
    if diags.iter().any(|d| d.is_error()) {
        // Formatting a broken tree must not panic either.
        let _ = format(&m);
        return;
    }
    let out = format(&m);
    let (m2, diags2) = parse(&out);
    assert!(
        diags2.is_empty(),
        "formatted text has errors:\n{out}\n{diags2:#?}\nfrom:\n{src}"
    );
    assert_eq!(
        m2.without_trivia(),
        m.without_trivia(),
        "tree changed:\n{src}\n---\n{out}"
    );
    assert_eq!(format(&m2), out, "not idempotent:\n{src}");
}

/// Pieces of module text that random edits splice in.
const FRAGMENTS: &[&str] = &[
    "\n",
    " ",
    "MODULE ",
    "AND ",
    "THEN ",
    "ON ",
    "AT ",
    "WHEN ",
    "(",
    ")",
    "{",
    "}",
    "-",
    "--",
    "++",
    "=",
    "==",
    "\"",
    "\\",
    "//",
    ",",
    ".",
    "#",
    "[",
    "]",
    "4:30",
    "pm",
    "Fri",
    "99",
    "0.5.1",
    "noon",
    "ON Monday",
    "IN winter",
    "FROM June 1 THROUGH",
    "NOT ",
    "§",
    "\r\n",
    "x",
    "\t",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_of_format_is_the_same_module(m in module()) {
        let text = format(&m);
        let (m2, diags) = parse(&text);
        prop_assert!(diags.is_empty(), "{text}\n{}", render_all(&diags, "m.scc", &text));
        prop_assert_eq!(m2.without_trivia(), m.without_trivia(), "{}", text);
        // Idempotent, and the text also pins what `==` on decimals ignores (scale).
        prop_assert_eq!(format(&m2), text);
    }

    #[test]
    fn parser_never_panics_on_any_text(src in "\\PC{0,200}") {
        assert_formats_stably(&src);
    }

    #[test]
    fn parser_never_panics_on_edited_modules(
        m in module(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..6, prop::sample::select(FRAGMENTS)), 1..6),
    ) {
        let mut text = format(&m);
        for (at, del, frag) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            let mut j = (i + del).min(text.len());
            while !text.is_char_boundary(j) {
                j -= 1;
            }
            text.replace_range(i..j, frag);
        }
        assert_formats_stably(&text);
    }
}
