//! The syntax tree of one module file, as the parser builds it and the formatter prints it.
//!
//! The tree stays close to the text: names are unresolved ([`Path`]s), enum values are plain
//! names (they resolve in the context of the variable they meet, which is the checker's job),
//! keyword aliases (`PUBLIC`, `LOCAL`, `IF`, `WITH`) are already mapped to their canonical
//! kinds, and every line keeps its comments ([`Trivia`]) so `twinlog module fmt` loses none.
//! Every node carries a [`Span`] into the source.
//!
//! Two trees are "the same module" when they are equal after [`Module::without_trivia`]
//! ignores spans and comments — that is what the parse ∘ format ∘ parse property checks.

use crate::span::Span;
use crate::time::spec::AtSpec;
use rust_decimal::Decimal;

/// A whole module file. Parsing always yields one, plus diagnostics for what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    /// `MODULE name[key] AGENT a`; `None` when the file lacks a usable MODULE line
    /// (the parser reported it).
    pub header: Option<ModuleHeader>,
    /// Declarations and statements in source order (the formatter keeps the order).
    pub items: Vec<Item>,
    /// Comments after the last item.
    pub trailing_comments: Vec<Comment>,
    /// The comments before the MODULE line live in `header.trivia.leading`; a file without a
    /// header keeps them here.
    pub leading_comments: Vec<Comment>,
    /// What the parser kept of statements and declarations it could not read whole.
    pub unparsed: Unparsed,
}

/// The readable parts of broken statements and declarations, kept out of [`Module::items`]
/// (they are never formatted or run: the file has a syntax error) so the checker can still
/// resolve the names in them. Without it, one broken line hid every name error of its
/// statement, and a broken declaration made each use of its variable an error of its own.
/// Empty when the parse had no error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unparsed {
    /// The names declaration lines that failed to parse would have declared (name, last
    /// part of a dotted name, alias): uses of them are not reported again.
    pub names: Vec<String>,
    /// The trigger lines, AND lines and THEN lines of statements with a broken line.
    pub triggers: Vec<Trigger>,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleHeader {
    pub name: Ident,
    /// `MODULE lamp[room]`: one instance per value of `room`.
    pub instance_key: Option<Ident>,
    /// `AGENT name`: run only on the named agent.
    pub agent: Option<Ident>,
    pub trivia: Trivia,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Decl(Decl),
    Statement(Statement),
}

/// A name as written, with its span. Identifiers are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `name`, `module.variable`, `topic.name`, `mode.auto`, `system.clock`: one or more
/// identifiers joined by dots. What it refers to is decided by the checker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

/// A `// comment`; `text` excludes the slashes and the line break, keeps inner spacing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub text: String,
    pub span: Span,
    /// At least one blank line stood directly before this comment.
    pub blank_line_before: bool,
}

/// Comments and blank lines around one source line, kept for the formatter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trivia {
    /// Whole-line comments directly above this line.
    pub leading: Vec<Comment>,
    /// A comment at the end of this line.
    pub trailing: Option<Comment>,
    /// At least one blank line stood directly before this line, after its leading comments
    /// (blank lines before a comment are kept on that [`Comment`]).
    pub blank_line_before: bool,
}

// ---------------------------------------------------------------------------------------
// Declarations

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclKind {
    /// `SUBSCRIBE module.variable` or `SUBSCRIBE name` (a global topic variable).
    Subscribe,
    /// `PUBLISH name` (alias `PUBLIC`); `PUBLISH topic.name AS alias`.
    Publish,
    /// `PRIVATE name` (alias `LOCAL`).
    Private,
    /// `TOPIC topic.name`: reserves a global name.
    Topic,
    /// `TIMER name DURATION`.
    Timer,
}

/// `KIND name [ [key] ] [AS alias] [{constraints}] [= initial]`, parts after the name in any
/// order; `TIMER name 30 minutes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    pub kind: DeclKind,
    /// The span of the keyword as written.
    pub keyword: Span,
    pub name: Path,
    pub instance_key: Option<Ident>,
    pub alias: Option<Ident>,
    pub constraints: Option<Constraints>,
    /// The initial value: a literal (number, string, boolean) or an enum value name.
    pub initial: Option<Expr>,
    /// Only for `TIMER`.
    pub duration: Option<DurationLit>,
    pub trivia: Trivia,
    pub span: Span,
}

/// `{off, auto, on}`, `{0.00, 0.50}`, `{0-100}`, `{10-}`, `{"a b", c}`, `{-5}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    pub items: Vec<Constraint>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub kind: ConstraintKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintKind {
    /// An enum value (or, with strings, a bare word string: `{"a b", c}`).
    Symbol(String),
    Number(Decimal),
    String(String),
    /// Inclusive; `{10-}` has no upper bound. (`{-5}` is `Number(-5)`, not a range.)
    Range {
        low: Option<Decimal>,
        high: Option<Decimal>,
    },
}

/// `5 seconds`, `30 minutes`, `2 hours` (singular forms too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationLit {
    pub amount: u64,
    pub unit: TimeUnit,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl DurationLit {
    pub fn as_seconds(&self) -> u64 {
        let per = match self.unit {
            TimeUnit::Seconds => 1,
            TimeUnit::Minutes => 60,
            TimeUnit::Hours => 3600,
            TimeUnit::Days => 86_400,
        };
        self.amount.saturating_mul(per)
    }
}

// ---------------------------------------------------------------------------------------
// Statements

