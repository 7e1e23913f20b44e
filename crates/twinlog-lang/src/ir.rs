//! The compiled form the evaluator runs: variables are slot indices, enum values are interned
//! [`Sym`]s, expressions are a flat arena of small [`Node`]s that refer to each other by index,
//! and statements are index ranges into shared arrays. Nothing on the evaluator's hot path
//! hashes a name or allocates.
//!
//! [`compile`] is the whole front end in one call: parse, check and lower, collecting every
//! diagnostic. The checker ([`crate::check`]) builds the [`Program`] while it checks, so the
//! rules it enforces and the code it emits can never disagree.

use crate::diag::Diagnostic;
use crate::span::{LineIndex, Span};
use crate::time::spec::AtSpec;
use crate::value::{Sym, Value, decimal, num_cmp, num_eq};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;

/// A variable's index in an instance's state.
pub type Slot = u16;
/// An index into [`Program::nodes`].
pub type NodeId = u32;

/// A `start..start+len` range into one of the program's shared arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seg {
    pub start: u32,
    pub len: u32,
}

impl Seg {
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// Compile-time limits; exceeding one is a diagnostic, not a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Nesting depth of one expression (the evaluator recurses this deep at most).
    pub max_expr_depth: u32,
    /// Variables and timers per module (slots are `u16`).
    pub max_variables: u32,
}

impl Default for CompileLimits {
    fn default() -> Self {
        // 64 levels is far beyond any hand-written condition and keeps evaluator recursion
        // within a few KiB of stack.
        CompileLimits {
            max_expr_depth: 64,
            max_variables: 10_000,
        }
    }
}

/// A compiled module.
#[derive(Debug, Clone)]
pub struct Program {
    pub name: Arc<str>,
    /// `MODULE lamp[room]`: the key's name (`room`), also a read-only variable.
    pub instance_key: Option<Arc<str>>,
    pub key_slot: Option<Slot>,
    pub agent: Option<Arc<str>>,
    pub vars: Vec<VarInfo>,
    pub timers: Vec<TimerInfo>,
    /// Global names reserved by `TOPIC` declarations.
    pub topics: Vec<Arc<str>>,
    /// Interned enum value names; a [`Sym`] indexes here.
    pub symbols: Vec<Arc<str>>,
    /// The enum types: each lists its values in declaration order.
    pub enums: Vec<Vec<Sym>>,
    pub consts: Vec<Value>,
    pub nodes: Vec<Node>,
    /// Source span of each node, for runtime error messages.
    pub node_spans: Vec<Span>,
    /// Arguments of calls and `log`.
    pub args: Vec<NodeId>,
    pub ons: Vec<OnStmt>,
    pub ats: Vec<AtStmt>,
    pub whens: Vec<WhenStmt>,
    /// AND lines of all statements.
    pub conds: Vec<NodeId>,
    pub actions: Vec<Action>,
    pub action_spans: Vec<Span>,
    /// Variables each WHEN references.
    pub when_deps: Vec<Slot>,
    /// For each slot, the ON statements that a message on it may trigger (indices into `ons`).
    pub ons_by_slot: Vec<Vec<u32>>,
    /// For each timer, the ON statements its expiry may trigger.
    pub ons_by_timer: Vec<Vec<u32>>,
    /// A WHEN reads `system.clock`: every minute tick must run a cycle.
    pub when_uses_clock: bool,
    /// Per slot: is it a PUBLISH variable (a dense copy for the end of every cycle).
    pub is_publish: Vec<bool>,
    /// The enum of `system.clock#dayOfWeek` (Monday … Sunday), when used.
    pub day_enum: Option<u16>,
    pub source: Arc<str>,
    pub file: Arc<str>,
    pub(crate) symbol_index: HashMap<Arc<str>, Sym>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarKind {
    Subscribe,
    Publish,
    Private,
    /// The instance key of `MODULE m[key]`.
    Key,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// No constraints and no initial value: checked at run time.
    Any,
    Bool,
    Number,
    String,
    /// Index into [`Program::enums`].
    Enum(u16),
    Time,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Any => "a value",
            Type::Bool => "a boolean",
            Type::Number => "a number",
            Type::String => "a string",
            Type::Enum(_) => "an enum",
            Type::Time => "a time",
        }
    }

    /// Could a value of `self` meet a value of `other` (in `==`, an assignment)?
    pub fn compatible(self, other: Type) -> bool {
        match (self, other) {
            (Type::Any, _) | (_, Type::Any) => true,
            (Type::Enum(_), Type::Enum(_)) => true,
            (a, b) => a == b,
        }
    }
}

