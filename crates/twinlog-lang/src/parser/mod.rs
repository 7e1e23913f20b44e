//! Line-oriented recursive-descent parser: text to [`ast::Module`] plus every diagnostic.
//!
//! The language is line oriented, so the parser is too: the token stream is cut at line
//! breaks, each line is classified by its first token (MODULE, a declaration keyword, ON / AT
//! / WHEN, AND, THEN) and parsed on its own. A bad line yields a diagnostic and is skipped;
//! the next line starts fresh, so every error in a file is reported, each once. A statement
//! with a broken line (its trigger, or one of its AND / THEN lines) is "poisoned": it stays
//! out of the tree, its remaining lines are still parsed, and no follow-on error such as
//! "this statement has no THEN line" is added. The lines of it that did parse go to
//! [`Unparsed`](crate::ast::Unparsed), as do the names a broken declaration line would
//! have declared, so the checker still reports every name error in them and none that only
//! follows from the broken line. Lines with a lexer error report only the lexer's
//! diagnostic.
//!
//! Comments and blank lines become [`Trivia`] of the next line (leading comments, blank-line
//! marks) or of their own line (a trailing comment), so the formatter loses none of them.
//!
//! - `expr`: expressions, one function per precedence level, with nesting limits.
//! - `at`: the `AT` line: times, offsets and date specs.
//!
//! The parser is linear in the input: every token is looked at a bounded number of times,
//! and no text is copied except names, strings and comments that go into the tree.
//!
//! [`ast::Module`]: crate::ast::Module

mod at;
mod expr;

use crate::ast::{
    Action, ActionKind, Comment, Condition, Constraint, ConstraintKind, Constraints, Decl,
    DeclKind, DurationLit, Expr, ExprKind, Ident, Item, Module, ModuleHeader, Path, Statement,
    TimeUnit, Trigger, Trivia,
};
use crate::diag::{Diagnostic, Fix, suggest};
use crate::lexer::{self, Keyword, Token, TokenKind};
use crate::span::Span;
use rust_decimal::Decimal;

/// How deeply parentheses, `NOT`, unary minus and call arguments may nest in one expression.
/// Deeper input is rejected with a diagnostic instead of risking the stack (the parser, the
/// formatter and every later pass recurse over expressions). No hand-written condition comes
/// near it.
pub const MAX_NESTING: u32 = 64;

/// How many operators one expression may hold. Bounds the depth of the tree that an
/// operator chain (`a + a + a …`) builds, for the same reason as [`MAX_NESTING`].
pub const MAX_OPERATORS: u32 = 256;

/// Parses one module file. Always returns a module (as much as could be built) and every
/// diagnostic, in source order; the module is usable when no diagnostic is an error.
pub fn parse(source: &str) -> (Module, Vec<Diagnostic>) {
    let (tokens, lex_diags) = lexer::lex(source);
    let mut p = Parser {
        src: source,
        toks: &tokens,
        pos: 0,
        end: 0,
        diags: Vec::new(),
        late: Vec::new(),
        module: Module::default(),
        open: Open::None,
        pending_comments: Vec::new(),
        pending_blank: false,
        nesting: 0,
        operators: 0,
        header_line: None,
        broken_timer: None,
        line_start: 0,
    };
    p.run(&lex_diags);
    let Parser {
        module,
        mut diags,
        late,
        ..
    } = p;
    diags.extend(late);
    diags.extend(lex_diags);
    // Stable: diagnostics at the same place keep the order they were found in.
    diags.sort_by_key(|d| d.span.start);
    (module, diags)
}

/// A line failed to parse; its diagnostic is already recorded.
#[derive(Debug)]
struct Fail;

type PResult<T> = Result<T, Fail>;

/// The statement that AND / THEN lines continue.
#[derive(Debug)]
enum Open {
    None,
    Stmt(Box<Statement>),
    /// A line of the statement had an error: its other lines go to
    /// [`Unparsed`](crate::ast::Unparsed), for the checker only.
    Poisoned,
}

struct Parser<'a> {
    src: &'a str,
    toks: &'a [Token],
    /// The cursor, within the current line `..end`.
    pos: usize,
    end: usize,
    diags: Vec<Diagnostic>,
    /// Diagnostics about whole statements, found when the statement closes (on a later line
    /// whose own diagnostics may be discarded).
    late: Vec<Diagnostic>,
    module: Module,
    open: Open,
    pending_comments: Vec<Comment>,
    pending_blank: bool,
    nesting: u32,
    operators: u32,
    header_line: Option<Span>,
    /// The TIMER being read, by name only: kept when the rest of its line fails.
    broken_timer: Option<Decl>,
    /// Where the current line's tokens start.
    line_start: usize,
}

/// The keywords a line may start with, for "did you mean" on a misspelled one.
const LINE_KEYWORDS: [&str; 14] = [
    "MODULE",
    "SUBSCRIBE",
    "PUBLISH",
    "PRIVATE",
    "TOPIC",
    "TIMER",
    "ON",
    "AT",
    "WHEN",
    "AND",
    "THEN",
    "PUBLIC",
    "LOCAL",
    "WITH",
];

/// Those of [`LINE_KEYWORDS`] that start a declaration.
const DECL_KEYWORDS: [&str; 7] = [
    "SUBSCRIBE",
    "PUBLISH",
    "PRIVATE",
    "TOPIC",
    "TIMER",
    "PUBLIC",
    "LOCAL",
];