/// `ON …` / `AT …` / `WHEN …`, followed by its `AND` lines and `THEN` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub trigger: Trigger,
    /// The span of the keyword as written (`ON`, `AT`, `WHEN`/`IF`).
    pub keyword: Span,
    /// `AND` (alias `WITH`) lines: all must hold.
    pub conditions: Vec<Condition>,
    /// `THEN` lines, run in order.
    pub actions: Vec<Action>,
    /// Comments of the trigger line itself.
    pub trivia: Trivia,
    /// From the keyword to the end of the last AND/THEN line.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `ON press`, `ON offTimer`, `ON mode.auto`: matches a message (or timer expiry) on the
    /// variable; the checker decides what the expression may be.
    On(Expr),
    /// `AT 30 minutes before sunset ON weekdays`.
    At(AtSpec),
    /// `WHEN state == on` (alias `IF`).
    When(Expr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub expr: Expr,
    pub trivia: Trivia,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    pub trivia: Trivia,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    /// `target = value`; also `offTimer = start | reset | cancel` and `state = off`
    /// (the checker resolves the right-hand name in the target's context).
    Assign { target: Path, value: Expr },
    /// `x++` (`+1`) or `x--` (`-1`).
    Step { target: Path, up: bool },
    /// An expression as an action: `state.off`, `log("lamp on")`, `activate(alarm)`.
    Expr(Expr),
}

// ---------------------------------------------------------------------------------------
// Expressions

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    /// Exact decimal, scale kept (`0.50` has scale 2).
    Number(Decimal),
    String(String),
    Bool(bool),
    /// A variable, alias, `module.variable`, enum value, or `var.enumValue`.
    Path(Path),
    /// `v#timestamp`, `system.clock#hour`.
    Attribute {
        base: Path,
        attr: Ident,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `log(…)`, `activate(v)`, `abs(x)`, `min(a, b)`, `max(a, b)`, `round(x, places)`.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// Parentheses as written, kept so the formatter reproduces them.
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Not,
    Neg,
}

/// Binary operators; precedence lowest first: `OR`, `AND`, comparisons, `+ -`, `* /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    /// Binding power: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div => 6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

impl Path {
    /// `a.b.c` as written.
    pub fn dotted(&self) -> String {
        let mut s = String::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&seg.name);
        }
        s
    }
}

impl Module {
    /// The module's name, if it has a header.
    pub fn name(&self) -> Option<&str> {
        self.header.as_ref().map(|h| h.name.name.as_str())
    }

    pub fn decls(&self) -> impl Iterator<Item = &Decl> {
        self.items.iter().filter_map(|i| match i {
            Item::Decl(d) => Some(d),
            Item::Statement(_) => None,
        })
    }

    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.items.iter().filter_map(|i| match i {
            Item::Statement(s) => Some(s),
            Item::Decl(_) => None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Normalised comparison

impl Module {
    /// The same module with every comment and blank-line mark removed and every span set to
    /// zero: two texts that differ only in layout (what `twinlog module fmt` changes) give
    /// equal results. Decimal scale is part of [`Decimal`]'s value but not of its `==`
    /// (`0.5 == 0.50`), so compare formatted text too when scale matters.
    pub fn without_trivia(&self) -> Module {
        let mut m = self.clone();
        m.strip();
        m
    }

    fn strip(&mut self) {
        self.trailing_comments.clear();
        self.leading_comments.clear();
        if let Some(h) = &mut self.header {
            h.span = Span::default();
            h.trivia = Trivia::default();
            h.name.span = Span::default();
            strip_opt_ident(&mut h.instance_key);
            strip_opt_ident(&mut h.agent);
        }
        for item in &mut self.items {
            match item {
                Item::Decl(d) => d.strip(),
                Item::Statement(s) => s.strip(),
            }
        }
    }
}

fn strip_opt_ident(i: &mut Option<Ident>) {
    if let Some(i) = i {
        i.span = Span::default();
    }
}

impl Path {
    fn strip(&mut self) {
        self.span = Span::default();
        for s in &mut self.segments {
            s.span = Span::default();
        }
    }
}

impl Decl {
    fn strip(&mut self) {
        self.keyword = Span::default();
        self.span = Span::default();
        self.trivia = Trivia::default();
        self.name.strip();
        strip_opt_ident(&mut self.instance_key);
        strip_opt_ident(&mut self.alias);
        if let Some(c) = &mut self.constraints {
            c.span = Span::default();
            for item in &mut c.items {
                item.span = Span::default();
            }
        }
        if let Some(e) = &mut self.initial {
            e.strip();
        }
        if let Some(d) = &mut self.duration {
            d.span = Span::default();
        }
    }
}

impl Statement {
    fn strip(&mut self) {
        self.keyword = Span::default();
        self.span = Span::default();
        self.trivia = Trivia::default();
        match &mut self.trigger {
            Trigger::On(e) | Trigger::When(e) => e.strip(),
            Trigger::At(at) => at.span = Span::default(),
        }
        for c in &mut self.conditions {
            c.span = Span::default();
            c.trivia = Trivia::default();
            c.expr.strip();
        }
        for a in &mut self.actions {
            a.span = Span::default();
            a.trivia = Trivia::default();
            match &mut a.kind {
                ActionKind::Assign { target, value } => {
                    target.strip();
                    value.strip();
                }
                ActionKind::Step { target, .. } => target.strip(),
                ActionKind::Expr(e) => e.strip(),
            }
        }
    }
}

impl Expr {
    fn strip(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ExprKind::Number(_) | ExprKind::String(_) | ExprKind::Bool(_) => {}
            ExprKind::Path(p) => p.strip(),
            ExprKind::Attribute { base, attr } => {
                base.strip();
                attr.span = Span::default();
            }
            ExprKind::Unary { operand, .. } => operand.strip(),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.strip();
                rhs.strip();
            }
            ExprKind::Call { func, args } => {
                func.span = Span::default();
                for a in args {
                    a.strip();
                }
            }
            ExprKind::Paren(e) => e.strip(),
        }
    }
}
