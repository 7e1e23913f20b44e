//! The evaluator: one cycle per input (a message, a minute tick, a timer expiry) for one
//! module instance, with the semantics of LANGUAGE.md "One cycle".
//!
//! An [`Instance`] holds one instance's state (values, versions, change times, timers) and
//! reusable scratch buffers; [`Instance::run_cycle`] takes the compiled [`Program`], the
//! [`TimeContext`], the cycle's time and the input, and writes what the cycle produced into a
//! caller-owned [`CycleOutput`] that it clears first. Once the buffers have grown to their
//! working size a cycle allocates nothing (strings are shared `Arc<str>`s, numbers and enum
//! values are plain data, names are never looked up).
//!
//! Decisions where LANGUAGE.md is silent (copied into docs/LANGUAGE.md):
//! - **A failed cycle changes nothing.** The first runtime error (constraint violation,
//!   division by zero, a type error, a limit) stops the cycle and rolls back
//!   every variable and timer it changed; nothing is published. Two things stay: the message
//!   value that started the cycle (it was received, and it met the constraints), and the
//!   `log(…)` lines written before the error (they help find it).
//! - **Unset is like SQL's NULL**: arithmetic and functions on an unset value give unset; a
//!   comparison with unset is false, except `!=`, which is true; in `AND` / `OR` / `NOT` an
//!   unset value counts as false. Assigning an unset result leaves the variable unchanged and
//!   adds a note to the cycle's output ([`CycleOutput::notes`]); the cycle goes on.
//! - **Timers**: `start` does nothing to a running timer; `reset` (re)starts it whether or not
//!   it runs; `cancel` stops it. A timer's expiry is consumed even if its cycle fails.
//! - **`activate(v)`** publishes `v` without a value at the end of the cycle, unless `v`
//!   changed in that cycle, in which case its one publication carries the new value.
//! - **Publication order**: changed variables in declaration order, then activations.
//! - **`#modified`** is true when the variable changed in the current cycle so far;
//!   `#timestamp` is the time of its last change (unset before one); `#version` counts changes.
//! - **`log(a, b, …)`** writes its arguments separated by one space; strings without quotes.
//! - **Division** gives up to 28 significant digits with trailing zeros dropped (`10 / 4` is
//!   `2.5`); `+ -` keep the larger scale and `*` the sum of scales, zeros included
//!   ([`crate::value::decimal`]); a number constraint's places are kept ([`Program::conform`]).
//! - **`round(x, places)`** rounds half away from zero (2.5 → 3); `places` defaults to 0.
//! - A WHEN that reads `system.clock` treats the clock as changed on every tick cycle.

use crate::ir::*;
use crate::span::Span;
use crate::time::TimeContext;
use crate::value::{Sym, Value, decimal, num_cmp, num_eq, same_state};
use jiff::Timestamp;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt::Write as _;
use std::sync::Arc;

/// Internal result: the error is boxed so hot-path results stay two words plus a tag.
type R<T> = Result<T, Box<CycleError>>;

/// Run-time limits, part of the API: exceeding one is a [`CycleError`], never a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Expression nodes evaluated plus actions run in one cycle.
    pub max_ops_per_cycle: u32,
    /// Characters of `log` output per cycle (longer text is cut).
    pub max_log_chars_per_cycle: u32,
}

impl Default for Limits {
    fn default() -> Self {
        // The language has no loops, so a cycle's work is bounded by the module's size; the
        // limit only guards against pathological generated modules.
        Limits {
            max_ops_per_cycle: 100_000,
            max_log_chars_per_cycle: 64 * 1024,
        }
    }
}

/// What starts a cycle.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A message on a subscribed variable: `Some(value)` (already checked with
    /// [`Program::coerce_input`]) or `None` for a value-less event.
    Message { slot: Slot, value: Option<Value> },
    /// A minute tick (the cycle's time is the minute).
    Tick,
    /// A timer of this instance expired.
    Timer(u16),
}

/// One publication of a cycle: a changed PUBLISH variable, or a value-less `activate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub slot: Slot,
    pub value: Option<Value>,
}

impl Published {
    const EMPTY: Published = Published {
        slot: 0,
        value: None,
    };
}

/// What a cycle produced. Owned by the caller and reused: [`Instance::run_cycle`] clears it.
#[derive(Debug, Default)]
pub struct CycleOutput {
    pub publications: Vec<Published>,
    log_text: String,
    log_ends: Vec<usize>,
    /// Assignments skipped because their value was unset (`` `x` left unchanged: … ``).
    pub notes: Vec<String>,
    /// Whether any ON, AT or WHEN ran its THEN lines.
    pub fired: bool,
    /// Why the cycle did what it did, when `trace.enabled` (off: nothing is recorded and the
    /// cycle costs what it did before).
    pub trace: CycleTrace,
}

/// A statement of a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StmtRef {
    On(u32),
    At(u32),
    When(u32),
}

/// One statement the cycle considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceStep {
    pub stmt: StmtRef,
    /// `None`: every condition held and its THEN lines ran; else the first condition (an
    /// expression node) that did not hold.
    pub failed: Option<NodeId>,
}

/// The trace of one cycle (see [`CycleOutput::trace`]).
#[derive(Debug, Default)]
pub struct CycleTrace {
    pub enabled: bool,
    /// Statements considered, in evaluation order.
    pub steps: Vec<TraceStep>,
    /// Every variable the cycle changed: (slot, old, new), in slot order of first write.
    pub changes: Vec<(Slot, Value, Value)>,
}