/// The allowed values of a variable.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintSet {
    Enum(u16),
    /// Listed numbers and inclusive ranges (`None` = unbounded); a value must match one.
    Numbers {
        values: Vec<Decimal>,
        ranges: Vec<(Option<Decimal>, Option<Decimal>)>,
    },
    Strings(Vec<Arc<str>>),
}

#[derive(Debug, Clone)]
pub struct VarInfo {
    /// The local name (alias if given).
    pub name: Arc<str>,
    pub kind: VarKind,
    /// Where messages come from or go to: `module.variable` / a topic name for SUBSCRIBE, the
    /// topic for `PUBLISH topic.name`, `None` for a plain PUBLISH (the module's own name) and
    /// PRIVATE.
    pub source: Option<Arc<str>>,
    pub ty: Type,
    pub constraint: Option<ConstraintSet>,
    pub initial: Value,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct TimerInfo {
    pub name: Arc<str>,
    pub duration: jiff::SignedDuration,
    pub span: Span,
}

/// One expression node. Children are earlier or later nodes in the same arena.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    Const(u32),
    Var(Slot),
    Attr(Slot, VarAttr),
    Clock(ClockAttr),
    /// `x.value`: the variable holds this enum value.
    EnumIs(Slot, Sym),
    Not(NodeId),
    Neg(NodeId),
    Bin(BinOp, NodeId, NodeId),
    Call(Builtin, Seg32),
}

