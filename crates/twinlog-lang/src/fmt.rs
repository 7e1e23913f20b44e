//! The canonical formatter behind `twinlog module fmt`: an [`ast::Module`] back to text.
//!
//! The layout:
//! - `MODULE` at column 0; declarations and statement keywords indented 4 spaces; `AND` and
//!   `THEN` lines 6 spaces.
//! - Keywords in upper case and canonical (`PUBLIC` → `PUBLISH`, `LOCAL` → `PRIVATE`, `IF` →
//!   `WHEN`, `WITH` → `AND`); AT words in their usual case (`midnight`, `Monday`, `4:30 pm`,
//!   `09:00`, `winter`).
//! - Declaration parts in the order `name[key] AS alias {constraints} = initial`;
//!   constraints as `{a, b}`; one space around binary operators; parentheses exactly where
//!   the user wrote them (the tree keeps them, so meaning cannot change).
//! - AT date specs grouped by kind: `ON` days, `ON` dates, `IN` months and seasons, `IN`
//!   years, `FROM … THROUGH …`, `STARTING`, `ENDING`.
//! - Comments kept: whole-line comments above their line at its indentation, end-of-line
//!   comments two spaces after the code, written `// text`. Runs of blank lines become one;
//!   no blank line at the start; exactly one line break at the end.
//!
//! Formatting is idempotent and `parse(format(m))` equals `m` up to spans and trivia
//! (property-tested in `tests/lang/syntax.rs`).
//!
//! [`ast::Module`]: crate::ast::Module

use crate::ast::{
    Action, ActionKind, Comment, Condition, Constraint, ConstraintKind, Decl, DeclKind,
    DurationLit, Expr, ExprKind, Item, Module, Path, Statement, TimeUnit, Trigger, Trivia, UnaryOp,
};
use crate::diag::Diagnostic;
use crate::parser::parse;
use crate::time::civil::month_name;
use crate::time::spec::{
    AtSpec, CivilDate, ClockStyle, DaySpec, RangeEnd, Season, TimeOfDay, YearPart,
};
use std::fmt::Write as _;

const ITEM_INDENT: &str = "    ";
const CLAUSE_INDENT: &str = "      ";

/// Formats a source text, or returns its diagnostics if it has errors (a file that does not
/// parse is never rewritten: formatting would have to guess and could lose text).
pub fn format_source(source: &str) -> Result<String, Vec<Diagnostic>> {
    let (module, diags) = parse(source);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(format(&module))
}

/// The canonical text of a module.
pub fn format(module: &Module) -> String {
    let mut f = Formatter {
        out: String::with_capacity(1024),
    };
    f.comments(&module.leading_comments, "");
    if let Some(h) = &module.header {
        f.start_line(&h.trivia, "");
        f.out.push_str("MODULE ");
        f.out.push_str(&h.name.name);
        if let Some(k) = &h.instance_key {
            let _ = write!(f.out, "[{}]", k.name);
        }
        if let Some(a) = &h.agent {
            let _ = write!(f.out, " AGENT {}", a.name);
        }
        f.end_line(&h.trivia);
    }
    let indent = if module.header.is_some() {
        ITEM_INDENT
    } else {
        ""
    };
    for item in &module.items {
        match item {
            Item::Decl(d) => f.decl(d, indent),
            Item::Statement(s) => f.statement(s, indent),
        }
    }
    f.comments(&module.trailing_comments, indent);
    f.out
}

struct Formatter {
    out: String,
}

impl Formatter {
    fn blank_line(&mut self, wanted: bool) {
        if wanted && !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn comment_text(&mut self, c: &Comment) {
        let text = c.text.trim_end();
        self.out.push_str("//");
        if !text.is_empty() && !text.starts_with([' ', '\t', '/']) {
            self.out.push(' ');
        }
        self.out.push_str(text);
    }

    fn comments(&mut self, comments: &[Comment], indent: &str) {
        for c in comments {
            self.blank_line(c.blank_line_before);
            self.out.push_str(indent);
            self.comment_text(c);
            self.out.push('\n');
        }
    }

    fn start_line(&mut self, trivia: &Trivia, indent: &str) {
        self.comments(&trivia.leading, indent);
        self.blank_line(trivia.blank_line_before);
        self.out.push_str(indent);
    }

    fn end_line(&mut self, trivia: &Trivia) {
        if let Some(c) = &trivia.trailing {
            self.out.push_str("  ");
            self.comment_text(c);
        }
        self.out.push('\n');
    }

    fn decl(&mut self, d: &Decl, indent: &str) {
        self.start_line(&d.trivia, indent);
        self.out.push_str(match d.kind {
            DeclKind::Subscribe => "SUBSCRIBE ",
            DeclKind::Publish => "PUBLISH ",
            DeclKind::Private => "PRIVATE ",
            DeclKind::Topic => "TOPIC ",
            DeclKind::Timer => "TIMER ",
        });
        self.path(&d.name);
        if let Some(k) = &d.instance_key {
            let _ = write!(self.out, "[{}]", k.name);
        }
        if let Some(a) = &d.alias {
            let _ = write!(self.out, " AS {}", a.name);
        }
        if let Some(dur) = &d.duration {
            self.out.push(' ');
            self.duration(dur);
        }
        if let Some(c) = &d.constraints {
            self.out.push_str(" {");
            for (i, item) in c.items.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.constraint(item);
            }
            self.out.push('}');
        }
        if let Some(e) = &d.initial {
            self.out.push_str(" = ");
            self.expr(e);
        }
        self.end_line(&d.trivia);
    }