impl CycleOutput {
    pub fn new() -> Self {
        CycleOutput::default()
    }

    pub fn clear(&mut self) {
        // Most cycles publish nothing: skip the call into the drop loop.
        if !self.publications.is_empty() {
            self.publications.clear();
        }
        self.log_text.clear();
        self.log_ends.clear();
        if !self.notes.is_empty() {
            self.notes.clear();
        }
        self.fired = false;
        if self.trace.enabled {
            self.trace.steps.clear();
            self.trace.changes.clear();
        }
    }

    /// The `log(…)` lines of the cycle, in order.
    pub fn logs(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.log_ends.iter().map(move |&end| {
            let s = &self.log_text[start..end];
            start = end;
            s
        })
    }
}

/// A runtime error: the cycle was rolled back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind} (line {line}: `{code}`)")]
pub struct CycleError {
    pub kind: CycleErrorKind,
    /// 1-based line in the module source (0 when not tied to a line).
    pub line: u32,
    /// The source text of the failing expression or action.
    pub code: String,
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CycleErrorKind {
    #[error("division by zero")]
    DivisionByZero,
    #[error("number too large")]
    Overflow,
    #[error("`{name}` has no value yet")]
    Unset { name: String },
    #[error(transparent)]
    Constraint(#[from] ConstraintViolation),
    #[error("expected {expected}, found {found}")]
    Type {
        expected: &'static str,
        found: &'static str,
    },
    #[error("`round` needs a whole number of places from 0 to 28, got {places}")]
    BadPlaces { places: String },
    #[error("more than {limit} operations in one cycle")]
    OperationLimit { limit: u32 },
}

/// The persistent state of an instance; see [`Instance::state`].
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceState {
    pub key: Option<Arc<str>>,
    /// Per slot.
    pub values: Vec<Value>,
    pub versions: Vec<u64>,
    pub stamps: Vec<Option<Timestamp>>,
    /// Per timer: when it expires.
    pub timers: Vec<Option<Timestamp>>,
}

/// A saved state that does not fit the program (another version of the module).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "saved state of `{module}` has {found_variables} variables and {found_timers} timers; \
     the module has {variables} and {timers}"
)]
pub struct StateMismatch {
    pub module: String,
    pub variables: usize,
    pub timers: usize,
    pub found_variables: usize,
    pub found_timers: usize,
}

/// The state of one module instance.
#[derive(Debug, Clone)]
pub struct Instance {
    key: Option<Arc<str>>,
    values: Vec<Value>,
    versions: Vec<u64>,
    stamps: Vec<Option<Timestamp>>,
    timers: Vec<Option<Timestamp>>,
    // Scratch, reused every cycle.
    /// First write of each slot this cycle: (slot, value before the cycle).
    undo_slots: Vec<Slot>,
    /// Parallel to `undo_slots` (two vectors, not one of pairs: a pair built on the stack
    /// and pushed caused store-forwarding stalls on the hottest path).
    undo_vals: Vec<Value>,
    /// Per slot: index + 1 into `undo`, 0 when untouched this cycle.
    touched: Vec<u32>,
    timer_undo: Vec<(u16, Option<Timestamp>)>,
    activated: Vec<Slot>,
    when_hits: Vec<bool>,
}

/// Evaluation context of one cycle.
struct Cx<'a> {
    prog: &'a Program,
    time_ctx: &'a TimeContext,
    time: Timestamp,
    tick: bool,
    ops: u32,
    limits: &'a Limits,
}

impl Instance {
    /// A fresh instance with the initial values (`key` for `MODULE m[key]`).
    pub fn new(prog: &Program, key: Option<Arc<str>>) -> Self {
        let n = prog.vars.len();
        let mut values: Vec<Value> = prog.vars.iter().map(|v| v.initial.clone()).collect();
        if let (Some(slot), Some(k)) = (prog.key_slot, &key) {
            values[slot as usize] = Value::Str(k.clone());
        }
        Instance {
            key,
            values,
            versions: vec![0; n],
            stamps: vec![None; n],
            timers: vec![None; prog.timers.len()],
            undo_slots: Vec::with_capacity(n),
            undo_vals: Vec::with_capacity(n),
            touched: vec![0; n],
            timer_undo: Vec::with_capacity(prog.timers.len()),
            activated: Vec::new(),
            when_hits: vec![false; prog.whens.len()],
        }
    }

    /// The persistent part of the instance (what a snapshot records; timers included, so
    /// they survive restarts). Enum values are this program's symbols: turn them into names
    /// with [`Program::externalize`] before storing across source versions.
    pub fn state(&self) -> InstanceState {
        InstanceState {
            key: self.key.clone(),
            values: self.values.clone(),
            versions: self.versions.clone(),
            stamps: self.stamps.clone(),
            timers: self.timers.clone(),
        }
    }

    /// An instance restored from [`Instance::state`] of the same program.
    pub fn from_state(prog: &Program, state: InstanceState) -> Result<Self, StateMismatch> {
        let (n, t) = (prog.vars.len(), prog.timers.len());
        if state.values.len() != n
            || state.versions.len() != n
            || state.stamps.len() != n
            || state.timers.len() != t
        {
            return Err(StateMismatch {
                module: prog.name.to_string(),
                variables: n,
                timers: t,
                found_variables: state.values.len(),
                found_timers: state.timers.len(),
            });
        }
        let mut inst = Instance::new(prog, state.key);
        inst.values = state.values;
        inst.versions = state.versions;
        inst.stamps = state.stamps;
        inst.timers = state.timers;
        Ok(inst)
    }