/// A compact argument range (calls have few arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg32 {
    pub start: u32,
    pub len: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarAttr {
    /// The time of the last change (unset before the first).
    Timestamp,
    /// How many cycles changed it.
    Version,
    /// Whether it changed in the current cycle so far.
    Modified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockAttr {
    Now,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    DayOfWeek,
    /// The first sunrise of the current local date; unset on a date without one (polar
    /// day or night). A date with two (at the edge of the midnight sun) shows the earlier.
    Sunrise,
    /// The first sunset of the current local date; see `Sunrise`.
    Sunset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Abs,
    Min,
    Max,
    Round,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerOp {
    Start,
    Reset,
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Assign { slot: Slot, value: NodeId },
    Step { slot: Slot, up: bool },
    Timer { timer: u16, op: TimerOp },
    Log { args: Seg },
    Activate { slot: Slot },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEvent {
    /// A message on a subscribed variable, optionally only with this enum value.
    Var {
        slot: Slot,
        value: Option<Sym>,
    },
    Timer(u16),
}

#[derive(Debug, Clone, Copy)]
pub struct OnStmt {
    /// The `ON` keyword (its line names the statement in traces).
    pub span: Span,
    pub event: OnEvent,
    pub conds: Seg,
    pub actions: Seg,
}

#[derive(Debug, Clone)]
pub struct AtStmt {
    /// The `AT` keyword.
    pub span: Span,
    pub spec: AtSpec,
    pub conds: Seg,
    pub actions: Seg,
}

#[derive(Debug, Clone, Copy)]
pub struct WhenStmt {
    /// The `WHEN` keyword.
    pub span: Span,
    pub cond: NodeId,
    /// AND lines (all must hold too).
    pub conds: Seg,
    pub actions: Seg,
    /// Slots the WHEN line and its AND lines reference.
    pub deps: Seg,
    pub uses_clock: bool,
}

impl Program {
    pub fn symbol_name(&self, sym: Sym) -> &str {
        self.symbols.get(sym.0 as usize).map_or("?", |s| s)
    }

    /// The symbol for an enum value name, if any variable of this program declares it.
    pub fn symbol(&self, name: &str) -> Option<Sym> {
        self.symbol_index.get(name).copied()
    }

    /// The slot of a variable by local name (or by `module.variable` for a subscription).
    pub fn slot(&self, name: &str) -> Option<Slot> {
        self.vars
            .iter()
            .position(|v| &*v.name == name || v.source.as_deref() == Some(name))
            .map(|i| i as Slot)
    }

    pub fn timer(&self, name: &str) -> Option<u16> {
        self.timers
            .iter()
            .position(|t| &*t.name == name)
            .map(|i| i as u16)
    }

    pub fn var(&self, slot: Slot) -> &VarInfo {
        &self.vars[slot as usize]
    }

    /// Statement counts: (ON, AT, WHEN).
    pub fn trigger_counts(&self) -> (usize, usize, usize) {
        (self.ons.len(), self.ats.len(), self.whens.len())
    }

    /// The one-line summary `twinlog module check` prints:
    /// `lamp1: 4 variables, 1 timer, 2 ON, 1 AT, 1 WHEN`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let (on, at, when) = self.trigger_counts();
        let key = self
            .instance_key
            .as_ref()
            .map(|k| format!("[{k}]"))
            .unwrap_or_default();
        let vars = self.vars.iter().filter(|v| v.kind != VarKind::Key).count();
        format!(
            "{}{key}: {}, {}, {on} ON, {at} AT, {when} WHEN",
            self.name,
            plural(vars, "variable"),
            plural(self.timers.len(), "timer")
        )
    }

    /// 1-based line of a span in the module's source.
    /// The source line holding `span`'s start, trimmed (for traces: "ON press").
    pub fn line_text(&self, span: Span) -> &str {
        let start = (span.start as usize).min(self.source.len());
        let begin = self.source[..start].rfind('\n').map_or(0, |i| i + 1);
        let end = self.source[start..]
            .find('\n')
            .map_or(self.source.len(), |i| start + i);
        let line = &self.source[begin..end];
        // Drop a trailing `// comment`.
        line.split("//").next().unwrap_or(line).trim()
    }

    /// The source text of an expression node.
    pub fn node_text(&self, node: NodeId) -> &str {
        let span = self.node_spans[node as usize];
        self.source
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
            .trim()
    }

    pub fn line_of(&self, span: Span) -> u32 {
        LineIndex::new(&self.source)
            .line_col(&self.source, span.start)
            .line
    }

    /// A value as a person reads it (enum values by name).
    pub fn display_value(&self, value: &Value) -> String {
        let names = |s: Sym| self.symbol_name(s);
        value.display(&names).to_string()
    }

    /// Turns an enum value into its name (a string), for anything leaving the program.
    pub fn externalize(&self, value: &Value) -> Value {
        match value {
            Value::Enum(s) => Value::Str(self.symbols[s.0 as usize].clone()),
            v => v.clone(),
        }
    }

    /// Checks a value arriving from outside (a message) against a variable's type and
    /// constraints, turning enum names (strings) into this program's symbols.
    pub fn coerce_input(&self, slot: Slot, value: &Value) -> Result<Value, ConstraintViolation> {
        let var = self.var(slot);
        let value = match (var.ty, value) {
            (_, Value::Unset) => Value::Unset,
            (Type::Enum(_), Value::Str(s)) => match self.symbol(s) {
                Some(sym) => Value::Enum(sym),
                None => return Err(self.violation(slot, value)),
            },
            // `{false, true}` was an enum before it was a boolean: its names still arrive.
            (Type::Bool, Value::Str(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            (Type::Bool, Value::Str(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            (Type::Any, Value::Str(s)) => {
                // An untyped variable may still be compared with enum values of this
                // program (`SUBSCRIBE mode` then `mode == auto` would not check, but
                // `x = on` elsewhere might): keep strings as strings.
                Value::Str(s.clone())
            }
            (Type::Number, Value::Number(_))
            | (Type::Bool, Value::Bool(_))
            | (Type::String, Value::Str(_))
            | (Type::Time, Value::Time(_))
            | (Type::Any, _) => value.clone(),
            (Type::Enum(_), Value::Enum(_)) => value.clone(),
            _ => return Err(self.violation(slot, value)),
        };
        if self.satisfies(slot, &value) {
            Ok(self.conform(slot, value))
        } else {
            Err(self.violation(slot, &value))
        }
    }

    /// The places of a variable's number constraints (`{0.00, 0.50, 1.00}`: 2), which every
    /// number it holds is written with when that changes no value (`1` becomes `1.00`).
    #[inline]
    pub fn number_scale(&self, slot: Slot) -> Option<u32> {
        match &self.var(slot).constraint {
            Some(ConstraintSet::Numbers { values, ranges }) => values
                .first()
                .or_else(|| {
                    ranges
                        .iter()
                        .find_map(|(lo, hi)| lo.as_ref().or(hi.as_ref()))
                })
                .map(Decimal::scale),
            _ => None,
        }
    }

    /// `value` written as the variable's constraints write numbers ([`Program::number_scale`]).
    #[inline]
    pub fn conform(&self, slot: Slot, value: Value) -> Value {
        match (value, self.number_scale(slot)) {
            (Value::Number(n), Some(scale)) => Value::Number(decimal::conform(n, scale)),
            (v, _) => v,
        }
    }

    /// Whether a value meets the variable's constraints (unset always does).
    #[inline]
    pub fn satisfies(&self, slot: Slot, value: &Value) -> bool {
        match &self.var(slot).constraint {
            None => true,
            Some(set) => self.satisfies_set(set, value),
        }
    }

    fn satisfies_set(&self, set: &ConstraintSet, value: &Value) -> bool {
        match (set, value) {
            (_, Value::Unset) => true,
            (ConstraintSet::Enum(e), Value::Enum(s)) => self.enums[*e as usize].contains(s),
            (ConstraintSet::Numbers { values, ranges }, Value::Number(n)) => {
                values.iter().any(|v| num_eq(v, n))
                    || ranges.iter().any(|(lo, hi)| {
                        lo.as_ref().is_none_or(|lo| num_cmp(n, lo).is_ge())
                            && hi.as_ref().is_none_or(|hi| num_cmp(n, hi).is_le())
                    })
            }
            (ConstraintSet::Strings(list), Value::Str(s)) => list.contains(s),
            _ => false,
        }
    }

    /// The constraints of a variable as written: `{off, on}`, `{0-100}`.
    pub fn describe_constraint(&self, slot: Slot) -> String {
        match &self.var(slot).constraint {
            None => self.var(slot).ty.name().to_string(),
            Some(ConstraintSet::Enum(e)) => {
                let names: Vec<&str> = self.enums[*e as usize]
                    .iter()
                    .map(|s| self.symbol_name(*s))
                    .collect();
                format!("{{{}}}", names.join(", "))
            }
            Some(ConstraintSet::Numbers { values, ranges }) => {
                let mut parts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                parts.extend(ranges.iter().map(|(lo, hi)| {
                    format!(
                        "{}-{}",
                        lo.map(|d| d.to_string()).unwrap_or_default(),
                        hi.map(|d| d.to_string()).unwrap_or_default()
                    )
                }));
                format!("{{{}}}", parts.join(", "))
            }
            Some(ConstraintSet::Strings(list)) => {
                let parts: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
                format!("{{{}}}", parts.join(", "))
            }
        }
    }

    #[cold]
    fn violation(&self, slot: Slot, value: &Value) -> ConstraintViolation {
        ConstraintViolation {
            variable: self.var(slot).name.clone(),
            value: self.display_value(value),
            expected: self.describe_constraint(slot),
        }
    }
}

/// A value that a variable's type or constraints do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not allowed for `{variable}`; expected {expected}")]
pub struct ConstraintViolation {
    pub variable: Arc<str>,
    pub value: String,
    pub expected: String,
}

/// Parses, checks and lowers one module file. All diagnostics (parse and check) are returned
/// together when there is any error; warnings alone do not fail.
pub fn compile(file: &str, source: &str) -> Result<Program, Vec<Diagnostic>> {
    compile_with(file, source, &CompileLimits::default())
}

/// [`compile`] with explicit limits.
pub fn compile_with(
    file: &str,
    source: &str,
    limits: &CompileLimits,
) -> Result<Program, Vec<Diagnostic>> {
    match compile_full(file, source, limits) {
        (Some(program), _) => Ok(program),
        (None, diags) => Err(diags),
    }
}

/// Parse, check and lower, keeping warnings too: the program (when there is no error) and
/// every diagnostic, parse diagnostics first.
pub fn compile_full(
    file: &str,
    source: &str,
    limits: &CompileLimits,
) -> (Option<Program>, Vec<Diagnostic>) {
    let (module, mut diags) = crate::parser::parse(source);
    let (program, check_diags) = crate::check::check(&module, file, source, limits);
    diags.extend(check_diags);
    // One list in source order, as a person reads the file (stable: a line's own
    // diagnostics keep the order their stage found them in).
    diags.sort_by_key(|d| d.span.start);
    if diags.iter().any(Diagnostic::is_error) {
        (None, diags)
    } else {
        (Some(program), diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_types_are_size_locked() {
        assert_eq!(std::mem::size_of::<Node>(), 12);
        assert_eq!(std::mem::size_of::<Action>(), 12);
        assert_eq!(std::mem::size_of::<OnEvent>(), 12);
    }
}