    fn duration(&mut self, d: &DurationLit) {
        let unit = match d.unit {
            TimeUnit::Seconds => "second",
            TimeUnit::Minutes => "minute",
            TimeUnit::Hours => "hour",
            TimeUnit::Days => "day",
        };
        let plural = if d.amount == 1 { "" } else { "s" };
        let _ = write!(self.out, "{} {unit}{plural}", d.amount);
    }

    fn constraint(&mut self, c: &Constraint) {
        match &c.kind {
            ConstraintKind::Symbol(s) => self.out.push_str(s),
            ConstraintKind::Number(n) => {
                let _ = write!(self.out, "{n}");
            }
            ConstraintKind::String(s) => self.string(s),
            ConstraintKind::Range { low, high } => {
                if let Some(l) = low {
                    let _ = write!(self.out, "{l}");
                }
                self.out.push('-');
                if let Some(h) = high {
                    let _ = write!(self.out, "{h}");
                }
            }
        }
    }

    fn statement(&mut self, s: &Statement, indent: &str) {
        self.start_line(&s.trivia, indent);
        match &s.trigger {
            Trigger::On(e) => {
                self.out.push_str("ON ");
                self.expr(e);
            }
            Trigger::When(e) => {
                self.out.push_str("WHEN ");
                self.expr(e);
            }
            Trigger::At(at) => {
                self.out.push_str("AT ");
                self.at(at);
            }
        }
        self.end_line(&s.trivia);
        let clause = if indent.is_empty() {
            "  "
        } else {
            CLAUSE_INDENT
        };
        for c in &s.conditions {
            self.condition(c, clause);
        }
        for a in &s.actions {
            self.action(a, clause);
        }
    }

    fn condition(&mut self, c: &Condition, indent: &str) {
        self.start_line(&c.trivia, indent);
        self.out.push_str("AND ");
        self.expr(&c.expr);
        self.end_line(&c.trivia);
    }

    fn action(&mut self, a: &Action, indent: &str) {
        self.start_line(&a.trivia, indent);
        self.out.push_str("THEN ");
        match &a.kind {
            ActionKind::Assign { target, value } => {
                self.path(target);
                self.out.push_str(" = ");
                self.expr(value);
            }
            ActionKind::Step { target, up } => {
                self.path(target);
                self.out.push_str(if *up { "++" } else { "--" });
            }
            ActionKind::Expr(e) => self.expr(e),
        }
        self.end_line(&a.trivia);
    }

