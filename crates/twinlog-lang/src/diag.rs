//! Diagnostics: what every stage reports, and how it is shown to a person.
//!
//! A [`Diagnostic`] names the problem, points at a [`Span`], may add labelled secondary
//! spans and a hint that suggests the fix, and the hint's edits as [`Fix`]es. Stages collect all of them instead of stopping at
//! the first (`Vec<Diagnostic>`). [`Diagnostic::render`] prints the rustc-like form the CLI
//! shows and the snapshot tests pin:
//!
//! ```text
//! error: unknown variable `stat`
//!   --> lamp1.scc:12:12
//!    |
//! 12 |       THEN stat = off
//!    |            ^^^^ not declared in this module
//!    = help: did you mean `state`?
//! ```
//!
//! We render by hand rather than through miette/ariadne: the output is plain text with no
//! colour codes or box drawing, stable across crate versions (snapshot tests), and it is
//! about sixty lines.

use crate::span::{LineIndex, Span};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a module's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// What is wrong, in one line, no trailing period: "unknown variable `stat`".
    pub message: String,
    /// Where: the primary span gets the caret.
    pub span: Span,
    /// Text after the caret: what was expected or found there.
    pub label: Option<String>,
    /// Other places that explain the problem ("first declared here").
    pub secondary: Vec<(Span, String)>,
    /// How to fix it: "did you mean `state`?".
    pub help: Option<String>,
    /// The help as edits a tool (or a test) can apply: one [`Fix`] per alternative the
    /// help offers. Following any one of them must make this diagnostic go away without
    /// causing another; the fixture tests apply every fix and recompile to hold us to it.
    pub fixes: Vec<Fix>,
}

/// One way to follow a help line: text replacements in the source, at non-overlapping
/// spans (an empty span inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub edits: Vec<(Span, String)>,
}

impl Fix {
    pub fn replace(span: Span, text: impl Into<String>) -> Self {
        Fix {
            edits: vec![(span, text.into())],
        }
    }

    pub fn and(mut self, span: Span, text: impl Into<String>) -> Self {
        self.edits.push((span, text.into()));
        self
    }

    /// The source with the edits made. Spans refer to `source`; edits are applied from the
    /// last to the first so earlier spans stay valid.
    pub fn apply(&self, source: &str) -> String {
        let mut edits = self.edits.clone();
        edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
        let mut out = source.to_string();
        for (span, text) in edits {
            out.replace_range(span.range(), &text);
        }
        out
    }
}

