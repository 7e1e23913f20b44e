//! Tokens with byte spans: case-insensitive keywords and their aliases, literals, comments and
//! line breaks (the language is line oriented, so a line break is a token).
//!
//! The lexer is context-free and allocation-free per token: a [`Token`] is a kind and a span,
//! and the parser reads names, numbers and strings back from the source by span. Everything
//! that depends on context is left to the parser:
//! - `-` and `+` are always single tokens. `{0-100}` (a range), `{-5}` (a number), `x--` (a
//!   step in a THEN line) and `a--5` (`a - -5`) are told apart by the parser, which knows
//!   where it is.
//! - Keywords are recognised case-insensitively and aliases are mapped to their canonical
//!   keyword (`PUBLIC` → [`Keyword::Publish`]), but most keywords may still serve as names
//!   (`PUBLISH state {off, on}` uses `on` as an enum value); see [`Keyword::is_reserved`].
//! - Words that only mean something in an `AT` line (`midnight`, `Monday`, `minutes`, `pm`)
//!   stay identifiers, so they remain usable as enum values elsewhere.
//! - A clock time `4:30` is one [`TokenKind::Time`] token; `pm` in `4:30pm` is the identifier
//!   that follows it.
//!
//! Malformed input never stops the lexer: it emits a [`TokenKind::Error`] token and a
//! diagnostic, and goes on.

use crate::diag::Diagnostic;
use crate::span::Span;

/// One token: what it is and where. The text is `&source[span.range()]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A name: a letter, then letters, digits or `_`.
    Ident,
    /// A keyword, any case, aliases already mapped.
    Keyword(Keyword),
    /// Digits with at most one decimal point (`0.50`); no sign.
    Number,
    /// A terminated string literal, quotes included in the span.
    String,
    /// A clock time `h:mm` or `hh:mm` (validated by the parser).
    Time,
    /// `// …` up to the end of the line (the line break excluded).
    Comment,
    /// `\n` (a preceding `\r` is part of the span).
    Newline,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Dot,
    Hash,
    /// `=`
    Assign,
    /// `==`
    EqEq,
    /// `!=`
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    /// Something the lexer could not read; a diagnostic was reported for it.
    Error,
}

/// The keywords, aliases mapped to their canonical spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    Module,
    Agent,
    Subscribe,
    /// Also `PUBLIC`.
    Publish,
    /// Also `LOCAL`.
    Private,
    Topic,
    Timer,
    As,
    At,
    On,
    /// Also `IF`.
    When,
    /// Also `WITH`.
    And,
    Or,
    Not,
    Then,
    True,
    False,
    In,
    From,
    Through,
    Starting,
    Ending,
    Before,
    After,
}

impl Keyword {
    /// The canonical spelling, as the formatter prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Module => "MODULE",
            Keyword::Agent => "AGENT",
            Keyword::Subscribe => "SUBSCRIBE",
            Keyword::Publish => "PUBLISH",
            Keyword::Private => "PRIVATE",
            Keyword::Topic => "TOPIC",
            Keyword::Timer => "TIMER",
            Keyword::As => "AS",
            Keyword::At => "AT",
            Keyword::On => "ON",
            Keyword::When => "WHEN",
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Not => "NOT",
            Keyword::Then => "THEN",
            Keyword::True => "TRUE",
            Keyword::False => "FALSE",
            Keyword::In => "IN",
            Keyword::From => "FROM",
            Keyword::Through => "THROUGH",
            Keyword::Starting => "STARTING",
            Keyword::Ending => "ENDING",
            Keyword::Before => "BEFORE",
            Keyword::After => "AFTER",
        }
    }

    /// Reserved keywords can never be names: they are operators or literals inside
    /// expressions (`AND`, `OR`, `NOT`, `TRUE`, `FALSE`), end a name (`AS`) or start a line
    /// that could be confused with an action (`THEN`). Every other keyword only means
    /// something at the start of a line or inside an `AT` line, so `on`, `in` or `timer`
    /// can still be enum values or variable names.
    pub fn is_reserved(self) -> bool {
        matches!(
            self,
            Keyword::And
                | Keyword::Or
                | Keyword::Not
                | Keyword::Then
                | Keyword::True
                | Keyword::False
                | Keyword::As
        )
    }

    /// Looks a word up, ignoring ASCII case. No allocation: the word is upper-cased into a
    /// small stack buffer (no keyword is longer than nine letters).
    pub fn lookup(word: &str) -> Option<Keyword> {
        let bytes = word.as_bytes();
        if bytes.len() < 2 || bytes.len() > 9 {
            return None;
        }
        let mut buf = [0u8; 9];
        for (b, c) in buf.iter_mut().zip(bytes) {
            *b = c.to_ascii_uppercase();
        }
        Some(match &buf[..bytes.len()] {
            b"MODULE" => Keyword::Module,
            b"AGENT" => Keyword::Agent,
            b"SUBSCRIBE" => Keyword::Subscribe,
            b"PUBLISH" | b"PUBLIC" => Keyword::Publish,
            b"PRIVATE" | b"LOCAL" => Keyword::Private,
            b"TOPIC" => Keyword::Topic,
            b"TIMER" => Keyword::Timer,
            b"AS" => Keyword::As,
            b"AT" => Keyword::At,
            b"ON" => Keyword::On,
            b"WHEN" | b"IF" => Keyword::When,
            b"AND" | b"WITH" => Keyword::And,
            b"OR" => Keyword::Or,
            b"NOT" => Keyword::Not,
            b"THEN" => Keyword::Then,
            b"TRUE" => Keyword::True,
            b"FALSE" => Keyword::False,
            b"IN" => Keyword::In,
            b"FROM" => Keyword::From,
            b"THROUGH" => Keyword::Through,
            b"STARTING" => Keyword::Starting,
            b"ENDING" => Keyword::Ending,
            b"BEFORE" => Keyword::Before,
            b"AFTER" => Keyword::After,
            _ => return None,
        })
    }
}