    fn path(&mut self, p: &Path) {
        for (i, seg) in p.segments.iter().enumerate() {
            if i > 0 {
                self.out.push('.');
            }
            self.out.push_str(&seg.name);
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                self.out.push('\\');
            }
            self.out.push(c);
        }
        self.out.push('"');
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Number(n) => {
                let _ = write!(self.out, "{n}");
            }
            ExprKind::String(s) => self.string(s),
            ExprKind::Bool(b) => self.out.push_str(if *b { "TRUE" } else { "FALSE" }),
            ExprKind::Path(p) => self.path(p),
            ExprKind::Attribute { base, attr } => {
                self.path(base);
                self.out.push('#');
                self.out.push_str(&attr.name);
            }
            ExprKind::Unary { op, operand } => {
                self.out.push_str(match op {
                    UnaryOp::Not => "NOT ",
                    UnaryOp::Neg => "-",
                });
                self.expr(operand);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.expr(lhs);
                self.out.push(' ');
                self.out.push_str(op.as_str());
                self.out.push(' ');
                self.expr(rhs);
            }
            ExprKind::Call { func, args } => {
                self.out.push_str(&func.name);
                self.out.push('(');
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.expr(a);
                }
                self.out.push(')');
            }
            ExprKind::Paren(inner) => {
                self.out.push('(');
                self.expr(inner);
                self.out.push(')');
            }
        }
    }

    fn at(&mut self, at: &AtSpec) {
        if let Some(o) = at.offset {
            let (n, unit) = if o.unit_hours && o.minutes % 60 == 0 {
                (o.minutes / 60, "hour")
            } else {
                (o.minutes, "minute")
            };
            let plural = if n == 1 { "" } else { "s" };
            let dir = if o.before { "before" } else { "after" };
            let _ = write!(self.out, "{n} {unit}{plural} {dir} ");
        }
        match at.time {
            TimeOfDay::Midnight => self.out.push_str("midnight"),
            TimeOfDay::Noon => self.out.push_str("noon"),
            TimeOfDay::Sunrise => self.out.push_str("sunrise"),
            TimeOfDay::Sunset => self.out.push_str("sunset"),
            TimeOfDay::Clock {
                hour,
                minute,
                style: ClockStyle::H24,
            } => {
                let _ = write!(self.out, "{hour:02}:{minute:02}");
            }
            TimeOfDay::Clock {
                hour,
                minute,
                style: ClockStyle::H12,
            } => {
                let h12 = if hour % 12 == 0 { 12 } else { hour % 12 };
                let m = if hour >= 12 { "pm" } else { "am" };
                let _ = write!(self.out, "{h12}:{minute:02} {m}");
            }
        }
        if !at.days.is_empty() {
            self.out.push_str(" ON ");
            for (i, d) in at.days.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                match d {
                    DaySpec::Weekdays => self.out.push_str("weekdays"),
                    DaySpec::Weekends => self.out.push_str("weekends"),
                    DaySpec::Day { day, plural } => {
                        let _ = write!(self.out, "{day:?}{}", if *plural { "s" } else { "" });
                    }
                }
            }
        }
        if !at.dates.is_empty() {
            self.out.push_str(" ON ");
            for (i, d) in at.dates.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                let _ = write!(self.out, "{} {}", month_name(d.month), d.day);
            }
        }
        if !at.parts_of_year.is_empty() {
            self.out.push_str(" IN ");
            for (i, p) in at.parts_of_year.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.out.push_str(match p {
                    YearPart::Month(m) => month_name(*m),
                    YearPart::Season(Season::Winter) => "winter",
                    YearPart::Season(Season::Spring) => "spring",
                    YearPart::Season(Season::Summer) => "summer",
                    YearPart::Season(Season::Fall) => "fall",
                    YearPart::Season(Season::Autumn) => "autumn",
                });
            }
        }
        if !at.years.is_empty() {
            self.out.push_str(" IN ");
            for (i, y) in at.years.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                let _ = write!(self.out, "{y}");
            }
        }
        for r in &at.ranges {
            self.out.push_str(" FROM ");
            self.range_end(r.from);
            self.out.push_str(" THROUGH ");
            self.range_end(r.through);
        }
        if let Some(d) = at.starting {
            self.out.push_str(" STARTING ");
            self.civil(d);
        }
        if let Some(d) = at.ending {
            self.out.push_str(" ENDING ");
            self.civil(d);
        }
    }

    fn range_end(&mut self, r: RangeEnd) {
        self.out.push_str(month_name(r.month));
        if let Some(d) = r.day {
            let _ = write!(self.out, " {d}");
        }
    }

    fn civil(&mut self, d: CivilDate) {
        let _ = write!(self.out, "{} {}, {}", month_name(d.month), d.day, d.year);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        let out = format_source(input).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(out, expected);
        assert_eq!(format_source(&out).unwrap(), out, "not idempotent");
    }

    #[test]
    fn canonical_layout() {
        check(
            "module lamp1\nsubscribe mode {off,auto,on}\npublic state {off, on}=off\n\n\n\nat midnight on weekdays // nightly\nwith mode.auto\nthen state=off",
            "MODULE lamp1\n    SUBSCRIBE mode {off, auto, on}\n    PUBLISH state {off, on} = off\n\n    AT midnight ON weekdays  // nightly\n      AND mode.auto\n      THEN state = off\n",
        );
    }

    #[test]
    fn parts_are_reordered_and_comments_normalised() {
        check(
            "//head\nMODULE m[room] agent a1\n  LOCAL x = 0.50 {0.00, 0.50} AS y\n  //   spaced\n  TIMER t 1 minutes\n//tail",
            "// head\nMODULE m[room] AGENT a1\n    PRIVATE x AS y {0.00, 0.50} = 0.50\n    //   spaced\n    TIMER t 1 minute\n    // tail\n",
        );
    }

    #[test]
    fn at_specs_and_expressions() {
        check(
            "MODULE m\nPRIVATE a = 1\nAT 90 minutes before 4:30PM on Fridays, december 31 ON weekends in 2024 in Autumn from june through july 13 ending may 1 2025\nthen a = -(a+1)*2 - -3\nthen a--\nthen log(\"say \\\"hi\\\"\", a#version)\n",
            "MODULE m\n    PRIVATE a = 1\n    AT 90 minutes before 4:30 pm ON Fridays, weekends ON December 31 IN autumn IN 2024 FROM June THROUGH July 13 ENDING May 1, 2025\n      THEN a = -(a + 1) * 2 - -3\n      THEN a--\n      THEN log(\"say \\\"hi\\\"\", a#version)\n",
        );
    }
}