fn is_name(kind: TokenKind) -> bool {
    match kind {
        TokenKind::Ident => true,
        TokenKind::Keyword(k) => !k.is_reserved(),
        _ => false,
    }
}

/// `"a \"b\""` → `a "b"`. Unknown escapes were reported by the lexer and are kept as written.
fn unescape(text: &str) -> String {
    let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
    if !inner.contains('\\') {
        return inner.to_string();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('"' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `second(s)`, `minute(s)`, `hour(s)`, `day(s)`, any case (no allocation: this runs for
/// every TIMER and AT offset).
fn time_unit(word: &str) -> Option<TimeUnit> {
    let w = word.strip_suffix(['s', 'S']).unwrap_or(word);
    [
        ("second", TimeUnit::Seconds),
        ("minute", TimeUnit::Minutes),
        ("hour", TimeUnit::Hours),
        ("day", TimeUnit::Days),
    ]
    .into_iter()
    .find(|(name, _)| w.eq_ignore_ascii_case(name))
    .map(|(_, unit)| unit)
}

/// Abbreviated units people write, and the full word to suggest.
fn unit_abbreviation(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" => "seconds",
        "m" | "min" | "mins" => "minutes",
        "h" | "hr" | "hrs" => "hours",
        "d" => "days",
        _ => return None,
    })
}

impl<'a> Parser<'a> {
    // ---------------------------------------------------------------- cursor helpers

    fn peek(&self) -> Option<Token> {
        (self.pos < self.end).then(|| self.toks[self.pos])
    }

    fn peek_kind(&self) -> Option<TokenKind> {
        self.peek().map(|t| t.kind)
    }

    fn peek_nth_kind(&self, n: usize) -> Option<TokenKind> {
        let i = self.pos + n;
        (i < self.end).then(|| self.toks[i].kind)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos];
        self.pos += 1;
        t
    }

    fn eat(&mut self, kind: TokenKind) -> Option<Token> {
        (self.peek_kind() == Some(kind)).then(|| self.bump())
    }

    fn text(&self, t: Token) -> &'a str {
        self.src.get(t.span.range()).unwrap_or("")
    }

    /// The span of the last token consumed on this line.
    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    /// Where the current token is, or just after the line's last token at the end of a line.
    fn here(&self) -> Span {
        match self.peek() {
            Some(t) => t.span,
            None => {
                let e = self.toks[self.end.saturating_sub(1)].span.end;
                Span::new(e, e)
            }
        }
    }

    /// "`tok`" or "end of line", for messages.
    fn found(&self) -> String {
        match self.peek() {
            Some(t) => {
                let text = self.text(t);
                if text.chars().count() > 40 {
                    let short: String = text.chars().take(37).collect();
                    format!("`{short}…`")
                } else {
                    format!("`{text}`")
                }
            }
            None => "end of line".to_string(),
        }
    }

    fn push(&mut self, d: Diagnostic) -> Fail {
        self.diags.push(d);
        Fail
    }

    /// "expected X, found Y" at the current token.
    #[cold]
    fn expected(&mut self, what: &str) -> Fail {
        let d = Diagnostic::error(
            self.here(),
            format!("expected {what}, found {}", self.found()),
        )
        .with_label(format!("expected {what}"));
        self.push(d)
    }

    /// As [`Parser::expected_help`] for a help that replaces the current token ("did you
    /// mean `noon`?"), with that replacement as its fix.
    #[cold]
    fn expected_instead(&mut self, what: &str, help: impl Into<String>, with: &str) -> Fail {
        let d = Diagnostic::error(
            self.here(),
            format!("expected {what}, found {}", self.found()),
        )
        .with_label(format!("expected {what}"))
        .with_help(help)
        .with_fix(Fix::replace(self.here(), with));
        self.push(d)
    }

    #[cold]
    fn expected_help(&mut self, what: &str, help: impl Into<String>) -> Fail {
        let d = Diagnostic::error(
            self.here(),
            format!("expected {what}, found {}", self.found()),
        )
        .with_label(format!("expected {what}"))
        .with_help(help);
        self.push(d)
    }

    /// The line must end here (a trailing comment was already set aside).
    fn expect_eol(&mut self) -> PResult<()> {
        let Some(t) = self.peek() else { return Ok(()) };
        let d = match t.kind {
            TokenKind::Assign => Diagnostic::error(t.span, "unexpected `=` in a condition")
                .with_label("`=` assigns a value")
                .with_help("to compare, write `==`"),
            TokenKind::Keyword(Keyword::Then) => {
                Diagnostic::error(t.span, "`THEN` must start its own line")
                    .with_label("expected end of line")
                    .with_help("put `THEN …` on the next line")
            }
            _ => {
                let d = Diagnostic::error(
                    t.span,
                    format!("expected end of line, found {}", self.found()),
                )
                .with_label("expected end of line");
                // `a AN b`, `x ORR y`: a misspelled operator between two operands.
                let upper = self.text(t).to_ascii_uppercase();
                match suggest(&upper, ["AND", "OR", "NOT"]) {
                    Some(op) if is_name(t.kind) && upper.len() > 1 => d
                        .with_help(format!("did you mean `{op}`?"))
                        .with_fix(Fix::replace(t.span, op)),
                    _ => d,
                }
            }
        };
        Err(self.push(d))
    }

    fn ident_from(&self, t: Token) -> Ident {
        Ident {
            name: self.text(t).to_string(),
            span: t.span,
        }
    }

    fn name(&mut self, what: &str) -> PResult<Ident> {
        match self.peek() {
            Some(t) if is_name(t.kind) => {
                self.bump();
                Ok(self.ident_from(t))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// `a`, `a.b`, `a.b.c`.
    fn path(&mut self, what: &str) -> PResult<Path> {
        let first = self.name(what)?;
        let mut span = first.span;
        let mut segments = vec![first];
        while self.eat(TokenKind::Dot).is_some() {
            let seg = match self.peek() {
                // `door.true`: the value test of a `{false, true}` variable.
                Some(t) if matches!(t.kind, TokenKind::Keyword(Keyword::True | Keyword::False)) => {
                    self.bump();
                    self.ident_from(t)
                }
                _ => self.name("a name after `.`")?,
            };
            span = span.to(seg.span);
            segments.push(seg);
        }
        Ok(Path { segments, span })
    }

    /// A number literal as an exact decimal, scale kept.
    fn decimal(&mut self, t: Token, negative: bool) -> PResult<Decimal> {
        let text = self.text(t);
        match Decimal::from_str_exact(text) {
            Ok(d) => Ok(if negative { -d } else { d }),
            Err(_) => Err(self.push(
                Diagnostic::error(t.span, format!("`{text}` is too large or too precise"))
                    .with_label("at most 28 significant digits")
                    .with_help("numbers are exact decimals of up to 28 digits"),
            )),
        }
    }

    /// `-`? number.
    fn signed_number(&mut self, what: &str) -> PResult<(Decimal, Span)> {
        let minus = self.eat(TokenKind::Minus);
        let Some(n) = self.eat(TokenKind::Number) else {
            return Err(self.expected(what));
        };
        let d = self.decimal(n, minus.is_some())?;
        Ok((d, minus.map_or(n.span, |m| m.span.to(n.span))))
    }

    /// A whole number that fits `max`, for days, years, durations.
    fn whole(&mut self, t: Token, what: &str, max: u64) -> PResult<u64> {
        let text = self.text(t);
        if text.contains('.') {
            return Err(self.push(
                Diagnostic::error(t.span, format!("{what} is a whole number, not `{text}`"))
                    .with_label("expected a whole number"),
            ));
        }
        match text.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(self.push(
                Diagnostic::error(t.span, format!("`{text}` is too large for {what}"))
                    .with_label(format!("at most {max}")),
            )),
        }
    }

    // ---------------------------------------------------------------- lines

    fn run(&mut self, lex_diags: &[Diagnostic]) {
        let toks = self.toks;
        let mut i = 0;
        let mut li = 0;
        while i < toks.len() {
            let start = i;
            while i < toks.len() && toks[i].kind != TokenKind::Newline {
                i += 1;
            }
            let mut end = i;
            if i < toks.len() {
                i += 1;
            }
            let trailing = if end > start && toks[end - 1].kind == TokenKind::Comment {
                end -= 1;
                Some(self.comment(toks[end]))
            } else {
                None
            };
            if end == start {
                match trailing {
                    Some(mut c) => {
                        c.blank_line_before = std::mem::take(&mut self.pending_blank);
                        self.pending_comments.push(c);
                    }
                    None => self.pending_blank = true,
                }
                continue;
            }
            let trivia = Trivia {
                leading: std::mem::take(&mut self.pending_comments),
                trailing,
                blank_line_before: std::mem::take(&mut self.pending_blank),
            };
            let line_span = toks[start].span.to(toks[end - 1].span);
            while li < lex_diags.len() && lex_diags[li].span.start < line_span.start {
                li += 1;
            }
            let lex_error = li < lex_diags.len() && lex_diags[li].span.start < line_span.end;
            let before = self.diags.len();
            self.pos = start;
            self.line_start = start;
            self.end = end;
            self.line(trivia);
            if lex_error {
                // The lexer said what is wrong; whatever the parser makes of the broken
                // token would only repeat it.
                self.diags.truncate(before);
            }
        }
        self.close_statement();
        self.module.trailing_comments = std::mem::take(&mut self.pending_comments);
        if self.module.header.is_none() {
            let first = toks
                .iter()
                .find(|t| !matches!(t.kind, TokenKind::Newline | TokenKind::Comment));
            let span = first.map_or(Span::new(0, 0), |t| t.span);
            self.diags.push(
                Diagnostic::error(span, "missing `MODULE` line")
                    .with_label("expected `MODULE <name>` before this")
                    .with_help("start the file with the module's name, e.g. `MODULE lamp1`"),
            );
        }
    }

    fn comment(&self, t: Token) -> Comment {
        let text = self.text(t);
        Comment {
            text: text.get(2..).unwrap_or("").to_string(),
            span: t.span,
            blank_line_before: false,
        }
    }

    fn line(&mut self, trivia: Trivia) {
        let first = self.toks[self.pos];
        match first.kind {
            TokenKind::Keyword(Keyword::Module) => {
                self.close_statement();
                self.header(trivia);
            }
            TokenKind::Keyword(
                Keyword::Subscribe
                | Keyword::Publish
                | Keyword::Private
                | Keyword::Topic
                | Keyword::Timer,
            ) => {
                self.close_statement();
                self.broken_timer = None;
                match self.decl(trivia) {
                    Ok(d) => self.module.items.push(Item::Decl(d)),
                    // A TIMER line whose name was read keeps its name (and no duration), so
                    // the checker does not call every later use of it unknown. The error
                    // is already reported, so the module never compiles or formats.
                    Err(Fail) => match self.broken_timer.take() {
                        Some(d) => self.module.items.push(Item::Decl(d)),
                        None => self.keep_declared_names(),
                    },
                }
            }
            TokenKind::Keyword(Keyword::On | Keyword::At | Keyword::When) => {
                self.close_statement();
                self.open = match self.statement(trivia) {
                    Ok(s) => Open::Stmt(Box::new(s)),
                    Err(Fail) => Open::Poisoned,
                };
            }
            TokenKind::Keyword(Keyword::And) => self.condition(trivia),
            TokenKind::Keyword(Keyword::Then) => self.action(trivia),
            _ => self.unknown_line(first),
        }
    }

    fn close_statement(&mut self) {
        if let Open::Stmt(s) = std::mem::replace(&mut self.open, Open::None) {
            if s.actions.is_empty() {
                let kw = self
                    .src
                    .get(s.keyword.range())
                    .unwrap_or("")
                    .to_ascii_uppercase();
                let (msg, help) = if s.conditions.is_empty() {
                    (
                        format!("expected an `AND` or `THEN` line after this `{kw}`"),
                        "add what should happen on the next line, e.g. `THEN state = on`",
                    )
                } else {
                    (
                        format!("expected a `THEN` line after the `AND` lines of this `{kw}`"),
                        "add what should happen on a `THEN` line below the conditions",
                    )
                };
                self.late.push(
                    Diagnostic::error(s.keyword, msg)
                        .with_label("this statement does nothing")
                        .with_help(help),
                );
            }
            self.module.items.push(Item::Statement(*s));
        }
    }

    /// A line of the open statement failed: the statement is incomplete, so keep it out of
    /// the tree and do not add "this statement does nothing" on top of the real error. Its
    /// lines so far are kept for the checker.
    fn poison(&mut self) {
        match std::mem::replace(&mut self.open, Open::Poisoned) {
            Open::Stmt(s) => {
                let Statement {
                    trigger,
                    conditions,
                    actions,
                    ..
                } = *s;
                let u = &mut self.module.unparsed;
                u.triggers.push(trigger);
                u.conditions.extend(conditions);
                u.actions.extend(actions);
            }
            // Nothing open: a stray broken line poisons nothing.
            Open::None => self.open = Open::None,
            Open::Poisoned => {}
        }
    }

    /// A declaration line failed: the names it was declaring (the name, the last part and
    /// the whole of a dotted one, an alias), read straight from its tokens, so that uses of
    /// the variable are not each reported as unknown. Only the path after the keyword and
    /// `AS name` are looked at: the rest may be what is broken.
    fn keep_declared_names(&mut self) {
        let line = &self.toks[self.line_start..self.end];
        let mut path: Vec<&str> = Vec::new();
        let mut i = 1;
        while let Some(t) = line.get(i).filter(|t| is_name(t.kind)) {
            path.push(self.text(*t));
            if line.get(i + 1).map(|t| t.kind) != Some(TokenKind::Dot) {
                break;
            }
            i += 2;
        }
        let mut names: Vec<String> = path.last().map(|s| s.to_string()).into_iter().collect();
        if path.len() > 1 {
            names.push(path.join("."));
        }
        for w in line.windows(2) {
            if w[0].kind == TokenKind::Keyword(Keyword::As) && is_name(w[1].kind) {
                names.push(self.text(w[1]).to_string());
            }
        }
        self.module.unparsed.names.extend(names);
    }

    #[cold]
    fn unknown_line(&mut self, first: Token) {
        // Probably a misspelled AND / THEN line of the open statement.
        self.poison();
        let text = self.text(first);
        let mut d = Diagnostic::error(
            first.span,
            format!("expected a declaration or a statement, found `{text}`"),
        );
        let upper = text.to_ascii_uppercase();
        let is_word = matches!(first.kind, TokenKind::Ident | TokenKind::Keyword(_));
        let next = self.peek_nth_kind(1);
        let action_shape = is_name(first.kind)
            && matches!(
                next,
                Some(TokenKind::Assign | TokenKind::Dot | TokenKind::Plus | TokenKind::Minus)
            );
        let keyword = if is_word {
            suggest(&upper, LINE_KEYWORDS)
        } else {
            None
        };
        if action_shape {
            d = d
                .with_label("an action needs `THEN` in front")
                .with_help(format!("write `THEN {}`", self.line_text()));
        } else if let Some(s) = keyword {
            // `PUBLSH state {off, on}` is a declaration with a typo: its variable is not
            // unknown at every use.
            if DECL_KEYWORDS.contains(&s) {
                self.keep_declared_names();
            }
            d = d
                .with_label("not a keyword")
                .with_help(format!("did you mean `{s}`?"))
                .with_fix(Fix::replace(first.span, s));
        } else {
            d = d
                .with_label(Self::not_a_line_start(first.kind, text))
                .with_help(
                    "a line starts with MODULE, SUBSCRIBE, PUBLISH, PRIVATE, TOPIC, TIMER, ON, AT, WHEN, AND or THEN",
                );
        }
        self.diags.push(d);
    }

    /// What was found at the start of a line, said as what it is: the label sits under a
    /// line that is no statement, so it must not read like a rule of one.
    fn not_a_line_start(kind: TokenKind, text: &str) -> String {
        match kind {
            TokenKind::Ident | TokenKind::Keyword(_) => {
                format!("`{text}` is not a keyword that starts a line")
            }
            TokenKind::Number => "a number cannot start a line".to_string(),
            TokenKind::String => "a string cannot start a line".to_string(),
            _ => format!("`{text}` cannot start a line"),
        }
    }

    /// The source text of the current line's tokens (without its comment).
    fn line_text(&self) -> &'a str {
        let start = self.toks[self.pos].span.start as usize;
        let end = self.toks[self.end - 1].span.end as usize;
        self.src.get(start..end).unwrap_or("")
    }

    // ---------------------------------------------------------------- MODULE

    fn header(&mut self, trivia: Trivia) {
        let kw = self.bump();
        let Ok(h) = self.header_rest(kw, trivia) else {
            return;
        };
        if let Some(first) = self.header_line {
            self.diags.push(
                Diagnostic::error(
                    kw.span,
                    "a file holds one module, but this is a second `MODULE` line",
                )
                .with_label("second MODULE line")
                .with_secondary(first, "the module starts here")
                .with_help("put each module in its own file"),
            );
            return;
        }
        if let Some(first) = self.module.items.first() {
            let span = match first {
                Item::Decl(d) => d.span,
                Item::Statement(s) => s.keyword,
            };
            self.diags.push(
                Diagnostic::error(kw.span, "the `MODULE` line must come first")
                    .with_label("MODULE line after declarations or statements")
                    .with_secondary(span, "this comes before it")
                    .with_help("move the `MODULE` line to the top of the file"),
            );
        }
        self.header_line = Some(kw.span);
        self.module.header = Some(h);
    }

    fn header_rest(&mut self, kw: Token, trivia: Trivia) -> PResult<ModuleHeader> {
        if !self.peek_kind().is_some_and(is_name) {
            return Err(self.expected_help(
                "the module's name after MODULE",
                "write `MODULE lamp1`; the name is one word",
            ));
        }
        let name = self.name("the module's name")?;
        if self.peek_kind() == Some(TokenKind::Dot) {
            let d = Diagnostic::error(self.here(), "a module name is one word")
                .with_label("unexpected `.`")
                .with_help("use letters, digits and `_`, e.g. `MODULE lamp_kitchen`");
            return Err(self.push(d));
        }
        let mut instance_key = None;
        let mut agent = None;
        while let Some(t) = self.peek() {
            match t.kind {
                TokenKind::LBracket if instance_key.is_none() => {
                    instance_key = Some(self.instance_key()?);
                }
                TokenKind::Keyword(Keyword::Agent) if agent.is_none() => {
                    self.bump();
                    agent = Some(self.name("the agent's name after AGENT")?);
                }
                _ => {
                    return Err(self.expected_help(
                        "`[key]`, `AGENT name` or end of line",
                        "a MODULE line is `MODULE name`, `MODULE name[key]` or `MODULE name AGENT agent`",
                    ));
                }
            }
        }
        Ok(ModuleHeader {
            name,
            instance_key,
            agent,
            trivia,
            span: kw.span.to(self.prev_span()),
        })
    }

    fn instance_key(&mut self) -> PResult<Ident> {
        let open = self.bump();
        let key = self.name("the instance key, e.g. `[room]`")?;
        if self.eat(TokenKind::RBracket).is_none() {
            let d = Diagnostic::error(self.here(), format!("expected `]`, found {}", self.found()))
                .with_label("expected `]`")
                .with_secondary(open.span, "opened here");
            return Err(self.push(d));
        }
        Ok(key)
    }

    // ---------------------------------------------------------------- declarations

    fn decl(&mut self, trivia: Trivia) -> PResult<Decl> {
        let kw = self.bump();
        let (kind, word) = match kw.kind {
            TokenKind::Keyword(Keyword::Subscribe) => (DeclKind::Subscribe, "SUBSCRIBE"),
            TokenKind::Keyword(Keyword::Publish) => (DeclKind::Publish, "PUBLISH"),
            TokenKind::Keyword(Keyword::Private) => (DeclKind::Private, "PRIVATE"),
            TokenKind::Keyword(Keyword::Topic) => (DeclKind::Topic, "TOPIC"),
            _ => (DeclKind::Timer, "TIMER"),
        };
        if !self.peek_kind().is_some_and(is_name) {
            let d = match kind {
                DeclKind::Subscribe => Diagnostic::error(
                    self.here(),
                    "SUBSCRIBE needs `module.variable` or a topic name",
                )
                .with_label(format!("expected a name, found {}", self.found()))
                .with_help("write `SUBSCRIBE button1.press` for another module's variable, or `SUBSCRIBE mode` for a global topic"),
                DeclKind::Timer => Diagnostic::error(self.here(), "TIMER needs a name and a duration")
                    .with_label(format!("expected a name, found {}", self.found()))
                    .with_help("write `TIMER offTimer 30 minutes`"),
                DeclKind::Topic => Diagnostic::error(self.here(), "TOPIC needs the global name it reserves")
                    .with_label(format!("expected a name, found {}", self.found()))
                    .with_help("write `TOPIC house.mode`"),
                _ => Diagnostic::error(self.here(), format!("{word} needs a variable name"))
                    .with_label(format!("expected a name, found {}", self.found()))
                    .with_help(format!("write `{word} state {{off, on}}`")),
            };
            return Err(self.push(d));
        }
        let name = self.path("a name")?;
        if matches!(kind, DeclKind::Private | DeclKind::Timer) && name.segments.len() > 1 {
            let d = Diagnostic::error(name.span, format!("a {word} name is one word"))
                .with_label("dots are only for `module.variable` and topics")
                .with_help("use letters, digits and `_`, e.g. `lamp_count`");
            return Err(self.push(d));
        }
        let mut decl = Decl {
            kind,
            keyword: kw.span,
            name,
            instance_key: None,
            alias: None,
            constraints: None,
            initial: None,
            duration: None,
            trivia,
            span: kw.span,
        };
        if kind == DeclKind::Timer {
            self.broken_timer = Some(Decl {
                span: kw.span.to(decl.name.span),
                ..decl.clone()
            });
        }
        let mut seen: [Option<Span>; 5] = [None; 5];
        while let Some(t) = self.peek() {
            let slot = match t.kind {
                TokenKind::LBracket => 0,
                TokenKind::Keyword(Keyword::As) => 1,
                TokenKind::LBrace => 2,
                TokenKind::Assign => 3,
                TokenKind::Number if kind == DeclKind::Timer => 4,
                // Sodacan's form without `=`: `PUBLISH count 0`, `PUBLIC myName "John"`.
                TokenKind::Number
                | TokenKind::Minus
                | TokenKind::String
                | TokenKind::Keyword(Keyword::True | Keyword::False) => 3,
                _ => return Err(self.decl_part_error(kind)),
            };
            if let Some(first) = seen[slot] {
                let what = [
                    "an instance key",
                    "an alias",
                    "constraints",
                    "an initial value",
                    "a duration",
                ][slot];
                let d = Diagnostic::error(t.span, format!("this {word} already has {what}"))
                    .with_label("given a second time")
                    .with_secondary(first, "first given here");
                return Err(self.push(d));
            }
            seen[slot] = Some(t.span);
            match slot {
                0 => {
                    decl.instance_key = Some(self.instance_key()?);
                    // `SUBSCRIBE module[key].variable`, the grammar's form of
                    // `SUBSCRIBE module.variable[key]`.
                    if kind == DeclKind::Subscribe
                        && decl.name.segments.len() == 1
                        && self.peek_kind() == Some(TokenKind::Dot)
                    {
                        self.bump();
                        let var = self.name("the variable after `module[key].`")?;
                        decl.name.span = decl.name.span.to(var.span);
                        decl.name.segments.push(var);
                    }
                }
                1 => {
                    self.bump();
                    decl.alias = Some(self.name("an alias after AS")?);
                    if self.peek_kind() == Some(TokenKind::Dot) {
                        let d = Diagnostic::error(self.here(), "an alias is one word")
                            .with_label("unexpected `.`")
                            .with_help("write `AS shortName`");
                        return Err(self.push(d));
                    }
                }
                2 => decl.constraints = Some(self.constraints()?),
                3 => {
                    self.eat(TokenKind::Assign);
                    decl.initial = Some(self.initial_value()?);
                }
                _ => decl.duration = Some(self.duration()?),
            }
        }
        decl.span = kw.span.to(self.prev_span());
        if kind == DeclKind::Timer {
            if decl.duration.is_none() {
                let d = Diagnostic::error(
                    decl.name.span,
                    format!("TIMER `{}` needs a duration", decl.name.dotted()),
                )
                .with_label("expected a duration after the name")
                .with_help(format!("write `TIMER {} 30 minutes`", decl.name.dotted()));
                return Err(self.push(d));
            }
            if let Some(c) = &decl.constraints {
                let d = Diagnostic::error(c.span, "a TIMER has no constraints")
                    .with_label("not allowed on a TIMER")
                    .with_help("a timer is set with `THEN name = start`, `reset` or `cancel`");
                return Err(self.push(d));
            }
            if let Some(e) = &decl.initial {
                let d = Diagnostic::error(e.span, "a TIMER has no initial value")
                    .with_label("not allowed on a TIMER")
                    .with_help("a timer is set with `THEN name = start`, `reset` or `cancel`");
                return Err(self.push(d));
            }
        }
        Ok(decl)
    }

    #[cold]
    fn decl_part_error(&mut self, kind: DeclKind) -> Fail {
        let t = self.peek();
        let is_word = t.is_some_and(|t| is_name(t.kind));
        let text = t.map_or("", |t| self.text(t));
        if kind == DeclKind::Timer {
            return self.expected_help(
                "a duration such as `30 minutes`",
                "write `TIMER offTimer 30 minutes`",
            );
        }
        // `x ALIAS y`: a word followed by a name is a misspelled part keyword, not a value.
        let word_pair = is_word && self.peek_nth_kind(1).is_some_and(is_name);
        let help = if word_pair {
            format!("`{text}` is not a keyword here; an alias is written `AS name`")
        } else if is_word
            || matches!(
                t.map(|t| t.kind),
                Some(TokenKind::Number | TokenKind::String)
            )
        {
            format!("to give an initial value, write `= {text}`")
        } else {
            "after the name come `[key]`, `AS alias`, `{constraints}` and `= initial value`, in any order".to_string()
        };
        self.expected_help(
            "`[key]`, `AS alias`, `{constraints}`, `= initial value` or end of line",
            help,
        )
    }

    fn constraints(&mut self) -> PResult<Constraints> {
        let open = self.bump();
        let mut items = Vec::new();
        loop {
            match self.peek_kind() {
                None => {
                    let d = Diagnostic::error(
                        self.here(),
                        "expected `}` to close the constraints, found end of line",
                    )
                    .with_label("expected `}`")
                    .with_secondary(open.span, "opened here");
                    return Err(self.push(d));
                }
                Some(TokenKind::RBrace) if items.is_empty() => {
                    let close = self.bump();
                    let d = Diagnostic::error(open.span.to(close.span), "empty constraints")
                        .with_label("nothing between the braces")
                        .with_help("list the allowed values, e.g. `{off, on}` or `{0-100}`, or leave the braces out");
                    return Err(self.push(d));
                }
                Some(TokenKind::RBrace) => {
                    let close = self.bump();
                    return Ok(Constraints {
                        items,
                        span: open.span.to(close.span),
                    });
                }
                Some(_) => {}
            }
            items.push(self.constraint()?);
            match self.peek_kind() {
                Some(TokenKind::Comma) => {
                    self.bump();
                }
                Some(TokenKind::RBrace) => {}
                _ => {
                    let d = Diagnostic::error(
                        self.here(),
                        format!("expected `,` or `}}`, found {}", self.found()),
                    )
                    .with_label("expected `,` or `}`")
                    .with_secondary(open.span, "constraints start here")
                    .with_help("separate the values with commas: `{off, auto, on}`");
                    return Err(self.push(d));
                }
            }
        }
    }

    fn constraint(&mut self) -> PResult<Constraint> {
        let Some(t) = self.peek() else {
            return Err(self.expected("a constraint"));
        };
        match t.kind {
            TokenKind::String => {
                self.bump();
                Ok(Constraint { kind: ConstraintKind::String(unescape(self.text(t))), span: t.span })
            }
            k if is_name(k) || matches!(k, TokenKind::Keyword(Keyword::True | Keyword::False)) => {
                self.bump();
                Ok(Constraint { kind: ConstraintKind::Symbol(self.text(t).to_string()), span: t.span })
            }
            TokenKind::Number | TokenKind::Minus => {
                let (low, span) = self.signed_number("a number")?;
                if self.eat(TokenKind::Minus).is_none() {
                    return Ok(Constraint { kind: ConstraintKind::Number(low), span });
                }
                let high = if matches!(self.peek_kind(), Some(TokenKind::Number | TokenKind::Minus)) {
                    Some(self.signed_number("the upper end of the range")?)
                } else {
                    None
                };
                let span = span.to(self.prev_span());
                if let Some((h, _)) = high
                    && h < low
                {
                    let d = Diagnostic::error(span, format!("the range `{low}-{h}` is empty"))
                        .with_label("the lower end is above the upper end")
                        .with_help(format!("write `{h}-{low}`"));
                    return Err(self.push(d));
                }
                Ok(Constraint { kind: ConstraintKind::Range { low: Some(low), high: high.map(|h| h.0) }, span })
            }
            _ => Err(self.expected_help(
                "a constraint",
                "constraints are names `{off, on}`, numbers `{0.00, 0.50}`, ranges `{0-100}`, `{10-}` or strings `{\"a b\"}`",
            )),
        }
    }

    fn initial_value(&mut self) -> PResult<Expr> {
        let what = "an initial value: a number, a string, TRUE, FALSE or an enum value";
        let Some(t) = self.peek() else {
            return Err(self.expected(what));
        };
        let kind = match t.kind {
            TokenKind::Number | TokenKind::Minus => {
                let (d, span) = self.signed_number("a number after `-`")?;
                return Ok(Expr {
                    kind: ExprKind::Number(d),
                    span,
                });
            }
            TokenKind::String => ExprKind::String(unescape(self.text(t))),
            TokenKind::Keyword(Keyword::True) => ExprKind::Bool(true),
            TokenKind::Keyword(Keyword::False) => ExprKind::Bool(false),
            k if is_name(k) => {
                let id = self.ident_from(t);
                ExprKind::Path(Path {
                    segments: vec![id],
                    span: t.span,
                })
            }
            _ => return Err(self.expected(what)),
        };
        self.bump();
        Ok(Expr { kind, span: t.span })
    }

    /// `30 minutes` in a TIMER declaration.
    fn duration(&mut self) -> PResult<DurationLit> {
        let n = self.bump();
        let amount = self.whole(n, "a duration", u64::from(u32::MAX))?;
        let Some(u) = self.peek() else {
            return Err(self.expected_help(
                "a unit after the number",
                "write `30 minutes`, `5 seconds` or `2 hours`",
            ));
        };
        let word = self.text(u);
        let unit = if is_name(u.kind) {
            time_unit(word)
        } else {
            None
        };
        let Some(unit) = unit else {
            if let Some(full) = unit_abbreviation(word) {
                let d =
                    Diagnostic::error(u.span, format!("`{word}` is not a unit; write `{full}`"))
                        .with_label("abbreviated unit")
                        .with_help(format!("write `{} {full}`", self.text(n)));
                return Err(self.push(d));
            }
            return Err(self.expected("a unit: `seconds`, `minutes`, `hours` or `days`"));
        };
        self.bump();
        Ok(DurationLit {
            amount,
            unit,
            span: n.span.to(u.span),
        })
    }

    // ---------------------------------------------------------------- statements

    fn statement(&mut self, trivia: Trivia) -> PResult<Statement> {
        let kw = self.bump();
        let trigger = match kw.kind {
            TokenKind::Keyword(Keyword::At) => Trigger::At(self.at_spec(kw.span)?),
            TokenKind::Keyword(Keyword::On) => {
                if self.at_end() {
                    return Err(self.expected_help(
                        "what ON reacts to",
                        "write `ON press` (a subscribed variable), `ON offTimer` (a timer) or `ON mode.auto`",
                    ));
                }
                let e = self.expr_top()?;
                if let ExprKind::Binary {
                    op: crate::ast::BinaryOp::And,
                    lhs,
                    ..
                } = &e.kind
                {
                    let d = Diagnostic::error(
                        e.span,
                        "an ON line names one message; conditions go on `AND` lines",
                    )
                    .with_label("`AND` inside the ON line")
                    .with_help(format!(
                        "write `ON {}` and put each condition on its own `AND` line below",
                        self.src.get(lhs.span.range()).unwrap_or("…")
                    ));
                    return Err(self.push(d));
                }
                self.expect_eol()?;
                Trigger::On(e)
            }
            _ => {
                if self.at_end() {
                    return Err(
                        self.expected_help("a condition after WHEN", "write `WHEN state == on`")
                    );
                }
                let e = self.expr_top()?;
                self.expect_eol()?;
                Trigger::When(e)
            }
        };
        Ok(Statement {
            trigger,
            keyword: kw.span,
            conditions: Vec::new(),
            actions: Vec::new(),
            trivia,
            span: kw.span.to(self.prev_span()),
        })
    }

    #[cold]
    fn stray(&mut self, kw: Token) {
        let word = self.text(kw).to_ascii_uppercase();
        self.diags.push(
            Diagnostic::error(kw.span, format!("`{word}` line with no statement above it"))
                .with_label(format!("nothing for this `{word}` to continue"))
                .with_help(format!(
                    "`{word}` lines continue an `ON`, `AT` or `WHEN` statement; put one above it"
                )),
        );
    }

    fn condition(&mut self, trivia: Trivia) {
        let kw = self.bump();
        if matches!(self.open, Open::None) {
            return self.stray(kw);
        }
        if self.at_end() {
            self.expected_help("a condition after AND", "write `AND mode == auto`");
            return self.poison();
        }
        let Ok(expr) = self.expr_top().and_then(|e| self.expect_eol().map(|()| e)) else {
            return self.poison();
        };
        let span = kw.span.to(self.prev_span());
        let cond = Condition { expr, trivia, span };
        match &mut self.open {
            Open::Stmt(s) => {
                if let Some(first) = s.actions.first() {
                    let d = Diagnostic::error(kw.span, "an `AND` line after a `THEN` line")
                        .with_label("condition after an action")
                        .with_secondary(first.span, "first THEN line")
                        .with_help("put all `AND` lines before the first `THEN` line");
                    self.diags.push(d);
                    self.module.unparsed.conditions.push(cond);
                    return;
                }
                s.span = s.span.to(span);
                s.conditions.push(cond);
            }
            Open::Poisoned => self.module.unparsed.conditions.push(cond),
            Open::None => {}
        }
    }

    fn action(&mut self, trivia: Trivia) {
        let kw = self.bump();
        if matches!(self.open, Open::None) {
            return self.stray(kw);
        }
        let Ok(kind) = self.action_kind() else {
            return self.poison();
        };
        let span = kw.span.to(self.prev_span());
        let action = Action { kind, trivia, span };
        match &mut self.open {
            Open::Stmt(s) => {
                s.span = s.span.to(span);
                s.actions.push(action);
            }
            Open::Poisoned => self.module.unparsed.actions.push(action),
            Open::None => {}
        }
    }

    fn action_kind(&mut self) -> PResult<ActionKind> {
        if self.at_end() {
            return Err(self.expected_help(
                "an action after THEN",
                "write `THEN state = on`, `THEN count++` or `THEN log(\"…\")`",
            ));
        }
        if self.peek_kind().is_some_and(is_name) {
            // Look past `a.b.c` for `=`, `++` or `--`.
            let mut j = self.pos + 1;
            while j + 1 < self.end
                && self.toks[j].kind == TokenKind::Dot
                && is_name(self.toks[j + 1].kind)
            {
                j += 2;
            }
            let kind_at = |i: usize| (i < self.end).then(|| self.toks[i].kind);
            let step = match (kind_at(j), kind_at(j + 1)) {
                (Some(TokenKind::Plus), Some(TokenKind::Plus)) if j + 2 == self.end => Some(true),
                (Some(TokenKind::Minus), Some(TokenKind::Minus)) if j + 2 == self.end => {
                    Some(false)
                }
                _ => None,
            };
            if kind_at(j) == Some(TokenKind::Assign) {
                let target = self.path("a variable")?;
                self.bump();
                if self.at_end() {
                    return Err(self.expected("a value after `=`"));
                }
                let value = self.expr_top()?;
                self.expect_eol()?;
                return Ok(ActionKind::Assign { target, value });
            }
            if let Some(up) = step {
                let target = self.path("a variable")?;
                self.bump();
                self.bump();
                return Ok(ActionKind::Step { target, up });
            }
        }
        let e = self.expr_top()?;
        if let Some(TokenKind::Assign) = self.peek_kind() {
            let d = Diagnostic::error(e.span, "only a variable can be assigned to")
                .with_label("not a variable")
                .with_help("write `THEN variable = value`");
            return Err(self.push(d));
        }
        self.expect_eol()?;
        match e.kind {
            ExprKind::Path(_) | ExprKind::Call { .. } => Ok(ActionKind::Expr(e)),
            _ => {
                let d = Diagnostic::error(
                    e.span,
                    "this THEN line computes a value but does nothing with it",
                )
                .with_label("a value, not an action")
                .with_help("assign it (`THEN x = …`), or call a function such as `log(…)`");
                Err(self.push(d))
            }
        }
    }
}

#[cfg(test)]
mod tests;