    pub fn key(&self) -> Option<&Arc<str>> {
        self.key.as_ref()
    }

    pub fn value(&self, slot: Slot) -> &Value {
        &self.values[slot as usize]
    }

    pub fn version(&self, slot: Slot) -> u64 {
        self.versions[slot as usize]
    }

    /// When each timer expires (`None` when not running).
    pub fn timers(&self) -> &[Option<Timestamp>] {
        &self.timers
    }

    /// The earliest running timer: (expiry, timer).
    pub fn next_timer(&self) -> Option<(Timestamp, u16)> {
        self.timers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (t, i as u16)))
            .min()
    }

    /// Runs one cycle at `time`. On error the cycle's changes are rolled back (see the module
    /// docs) and `out` holds only the log lines written before the error.
    pub fn run_cycle(
        &mut self,
        prog: &Program,
        time_ctx: &TimeContext,
        time: Timestamp,
        input: &Input,
        limits: &Limits,
        out: &mut CycleOutput,
    ) -> Result<(), CycleError> {
        out.clear();
        // The undo log is always empty here: `finish` and the error path drain it.
        debug_assert!(self.undo_slots.is_empty() && self.undo_vals.is_empty());
        self.timer_undo.clear();
        self.activated.clear();
        let mut cx = Cx {
            prog,
            time_ctx,
            time,
            tick: matches!(input, Input::Tick),
            ops: 0,
            limits,
        };
        let kept_slot = match input {
            Input::Message {
                slot,
                value: Some(_),
            } => Some(*slot),
            _ => None,
        };
        let result = self.cycle(&mut cx, input, out);
        match result {
            Ok(()) => {
                self.finish(prog, time, out);
                Ok(())
            }
            Err(e) => {
                // Subscribed variables are read-only in THEN, so the slot still holds the
                // message value: take it back before rolling back.
                let kept_message = kept_slot.map(|s| (s, self.values[s as usize].clone()));
                self.rollback();
                out.publications.clear();
                out.fired = false;
                if let Some((slot, v)) = kept_message {
                    self.write(slot, v);
                    self.finish(prog, time, out);
                    out.publications.clear();
                }
                self.clear_touched();
                Err(*e)
            }
        }
    }

    fn cycle(&mut self, cx: &mut Cx<'_>, input: &Input, out: &mut CycleOutput) -> R<()> {
        let prog = cx.prog;
        match input {
            &Input::Message { slot, ref value } => {
                let sym = match value {
                    Some(Value::Enum(s)) => Some(*s),
                    _ => None,
                };
                let valued = value.is_some();
                if let Some(v) = value {
                    self.write_from(slot, v);
                }
                for &i in &prog.ons_by_slot[slot as usize] {
                    let on = &prog.ons[i as usize];
                    if let OnEvent::Var {
                        value: Some(want), ..
                    } = on.event
                        && (!valued || sym != Some(want))
                    {
                        continue;
                    }
                    if self.check(cx, on.conds, StmtRef::On(i), out)? {
                        out.fired = true;
                        self.run_actions(cx, on.actions, out)?;
                        break;
                    }
                }
            }
            Input::Tick => {
                for (i, at) in prog.ats.iter().enumerate() {
                    if cx.time_ctx.fires_at(&at.spec, cx.time)
                        && self.check(cx, at.conds, StmtRef::At(i as u32), out)?
                    {
                        out.fired = true;
                        self.run_actions(cx, at.actions, out)?;
                        break;
                    }
                }
            }
            &Input::Timer(t) => {
                // Consumed whatever happens next: not in the undo log.
                if let Some(slot) = self.timers.get_mut(t as usize) {
                    *slot = None;
                }
                for &i in prog
                    .ons_by_timer
                    .get(t as usize)
                    .map_or(&[][..], Vec::as_slice)
                {
                    let on = &prog.ons[i as usize];
                    if self.check(cx, on.conds, StmtRef::On(i), out)? {
                        out.fired = true;
                        self.run_actions(cx, on.actions, out)?;
                        break;
                    }
                }
            }
        }
        // WHEN: evaluate every condition first, then run the matching ones once, in order.
        if !prog.whens.is_empty() {
            let mut any = false;
            for (i, w) in prog.whens.iter().enumerate() {
                let triggered = (w.uses_clock && cx.tick)
                    || prog.when_deps[w.deps.range()]
                        .iter()
                        .any(|&s| self.changed(s));
                let hit = if !triggered {
                    false
                } else if out.trace.enabled {
                    if self.truth_fast(cx, w.cond)? {
                        self.check(cx, w.conds, StmtRef::When(i as u32), out)?
                    } else {
                        out.trace.steps.push(TraceStep {
                            stmt: StmtRef::When(i as u32),
                            failed: Some(w.cond),
                        });
                        false
                    }
                } else {
                    self.truth_fast(cx, w.cond)? && self.all(cx, w.conds)?
                };
                self.when_hits[i] = hit;
                any |= hit;
            }
            // Most cycles trigger no WHEN: then there is no second pass.
            if any {
                for (i, w) in prog.whens.iter().enumerate() {
                    if self.when_hits[i] {
                        out.fired = true;
                        self.run_actions(cx, w.actions, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// End of a successful cycle: versions, change times, publications.
    fn finish(&mut self, prog: &Program, time: Timestamp, out: &mut CycleOutput) {
        // Old values are read in place, never moved out (see `assign`).
        for (k, &slot) in self.undo_slots.iter().enumerate() {
            let i = slot as usize;
            self.touched[i] = 0;
            if !same_state(&self.values[i], &self.undo_vals[k]) {
                self.versions[i] += 1;
                self.stamps[i] = Some(time);
                if out.trace.enabled {
                    out.trace.changes.push((
                        slot,
                        self.undo_vals[k].clone(),
                        self.values[i].clone(),
                    ));
                }
                if prog.is_publish[i] {
                    // Pushed from a constant and filled in place: a `Published` built on
                    // the stack and then moved stalls like a `Value` (see `assign`).
                    out.publications.push(Published::EMPTY);
                    if let Some(p) = out.publications.last_mut() {
                        p.slot = slot;
                        set_published(&mut p.value, &self.values[i]);
                    }
                }
            }
        }
        self.undo_slots.clear();
        // Most old values own nothing: a tag test each instead of the drop glue's jump table.
        while let Some(old) = self.undo_vals.pop() {
            if matches!(old, Value::Str(_) | Value::List(_) | Value::Object(_)) {
                drop(old);
            } else {
                std::mem::forget(old);
            }
        }
        // Declaration order; few entries, so an insertion sort.
        let pubs = &mut out.publications;
        for i in 1..pubs.len() {
            let mut j = i;
            while j > 0 && pubs[j - 1].slot > pubs[j].slot {
                pubs.swap(j - 1, j);
                j -= 1;
            }
        }
        if !self.activated.is_empty() {
            self.activated.sort_unstable();
            self.activated.dedup();
            for &slot in &self.activated {
                if !out.publications.iter().any(|p| p.slot == slot) {
                    out.publications.push(Published { slot, value: None });
                }
            }
        }
    }

    fn clear_touched(&mut self) {
        for &slot in &self.undo_slots {
            self.touched[slot as usize] = 0;
        }
        self.undo_slots.clear();
        self.undo_vals.clear();
    }

    fn rollback(&mut self) {
        while let (Some(slot), Some(old)) = (self.undo_slots.pop(), self.undo_vals.pop()) {
            self.values[slot as usize] = old;
            self.touched[slot as usize] = 0;
        }
        while let Some((t, old)) = self.timer_undo.pop() {
            self.timers[t as usize] = old;
        }
        self.activated.clear();
    }

    /// [`Instance::write`] from a value in place (see [`Instance::assign`] for why).
    #[inline(always)]
    fn write_from(&mut self, slot: Slot, v: &Value) {
        let i = slot as usize;
        if self.touched[i] == 0 {
            let old = std::mem::take(&mut self.values[i]);
            self.undo_vals.push(old);
            self.undo_slots.push(slot);
            self.touched[i] = self.undo_slots.len() as u32;
        }
        set_value(&mut self.values[i], v);
    }

    #[inline]
    fn write(&mut self, slot: Slot, v: Value) {
        let i = slot as usize;
        if self.touched[i] == 0 {
            let old = std::mem::replace(&mut self.values[i], v);
            self.undo_vals.push(old);
            self.undo_slots.push(slot);
            self.touched[i] = self.undo_slots.len() as u32;
        } else {
            self.values[i] = v;
        }
    }

    #[inline(always)]
    fn changed(&self, slot: Slot) -> bool {
        let t = self.touched[slot as usize];
        t != 0 && !same_state(&self.undo_vals[t as usize - 1], &self.values[slot as usize])
    }

    /// [`Instance::all`], recording the outcome in the trace when tracing.
    #[inline(always)]
    fn check(&self, cx: &mut Cx<'_>, conds: Seg, stmt: StmtRef, out: &mut CycleOutput) -> R<bool> {
        if !out.trace.enabled {
            return self.all(cx, conds);
        }
        for &c in &cx.prog.conds[conds.range()] {
            if !self.truth_fast(cx, c)? {
                out.trace.steps.push(TraceStep {
                    stmt,
                    failed: Some(c),
                });
                return Ok(false);
            }
        }
        out.trace.steps.push(TraceStep { stmt, failed: None });
        Ok(true)
    }

    #[inline(always)]
    fn all(&self, cx: &mut Cx<'_>, conds: Seg) -> R<bool> {
        for &c in &cx.prog.conds[conds.range()] {
            if !self.truth_fast(cx, c)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn run_actions(&mut self, cx: &mut Cx<'_>, actions: Seg, out: &mut CycleOutput) -> R<()> {
        let prog = cx.prog;
        for i in actions.range() {
            cx.count(i, true)?;
            match prog.actions[i] {
                Action::Assign { slot, value } => {
                    let span = prog.action_spans[i];
                    match prog.nodes[value as usize] {
                        // A constant is checked and copied in place.
                        Node::Const(c) => {
                            cx.count(value as usize, false)?;
                            self.assign(cx, slot, &prog.consts[c as usize], span)?;
                        }
                        // A variable is copied field by field (see `write_from`).
                        Node::Var(s) => {
                            cx.count(value as usize, false)?;
                            let v = copy_value(&self.values[s as usize]);
                            if v.is_unset() {
                                unset_note(cx, slot, value, out);
                                continue;
                            }
                            self.assign(cx, slot, &v, span)?;
                        }
                        _ => {
                            let v = self.eval(cx, value)?;
                            if v.is_unset() {
                                unset_note(cx, slot, value, out);
                                continue;
                            }
                            self.assign(cx, slot, &v, span)?;
                        }
                    }
                }
                Action::Step { slot, up } => {
                    let span = prog.action_spans[i];
                    let n = match &self.values[slot as usize] {
                        Value::Number(n) => *n,
                        Value::Unset => {
                            step_note(cx, slot, span, out);
                            continue;
                        }
                        other => {
                            return Err(cx.err(
                                span,
                                CycleErrorKind::Type {
                                    expected: "a number",
                                    found: other.kind_name(),
                                },
                            ));
                        }
                    };
                    let r = if up {
                        decimal::add(n, Decimal::ONE)
                    } else {
                        decimal::sub(n, Decimal::ONE)
                    };
                    let r = r.ok_or_else(|| cx.err(span, CycleErrorKind::Overflow))?;
                    self.assign(cx, slot, &Value::Number(r), span)?;
                }
                Action::Timer { timer, op } => {
                    let t = timer as usize;
                    let old = self.timers[t];
                    let due = cx.time.checked_add(prog.timers[t].duration).ok();
                    let new = match op {
                        TimerOp::Start => old.or(due),
                        TimerOp::Reset => due,
                        TimerOp::Cancel => None,
                    };
                    if new != old {
                        self.timer_undo.push((timer, old));
                        self.timers[t] = new;
                    }
                }
                Action::Log { args } => {
                    let limit = cx.limits.max_log_chars_per_cycle as usize;
                    for (k, &a) in prog.args[args.range()].iter().enumerate() {
                        let v = self.eval(cx, a)?;
                        if out.log_text.len() >= limit {
                            continue;
                        }
                        if k > 0 {
                            out.log_text.push(' ');
                        }
                        let names = |s: Sym| prog.symbol_name(s);
                        let tz = cx.time_ctx.time_zone();
                        let _ = write!(out.log_text, "{}", v.display_in(&names, tz));
                        if out.log_text.len() > limit {
                            let mut cut = limit;
                            while !out.log_text.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            out.log_text.truncate(cut);
                        }
                    }
                    out.log_ends.push(out.log_text.len());
                }
                Action::Activate { slot } => self.activated.push(slot),
            }
        }
        Ok(())
    }

    /// Checks `v` for `slot` and writes it. The value is taken by reference and copied into
    /// place field by field: moving a whole `Value` right after it was built piece by piece
    /// (tag byte, then payload) makes the CPU wait for the stores to drain (a store-forwarding
    /// stall), and that was the largest cost of a cycle.
    #[inline]
    fn assign(&mut self, cx: &Cx<'_>, slot: Slot, v: &Value, span: Span) -> R<()> {
        let var = cx.prog.var(slot);
        let type_ok = matches!(
            (v, var.ty),
            (Value::Number(_), Type::Number | Type::Any)
                | (Value::Bool(_), Type::Bool | Type::Any)
                | (Value::Enum(_), Type::Enum(_) | Type::Any)
        );
        if type_ok && cx.prog.satisfies(slot, v) {
            // A number with fewer places than its constraints' is written with theirs (cold:
            // the usual value already has them, and is copied in place).
            if let Value::Number(n) = v
                && var.constraint.is_some()
                && let Some(places) = cx.prog.number_scale(slot)
                && n.scale() < places
            {
                self.write(slot, Value::Number(decimal::at_least(*n, places)));
            } else {
                self.write_from(slot, v);
            }
            return Ok(());
        }
        // Everything else (strings, times, coercions, errors) the general way.
        let v = self.accept(cx, slot, v.clone(), span)?;
        self.write(slot, v);
        Ok(())
    }

    /// Checks a value for a variable: not unset, right type, within the constraints.
    fn accept(&self, cx: &Cx<'_>, slot: Slot, v: Value, span: Span) -> R<Value> {
        let prog = cx.prog;
        let var = prog.var(slot);
        let v = match (&v, var.ty) {
            (Value::Unset, _) => {
                return Err(cx.err(
                    span,
                    CycleErrorKind::Unset {
                        name: cx.code(span),
                    },
                ));
            }
            (Value::Number(_), Type::Number | Type::Any)
            | (Value::Bool(_), Type::Bool | Type::Any)
            | (Value::Str(_), Type::String | Type::Any)
            | (Value::Enum(_), Type::Enum(_) | Type::Any)
            | (Value::Time(_), Type::Time | Type::Any)
            | (Value::List(_) | Value::Object(_), Type::Any) => v,
            // An untyped message value meeting an enum variable: by name (cold).
            (Value::Str(s), Type::Enum(_)) => match prog.symbol(s) {
                Some(sym) => Value::Enum(sym),
                None => return Err(cx.violation(slot, &v, span)),
            },
            (_, ty) => {
                return Err(cx.err(
                    span,
                    CycleErrorKind::Type {
                        expected: ty.name(),
                        found: v.kind_name(),
                    },
                ));
            }
        };
        if prog.satisfies(slot, &v) {
            Ok(v)
        } else {
            Err(cx.violation(slot, &v, span))
        }
    }

    /// [`Instance::truth`] for the shapes most conditions have, without a call: `x.value`,
    /// and a comparison of two numbers or two enum values held by variables or constants.
    /// It counts exactly the operations `truth` would (node, left, right); when the limit is
    /// that close it leaves everything to `truth`, so the error is the same too.
    #[inline(always)]
    fn truth_fast(&self, cx: &mut Cx<'_>, node: NodeId) -> R<bool> {
        let prog = cx.prog;
        let room = cx.limits.max_ops_per_cycle.saturating_sub(cx.ops);
        match prog.nodes[node as usize] {
            Node::EnumIs(s, sym) if room >= 1 => {
                cx.ops += 1;
                return Ok(matches!(self.values[s as usize], Value::Enum(x) if x == sym));
            }
            Node::Var(s) if room >= 1 => match self.values[s as usize] {
                Value::Bool(b) => {
                    cx.ops += 1;
                    return Ok(b);
                }
                Value::Unset => {
                    cx.ops += 1;
                    return Ok(false);
                }
                _ => {}
            },
            Node::Bin(op, l, r) if room >= 3 => {
                let ord = match (self.peek(prog, l), self.peek(prog, r)) {
                    (Some(Value::Number(a)), Some(Value::Number(b))) => match op {
                        BinOp::Eq | BinOp::Ne => {
                            cx.ops += 3;
                            return Ok(num_eq(a, b) == (op == BinOp::Eq));
                        }
                        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Some(num_cmp(a, b)),
                        _ => None,
                    },
                    (Some(Value::Enum(a)), Some(Value::Enum(b)))
                        if matches!(op, BinOp::Eq | BinOp::Ne) =>
                    {
                        cx.ops += 3;
                        return Ok((a == b) == (op == BinOp::Eq));
                    }
                    _ => None,
                };
                if let Some(ord) = ord {
                    cx.ops += 3;
                    return Ok(match op {
                        BinOp::Lt => ord.is_lt(),
                        BinOp::Le => ord.is_le(),
                        BinOp::Gt => ord.is_gt(),
                        _ => ord.is_ge(),
                    });
                }
            }
            _ => {}
        }
        self.truth(cx, node)
    }

    /// A condition: true, false, or unset (false); anything else is an error.
    fn truth(&self, cx: &mut Cx<'_>, node: NodeId) -> R<bool> {
        // Fast paths: conditions are mostly comparisons and enum tests; no Value is built.
        match cx.prog.nodes[node as usize] {
            Node::Bin(
                op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
                l,
                r,
            ) => {
                cx.count(node as usize, false)?;
                return self.compare(cx, op, l, r, node);
            }
            Node::Bin(BinOp::And, l, r) => {
                cx.count(node as usize, false)?;
                return Ok(self.truth_fast(cx, l)? && self.truth_fast(cx, r)?);
            }
            Node::Bin(BinOp::Or, l, r) => {
                cx.count(node as usize, false)?;
                return Ok(self.truth_fast(cx, l)? || self.truth_fast(cx, r)?);
            }
            Node::EnumIs(s, sym) => {
                cx.count(node as usize, false)?;
                return Ok(matches!(self.values[s as usize], Value::Enum(x) if x == sym));
            }
            _ => {}
        }
        match self.eval(cx, node)? {
            Value::Bool(b) => Ok(b),
            Value::Unset => Ok(false),
            other => Err(cx.err(
                cx.prog.node_spans[node as usize],
                CycleErrorKind::Type {
                    expected: "true or false",
                    found: other.kind_name(),
                },
            )),
        }
    }

    /// A variable's or constant's value by reference (no clone); `None` for other nodes.
    #[inline]
    fn peek<'x>(&'x self, prog: &'x Program, node: NodeId) -> Option<&'x Value> {
        match prog.nodes[node as usize] {
            Node::Var(s) => Some(&self.values[s as usize]),
            Node::Const(c) => Some(&prog.consts[c as usize]),
            _ => None,
        }
    }

    /// `==`, `!=`, `<`, `<=`, `>`, `>=`; unset makes every comparison false except `!=`.
    fn compare(&self, cx: &mut Cx<'_>, op: BinOp, l: NodeId, r: NodeId, node: NodeId) -> R<bool> {
        let prog = cx.prog;
        let (lo, ro);
        let a = match self.peek(prog, l) {
            Some(v) => {
                cx.count(l as usize, false)?;
                v
            }
            None => {
                lo = self.eval(cx, l)?;
                &lo
            }
        };
        let b = match self.peek(prog, r) {
            Some(v) => {
                cx.count(r as usize, false)?;
                v
            }
            None => {
                ro = self.eval(cx, r)?;
                &ro
            }
        };
        let ord = match op {
            BinOp::Eq => return Ok(a.lang_eq(b)),
            BinOp::Ne => return Ok(!a.lang_eq(b)),
            _ => match (a, b) {
                (Value::Unset, _) | (_, Value::Unset) => return Ok(false),
                (Value::Number(x), Value::Number(y)) => num_cmp(x, y),
                (Value::Str(x), Value::Str(y)) => x.cmp(y),
                (Value::Time(x), Value::Time(y)) => x.cmp(y),
                _ => {
                    let found = if matches!(a, Value::Number(_) | Value::Str(_) | Value::Time(_)) {
                        b
                    } else {
                        a
                    };
                    return Err(cx.err(
                        cx.prog.node_spans[node as usize],
                        CycleErrorKind::Type {
                            expected: "two numbers, strings or times",
                            found: found.kind_name(),
                        },
                    ));
                }
            },
        };
        Ok(match op {
            BinOp::Lt => ord.is_lt(),
            BinOp::Le => ord.is_le(),
            BinOp::Gt => ord.is_gt(),
            _ => ord.is_ge(),
        })
    }

    /// `l op r` for `+ - * /` (the node itself already counted).
    fn arith(&self, cx: &mut Cx<'_>, op: BinOp, l: NodeId, r: NodeId, node: NodeId) -> R<Decimal> {
        let span = || cx.prog.node_spans[node as usize];
        let a = self.number(cx, l)?;
        let b = self.number(cx, r)?;
        let result = match op {
            BinOp::Add => decimal::add(a, b),
            BinOp::Sub => decimal::sub(a, b),
            BinOp::Mul => decimal::mul(a, b),
            _ => {
                if b.is_zero() {
                    return Err(cx.err(span(), CycleErrorKind::DivisionByZero));
                }
                // Trailing zeros dropped: 10 / 4 is 2.5, not 2.50.
                a.checked_div(b).map(|q| q.normalize())
            }
        };
        result.ok_or_else(|| cx.err(span(), CycleErrorKind::Overflow))
    }

    fn number(&self, cx: &mut Cx<'_>, node: NodeId) -> R<Decimal> {
        match cx.prog.nodes[node as usize] {
            Node::Var(s) => {
                if let Value::Number(n) = self.values[s as usize] {
                    cx.count(node as usize, false)?;
                    return Ok(n);
                }
            }
            Node::Const(c) => {
                if let Value::Number(n) = cx.prog.consts[c as usize] {
                    cx.count(node as usize, false)?;
                    return Ok(n);
                }
            }
            // Arithmetic without a `Value` in between (no stalled reload, see `assign`).
            Node::Bin(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div), l, r) => {
                cx.count(node as usize, false)?;
                return self.arith(cx, op, l, r, node);
            }
            _ => {}
        }
        match self.eval(cx, node)? {
            Value::Number(n) => Ok(n),
            Value::Unset => {
                let span = cx.prog.node_spans[node as usize];
                Err(cx.err(
                    span,
                    CycleErrorKind::Unset {
                        name: cx.code(span),
                    },
                ))
            }
            other => Err(cx.err(
                cx.prog.node_spans[node as usize],
                CycleErrorKind::Type {
                    expected: "a number",
                    found: other.kind_name(),
                },
            )),
        }
    }

    fn eval(&self, cx: &mut Cx<'_>, node: NodeId) -> R<Value> {
        cx.count(node as usize, false)?;
        let prog = cx.prog;
        Ok(match prog.nodes[node as usize] {
            Node::Const(c) => prog.consts[c as usize].clone(),
            Node::Var(s) => self.values[s as usize].clone(),
            Node::EnumIs(s, sym) => {
                Value::Bool(matches!(self.values[s as usize], Value::Enum(x) if x == sym))
            }
            Node::Attr(s, a) => match a {
                VarAttr::Timestamp => self.stamps[s as usize].map_or(Value::Unset, Value::Time),
                VarAttr::Version => Value::Number(Decimal::from(self.versions[s as usize])),
                VarAttr::Modified => Value::Bool(self.changed(s)),
            },
            Node::Clock(a) => {
                let parts = || cx.time_ctx.local_parts(cx.time);
                match a {
                    ClockAttr::Now => Value::Time(cx.time),
                    ClockAttr::Year => Value::Number(Decimal::from(parts().year)),
                    ClockAttr::Month => Value::Number(Decimal::from(parts().month)),
                    ClockAttr::Day => Value::Number(Decimal::from(parts().day)),
                    ClockAttr::Hour => Value::Number(Decimal::from(parts().hour)),
                    ClockAttr::Minute => Value::Number(Decimal::from(parts().minute)),
                    ClockAttr::DayOfWeek => {
                        let d = parts().weekday as usize;
                        match prog.day_enum.and_then(|e| prog.enums[e as usize].get(d)) {
                            Some(sym) => Value::Enum(*sym),
                            None => Value::Unset,
                        }
                    }
                    ClockAttr::Sunrise => cx
                        .time_ctx
                        .sunrise(parts().date())
                        .map_or(Value::Unset, Value::Time),
                    ClockAttr::Sunset => cx
                        .time_ctx
                        .sunset(parts().date())
                        .map_or(Value::Unset, Value::Time),
                }
            }
            Node::Not(x) => Value::Bool(!self.truth(cx, x)?),
            Node::Neg(x) => unset_is_unset(self.number(cx, x).map(|n| -n))?,
            Node::Bin(op, l, r) => match op {
                BinOp::And => Value::Bool(self.truth(cx, l)? && self.truth(cx, r)?),
                BinOp::Or => Value::Bool(self.truth(cx, l)? || self.truth(cx, r)?),
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                    Value::Bool(self.compare(cx, op, l, r, node)?)
                }
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                    unset_is_unset(self.arith(cx, op, l, r, node))?
                }
            },
            Node::Call(f, args) => unset_is_unset(self.call(cx, f, args, node))?,
        })
    }

    /// A built-in function of numbers.
    fn call(&self, cx: &mut Cx<'_>, f: Builtin, args: Seg32, node: NodeId) -> R<Decimal> {
        let prog = cx.prog;
        let span = || prog.node_spans[node as usize];
        let ids = &prog.args[args.start as usize..args.start as usize + args.len as usize];
        Ok(match f {
            Builtin::Abs => self.number(cx, ids[0])?.abs(),
            Builtin::Min | Builtin::Max => {
                let mut best = self.number(cx, ids[0])?;
                for &a in &ids[1..] {
                    let n = self.number(cx, a)?;
                    let ord = num_cmp(&n, &best);
                    if (f == Builtin::Min && ord.is_lt()) || (f == Builtin::Max && ord.is_gt()) {
                        best = n;
                    }
                }
                best
            }
            Builtin::Round => {
                let x = self.number(cx, ids[0])?;
                let places = match ids.get(1) {
                    Some(&p) => self.number(cx, p)?,
                    None => Decimal::ZERO,
                };
                if !places.fract().is_zero() || places < Decimal::ZERO || places > Decimal::from(28)
                {
                    return Err(cx.err(
                        span(),
                        CycleErrorKind::BadPlaces {
                            places: places.to_string(),
                        },
                    ));
                }
                // Integral and within 0..=28, so normalizing leaves the plain count.
                let dp = places.normalize().mantissa() as u32;
                x.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
            }
        })
    }
}

/// Arithmetic on an unset value is unset (like SQL's NULL): the rest of the expression and
/// the condition or assignment that reads it decide what that means.
#[inline]
fn unset_is_unset(r: R<Decimal>) -> R<Value> {
    match r {
        Ok(n) => Ok(Value::Number(n)),
        Err(e) if matches!(e.kind, CycleErrorKind::Unset { .. }) => Ok(Value::Unset),
        Err(e) => Err(e),
    }
}

/// `x = expr` where `expr` has no value: `x` keeps its value, and the cycle says why.
#[cold]
fn unset_note(cx: &Cx<'_>, slot: Slot, value: NodeId, out: &mut CycleOutput) {
    let span = cx.prog.node_spans[value as usize];
    out.notes.push(format!(
        "`{}` left unchanged: `{}` has no value (line {})",
        cx.prog.var(slot).name,
        cx.code(span),
        cx.prog.line_of(span)
    ));
}

/// `x++` / `x--` on an unset `x`: it stays unset, and the cycle says so.
#[cold]
fn step_note(cx: &Cx<'_>, slot: Slot, span: Span, out: &mut CycleOutput) {
    out.notes.push(format!(
        "`{}` left unchanged: it has no value to count from (line {})",
        cx.prog.var(slot).name,
        cx.prog.line_of(span)
    ));
}

/// Copies `src` into `dst` variant by variant, so every load matches the store that wrote
/// it (see [`Instance::assign`]).
#[inline(always)]
fn set_value(dst: &mut Value, src: &Value) {
    match *src {
        Value::Number(n) => *dst = Value::Number(n),
        Value::Enum(s) => *dst = Value::Enum(s),
        Value::Bool(b) => *dst = Value::Bool(b),
        Value::Unset => *dst = Value::Unset,
        _ => *dst = src.clone(),
    }
}

/// [`set_value`] into a publication.
#[inline(always)]
fn set_published(dst: &mut Option<Value>, src: &Value) {
    match *src {
        Value::Number(n) => *dst = Some(Value::Number(n)),
        Value::Enum(s) => *dst = Some(Value::Enum(s)),
        Value::Bool(b) => *dst = Some(Value::Bool(b)),
        _ => *dst = Some(src.clone()),
    }
}

/// A copy of a value built variant by variant (see [`set_value`]).
#[inline(always)]
fn copy_value(src: &Value) -> Value {
    match *src {
        Value::Number(n) => Value::Number(n),
        Value::Enum(s) => Value::Enum(s),
        Value::Bool(b) => Value::Bool(b),
        _ => src.clone(),
    }
}

impl Cx<'_> {
    #[inline]
    fn count(&mut self, at: usize, action: bool) -> R<()> {
        self.ops += 1;
        if self.ops > self.limits.max_ops_per_cycle {
            let span = if action {
                self.prog.action_spans[at]
            } else {
                self.prog.node_spans[at]
            };
            return Err(self.err(
                span,
                CycleErrorKind::OperationLimit {
                    limit: self.limits.max_ops_per_cycle,
                },
            ));
        }
        Ok(())
    }

    #[cold]
    fn err(&self, span: Span, kind: CycleErrorKind) -> Box<CycleError> {
        Box::new(CycleError {
            kind,
            line: self.prog.line_of(span),
            code: self.code(span),
        })
    }

    #[cold]
    fn code(&self, span: Span) -> String {
        self.prog
            .source
            .get(span.range())
            .unwrap_or("")
            .trim()
            .to_string()
    }

    #[cold]
    fn violation(&self, slot: Slot, v: &Value, span: Span) -> Box<CycleError> {
        let violation = ConstraintViolation {
            variable: self.prog.var(slot).name.clone(),
            value: self.prog.display_value(v),
            expected: self.prog.describe_constraint(slot),
        };
        self.err(span, CycleErrorKind::Constraint(violation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_output_hands_out_log_lines_in_order() {
        let mut out = CycleOutput::new();
        out.log_text.push_str("lamp onsecond");
        out.log_ends.extend([7, 13]);
        assert_eq!(out.logs().collect::<Vec<_>>(), ["lamp on", "second"]);
        out.clear();
        assert_eq!(out.logs().count(), 0);
    }
}