/// Splits `source` into tokens (line breaks and comments included) and reports what it
/// could not read. Linear in the length of the source; never fails.
pub fn lex(source: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lexer = Lexer {
        src: source,
        bytes: source.as_bytes(),
        pos: 0,
        tokens: Vec::with_capacity(source.len() / 4 + 1),
        diags: Vec::new(),
    };
    lexer.run();
    (lexer.tokens, lexer.diags)
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    diags: Vec<Diagnostic>,
}

fn span(start: usize, end: usize) -> Span {
    // Sources beyond 4 GiB are not modules; saturate rather than wrap.
    Span::new(
        u32::try_from(start).unwrap_or(u32::MAX),
        u32::try_from(end).unwrap_or(u32::MAX),
    )
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn peek_at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token {
            kind,
            span: span(start, self.pos),
        });
    }

    fn run(&mut self) {
        // Some Windows editors start UTF-8 files with a byte-order mark; it is not text.
        if self.src.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let b = self.bytes[start];
            match b {
                b'\n' => {
                    self.pos += 1;
                    let s = if start > 0 && self.bytes[start - 1] == b'\r' {
                        start - 1
                    } else {
                        start
                    };
                    self.tokens.push(Token {
                        kind: TokenKind::Newline,
                        span: span(s, self.pos),
                    });
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'/' if self.peek_at(start + 1) == b'/' => {
                    while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                    if self.pos > start && self.bytes[self.pos - 1] == b'\r' {
                        self.pos -= 1;
                    }
                    self.push(TokenKind::Comment, start);
                    // Skip the `\r` we excluded so the newline token picks it up.
                    while self.pos < self.bytes.len() && self.bytes[self.pos] == b'\r' {
                        self.pos += 1;
                    }
                }
                b'0'..=b'9' => self.number(),
                b'"' => self.string(),
                b'a'..=b'z' | b'A'..=b'Z' => self.ident(),
                b'{' => self.single(TokenKind::LBrace),
                b'}' => self.single(TokenKind::RBrace),
                b'[' => self.single(TokenKind::LBracket),
                b']' => self.single(TokenKind::RBracket),
                b'(' => self.single(TokenKind::LParen),
                b')' => self.single(TokenKind::RParen),
                b',' => self.single(TokenKind::Comma),
                b'.' => self.single(TokenKind::Dot),
                b'#' => self.single(TokenKind::Hash),
                b'+' => self.single(TokenKind::Plus),
                b'-' => self.single(TokenKind::Minus),
                b'*' => self.single(TokenKind::Star),
                b'/' => self.single(TokenKind::Slash),
                b'=' => self.one_or_two(TokenKind::Assign, TokenKind::EqEq),
                b'<' => self.one_or_two(TokenKind::Lt, TokenKind::Le),
                b'>' => self.one_or_two(TokenKind::Gt, TokenKind::Ge),
                b'!' if self.peek_at(start + 1) == b'=' => {
                    self.pos += 2;
                    self.push(TokenKind::NotEq, start);
                }
                b'!' => self.error_token(
                    1,
                    "`!` is not an operator here",
                    "unexpected `!`",
                    "write `!=` to compare, or `NOT` to negate",
                ),
                b'&' if self.peek_at(start + 1) == b'&' => self.error_token(
                    2,
                    "`&&` is not an operator",
                    "unexpected `&&`",
                    "write `AND`",
                ),
                b'|' if self.peek_at(start + 1) == b'|' => self.error_token(
                    2,
                    "`||` is not an operator",
                    "unexpected `||`",
                    "write `OR`",
                ),
                _ => {
                    let c = self.src[start..].chars().next().unwrap_or('\u{fffd}');
                    if is_ident_start(c) {
                        self.ident();
                    } else if c.is_whitespace() {
                        self.pos += c.len_utf8();
                    } else {
                        self.pos += c.len_utf8();
                        self.push(TokenKind::Error, start);
                        let msg = if c == ':' {
                            "a `:` belongs in a clock time such as `4:30 pm` or `09:00`".to_string()
                        } else {
                            format!("unexpected character `{c}`")
                        };
                        self.diags.push(
                            Diagnostic::error(span(start, self.pos), msg)
                                .with_label("not part of the language"),
                        );
                    }
                }
            }
        }
    }

    fn single(&mut self, kind: TokenKind) {
        let start = self.pos;
        self.pos += 1;
        self.push(kind, start);
    }

    fn one_or_two(&mut self, one: TokenKind, two: TokenKind) {
        let start = self.pos;
        if self.peek_at(start + 1) == b'=' {
            self.pos += 2;
            self.push(two, start);
        } else {
            self.pos += 1;
            self.push(one, start);
        }
    }

    #[cold]
    fn error_token(&mut self, len: usize, message: &str, label: &str, help: &str) {
        let start = self.pos;
        self.pos += len;
        self.push(TokenKind::Error, start);
        self.diags.push(
            Diagnostic::error(span(start, self.pos), message)
                .with_label(label)
                .with_help(help),
        );
    }

    fn digits(&mut self) {
        while self.peek_at(self.pos).is_ascii_digit() {
            self.pos += 1;
        }
    }

    fn number(&mut self) {
        let start = self.pos;
        self.digits();
        if self.peek_at(self.pos) == b':' && self.peek_at(self.pos + 1).is_ascii_digit() {
            self.pos += 1;
            self.digits();
            self.push(TokenKind::Time, start);
            return;
        }
        if self.peek_at(self.pos) == b'.' && self.peek_at(self.pos + 1).is_ascii_digit() {
            self.pos += 1;
            self.digits();
            if self.peek_at(self.pos) == b'.' && self.peek_at(self.pos + 1).is_ascii_digit() {
                let first_dot = self.src[start..self.pos]
                    .find('.')
                    .map_or(start, |i| start + i);
                while self.peek_at(self.pos) == b'.' && self.peek_at(self.pos + 1).is_ascii_digit()
                {
                    self.pos += 1;
                    self.digits();
                }
                self.push(TokenKind::Error, start);
                let text = &self.src[start..self.pos];
                self.diags.push(
                    Diagnostic::error(
                        span(start, self.pos),
                        format!("`{text}` is not a number: it has more than one decimal point"),
                    )
                    .with_label("expected a number such as `0.50`")
                    .with_secondary(span(first_dot, first_dot + 1), "the decimal point")
                    .with_help("a number has at most one `.`"),
                );
                return;
            }
        }
        self.push(TokenKind::Number, start);
    }

    fn string(&mut self) {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek_at(self.pos) {
                b'"' => {
                    self.pos += 1;
                    self.push(TokenKind::String, start);
                    return;
                }
                b'\\' => {
                    let next = self.peek_at(self.pos + 1);
                    if next == b'"' || next == b'\\' {
                        self.pos += 2;
                    } else {
                        let esc_end = if next == 0 || next == b'\n' || next == b'\r' {
                            self.pos + 1
                        } else {
                            self.pos
                                + 1
                                + self.src[self.pos + 1..]
                                    .chars()
                                    .next()
                                    .map_or(1, char::len_utf8)
                        };
                        let esc = &self.src[self.pos..esc_end];
                        self.diags.push(
                            Diagnostic::error(span(self.pos, esc_end), format!("unknown escape `{esc}`"))
                                .with_label("not an escape")
                                .with_help("inside a string only `\\\"` (a quote) and `\\\\` (a backslash) are escapes"),
                        );
                        self.pos = esc_end;
                    }
                }
                b'\n' | 0 if self.pos >= self.bytes.len() || self.bytes[self.pos] == b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.bytes[end - 1] == b'\r' {
                        end -= 1;
                    }
                    self.tokens.push(Token {
                        kind: TokenKind::Error,
                        span: span(start, end),
                    });
                    self.diags.push(
                        Diagnostic::error(span(start, end), "unterminated string")
                            .with_label("this string has no closing `\"`")
                            .with_help("end the string with `\"` on the same line"),
                    );
                    return;
                }
                _ => self.pos += 1,
            }
        }
    }

    fn ident(&mut self) {
        let start = self.pos;
        while self.pos < self.bytes.len() {
            let b = self.bytes[self.pos];
            if b.is_ascii_alphanumeric() || b == b'_' {
                self.pos += 1;
            } else if b >= 0x80 {
                let c = self.src[self.pos..].chars().next().unwrap_or(' ');
                if is_ident_continue(c) {
                    self.pos += c.len_utf8();
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        let kind = match Keyword::lookup(&self.src[start..self.pos]) {
            Some(k) => TokenKind::Keyword(k),
            None => TokenKind::Ident,
        };
        self.push(kind, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let (toks, diags) = lex(src);
        assert!(diags.is_empty(), "{diags:?}");
        toks.into_iter().map(|t| t.kind).collect()
    }

    fn texts(src: &str) -> Vec<&str> {
        lex(src)
            .0
            .into_iter()
            .map(|t| &src[t.span.range()])
            .collect()
    }

    use Keyword as K;
    use TokenKind as T;

    #[test]
    fn keywords_ignore_case_and_map_aliases() {
        assert_eq!(
            kinds("then Then THEN public Local if With x"),
            [
                T::Keyword(K::Then),
                T::Keyword(K::Then),
                T::Keyword(K::Then),
                T::Keyword(K::Publish),
                T::Keyword(K::Private),
                T::Keyword(K::When),
                T::Keyword(K::And),
                T::Ident
            ]
        );
        assert_eq!(Keyword::lookup("subscribe"), Some(K::Subscribe));
        assert_eq!(Keyword::lookup("subscriber"), None);
        assert_eq!(Keyword::lookup("midnight"), None);
    }

    #[test]
    fn numbers_keep_their_text_and_minus_stays_separate() {
        assert_eq!(
            texts("{0-100} {-5} 0.50 x-- 10-"),
            [
                "{", "0", "-", "100", "}", "{", "-", "5", "}", "0.50", "x", "-", "-", "10", "-"
            ]
        );
        assert_eq!(kinds("5.x")[..2], [T::Number, T::Dot]);
    }

    #[test]
    fn clock_times_are_one_token_and_am_pm_follow() {
        assert_eq!(
            texts("4:30pm 4:30 pm 09:00"),
            ["4:30", "pm", "4:30", "pm", "09:00"]
        );
        assert_eq!(kinds("09:00")[0], T::Time);
    }

    #[test]
    fn comments_and_newlines_are_tokens_crlf_included() {
        let src = "a // hi\r\nb";
        let toks = lex(src).0;
        assert_eq!(
            toks.iter().map(|t| t.kind).collect::<Vec<_>>(),
            [T::Ident, T::Comment, T::Newline, T::Ident]
        );
        assert_eq!(&src[toks[1].span.range()], "// hi");
        assert_eq!(&src[toks[2].span.range()], "\r\n");
    }

    #[test]
    fn operators() {
        assert_eq!(
            kinds("= == != < <= > >= + - * / # . , ( ) [ ]"),
            [
                T::Assign,
                T::EqEq,
                T::NotEq,
                T::Lt,
                T::Le,
                T::Gt,
                T::Ge,
                T::Plus,
                T::Minus,
                T::Star,
                T::Slash,
                T::Hash,
                T::Dot,
                T::Comma,
                T::LParen,
                T::RParen,
                T::LBracket,
                T::RBracket
            ]
        );
    }

    #[test]
    fn strings_with_escapes_and_unterminated() {
        assert_eq!(kinds(r#""a \"b\" \\""#), [T::String]);
        let (toks, diags) = lex("x = \"open\nnext");
        assert_eq!(toks[2].kind, T::Error);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].message, "unterminated string");
        assert_eq!(diags[0].span, Span::new(4, 9));
        let (_, diags) = lex(r#""a\n""#);
        assert_eq!(diags[0].message, "unknown escape `\\n`");
    }

    #[test]
    fn errors_do_not_stop_the_lexer() {
        let (toks, diags) = lex("1.2.3 § && ok");
        assert_eq!(diags.len(), 3, "{diags:?}");
        assert_eq!(toks.last().map(|t| t.kind), Some(T::Ident));
        assert!(diags[0].message.contains("more than one decimal point"));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(kinds("\u{feff}MODULE m"), [T::Keyword(K::Module), T::Ident]);
    }

    #[test]
    fn token_size_is_locked() {
        // A token is a kind and a span, nothing owned: twelve bytes, copied freely.
        assert_eq!(std::mem::size_of::<Token>(), 12);
    }

    #[test]
    fn unicode_identifiers() {
        assert_eq!(texts("Äpfel_2 ü"), ["Äpfel_2", "ü"]);
    }
}