impl Diagnostic {
    #[cold]
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            secondary: Vec::new(),
            help: None,
            fixes: Vec::new(),
        }
    }

    #[cold]
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds one way of following the help as edits (see [`Diagnostic::fixes`]).
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fixes.push(fix);
        self
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The human form: header, `--> file:line:col`, the source line with carets, help.
    pub fn render(&self, file: &str, source: &str) -> String {
        let index = LineIndex::new(source);
        self.render_with(file, source, &index)
    }

    /// As [`Diagnostic::render`], reusing a line index when rendering many diagnostics.
    pub fn render_with(&self, file: &str, source: &str, index: &LineIndex) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let start = index.line_col(source, self.span.start);
        let mut lines = vec![(self.span, self.label.as_deref().unwrap_or(""))];
        lines.extend(self.secondary.iter().map(|(s, l)| (*s, l.as_str())));
        let gutter = lines
            .iter()
            .map(|(s, _)| index.line_col(source, s.start).line.to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(gutter);
        let mut out = String::new();
        let _ = writeln!(out, "{kind}: {}", self.message);
        let _ = writeln!(out, "{pad}--> {file}:{}:{}", start.line, start.col);
        let _ = writeln!(out, "{pad} |");
        for (i, (span, label)) in lines.iter().enumerate() {
            let lc = index.line_col(source, span.start);
            let text = index.line_text(source, lc.line);
            // Carets stop at the end of the line: a span over a line break marks its first line.
            let end_col = index.line_col(source, span.end.max(span.start)).col;
            let same_line = index.line_col(source, span.end).line == lc.line;
            let text_len = text.chars().count() as u32;
            let width = if same_line {
                end_col.saturating_sub(lc.col)
            } else {
                text_len + 1 - lc.col
            };
            let marker = if i == 0 { '^' } else { '-' };
            // A very long line is shown as a window around the span, so a generated module
            // with a 400 KB line does not flood the terminal.
            let (shown, skipped) = window(text, lc.col as usize - 1);
            let width = (width.max(1) as usize).min(shown.chars().count().max(1));
            let marks: String = std::iter::repeat_n(marker, width).collect();
            let indent = " ".repeat(lc.col as usize - 1 - skipped + usize::from(skipped > 0));
            let _ = writeln!(out, "{:>gutter$} | {shown}", lc.line);
            let sep = if label.is_empty() { "" } else { " " };
            let _ = writeln!(out, "{pad} | {indent}{marks}{sep}{label}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Longest source line shown whole under a diagnostic, in characters.
const MAX_SHOWN_LINE: usize = 160;
/// Characters kept before the span when a long line is cut.
const CONTEXT_BEFORE: usize = 40;

/// The part of `line` to show for a span starting at character `col0` (0-based), and how
/// many characters were cut from the front. Cut ends are marked with `…`.
fn window(line: &str, col0: usize) -> (std::borrow::Cow<'_, str>, usize) {
    let len = line.chars().count();
    if len <= MAX_SHOWN_LINE {
        return (line.into(), 0);
    }
    let skip = col0.saturating_sub(CONTEXT_BEFORE);
    let body: String = line.chars().skip(skip).take(MAX_SHOWN_LINE).collect();
    let front = if skip > 0 { "…" } else { "" };
    let back = if skip + MAX_SHOWN_LINE < len {
        "…"
    } else {
        ""
    };
    (format!("{front}{body}{back}").into(), skip)
}

/// Renders all diagnostics of one file, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], file: &str, source: &str) -> String {
    let index = LineIndex::new(source);
    diags
        .iter()
        .map(|d| d.render_with(file, source, &index))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closest candidate to `name` by edit distance, for "did you mean …?" hints.
/// Only suggests names that are plausibly typos (distance ≤ 1/3 of the length, at least 1)
/// or that differ only in case.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(name) {
                0
            } else {
                edit_distance(name, c)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over characters, counting a swap of two neighbours as one edit (optimal
/// string alignment): `atuo` is one edit from `auto`, as a person sees it.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: the one two back is needed for transpositions.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let sub = prev[j] + usize::from(a[i] != b[j]);
            let mut d = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(prev2[j - 1] + 1);
            }
            cur[j + 1] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_caret_and_help() {
        let src = "MODULE lamp1\n    PUBLISH state {off, on}\n    ON x\n      THEN stat = off\n";
        let at = src.find("stat =").unwrap() as u32;
        let d = Diagnostic::error(Span::new(at, at + 4), "unknown variable `stat`")
            .with_label("not declared in this module")
            .with_help("did you mean `state`?");
        let expected = "\
error: unknown variable `stat`
 --> lamp1.scc:4:12
  |
4 |       THEN stat = off
  |            ^^^^ not declared in this module
  = help: did you mean `state`?
";
        assert_eq!(d.render("lamp1.scc", src), expected);
    }

    #[test]
    fn secondary_spans_use_dashes() {
        let src = "PUBLISH a\nPRIVATE a\n";
        let d = Diagnostic::error(Span::new(18, 19), "`a` is declared twice")
            .with_label("second declaration")
            .with_secondary(Span::new(8, 9), "first declared here");
        let out = d.render("m.scc", src);
        assert!(
            out.contains("2 | PRIVATE a\n  |         ^ second declaration\n"),
            "{out}"
        );
        assert!(
            out.contains("1 | PUBLISH a\n  |         - first declared here\n"),
            "{out}"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_span() {
        let src = format!(
            "MODULE m\n    PRIVATE x = {}bad{}\n",
            "1 + ".repeat(100),
            " + 1".repeat(100)
        );
        let at = src.find("bad").unwrap() as u32;
        let out = Diagnostic::error(Span::new(at, at + 3), "unknown variable `bad`")
            .render("m.scc", &src);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[3].len() < 200, "{out}");
        assert!(lines[3].contains("…") && lines[3].ends_with('…'), "{out}");
        // The caret still stands under `bad`.
        let text_at = lines[3].find("bad").unwrap();
        let caret_at = lines[4].find('^').unwrap();
        assert_eq!(
            lines[3][..text_at].chars().count(),
            lines[4][..caret_at].chars().count(),
            "{out}"
        );
    }

    #[test]
    fn fixes_apply_their_edits_from_the_back() {
        let src = "THEN stat = of";
        let fix = Fix::replace(Span::new(5, 9), "state")
            .and(Span::new(12, 14), "off")
            .and(Span::new(0, 0), "  ");
        assert_eq!(fix.apply(src), "  THEN state = off");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["state", "count", "mode"];
        assert_eq!(suggest("stat", names), Some("state"));
        assert_eq!(suggest("State", names), Some("state"));
        assert_eq!(suggest("zzz", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("atuo", "auto"), 1);
        assert_eq!(suggest("atuo", ["auto", "off"]), Some("auto"));
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
