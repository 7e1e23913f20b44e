//! The checker: resolves names, infers and checks types, resolves enum values in context,
//! validates constraints and declarations — and, in the same walk, lowers the module to the
//! [`Program`] the evaluator runs. Checking and lowering share one walk so the rules enforced
//! and the code emitted can never disagree.
//!
//! Every problem becomes a [`Diagnostic`] with a span, a label and, where we can guess, a
//! help line; the walk goes on after an error (a failed expression lowers to an untyped
//! placeholder that silences follow-up errors), so all problems of a file are reported, each
//! once. A help that proposes an edit ("did you mean", "declare it: …", a rewritten list)
//! carries it as a [`Fix`]; the fixture tests apply every fix and recompile, so a help that
//! leads to another error fails a test. Suggestions fit the place a name is used (`Use`): a
//! THEN target is offered writable variables, an ON line subscribed ones and timers.
//!
//! Name rules (decided here, LANGUAGE.md is silent):
//! - `SUBSCRIBE m.v` is known in expressions as `v` (or its alias) and as `m.v`.
//! - `PUBLISH topic.name` without alias is known as `name`.
//! - In an enum context (`mode == auto`, `state = off`) a declared enum value of that
//!   variable wins over a variable of the same name.
//! - The instance key of `MODULE lamp[room]` is a read-only string variable `room`.
//! - A WHEN that reads `system.clock` counts the clock as changed on every minute tick.

use crate::ast::{self, ActionKind, ConstraintKind, DeclKind, ExprKind, Trigger};
use crate::diag::{Diagnostic, Fix, suggest};
use crate::ir::*;
use crate::span::Span;
use crate::value::{Sym, Value};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Checks a parsed module and lowers it. The program is only meaningful when no error
/// diagnostic is returned.
pub fn check(
    module: &ast::Module,
    file: &str,
    source: &str,
    limits: &CompileLimits,
) -> (Program, Vec<Diagnostic>) {
    let name = module.name().unwrap_or("?");
    let mut c = Checker {
        prog: Program {
            name: Arc::from(name),
            instance_key: None,
            key_slot: None,
            agent: None,
            vars: Vec::new(),
            timers: Vec::new(),
            topics: Vec::new(),
            symbols: Vec::new(),
            enums: Vec::new(),
            consts: Vec::new(),
            nodes: Vec::new(),
            node_spans: Vec::new(),
            args: Vec::new(),
            ons: Vec::new(),
            ats: Vec::new(),
            whens: Vec::new(),
            conds: Vec::new(),
            actions: Vec::new(),
            action_spans: Vec::new(),
            when_deps: Vec::new(),
            ons_by_slot: Vec::new(),
            ons_by_timer: Vec::new(),
            when_uses_clock: false,
            day_enum: None,
            is_publish: Vec::new(),
            source: Arc::from(source),
            file: Arc::from(file),
            symbol_index: HashMap::new(),
        },
        diags: Vec::new(),
        names: HashMap::new(),
        publish_keys: Vec::new(),
        subscribe_keys: Vec::new(),
        limits: *limits,
        reads: Vec::new(),
        reads_clock: false,
        depth: 0,
        day_enum: None,
        renamed: HashMap::new(),
        decl_spans: HashMap::new(),
        unlisted: Vec::new(),
        typed_any: HashSet::new(),
        broken: module.unparsed.names.iter().cloned().collect(),
        enum_words: enum_words(module),
        decl_anchor: decl_anchor(module, source),
    };
    c.header(module);
    for decl in module.decls() {
        c.decl(decl);
    }
    c.publish_subscribe_conflicts();
    c.duplicate_subscriptions();
    for stmt in module.statements() {
        c.statement(stmt);
    }
    c.unparsed(&module.unparsed);
    c.report_unlisted();
    c.finish();
    (c.prog, c.diags)
}

/// The longest TIMER: 100 years (of 365.25 days), far inside the instants the clock can
/// hold, so a started timer always gets a due time.
const MAX_TIMER_SECONDS: u64 = 36_525 * 86_400;

/// Where a name is used, for suggestions that fit the place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// In an expression: any variable.
    Read,
    /// On an ON line: a subscribed variable or a timer.
    Event,
    /// Set on a THEN line: a PUBLISH or PRIVATE variable, or a timer.
    Target,
    /// `activate(v)`: a PUBLISH variable.
    Activate,
}

impl Use {
    /// Whether a variable of this kind can stand here.
    fn accepts(self, kind: VarKind) -> bool {
        match self {
            Use::Read => true,
            Use::Event => kind == VarKind::Subscribe,
            Use::Target => matches!(kind, VarKind::Publish | VarKind::Private),
            Use::Activate => kind == VarKind::Publish,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Entry {
    Var(Slot),
    Timer(u16),
}

struct Checker {
    prog: Program,
    diags: Vec<Diagnostic>,
    /// Local names (and aliases, and `module.variable` of subscriptions) → what and where.
    names: HashMap<String, (Entry, Span)>,
    /// (key, slot, span) of each publication / subscription, for the conflict check.
    publish_keys: Vec<(String, Slot, Span)>,
    subscribe_keys: Vec<(String, Slot, Span)>,
    limits: CompileLimits,
    /// Slots read by the expression being lowered (for WHEN dependencies).
    reads: Vec<Slot>,
    reads_clock: bool,
    depth: u32,
    day_enum: Option<u16>,
    /// Names whose declaration is broken (the parser or this checker already said why):
    /// their uses are not reported, one broken line being one error.
    broken: HashSet<String>,
    /// Names a declaration has but that are not its name here (`activate` of
    /// `PUBLISH activate AS bedtime`, `topic.name` of `PUBLISH topic.name`): what it is
    /// known as, and where that name is given.
    renamed: HashMap<String, (String, Span)>,
    /// The words THEN lines of the module set each `x` to (`x.value`, `x = word`), for the
    /// declaration to suggest when `x` is undeclared.
    enum_words: HashMap<String, Vec<String>>,
    /// `(variable, word, where)` of each `lamp == on` with an unconstrained `lamp`.
    unlisted: Vec<(Slot, String, Span)>,
    /// Variables without a type of their own (no constraint, no initial value) that some
    /// expression uses as a number, string, boolean, time or enum.
    typed_any: HashSet<Slot>,
    /// The whole declaration of each declared variable, for fixes that extend it.
    decl_spans: HashMap<Slot, Span>,
    /// Where a suggested declaration line goes: the end of the last declaration's line (or
    /// of the MODULE line), and what starts the new line (the file's line break and that
    /// line's indentation).
    decl_anchor: Option<(u32, String)>,
}

/// The type of a lowered expression; `None` after an error was reported (silences
/// follow-up errors about the same expression).
type Ty = Option<Type>;

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const CLOCK_ATTRS: [&str; 9] = [
    "now",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "dayOfWeek",
    "sunrise",
    "sunset",
];
const VAR_ATTRS: [&str; 3] = ["timestamp", "version", "modified"];
/// Functions that compute a value, for expressions.
const VALUE_FUNCTIONS: [&str; 4] = ["abs", "min", "max", "round"];
/// Functions that do something, each on a THEN line of its own.
const ACTION_FUNCTIONS: [&str; 2] = ["log", "activate"];
const THEN_FORMS: &str =
    "THEN takes an assignment (`x = …`), `x++`, `x--`, `state.off`, `log(…)` or `activate(…)`";

impl Checker {
    // ---------------------------------------------------------------------------------
    // Helpers

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn intern(&mut self, name: &str) -> Sym {
        if let Some(s) = self.prog.symbol_index.get(name) {
            return *s;
        }
        let sym = Sym(self.prog.symbols.len() as u32);
        let name: Arc<str> = Arc::from(name);
        self.prog.symbols.push(name.clone());
        self.prog.symbol_index.insert(name, sym);
        sym
    }

    fn node(&mut self, node: Node, span: Span) -> NodeId {
        self.prog.nodes.push(node);
        self.prog.node_spans.push(span);
        (self.prog.nodes.len() - 1) as NodeId
    }

    fn konst(&mut self, value: Value, span: Span) -> NodeId {
        self.prog.consts.push(value);
        let i = (self.prog.consts.len() - 1) as u32;
        self.node(Node::Const(i), span)
    }

    /// A placeholder for an expression that failed to check.
    fn poisoned(&mut self, span: Span) -> (NodeId, Ty) {
        (self.konst(Value::Unset, span), None)
    }

    fn name_candidates(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.names.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    fn enum_values(&self, e: u16) -> Vec<&str> {
        self.prog.enums[e as usize]
            .iter()
            .map(|s| self.prog.symbol_name(*s))
            .collect()
    }

    fn enum_list_text(&self, e: u16) -> String {
        self.enum_values(e)
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn day_enum(&mut self) -> u16 {
        if let Some(e) = self.day_enum {
            return e;
        }
        let syms: Vec<Sym> = DAYS.iter().map(|d| self.intern(d)).collect();
        self.prog.enums.push(syms);
        let e = (self.prog.enums.len() - 1) as u16;
        self.day_enum = Some(e);
        e
    }

    fn var_name(&self, slot: Slot) -> &str {
        &self.prog.vars[slot as usize].name
    }

    fn declare(&mut self, name: &str, entry: Entry, span: Span) -> bool {
        if let Some((_, first)) = self.names.get(name) {
            let first = *first;
            self.error(
                Diagnostic::error(span, format!("`{name}` is declared twice"))
                    .with_label("second declaration")
                    .with_secondary(first, "first declared here")
                    .with_help("give one of them another name (or an `AS` alias)"),
            );
            return false;
        }
        self.names.insert(name.to_string(), (entry, span));
        true
    }

    // ---------------------------------------------------------------------------------
    // Declarations

    fn header(&mut self, module: &ast::Module) {
        let Some(h) = &module.header else { return };
        self.prog.agent = h.agent.as_ref().map(|a| Arc::from(a.name.as_str()));
        if let Some(key) = &h.instance_key {
            self.prog.instance_key = Some(Arc::from(key.name.as_str()));
            let slot = self.prog.vars.len() as Slot;
            self.prog.vars.push(VarInfo {
                name: Arc::from(key.name.as_str()),
                kind: VarKind::Key,
                source: None,
                ty: Type::String,
                constraint: None,
                initial: Value::Unset,
                span: key.span,
            });
            self.prog.key_slot = Some(slot);
            self.declare(&key.name, Entry::Var(slot), key.span);
        }
    }

    fn decl(&mut self, d: &ast::Decl) {
        let segs = &d.name.segments;
        if segs.is_empty() {
            return;
        }
        let module_name = self.prog.name.to_string();
        // Instance key on a declaration: must be the module's.
        if let Some(k) = &d.instance_key {
            match self.prog.instance_key.clone() {
                None => self.error(
                    Diagnostic::error(
                        k.span,
                        format!("`[{}]` needs a module with instances", k.name),
                    )
                    .with_label("this module has no instance key")
                    .with_help(format!(
                        "declare it on the module: `MODULE {module_name}[{}]`",
                        k.name
                    )),
                ),
                Some(key) if *key != *k.name => self.error(
                    Diagnostic::error(k.span, format!("unknown instance key `{}`", k.name))
                        .with_label(format!("the instance key of this module is `{key}`"))
                        .with_help(format!("write `[{key}]`")),
                ),
                Some(_) => {}
            }
        }
        match d.kind {
            DeclKind::Topic => {
                if d.constraints.is_some() || d.initial.is_some() || d.alias.is_some() {
                    self.error(
                        Diagnostic::error(d.name.span, "a TOPIC only reserves a name")
                            .with_label("no alias, constraints or initial value here")
                            .with_help("declare the variable with PUBLISH or SUBSCRIBE"),
                    );
                }
                self.prog.topics.push(Arc::from(d.name.dotted().as_str()));
            }
            DeclKind::Timer => self.timer_decl(d),
            DeclKind::Subscribe | DeclKind::Publish | DeclKind::Private => {
                self.var_decl(d, &module_name)
            }
        }
    }

    fn timer_decl(&mut self, d: &ast::Decl) {
        if d.name.segments.len() != 1 {
            self.error(
                Diagnostic::error(d.name.span, "a TIMER name is a single word")
                    .with_label("no dots here")
                    .with_help("write e.g. `TIMER offTimer 30 minutes`"),
            );
            return;
        }
        if d.constraints.is_some() || d.initial.is_some() || d.alias.is_some() {
            self.error(
                Diagnostic::error(d.span, "a TIMER has only a name and a duration")
                    .with_label("no alias, constraints or initial value here")
                    .with_help("write e.g. `TIMER offTimer 30 minutes`"),
            );
        }
        // A bad duration still declares the timer (with none), so its uses are not
        // reported as unknown; the error keeps the module from compiling.
        let secs = match &d.duration {
            // The parser keeps a TIMER line it could not read by its name only, and has
            // already said what is wrong with the rest.
            None => 0,
            Some(dur) if dur.as_seconds() == 0 => {
                self.error(
                    Diagnostic::error(dur.span, "a TIMER's duration must be more than zero")
                        .with_label("zero")
                        .with_help("write e.g. `30 minutes`"),
                );
                0
            }
            Some(dur) if dur.as_seconds() > MAX_TIMER_SECONDS => {
                self.error(
                    Diagnostic::error(
                        dur.span,
                        format!(
                            "a TIMER's duration must be at most {} days (100 years)",
                            MAX_TIMER_SECONDS / 86_400
                        ),
                    )
                    .with_label("too long")
                    .with_help("write e.g. `365 days`"),
                );
                0
            }
            Some(dur) => dur.as_seconds(),
        };
        let name = &d.name.segments[0];
        if self.prog.timers.len() >= self.limits.max_variables as usize {
            return self.error(
                Diagnostic::error(d.name.span, "too many timers in one module")
                    .with_label(format!("more than {}", self.limits.max_variables))
                    .with_help("split the module in two"),
            );
        }
        let id = self.prog.timers.len() as u16;
        if self.declare(&name.name, Entry::Timer(id), name.span) {
            self.prog.timers.push(TimerInfo {
                name: Arc::from(name.name.as_str()),
                duration: jiff::SignedDuration::from_secs(secs as i64),
                span: name.span,
            });
        }
    }

    fn var_decl(&mut self, d: &ast::Decl, module_name: &str) {
        let segs = &d.name.segments;
        let kind = match d.kind {
            DeclKind::Subscribe => VarKind::Subscribe,
            DeclKind::Publish => VarKind::Publish,
            _ => VarKind::Private,
        };
        let dotted = d.name.dotted();
        let shape_ok = matches!(
            (kind, segs.len()),
            (VarKind::Subscribe | VarKind::Publish, 1 | 2) | (VarKind::Private, 1)
        );
        if !shape_ok {
            self.declaration_broken(d);
        }
        match (kind, segs.len()) {
            (VarKind::Subscribe, 1 | 2) | (VarKind::Publish, 1 | 2) | (VarKind::Private, 1) => {}
            (VarKind::Subscribe, _) => {
                return self.error(
                    Diagnostic::error(d.name.span, format!("cannot subscribe to `{dotted}`"))
                        .with_label("too many dots")
                        .with_help("SUBSCRIBE needs `module.variable` or a topic name"),
                );
            }
            (VarKind::Publish, _) => {
                return self.error(
                    Diagnostic::error(d.name.span, format!("cannot publish `{dotted}`"))
                        .with_label("too many dots")
                        .with_help("PUBLISH needs a name, or `topic.name AS alias`"),
                );
            }
            _ => {
                return self.error(
                    Diagnostic::error(d.name.span, format!("`{dotted}` is not a plain name"))
                        .with_label("no dots in a PRIVATE name")
                        .with_help(format!(
                            "write e.g. `PRIVATE {}`",
                            segs[segs.len() - 1].name
                        )),
                );
            }
        }
        let last = &segs[segs.len() - 1];
        let (local, local_span) = match &d.alias {
            Some(a) => (a.name.clone(), a.span),
            None => (last.name.clone(), last.span),
        };
        let (ty, constraint) = self.constraints(d, &local);
        let slot = self.prog.vars.len();
        if slot >= self.limits.max_variables as usize || slot >= Slot::MAX as usize {
            self.declaration_broken(d);
            return self.error(
                Diagnostic::error(d.name.span, "too many variables in one module")
                    .with_label(format!("more than {}", self.limits.max_variables))
                    .with_help("split the module in two"),
            );
        }
        let slot = slot as Slot;
        self.decl_spans.insert(slot, d.span);
        self.prog.vars.push(VarInfo {
            name: Arc::from(local.as_str()),
            kind,
            source: match kind {
                VarKind::Subscribe => Some(Arc::from(dotted.as_str())),
                VarKind::Publish if segs.len() == 2 => Some(Arc::from(dotted.as_str())),
                _ => None,
            },
            ty,
            constraint,
            initial: Value::Unset,
            span: local_span,
        });
        // Initial value, now that the type and constraints are known.
        if let Some(init) = &d.initial {
            let (value, vty) = self.initial_value(init, slot);
            let var_ty = self.prog.vars[slot as usize].ty;
            if let (Some(value), Some(vty)) = (value, vty) {
                if var_ty == Type::Any {
                    self.prog.vars[slot as usize].ty = vty;
                }
                if !var_ty.compatible(vty) {
                    let exp = self.prog.describe_constraint(slot);
                    self.error(
                        Diagnostic::error(
                            init.span,
                            format!("`{local}` cannot start as {}", vty.name()),
                        )
                        .with_label(format!("expected {exp}"))
                        .with_help(quote_help(&init.kind, var_ty)),
                    );
                } else if !self.prog.satisfies(slot, &value) {
                    let shown = self.prog.display_value(&value);
                    let exp = self.prog.describe_constraint(slot);
                    self.error(
                        Diagnostic::error(
                            init.span,
                            format!("`{shown}` is not allowed for `{local}`"),
                        )
                        .with_label(format!("expected {exp}")),
                    );
                } else {
                    self.prog.vars[slot as usize].initial = self.prog.conform(slot, value);
                }
            }
        }
        // Names: the local name; for subscriptions also `module.variable`.
        let conflict = self.names.get(&local).and_then(|(e, sp)| match e {
            Entry::Var(s) => Some((*s, *sp)),
            Entry::Timer(_) => None,
        });
        if let Some((other, first)) = conflict {
            let ok = self.prog.vars[other as usize].kind;
            if matches!(
                (ok, kind),
                (VarKind::Publish, VarKind::Subscribe) | (VarKind::Subscribe, VarKind::Publish)
            ) {
                self.error(
                    Diagnostic::error(local_span, format!("`{local}` is both PUBLISHed and SUBSCRIBEd"))
                        .with_label("second declaration")
                        .with_secondary(first, "first declared here")
                        .with_help("a module cannot receive what it publishes: keep the PUBLISH and let other modules SUBSCRIBE to it"),
                );
                return;
            }
        }
        self.declare(&local, Entry::Var(slot), local_span);
        self.remember_other_names(d, &local, local_span);
        if kind == VarKind::Subscribe && segs.len() == 2 && !self.names.contains_key(&dotted) {
            self.names
                .insert(dotted.clone(), (Entry::Var(slot), d.name.span));
        }
        match kind {
            VarKind::Subscribe => self.subscribe_keys.push((dotted, slot, d.name.span)),
            VarKind::Publish => {
                let key = if segs.len() == 2 {
                    dotted
                } else {
                    format!("{module_name}.{dotted}")
                };
                self.publish_keys.push((key, slot, d.name.span));
            }
            _ => {}
        }
    }

    /// A declaration rejected here declares nothing; its names are kept so its uses are not
    /// each another error.
    fn declaration_broken(&mut self, d: &ast::Decl) {
        let last = d.name.segments.last().map(|s| s.name.clone());
        let alias = d.alias.as_ref().map(|a| a.name.clone());
        self.broken
            .extend([Some(d.name.dotted()), last, alias].into_iter().flatten());
    }

    /// The names a person may write for this variable that are not its name here: the
    /// declared name under an alias, and `topic.name` of `PUBLISH topic.name`.
    fn remember_other_names(&mut self, d: &ast::Decl, local: &str, local_span: Span) {
        let segs = &d.name.segments;
        let mut other = vec![d.name.dotted()];
        if d.alias.is_some() {
            other.push(segs[segs.len() - 1].name.clone());
        }
        for name in other {
            // `SUBSCRIBE m.v` keeps `m.v` as a name of its own.
            let subscribed_path =
                d.kind == DeclKind::Subscribe && segs.len() == 2 && name.contains('.');
            if name != local && !subscribed_path {
                self.renamed
                    .entry(name)
                    .or_insert_with(|| (local.to_string(), local_span));
            }
        }
    }

    fn publish_subscribe_conflicts(&mut self) {
        let mut found = Vec::new();
        for (sk, _, sspan) in &self.subscribe_keys {
            for (pk, _, pspan) in &self.publish_keys {
                if sk == pk {
                    found.push((sk.clone(), *sspan, *pspan));
                }
            }
        }
        for (key, sspan, pspan) in found {
            self.error(
                Diagnostic::error(sspan, format!("`{key}` is both PUBLISHed and SUBSCRIBEd"))
                    .with_label("subscribed here")
                    .with_secondary(pspan, "published here")
                    .with_help("a module cannot receive what it publishes: keep the PUBLISH and let other modules SUBSCRIBE to it"),
            );
        }
    }

    /// Two subscriptions to one source would run two cycles per message (one per variable).
    /// Two with the same local name are already reported as a name declared twice.
    fn duplicate_subscriptions(&mut self) {
        let mut found = Vec::new();
        for (i, (key, slot, span)) in self.subscribe_keys.iter().enumerate() {
            let first = self.subscribe_keys[..i]
                .iter()
                .find(|(k, _, _)| k == key)
                .filter(|(_, s, _)| self.var_name(*s) != self.var_name(*slot));
            if let Some((_, first_slot, first_span)) = first {
                found.push((
                    key.clone(),
                    *span,
                    *first_span,
                    self.var_name(*first_slot).to_string(),
                ));
            }
        }
        for (key, span, first, first_name) in found {
            self.error(
                Diagnostic::error(span, format!("`{key}` is subscribed twice"))
                    .with_label("second subscription")
                    .with_secondary(first, "first subscribed here")
                    .with_help(format!(
                        "subscribe once and use `{first_name}` everywhere: each subscription would run its own cycle for every message"
                    )),
            );
        }
    }

    /// The type and constraint set from `{…}`; checks the list itself.
    fn constraints(&mut self, d: &ast::Decl, var: &str) -> (Type, Option<ConstraintSet>) {
        let Some(cs) = &d.constraints else {
            return (Type::Any, None);
        };
        if cs.items.is_empty() {
            self.error(
                Diagnostic::error(cs.span, format!("`{var}` has an empty constraint list"))
                    .with_label("no allowed values")
                    .with_help(
                        "list the values, e.g. `{off, on}` or `{0-100}`, or drop the braces",
                    ),
            );
            return (Type::Any, None);
        }
        let has = |f: fn(&ConstraintKind) -> bool| cs.items.iter().any(|c| f(&c.kind));
        let symbols = has(|k| matches!(k, ConstraintKind::Symbol(_)));
        let strings = has(|k| matches!(k, ConstraintKind::String(_)));
        let numbers =
            has(|k| matches!(k, ConstraintKind::Number(_) | ConstraintKind::Range { .. }));
        if numbers && (symbols || strings) {
            let first_num = cs
                .items
                .iter()
                .find(|c| {
                    matches!(
                        c.kind,
                        ConstraintKind::Number(_) | ConstraintKind::Range { .. }
                    )
                })
                .map_or(cs.span, |c| c.span);
            self.error(
                Diagnostic::error(
                    first_num,
                    format!("the constraints of `{var}` mix numbers and names"),
                )
                .with_label("a number among names")
                .with_help(
                    "a variable holds either numbers (`{0-100}`) or names (`{off, on}`), not both",
                ),
            );
            return (Type::Any, None);
        }
        if strings {
            let mut list: Vec<Arc<str>> = Vec::new();
            for c in &cs.items {
                let s = match &c.kind {
                    ConstraintKind::String(s) | ConstraintKind::Symbol(s) => s.as_str(),
                    _ => continue,
                };
                if list.iter().any(|x| &**x == s) {
                    self.error(
                        Diagnostic::error(c.span, format!("`{s}` is listed twice"))
                            .with_label("duplicate")
                            .with_help("remove one"),
                    );
                } else {
                    list.push(Arc::from(s));
                }
            }
            return (Type::String, Some(ConstraintSet::Strings(list)));
        }
        if symbols && !strings && is_boolean_list(cs) {
            // `{false, true}` (either order): a boolean, not an enum of two names.
            return (Type::Bool, None);
        }
        if symbols {
            let mut syms: Vec<Sym> = Vec::new();
            for c in &cs.items {
                let ConstraintKind::Symbol(s) = &c.kind else {
                    continue;
                };
                let sym = self.intern(s);
                if syms.contains(&sym) {
                    self.error(
                        Diagnostic::error(c.span, format!("`{s}` is listed twice"))
                            .with_label("duplicate")
                            .with_help("remove one"),
                    );
                } else {
                    syms.push(sym);
                }
            }
            self.prog.enums.push(syms);
            let e = (self.prog.enums.len() - 1) as u16;
            return (Type::Enum(e), Some(ConstraintSet::Enum(e)));
        }
        let mut values = Vec::new();
        let mut ranges = Vec::new();
        for c in &cs.items {
            match &c.kind {
                ConstraintKind::Number(n) => values.push(*n),
                ConstraintKind::Range { low, high } => {
                    if let (Some(l), Some(h)) = (low, high)
                        && l > h
                    {
                        self.error(
                            Diagnostic::error(c.span, format!("the range `{l}-{h}` is empty"))
                                .with_label("the low end is above the high end")
                                .with_help(format!("write `{h}-{l}`")),
                        );
                    }
                    ranges.push((*low, *high));
                }
                _ => {}
            }
        }
        self.check_scale(cs, var);
        (
            Type::Number,
            Some(ConstraintSet::Numbers { values, ranges }),
        )
    }

    /// All numbers of one list share a scale (`{0.00, 0.50}`). One error per list, and the
    /// fix writes every number with the largest scale written: that keeps each value
    /// (`0` becomes `0.00`), where the smallest would change some (`0.50` is not `0`).
    fn check_scale(&mut self, cs: &ast::Constraints, var: &str) {
        let numbers: Vec<(Decimal, Span)> = cs
            .items
            .iter()
            .flat_map(|c| constraint_numbers(&c.kind).map(move |n| (n, c.span)))
            .collect();
        // The first of the widest, and the first narrower one.
        let Some(&(widest, widest_span)) = numbers
            .iter()
            .min_by_key(|(n, _)| std::cmp::Reverse(n.scale()))
        else {
            return;
        };
        let scale = widest.scale();
        let Some(&(narrow, narrow_span)) = numbers.iter().find(|(n, _)| n.scale() < scale) else {
            return;
        };
        let list = rescaled_list(cs, scale);
        self.error(
            Diagnostic::error(
                narrow_span,
                format!("the numbers of `{var}` do not share a scale"),
            )
            .with_label(format!("`{narrow}` has {}", decimal_places(narrow.scale())))
            .with_secondary(widest_span, format!("`{widest}` has {scale}"))
            .with_help(format!(
                "write every number with {}: `{list}`",
                decimal_places(scale)
            ))
            .with_fix(Fix::replace(cs.span, list)),
        );
    }

    /// An initial value: a literal or an enum value of the variable.
    fn initial_value(&mut self, e: &ast::Expr, slot: Slot) -> (Option<Value>, Ty) {
        let var_ty = self.prog.vars[slot as usize].ty;
        let var = self.var_name(slot).to_string();
        match &e.kind {
            ExprKind::Number(n) => (Some(Value::Number(*n)), Some(Type::Number)),
            ExprKind::String(s) => (Some(Value::string(s)), Some(Type::String)),
            ExprKind::Bool(b) => (Some(Value::Bool(*b)), Some(Type::Bool)),
            ExprKind::Unary {
                op: ast::UnaryOp::Neg,
                operand,
            } => match &operand.kind {
                ExprKind::Number(n) => (Some(Value::Number(-*n)), Some(Type::Number)),
                _ => self.bad_initial(e),
            },
            ExprKind::Paren(inner) => self.initial_value(inner, slot),
            ExprKind::Path(p) if p.segments.len() == 1 => {
                let name = &p.segments[0].name;
                if let Some(ConstraintSet::Strings(list)) =
                    &self.prog.vars[slot as usize].constraint
                    && list.iter().any(|s| **s == **name)
                {
                    return (Some(Value::string(name)), Some(Type::String));
                }
                match var_ty {
                    Type::Enum(en) => {
                        match self
                            .prog
                            .symbol(name)
                            .filter(|s| self.prog.enums[en as usize].contains(s))
                        {
                            Some(sym) => (Some(Value::Enum(sym)), Some(var_ty)),
                            None => {
                                self.not_a_value(name, p.span, &var, en);
                                (None, None)
                            }
                        }
                    }
                    _ => {
                        self.error(
                            Diagnostic::error(p.span, format!("`{var}` declares no enum values"))
                                .with_label(format!("`{name}` is not a value of `{var}`"))
                                .with_help(format!("declare the values first: `{{{name}, …}}`")),
                        );
                        (None, None)
                    }
                }
            }
            _ => self.bad_initial(e),
        }
    }

    fn bad_initial(&mut self, e: &ast::Expr) -> (Option<Value>, Ty) {
        self.error(
            Diagnostic::error(e.span, "an initial value must be a literal")
                .with_label("not a literal")
                .with_help("write a number, a string, TRUE, FALSE or an enum value"),
        );
        (None, None)
    }

    fn not_a_value(&mut self, name: &str, span: Span, var: &str, e: u16) {
        let values = self.enum_values(e);
        let list = self.enum_list_text(e);
        let mut d = Diagnostic::error(span, format!("`{name}` is not a value of `{var}`"))
            .with_label(format!("expected one of {list}"));
        let day = (name.len() >= 2)
            .then(|| {
                DAYS.iter().find(|d| {
                    d.to_ascii_lowercase()
                        .starts_with(&name.to_ascii_lowercase())
                })
            })
            .flatten()
            .filter(|d| values.contains(d));
        if let Some(day) = day {
            d = d
                .with_help(format!("`{name}` is not a day; write `{day}`"))
                .with_fix(Fix::replace(span, *day));
        } else if let Some(s) = suggest(name, values.iter().copied()) {
            d = d
                .with_help(format!("did you mean `{s}`?"))
                .with_fix(Fix::replace(span, s));
        } else if self.names.contains_key(name) {
            d = d.with_help(format!(
                "`{name}` is a variable, but `{var}` holds one of {list}"
            ));
        }
        self.error(d);
    }

    // ---------------------------------------------------------------------------------
    // Statements

    fn statement(&mut self, s: &ast::Statement) {
        match &s.trigger {
            Trigger::On(e) => {
                let event = self.on_event(e);
                let conds = self.conditions(&s.conditions);
                let actions = self.actions(&s.actions);
                if let Some(event) = event {
                    self.prog.ons.push(OnStmt {
                        span: s.keyword,
                        event,
                        conds,
                        actions,
                    });
                }
            }
            Trigger::At(spec) => {
                self.at_spec(spec);
                let conds = self.conditions(&s.conditions);
                let actions = self.actions(&s.actions);
                self.prog.ats.push(AtStmt {
                    span: s.keyword,
                    spec: spec.clone(),
                    conds,
                    actions,
                });
            }
            Trigger::When(e) => {
                self.reads.clear();
                self.reads_clock = false;
                let cond = self.condition(e);
                let conds = self.conditions(&s.conditions);
                let mut deps = std::mem::take(&mut self.reads);
                deps.sort_unstable();
                deps.dedup();
                let uses_clock = self.reads_clock;
                let start = self.prog.when_deps.len() as u32;
                self.prog.when_deps.extend(&deps);
                let deps = Seg {
                    start,
                    len: deps.len() as u32,
                };
                let actions = self.actions(&s.actions);
                self.prog.when_uses_clock |= uses_clock;
                self.prog.whens.push(WhenStmt {
                    span: s.keyword,
                    cond,
                    conds,
                    actions,
                    deps,
                    uses_clock,
                });
            }
        }
    }

    /// The lines of statements the parser could not read whole: checked for what they say
    /// on their own (names, types), lowered into nothing that runs (the file has a syntax
    /// error, so no program is returned).
    fn unparsed(&mut self, u: &ast::Unparsed) {
        for t in &u.triggers {
            match t {
                Trigger::On(e) => {
                    let _ = self.on_event(e);
                }
                Trigger::At(spec) => self.at_spec(spec),
                Trigger::When(e) => {
                    let _ = self.condition(e);
                }
            }
        }
        let _ = self.conditions(&u.conditions);
        let _ = self.actions(&u.actions);
    }

    /// Dates and times that cannot exist (`ON February 30`, `25:00`, ENDING before
    /// STARTING). Sun times need a location only when run, not to check.
    fn at_spec(&mut self, spec: &crate::time::spec::AtSpec) {
        use crate::time::{TimeContext, TimeError};
        let ctx = TimeContext::new(jiff::tz::TimeZone::UTC).with_location(0.0, 0.0);
        let Err(e) = ctx.validate(spec) else { return };
        let span = match &e {
            TimeError::NoLocation { span, .. }
            | TimeError::InvalidTime { span, .. }
            | TimeError::InvalidMonth { span, .. }
            | TimeError::InvalidMonthDay { span, .. }
            | TimeError::InvalidDate { span, .. }
            | TimeError::EndingBeforeStarting { span, .. }
            | TimeError::OffsetTooLarge { span, .. } => *span,
            _ => spec.span,
        };
        self.error(Diagnostic::error(span, e.to_string()).with_label("in this AT line"));
    }

    fn on_event(&mut self, e: &ast::Expr) -> Option<OnEvent> {
        let help = "ON needs a subscribed variable or a timer, optionally with an enum value (`ON mode.auto`); put other conditions on AND lines";
        let path = match &e.kind {
            ExprKind::Path(p) => p,
            ExprKind::Paren(inner) => return self.on_event(inner),
            _ => {
                self.error(
                    Diagnostic::error(e.span, "ON needs a message to react to")
                        .with_label("not a variable or timer")
                        .with_help(help),
                );
                return None;
            }
        };
        let dotted = path.dotted();
        // Whole path first (`ON button1.press`), then `var.value`.
        if let Some((entry, _)) = self.names.get(&dotted).copied() {
            return self.on_entry(entry, None, path.span, &dotted);
        }
        if path.segments.len() == 2 {
            let base = &path.segments[0].name;
            let value = &path.segments[1];
            if let Some((entry, _)) = self.names.get(base.as_str()).copied() {
                let Entry::Var(slot) = entry else {
                    self.error(
                        Diagnostic::error(
                            path.span,
                            format!("`{base}` is a timer; it has no values"),
                        )
                        .with_label("a timer only expires")
                        .with_help(format!("write `ON {base}`")),
                    );
                    return None;
                };
                let Type::Enum(en) = self.prog.vars[slot as usize].ty else {
                    let tn = self.prog.vars[slot as usize].ty.name();
                    self.error(
                        Diagnostic::error(value.span, format!("`{base}` is not an enum"))
                            .with_label(format!("`{base}` holds {tn}"))
                            .with_help(format!(
                                "write `ON {base}` and test the value on an AND line"
                            )),
                    );
                    return None;
                };
                let sym = self
                    .prog
                    .symbol(&value.name)
                    .filter(|s| self.prog.enums[en as usize].contains(s));
                let Some(sym) = sym else {
                    self.not_a_value(&value.name, value.span, base, en);
                    return None;
                };
                return self.on_entry(entry, Some(sym), path.span, base);
            }
        }
        self.unknown(path, Use::Event);
        None
    }

    fn on_entry(
        &mut self,
        entry: Entry,
        value: Option<Sym>,
        span: Span,
        name: &str,
    ) -> Option<OnEvent> {
        match entry {
            Entry::Timer(t) => Some(OnEvent::Timer(t)),
            Entry::Var(slot) => {
                let kind = self.prog.vars[slot as usize].kind;
                if kind == VarKind::Subscribe {
                    return Some(OnEvent::Var { slot, value });
                }
                let what = match kind {
                    VarKind::Publish => "PUBLISHed",
                    VarKind::Key => "the instance key",
                    _ => "PRIVATE",
                };
                self.error(
                    Diagnostic::error(span, format!("`{name}` receives no messages"))
                        .with_label(format!("`{name}` is {what}"))
                        .with_help(format!("ON reacts to messages and timers; to react when `{name}` changes, write `WHEN {name} …`")),
                );
                None
            }
        }
    }

    fn conditions(&mut self, conds: &[ast::Condition]) -> Seg {
        let ids: Vec<NodeId> = conds.iter().map(|c| self.condition(&c.expr)).collect();
        let start = self.prog.conds.len() as u32;
        self.prog.conds.extend(ids);
        Seg {
            start,
            len: conds.len() as u32,
        }
    }

    fn condition(&mut self, e: &ast::Expr) -> NodeId {
        let (id, ty) = self.expr(e, None);
        self.typed_use(e, Type::Bool);
        if let Some(ty) = ty
            && !matches!(ty, Type::Bool | Type::Any)
        {
            let text = self.snippet(e.span);
            let help = match ty {
                Type::Enum(en) => {
                    let first = self
                        .enum_values(en)
                        .first()
                        .copied()
                        .unwrap_or("value")
                        .to_string();
                    format!("compare it: `{text} == {first}` or `{text}.{first}`")
                }
                Type::Number => format!("compare it: `{text} > 0`"),
                _ => format!("compare it: `{text} == …`"),
            };
            self.error(
                Diagnostic::error(e.span, "a condition must be true or false")
                    .with_label(format!("this is {}", ty.name()))
                    .with_help(help),
            );
        }
        id
    }

    fn snippet(&self, span: Span) -> String {
        self.prog
            .source
            .get(span.range())
            .unwrap_or("…")
            .to_string()
    }

    fn actions(&mut self, actions: &[ast::Action]) -> Seg {
        let mut lowered = Vec::new();
        for a in actions {
            if let Some(x) = self.action(a) {
                lowered.push((x, a.span));
            }
        }
        let start = self.prog.actions.len() as u32;
        let len = lowered.len() as u32;
        for (a, span) in lowered {
            self.prog.actions.push(a);
            self.prog.action_spans.push(span);
        }
        Seg { start, len }
    }

    /// A target of an assignment or step: a writable variable (or a timer for `=`).
    /// `value` is what an assignment gives the target: a bare word there makes an unknown
    /// target an enum to declare (`THEN state = on` wants `PRIVATE state {off, on}`).
    fn target(&mut self, p: &ast::Path, value: Option<&ast::Expr>) -> Option<Entry> {
        let dotted = p.dotted();
        let Some((entry, _)) = self.names.get(&dotted).copied() else {
            match (p.segments.as_slice(), value.and_then(|v| self.bare_word(v))) {
                ([base], Some(word)) => self.unknown_enum_target(base, &word),
                _ => self.unknown(p, Use::Target),
            }
            return None;
        };
        if let Entry::Var(slot) = entry {
            let kind = self.prog.vars[slot as usize].kind;
            if matches!(kind, VarKind::Subscribe | VarKind::Key) {
                let what = if kind == VarKind::Key {
                    "the instance key"
                } else {
                    "SUBSCRIBEd"
                };
                self.error(
                    Diagnostic::error(p.span, format!("`{dotted}` is read-only"))
                        .with_label(format!("`{dotted}` is {what}"))
                        .with_help("only PUBLISH and PRIVATE variables can be changed in THEN; declare one of your own"),
                );
                return None;
            }
        }
        Some(entry)
    }

    /// The target of `target = value`. When the target is unknown the value is still checked
    /// for names of its own (`x = -y` has two problems), unless it is a bare word that may
    /// be one of the unknown target's values.
    fn assign_target(&mut self, target: &ast::Path, value: &ast::Expr) -> Option<Entry> {
        let entry = self.target(target, Some(value));
        let unknown = !self.names.contains_key(&target.dotted());
        if entry.is_none() && unknown && !self.bare_unresolved(value) {
            let _ = self.expr(value, None);
        }
        entry
    }

    /// The word `value` is, when it names nothing declared (`on` in `state = on`).
    fn bare_word(&self, value: &ast::Expr) -> Option<String> {
        match &value.kind {
            ExprKind::Paren(inner) => self.bare_word(inner),
            ExprKind::Path(p) if self.bare_unresolved(value) => Some(p.segments[0].name.clone()),
            _ => None,
        }
    }

    fn action(&mut self, a: &ast::Action) -> Option<Action> {
        match &a.kind {
            ActionKind::Assign { target, value } => match self.assign_target(target, value)? {
                Entry::Timer(timer) => {
                    let op = match &value.kind {
                        ExprKind::Path(p) if p.segments.len() == 1 => {
                            match p.segments[0].name.to_ascii_lowercase().as_str() {
                                "start" => Some(TimerOp::Start),
                                "reset" => Some(TimerOp::Reset),
                                "cancel" => Some(TimerOp::Cancel),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    if op.is_none() {
                        self.error(
                            Diagnostic::error(
                                value.span,
                                format!("a timer cannot be set to `{}`", self.snippet(value.span)),
                            )
                            .with_label("expected `start`, `reset` or `cancel`")
                            .with_help(format!("write `{} = start`", target.dotted())),
                        );
                    }
                    Some(Action::Timer { timer, op: op? })
                }
                Entry::Var(slot) => {
                    let var_ty = self.prog.vars[slot as usize].ty;
                    let ctx = match var_ty {
                        Type::Enum(e) => Some((e, slot)),
                        _ => None,
                    };
                    let word = self
                        .unlisted_word(value, slot)
                        .or_else(|| self.string_in_context(value, Some(slot)));
                    let (node, ty) = match word {
                        Some(r) => r,
                        None => self.expr(value, ctx),
                    };
                    let ty = ty?;
                    self.typed_use(value, var_ty);
                    if var_ty == Type::Any && ty != Type::Any {
                        self.typed_any.insert(slot);
                    }
                    let name = self.var_name(slot).to_string();
                    if !var_ty.compatible(ty) {
                        let exp = self.prog.describe_constraint(slot);
                        self.error(
                            Diagnostic::error(
                                value.span,
                                format!("cannot assign {} to `{name}`", ty.name()),
                            )
                            .with_label(format!("`{name}` holds {exp}"))
                            .with_help(quote_help(&value.kind, var_ty)),
                        );
                        return None;
                    }
                    if let Node::Const(c) = self.prog.nodes[node as usize] {
                        let v = self.prog.consts[c as usize].clone();
                        if !self.prog.satisfies(slot, &v) {
                            let shown = self.prog.display_value(&v);
                            let exp = self.prog.describe_constraint(slot);
                            self.error(
                                Diagnostic::error(
                                    value.span,
                                    format!("`{shown}` is not allowed for `{name}`"),
                                )
                                .with_label(format!("expected {exp}")),
                            );
                            return None;
                        }
                    }
                    Some(Action::Assign { slot, value: node })
                }
            },
            ActionKind::Step { target, up } => match self.target(target, None)? {
                Entry::Timer(_) => {
                    self.error(
                        Diagnostic::error(target.span, format!("`{}` is a timer", target.dotted()))
                            .with_label("a timer cannot count")
                            .with_help("set it to `start`, `reset` or `cancel`"),
                    );
                    None
                }
                Entry::Var(slot) => {
                    let ty = self.prog.vars[slot as usize].ty;
                    if ty == Type::Any {
                        self.typed_any.insert(slot);
                    }
                    if !matches!(ty, Type::Number | Type::Any) {
                        let name = self.var_name(slot).to_string();
                        self.error(
                            Diagnostic::error(a.span, format!("`{name}` is not a number"))
                                .with_label(format!("`{name}` holds {}", ty.name()))
                                .with_help("`++` and `--` add or subtract 1 from a number"),
                        );
                        return None;
                    }
                    Some(Action::Step { slot, up: *up })
                }
            },
            ActionKind::Expr(e) => self.expr_action(e),
        }
    }

    fn expr_action(&mut self, e: &ast::Expr) -> Option<Action> {
        match &e.kind {
            ExprKind::Paren(inner) => self.expr_action(inner),
            ExprKind::Path(p) if p.segments.len() == 2 && !self.names.contains_key(&p.dotted()) => {
                // `state.off`: the enum shortcut for `state = off`.
                let base = &p.segments[0];
                let value = &p.segments[1];
                if !self.names.contains_key(base.name.as_str()) {
                    self.unknown_enum_target(base, &value.name);
                    return None;
                }
                let bpath = ast::Path {
                    segments: vec![base.clone()],
                    span: base.span,
                };
                let Entry::Var(slot) = self.target(&bpath, None)? else {
                    self.error(
                        Diagnostic::error(p.span, format!("`{}` is a timer", base.name))
                            .with_label("a timer has no values")
                            .with_help(format!("write `{} = start`", base.name)),
                    );
                    return None;
                };
                if let (Type::Bool, Some(b)) =
                    (self.prog.vars[slot as usize].ty, bool_word(&value.name))
                {
                    // `THEN door.true` is `THEN door = TRUE`.
                    let node = self.konst(Value::Bool(b), value.span);
                    return Some(Action::Assign { slot, value: node });
                }
                let Type::Enum(en) = self.prog.vars[slot as usize].ty else {
                    self.error(
                        Diagnostic::error(p.span, format!("`{}` is not an enum", base.name))
                            .with_label(format!(
                                "`{}` holds {}",
                                base.name,
                                self.prog.vars[slot as usize].ty.name()
                            ))
                            .with_help(format!(
                                "`{0}.value` sets an enum; write `{0} = …`",
                                base.name
                            )),
                    );
                    return None;
                };
                let sym = self
                    .prog
                    .symbol(&value.name)
                    .filter(|s| self.prog.enums[en as usize].contains(s));
                let Some(sym) = sym else {
                    self.not_a_value(&value.name, value.span, &base.name, en);
                    return None;
                };
                let node = self.konst(Value::Enum(sym), value.span);
                Some(Action::Assign { slot, value: node })
            }
            ExprKind::Call { func, args } if func.name == "log" => {
                if args.is_empty() {
                    self.error(
                        Diagnostic::error(e.span, "`log` needs something to write")
                            .with_label("no arguments")
                            .with_help("write e.g. `log(\"lamp on\")`"),
                    );
                    return None;
                }
                let ids: Vec<NodeId> = args.iter().map(|a| self.expr(a, None).0).collect();
                let start = self.prog.args.len() as u32;
                self.prog.args.extend(&ids);
                Some(Action::Log {
                    args: Seg {
                        start,
                        len: ids.len() as u32,
                    },
                })
            }
            ExprKind::Call { func, args } if func.name == "activate" => {
                let target = match args.as_slice() {
                    [a] => match &a.kind {
                        ExprKind::Path(p) => Some(p),
                        _ => None,
                    },
                    _ => None,
                };
                let Some(p) = target else {
                    self.error(
                        Diagnostic::error(e.span, "`activate` takes one PUBLISH variable")
                            .with_label(format!("{} argument(s)", args.len()))
                            .with_help("write e.g. `activate(alarm)`"),
                    );
                    return None;
                };
                let dotted = p.dotted();
                let Some((entry, _)) = self.names.get(&dotted).copied() else {
                    self.unknown(p, Use::Activate);
                    return None;
                };
                match entry {
                    Entry::Var(slot) if self.prog.vars[slot as usize].kind == VarKind::Publish => {
                        Some(Action::Activate { slot })
                    }
                    _ => {
                        self.error(
                            Diagnostic::error(
                                p.span,
                                format!("`{dotted}` is not a PUBLISH variable"),
                            )
                            .with_label("nothing to publish")
                            .with_help(
                                "`activate` publishes a value-less event on a PUBLISH variable",
                            ),
                        );
                        None
                    }
                }
            }
            ExprKind::Call { func, args } if !VALUE_FUNCTIONS.contains(&func.name.as_str()) => {
                self.unknown_action_function(func, args);
                None
            }
            _ => {
                // Check it anyway so names inside get their diagnostics; if one of them is
                // wrong, that is the problem to report, not the line's uselessness too.
                let (_, ty) = self.expr(e, None);
                ty?;
                self.error(
                    Diagnostic::error(e.span, "this THEN line does nothing")
                        .with_label("a value, not an action")
                        .with_help(THEN_FORMS),
                );
                None
            }
        }
    }

    /// `THEN send(1)`: on a THEN line only `log` and `activate` make sense, so those are the
    /// names to suggest (a value function here would only do nothing).
    #[cold]
    fn unknown_action_function(&mut self, func: &ast::Ident, args: &[ast::Expr]) {
        let name = func.name.as_str();
        let mut d = Diagnostic::error(func.span, format!("unknown function `{name}`"))
            .with_label("a THEN line calls `log(…)` or `activate(…)`");
        d = match suggest(name, ACTION_FUNCTIONS) {
            Some(s) => d
                .with_help(format!("did you mean `{s}`?"))
                .with_fix(Fix::replace(func.span, s)),
            None => d.with_help(THEN_FORMS),
        };
        self.error(d);
        for a in args {
            let _ = self.expr(a, None);
        }
    }

    // ---------------------------------------------------------------------------------
    // Expressions

    /// A name that resolves to nothing. Says so once, and where it can, how to fix it in a
    /// way that compiles: the name it is known by here, a close name that fits the place
    /// (`how`), or the declaration to add.
    #[cold]
    fn unknown(&mut self, p: &ast::Path, how: Use) {
        let dotted = p.dotted();
        if self.is_broken(p) || self.known_as(p) {
            return;
        }
        let mut d = Diagnostic::error(p.span, format!("unknown variable `{dotted}`"))
            .with_label("not declared in this module");
        if let Some(s) = self.suggest_for(&dotted, how) {
            d = d
                .with_help(format!("did you mean `{s}`?"))
                .with_fix(Fix::replace(p.span, s.clone()));
        } else if let Some((help, fix)) = self.declare_help(p, how) {
            d = d.with_help(help).with_fix(fix);
        }
        self.error(d);
    }

    /// A name (or the variable of `x.value`) whose declaration is broken.
    fn is_broken(&self, p: &ast::Path) -> bool {
        self.broken.contains(&p.dotted())
            || p.segments
                .first()
                .is_some_and(|s| self.broken.contains(&s.name))
    }

    /// `activate(activate)` after `PUBLISH activate AS bedtime`: the variable is there, under
    /// its alias. Reports that (true when it did), for the whole path or its first part.
    fn known_as(&mut self, p: &ast::Path) -> bool {
        let dotted = p.dotted();
        let (span, written, (alias, alias_span)) = match self.renamed.get(&dotted) {
            Some(r) => (p.span, dotted, r.clone()),
            None => match p.segments.as_slice() {
                [base, _] if !self.names.contains_key(&base.name) => {
                    match self.renamed.get(&base.name) {
                        Some(r) => (base.span, base.name.clone(), r.clone()),
                        None => return false,
                    }
                }
                _ => return false,
            },
        };
        self.error(
            Diagnostic::error(
                span,
                format!("`{written}` is known as `{alias}` in this module"),
            )
            .with_label(format!("no variable is called `{written}` here"))
            .with_secondary(alias_span, format!("known as `{alias}` here"))
            .with_help(format!("write `{alias}`"))
            .with_fix(Fix::replace(span, alias)),
        );
        true
    }

    /// The closest declared name that would be accepted where `how` says the name is used.
    fn suggest_for(&self, name: &str, how: Use) -> Option<String> {
        let fits = |e: &Entry| match (*e, how) {
            (Entry::Timer(_), Use::Event | Use::Target) => true,
            (Entry::Timer(_), _) => false,
            (Entry::Var(_), Use::Read) => true,
            (Entry::Var(s), _) => how.accepts(self.prog.vars[s as usize].kind),
        };
        let mut cands: Vec<&str> = self
            .names
            .iter()
            .filter(|(_, (e, _))| fits(e))
            .map(|(n, _)| n.as_str())
            .chain(self.broken_candidates(name))
            .collect();
        cands.sort_unstable();
        suggest(name, cands).map(str::to_string)
    }

    /// "declare it: `SUBSCRIBE a.b`" and the edit that adds that line, when the place says
    /// what kind of variable is meant.
    fn declare_help(&self, p: &ast::Path, how: Use) -> Option<(String, Fix)> {
        let dotted = p.dotted();
        let last = &p.segments.last()?.name;
        // The declaration would also claim the last part as a local name.
        if self.names.contains_key(last) || self.renamed.contains_key(last) {
            return None;
        }
        let decl = match (how, p.segments.len()) {
            (Use::Read | Use::Event, 2) | (Use::Event, 1) => format!("SUBSCRIBE {dotted}"),
            (Use::Target, 1) => format!("PRIVATE {dotted}"),
            (Use::Activate, 1) => format!("PUBLISH {dotted}"),
            // `PUBLISH topic.name` is known as `name`: declare it, and assign to that.
            (Use::Target, 2) => {
                let help = format!(
                    "to publish under `{dotted}`, declare `PUBLISH {dotted}` and assign to `{last}`"
                );
                let fix = self
                    .declare_fix(&format!("PUBLISH {dotted}"))
                    .and(p.span, last.clone());
                return Some((help, fix));
            }
            _ => return None,
        };
        Some((format!("declare it: `{decl}`"), self.declare_fix(&decl)))
    }

    /// The edit that adds a declaration line below the last one (or below `MODULE`).
    fn declare_fix(&self, decl: &str) -> Fix {
        match &self.decl_anchor {
            Some((at, start)) => Fix::replace(Span::new(*at, *at), format!("{start}{decl}")),
            None => Fix::replace(Span::new(0, 0), format!("{decl}\n")),
        }
    }

    /// `THEN state.on` or `THEN state = on` with no `state`: that wants an enum variable of
    /// our own, so the declaration to suggest is `PRIVATE state {off, on}`, listing the
    /// values the module sets it to (a SUBSCRIBE would be read-only, and `state.on` would
    /// then name what module `state` publishes, which a THEN line cannot set).
    #[cold]
    fn unknown_enum_target(&mut self, base: &ast::Ident, value: &str) {
        let bpath = ast::Path {
            segments: vec![base.clone()],
            span: base.span,
        };
        if self.is_broken(&bpath) || self.known_as(&bpath) {
            return;
        }
        let name = &base.name;
        let mut d = Diagnostic::error(base.span, format!("unknown variable `{name}`"))
            .with_label("not declared in this module");
        if let Some(s) = self.suggest_enum_target(name, value) {
            d = d
                .with_help(format!("did you mean `{s}`?"))
                .with_fix(Fix::replace(base.span, s.clone()));
        } else {
            let values = self.words_set(name, value);
            let decl = format!("PRIVATE {name} {{{}}}", with_opposite(values).join(", "));
            d = d
                .with_help(format!("declare it with its values: `{decl}`"))
                .with_fix(self.declare_fix(&decl));
        }
        self.error(d);
    }

    /// The words the module's THEN lines set `name` to (`value` among them), leaving out
    /// words that are declared names: `x = y` copies a variable.
    fn words_set(&self, name: &str, value: &str) -> Vec<String> {
        let mut words: Vec<String> = self
            .enum_words
            .get(name)
            .into_iter()
            .flatten()
            .filter(|w| !self.names.contains_key(w.as_str()))
            .cloned()
            .collect();
        if !words.iter().any(|w| w == value) {
            words.push(value.to_string());
        }
        words
    }

    /// Names of broken declarations, to suggest for `name`: `stat` may be a typo of a
    /// `state` whose line did not parse. Not for names under three letters, which are one
    /// edit from any other short name.
    fn broken_candidates(&self, name: &str) -> impl Iterator<Item = &str> {
        let long = name.chars().count() >= 3;
        self.broken.iter().filter(move |_| long).map(String::as_str)
    }

    /// A writable enum variable close to `name` that has `value`, for `THEN stat.on`, or a
    /// name whose declaration is broken.
    fn suggest_enum_target(&self, name: &str, value: &str) -> Option<String> {
        let sym = self.prog.symbol(value);
        let cands = self.prog.vars.iter().filter(|v| {
            Use::Target.accepts(v.kind)
                && matches!((v.ty, sym), (Type::Enum(e), Some(sym)) if self.prog.enums[e as usize].contains(&sym))
        });
        let cands = cands.map(|v| &*v.name).chain(self.broken_candidates(name));
        suggest(name, cands).map(str::to_string)
    }

    /// A single-segment path naming nothing declared: maybe an enum value needing context.
    fn bare_unresolved(&self, e: &ast::Expr) -> bool {
        match &e.kind {
            ExprKind::Paren(inner) => self.bare_unresolved(inner),
            ExprKind::Path(p) => {
                p.segments.len() == 1 && !self.names.contains_key(&p.segments[0].name)
            }
            _ => false,
        }
    }

    /// Lowers an expression. `ctx` is the enum (and the variable giving it) in whose context
    /// bare names resolve as enum values.
    fn expr(&mut self, e: &ast::Expr, ctx: Option<(u16, Slot)>) -> (NodeId, Ty) {
        self.depth += 1;
        let r = if self.depth > self.limits.max_expr_depth {
            if self.depth == self.limits.max_expr_depth + 1 {
                self.error(
                    Diagnostic::error(e.span, "expression nested too deeply")
                        .with_label(format!("more than {} levels", self.limits.max_expr_depth))
                        .with_help("split it into several variables or statements"),
                );
            }
            self.poisoned(e.span)
        } else {
            self.expr_inner(e, ctx)
        };
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, e: &ast::Expr, ctx: Option<(u16, Slot)>) -> (NodeId, Ty) {
        let span = e.span;
        match &e.kind {
            ExprKind::Number(n) => (self.konst(Value::Number(*n), span), Some(Type::Number)),
            ExprKind::String(s) => (self.konst(Value::string(s), span), Some(Type::String)),
            ExprKind::Bool(b) => (self.konst(Value::Bool(*b), span), Some(Type::Bool)),
            ExprKind::Paren(inner) => self.expr(inner, ctx),
            ExprKind::Path(p) => self.path(p, ctx),
            ExprKind::Attribute { base, attr } => self.attribute(base, attr),
            ExprKind::Unary { op, operand } => {
                let (id, ty) = self.expr(operand, None);
                let (want, node) = match op {
                    ast::UnaryOp::Not => (Type::Bool, Node::Not(id)),
                    ast::UnaryOp::Neg => (Type::Number, Node::Neg(id)),
                };
                self.typed_use(operand, want);
                if let Some(t) = ty
                    && !t.compatible(want)
                {
                    let opname = if want == Type::Bool { "NOT" } else { "-" };
                    self.error(
                        Diagnostic::error(
                            operand.span,
                            format!("`{opname}` needs {}", want.name()),
                        )
                        .with_label(format!("this is {}", t.name())),
                    );
                    return self.poisoned(span);
                }
                (self.node(node, span), ty.map(|_| want))
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span),
            ExprKind::Call { func, args } => self.call(func, args, span),
        }
    }

    fn path(&mut self, p: &ast::Path, ctx: Option<(u16, Slot)>) -> (NodeId, Ty) {
        let dotted = p.dotted();
        // In an enum context, the variable's own values come first.
        if let (Some((en, _)), [seg]) = (ctx, p.segments.as_slice())
            && let Some(sym) = self.prog.symbol(&seg.name)
            && self.prog.enums[en as usize].contains(&sym)
        {
            return (self.konst(Value::Enum(sym), p.span), Some(Type::Enum(en)));
        }
        if let Some((entry, _)) = self.names.get(&dotted).copied() {
            return match entry {
                Entry::Var(slot) => {
                    self.reads.push(slot);
                    let ty = self.prog.vars[slot as usize].ty;
                    (self.node(Node::Var(slot), p.span), Some(ty))
                }
                Entry::Timer(_) => {
                    self.error(
                        Diagnostic::error(p.span, format!("`{dotted}` is a timer, not a value"))
                            .with_label("a timer has no value to read")
                            .with_help(format!("react to it with `ON {dotted}`")),
                    );
                    self.poisoned(p.span)
                }
            };
        }
        if p.segments.len() == 2 {
            let base = &p.segments[0].name;
            let value = &p.segments[1];
            if base == "system" && value.name == "clock" {
                self.error(
                    Diagnostic::error(p.span, "`system.clock` needs an attribute")
                        .with_label("which part of the time?")
                        .with_help("write e.g. `system.clock#hour`"),
                );
                return self.poisoned(p.span);
            }
            if let Some((Entry::Var(slot), _)) = self.names.get(base.as_str()).copied() {
                let ty = self.prog.vars[slot as usize].ty;
                if let (Type::Bool, Some(b)) = (ty, bool_word(&value.name)) {
                    // `door.true` is `door == TRUE`.
                    self.reads.push(slot);
                    let var = self.node(Node::Var(slot), p.segments[0].span);
                    let want = self.konst(Value::Bool(b), value.span);
                    return (
                        self.node(Node::Bin(BinOp::Eq, var, want), p.span),
                        Some(Type::Bool),
                    );
                }
                let Type::Enum(en) = ty else {
                    self.error(
                        Diagnostic::error(value.span, format!("`{base}` is not an enum"))
                            .with_label(format!("`{base}` holds {}", ty.name()))
                            .with_help(
                                "`x.value` tests an enum variable; compare with `==` instead",
                            ),
                    );
                    return self.poisoned(p.span);
                };
                let sym = self
                    .prog
                    .symbol(&value.name)
                    .filter(|s| self.prog.enums[en as usize].contains(s));
                let Some(sym) = sym else {
                    self.not_a_value(&value.name, value.span, base, en);
                    return self.poisoned(p.span);
                };
                self.reads.push(slot);
                return (self.node(Node::EnumIs(slot, sym), p.span), Some(Type::Bool));
            }
        }
        if let (Some((en, slot)), [seg]) = (ctx, p.segments.as_slice()) {
            let var = match self.prog.vars.get(slot as usize) {
                Some(v) => v.name.to_string(),
                None => "system.clock#dayOfWeek".to_string(),
            };
            self.not_a_value(&seg.name, seg.span, &var, en);
            return self.poisoned(p.span);
        }
        // A bare name that is some enum's value, used without context.
        if let [seg] = p.segments.as_slice()
            && let Some(sym) = self.prog.symbol(&seg.name)
        {
            if self
                .day_enum
                .is_some_and(|d| self.prog.enums[d as usize].contains(&sym))
                || DAYS.contains(&seg.name.as_str())
            {
                let d = self.day_enum();
                return (self.konst(Value::Enum(sym), p.span), Some(Type::Enum(d)));
            }
            let owners: Vec<String> = self
                .prog
                .vars
                .iter()
                .filter(
                    |v| matches!(v.ty, Type::Enum(e) if self.prog.enums[e as usize].contains(&sym)),
                )
                .map(|v| format!("`{}`", v.name))
                .collect();
            let owner = owners.first().cloned().unwrap_or_else(|| "`x`".to_string());
            self.error(
                Diagnostic::error(p.span, format!("`{dotted}` is not a variable"))
                    .with_label(format!("a value of {}", owners.join(", ")))
                    .with_help(format!(
                        "an enum value needs its variable: `{} == {dotted}`",
                        owner.trim_matches('`')
                    )),
            );
            return self.poisoned(p.span);
        }
        if let [seg] = p.segments.as_slice()
            && DAYS.contains(&seg.name.as_str())
        {
            let d = self.day_enum();
            let sym = self.intern(&seg.name);
            return (self.konst(Value::Enum(sym), p.span), Some(Type::Enum(d)));
        }
        self.unknown(p, Use::Read);
        self.poisoned(p.span)
    }

    fn attribute(&mut self, base: &ast::Path, attr: &ast::Ident) -> (NodeId, Ty) {
        let span = base.span.to(attr.span);
        let dotted = base.dotted();
        if dotted == "system.clock" {
            let a = match attr.name.as_str() {
                "now" => ClockAttr::Now,
                "year" => ClockAttr::Year,
                "month" => ClockAttr::Month,
                "day" => ClockAttr::Day,
                "hour" => ClockAttr::Hour,
                "minute" => ClockAttr::Minute,
                "dayOfWeek" => ClockAttr::DayOfWeek,
                "sunrise" => ClockAttr::Sunrise,
                "sunset" => ClockAttr::Sunset,
                other => {
                    let mut d = Diagnostic::error(
                        attr.span,
                        format!("`system.clock` has no attribute `{other}`"),
                    )
                    .with_label(format!(
                        "expected one of {}",
                        CLOCK_ATTRS.map(|a| format!("`#{a}`")).join(", ")
                    ));
                    if let Some(s) = suggest(other, CLOCK_ATTRS) {
                        d = d
                            .with_help(format!("did you mean `#{s}`?"))
                            .with_fix(Fix::replace(attr.span, s));
                    }
                    self.error(d);
                    return self.poisoned(span);
                }
            };
            self.reads_clock = true;
            let ty = match a {
                ClockAttr::Now | ClockAttr::Sunrise | ClockAttr::Sunset => Type::Time,
                ClockAttr::DayOfWeek => Type::Enum(self.day_enum()),
                _ => Type::Number,
            };
            return (self.node(Node::Clock(a), span), Some(ty));
        }
        let Some((entry, _)) = self.names.get(&dotted).copied() else {
            self.unknown(base, Use::Read);
            return self.poisoned(span);
        };
        let Entry::Var(slot) = entry else {
            self.error(
                Diagnostic::error(base.span, format!("`{dotted}` is a timer"))
                    .with_label("timers have no attributes")
                    .with_help(format!("react to it with `ON {dotted}`")),
            );
            return self.poisoned(span);
        };
        let (a, ty) = match attr.name.as_str() {
            "timestamp" => (VarAttr::Timestamp, Type::Time),
            "version" => (VarAttr::Version, Type::Number),
            "modified" => (VarAttr::Modified, Type::Bool),
            other => {
                let mut d =
                    Diagnostic::error(attr.span, format!("a variable has no attribute `{other}`"))
                        .with_label(format!(
                            "expected one of {}",
                            VAR_ATTRS.map(|a| format!("`#{a}`")).join(", ")
                        ));
                if let Some(s) = suggest(other, VAR_ATTRS) {
                    d = d
                        .with_help(format!("did you mean `#{s}`?"))
                        .with_fix(Fix::replace(attr.span, s));
                }
                self.error(d);
                return self.poisoned(span);
            }
        };
        self.reads.push(slot);
        (self.node(Node::Attr(slot, a), span), Some(ty))
    }

    fn binary(
        &mut self,
        op: ast::BinaryOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        span: Span,
    ) -> (NodeId, Ty) {
        use ast::BinaryOp as B;
        let bop = match op {
            B::Or => BinOp::Or,
            B::And => BinOp::And,
            B::Eq => BinOp::Eq,
            B::Ne => BinOp::Ne,
            B::Lt => BinOp::Lt,
            B::Le => BinOp::Le,
            B::Gt => BinOp::Gt,
            B::Ge => BinOp::Ge,
            B::Add => BinOp::Add,
            B::Sub => BinOp::Sub,
            B::Mul => BinOp::Mul,
            B::Div => BinOp::Div,
        };
        let comparison = matches!(op, B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge);
        let ((l, lt), (r, rt)) = if comparison {
            self.comparison_sides(lhs, rhs)
        } else {
            (self.expr(lhs, None), self.expr(rhs, None))
        };
        let (Some(lt), Some(rt)) = (lt, rt) else {
            return (self.node(Node::Bin(bop, l, r), span), None);
        };
        self.typed_operands(op, (lhs, lt), (rhs, rt));
        let result = match op {
            B::Or | B::And => {
                for (t, e) in [(lt, lhs), (rt, rhs)] {
                    if !t.compatible(Type::Bool) {
                        self.error(
                            Diagnostic::error(
                                e.span,
                                format!("`{}` needs true or false on both sides", op.as_str()),
                            )
                            .with_label(format!("this is {}", t.name()))
                            .with_help("compare it first, e.g. `x > 0`"),
                        );
                        return self.poisoned(span);
                    }
                }
                Type::Bool
            }
            B::Add | B::Sub | B::Mul | B::Div => {
                for (t, e) in [(lt, lhs), (rt, rhs)] {
                    if !t.compatible(Type::Number) {
                        self.error(
                            Diagnostic::error(e.span, format!("`{}` needs numbers", op.as_str()))
                                .with_label(format!("this is {}", t.name()))
                                .with_help("arithmetic works on numbers only; numeric strings are not numbers"),
                        );
                        return self.poisoned(span);
                    }
                }
                Type::Number
            }
            B::Eq | B::Ne => {
                if !lt.compatible(rt) {
                    let mut d = Diagnostic::error(
                        span,
                        format!("cannot compare {} with {}", lt.name(), rt.name()),
                    )
                    .with_label("these can never be equal");
                    if matches!((lt, &rhs.kind), (Type::Enum(_), ExprKind::String(_)))
                        || matches!((rt, &lhs.kind), (Type::Enum(_), ExprKind::String(_)))
                    {
                        d = d.with_help("enum values are written without quotes: `mode == auto`");
                    }
                    self.error(d);
                    return self.poisoned(span);
                }
                Type::Bool
            }
            B::Lt | B::Le | B::Gt | B::Ge => {
                let ordered =
                    |t: Type| matches!(t, Type::Number | Type::String | Type::Time | Type::Any);
                if !ordered(lt) || !ordered(rt) || !lt.compatible(rt) {
                    let help = if matches!(lt, Type::Enum(_)) || matches!(rt, Type::Enum(_)) {
                        "enum values have no order; compare them with `==` or `!=`"
                    } else {
                        "`<`, `<=`, `>`, `>=` compare two numbers, two strings or two times"
                    };
                    let message = if matches!((lt, rt), (Type::Enum(_), Type::Enum(_))) {
                        "enum values cannot be ordered".to_string()
                    } else {
                        format!("cannot order {} and {}", lt.name(), rt.name())
                    };
                    self.error(
                        Diagnostic::error(span, message)
                            .with_label("no order between these")
                            .with_help(help),
                    );
                    return self.poisoned(span);
                }
                Type::Bool
            }
        };
        (self.node(Node::Bin(bop, l, r), span), Some(result))
    }

    /// Both sides of a comparison. A bare word resolves in the context of the other side (an
    /// enum value of it, a listed string), so that side is lowered first.
    fn comparison_sides(
        &mut self,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
    ) -> ((NodeId, Ty), (NodeId, Ty)) {
        let word_left = self.bare_unresolved(lhs) && !self.bare_unresolved(rhs);
        let (other, word) = if word_left { (rhs, lhs) } else { (lhs, rhs) };
        let o = self.expr(other, None);
        let w = self.word_beside(word, other, o.1);
        if word_left { (w, o) } else { (o, w) }
    }

    /// `word` compared with `other` (lowered already, of type `other_ty`). When `other`
    /// failed, a bare word is not reported as well: it may well be a value of what failed,
    /// and one problem is one error.
    fn word_beside(&mut self, word: &ast::Expr, other: &ast::Expr, other_ty: Ty) -> (NodeId, Ty) {
        let slot = self.var_slot(other);
        if self.bare_unresolved(word) && other_ty.is_none() {
            return self.poisoned(word.span);
        }
        if let Some(r) = slot.and_then(|s| self.unlisted_word(word, s)) {
            return r;
        }
        if let Some(r) = self.string_in_context(word, slot) {
            return r;
        }
        let ctx = self.enum_ctx(other, other_ty);
        self.expr(word, ctx)
    }

    /// `lamp == on` or `THEN lamp = on` where `lamp` has no constraint: `on` names nothing,
    /// and `lamp` lists no values it could be. Reported once the whole module is read (see
    /// [`Checker::report_unlisted`]). `None` when this does not apply.
    fn unlisted_word(&mut self, word: &ast::Expr, slot: Slot) -> Option<(NodeId, Ty)> {
        let name = self.bare_word(word)?;
        let var = &self.prog.vars[slot as usize];
        if var.constraint.is_some()
            || var.kind == VarKind::Key
            || !matches!(var.ty, Type::Any | Type::String)
            || DAYS.contains(&name.as_str())
        {
            return None;
        }
        self.unlisted.push((slot, name, word.span));
        Some(self.poisoned(word.span))
    }

    /// The errors [`Checker::unlisted_word`] found. Two fixes may lead somewhere: give the
    /// variable its values, or write the word as a string. The first only when no line of
    /// the module uses the variable as something else (`out == 1`, `out + 1`), which a list
    /// of names would break.
    fn report_unlisted(&mut self) {
        for (slot, name, span) in std::mem::take(&mut self.unlisted) {
            let var = &self.prog.vars[slot as usize];
            let var_name = var.name.to_string();
            let may_list = var.ty == Type::Any && !self.typed_any.contains(&slot);
            let quoted = format!("\"{name}\"");
            let mut d = Diagnostic::error(span, format!("unknown variable `{name}`"))
                .with_label("not declared in this module");
            let decl = self.decl_spans.get(&slot).copied().filter(|_| may_list);
            match decl {
                Some(decl) => {
                    let values = with_opposite(self.words_set(&var_name, &name)).join(", ");
                    d = d
                        .with_secondary(decl, format!("`{var_name}` has no constraint, so no values"))
                        .with_help(format!(
                            "if `{name}` is a value of `{var_name}`, list them: `{} {{{values}}}`; if it is text, write `{quoted}`",
                            self.snippet(decl)
                        ))
                        .with_fix(Fix::replace(
                            Span::new(decl.end, decl.end),
                            format!(" {{{values}}}"),
                        ));
                }
                None => d = d.with_help(format!("if `{name}` is text, write `{quoted}`")),
            }
            self.error(d.with_fix(Fix::replace(span, quoted)));
        }
    }

    /// What each operand of `op` is used as (see [`Checker::typed_any`]): ordering needs
    /// numbers, strings or times even between two untyped variables.
    fn typed_operands(&mut self, op: ast::BinaryOp, l: (&ast::Expr, Type), r: (&ast::Expr, Type)) {
        use ast::BinaryOp as B;
        let as_other = |other: Type| match op {
            B::Or | B::And => Type::Bool,
            B::Add | B::Sub | B::Mul | B::Div => Type::Number,
            B::Eq | B::Ne => other,
            B::Lt | B::Le | B::Gt | B::Ge if other == Type::Any => Type::Number,
            B::Lt | B::Le | B::Gt | B::Ge => other,
        };
        self.typed_use(l.0, as_other(r.1));
        self.typed_use(r.0, as_other(l.1));
    }

    /// Notes that `e`, if it is a variable without a type of its own, is used as `ty`.
    fn typed_use(&mut self, e: &ast::Expr, ty: Type) {
        if ty == Type::Any {
            return;
        }
        if let Some(slot) = self.var_slot(e)
            && self.prog.vars[slot as usize].ty == Type::Any
        {
            self.typed_any.insert(slot);
        }
    }

    /// The variable an expression names, if it is one.
    fn var_slot(&self, e: &ast::Expr) -> Option<Slot> {
        match &e.kind {
            ExprKind::Paren(inner) => self.var_slot(inner),
            ExprKind::Path(p) => match self.names.get(&p.dotted()) {
                Some((Entry::Var(s), _)) => Some(*s),
                _ => None,
            },
            _ => None,
        }
    }

    /// A bare word that names nothing declared, beside (assigned to or compared with) a
    /// variable whose string constraint lists it: that string, as in `{"a b", c}` (the list
    /// itself reads bare words as strings). `None` leaves `e` to the usual lowering.
    fn string_in_context(&mut self, e: &ast::Expr, other: Option<Slot>) -> Option<(NodeId, Ty)> {
        let name = match &e.kind {
            ExprKind::Paren(inner) => return self.string_in_context(inner, other),
            ExprKind::Path(p) if p.segments.len() == 1 && self.bare_unresolved(e) => {
                p.segments[0].name.as_str()
            }
            _ => return None,
        };
        let Some(ConstraintSet::Strings(list)) = &self.prog.vars.get(other? as usize)?.constraint
        else {
            return None;
        };
        if !list.iter().any(|s| &**s == name) {
            let var = self.var_name(other?).to_string();
            let listed: Vec<String> = list.iter().map(|v| format!("`{v}`")).collect();
            let name = name.to_string();
            // A misspelled variable reads like an unlisted value: offer both.
            let cands = self.name_candidates();
            let mut d = Diagnostic::error(e.span, format!("`{name}` is not a value of `{var}`"))
                .with_label(format!("expected one of {}", listed.join(", ")));
            d = match suggest(&name, cands.iter().copied()) {
                Some(v) => d
                    .with_help(format!(
                        "did you mean the variable `{v}`? `{var}` takes only the strings listed in its constraint"
                    ))
                    .with_fix(Fix::replace(e.span, v)),
                None => d.with_help(format!(
                    "`{var}` takes only the strings listed in its constraint"
                )),
            };
            self.error(d);
            return Some(self.poisoned(e.span));
        }
        let value = Value::string(name);
        Some((self.konst(value, e.span), Some(Type::String)))
    }

    /// The enum context an expression gives to the other side of a comparison.
    fn enum_ctx(&self, e: &ast::Expr, ty: Ty) -> Option<(u16, Slot)> {
        let Some(Type::Enum(en)) = ty else {
            return None;
        };
        // The variable for messages: the one named, or the first of that enum.
        let slot = match &e.kind {
            ExprKind::Path(p) => match self.names.get(&p.dotted()) {
                Some((Entry::Var(s), _)) => Some(*s),
                _ => None,
            },
            _ => None,
        };
        let slot = slot.or_else(|| {
            self.prog
                .vars
                .iter()
                .position(|v| v.ty == Type::Enum(en))
                .map(|i| i as Slot)
        });
        match slot {
            Some(s) => Some((en, s)),
            // `system.clock#dayOfWeek` has no variable: use slot 0 only for wording.
            None => self.day_enum.filter(|d| *d == en).map(|d| (d, Slot::MAX)),
        }
    }

    fn call(&mut self, func: &ast::Ident, args: &[ast::Expr], span: Span) -> (NodeId, Ty) {
        let name = func.name.as_str();
        let (b, arity): (Builtin, (usize, usize)) = match name {
            "abs" => (Builtin::Abs, (1, 1)),
            "min" => (Builtin::Min, (2, 16)),
            "max" => (Builtin::Max, (2, 16)),
            "round" => (Builtin::Round, (1, 2)),
            "log" | "activate" => {
                self.error(
                    Diagnostic::error(span, format!("`{name}` is an action, not a value"))
                        .with_label("used inside an expression")
                        .with_help(format!(
                            "write it on a THEN line of its own: `THEN {name}(…)`"
                        )),
                );
                return self.poisoned(span);
            }
            other => {
                // Only functions with a value can stand here; `log` and `activate` have
                // their own error above.
                let mut d = Diagnostic::error(func.span, format!("unknown function `{other}`"))
                    .with_label(format!(
                        "expected one of {}",
                        VALUE_FUNCTIONS.map(|f| format!("`{f}`")).join(", ")
                    ));
                if let Some(s) = suggest(other, VALUE_FUNCTIONS) {
                    d = d
                        .with_help(format!("did you mean `{s}`?"))
                        .with_fix(Fix::replace(func.span, s));
                }
                self.error(d);
                for a in args {
                    let _ = self.expr(a, None);
                }
                return self.poisoned(span);
            }
        };
        if args.len() < arity.0 || args.len() > arity.1 {
            let expected = match (name, arity) {
                ("round", _) => "`round(x)` or `round(x, places)`".to_string(),
                (_, (1, 1)) => format!("`{name}(x)`"),
                _ => format!("`{name}(a, b, …)` with 2 or more numbers"),
            };
            self.error(
                Diagnostic::error(span, format!("`{name}` takes {expected}"))
                    .with_label(format!("{} argument(s) given", args.len())),
            );
            return self.poisoned(span);
        }
        let mut ids = Vec::with_capacity(args.len());
        let mut ok = true;
        for a in args {
            let (id, ty) = self.expr(a, None);
            self.typed_use(a, Type::Number);
            ids.push(id);
            match ty {
                Some(t) if !t.compatible(Type::Number) => {
                    self.error(
                        Diagnostic::error(a.span, format!("`{name}` needs numbers"))
                            .with_label(format!("this is {}", t.name())),
                    );
                    ok = false;
                }
                None => ok = false,
                _ => {}
            }
        }
        let start = self.prog.args.len() as u32;
        self.prog.args.extend(&ids);
        let node = self.node(
            Node::Call(
                b,
                Seg32 {
                    start,
                    len: ids.len() as u8,
                },
            ),
            span,
        );
        (node, ok.then_some(Type::Number))
    }

    // ---------------------------------------------------------------------------------

    fn finish(&mut self) {
        let p = &mut self.prog;
        p.day_enum = self.day_enum;
        p.is_publish = p.vars.iter().map(|v| v.kind == VarKind::Publish).collect();
        p.ons_by_slot = vec![Vec::new(); p.vars.len()];
        p.ons_by_timer = vec![Vec::new(); p.timers.len()];
        for (i, on) in p.ons.iter().enumerate() {
            match on.event {
                OnEvent::Var { slot, .. } => p.ons_by_slot[slot as usize].push(i as u32),
                OnEvent::Timer(t) => p.ons_by_timer[t as usize].push(i as u32),
            }
        }
    }
}

/// `x` → the words of every `THEN x.word` and `THEN x = word` line, in order of first use.
fn enum_words(module: &ast::Module) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for a in module.statements().flat_map(|s| &s.actions) {
        let (target, word) = match &a.kind {
            ActionKind::Expr(e) => match &unparen(e).kind {
                ExprKind::Path(p) => match p.segments.as_slice() {
                    [base, value] => (base, value),
                    _ => continue,
                },
                _ => continue,
            },
            ActionKind::Assign { target, value } => {
                match (target.segments.as_slice(), &unparen(value).kind) {
                    ([t], ExprKind::Path(v)) if v.segments.len() == 1 => (t, &v.segments[0]),
                    _ => continue,
                }
            }
            ActionKind::Step { .. } => continue,
        };
        let words = out.entry(target.name.clone()).or_default();
        if !words.contains(&word.name) {
            words.push(word.name.clone());
        }
    }
    out
}

fn unparen(mut e: &ast::Expr) -> &ast::Expr {
    while let ExprKind::Paren(inner) = &e.kind {
        e = inner;
    }
    e
}

/// A switch that is set `on` most likely also goes `off`: either word makes the list start
/// `off, on` (the order people write), the other words follow in order of use.
fn with_opposite(values: Vec<String>) -> Vec<String> {
    let switch = |v: &String| v == "on" || v == "off";
    if !values.iter().any(switch) {
        return values;
    }
    let mut out = vec!["off".to_string(), "on".to_string()];
    out.extend(values.into_iter().filter(|v| !switch(v)));
    out
}

/// See [`Checker::decl_anchor`].
fn decl_anchor(module: &ast::Module, source: &str) -> Option<(u32, String)> {
    let (after, default_indent) = match module.decls().last() {
        Some(d) => (d.span.end, None),
        None => (module.header.as_ref()?.span.end, Some("    ")),
    };
    let bytes = source.as_bytes();
    let mut end = (after as usize).min(bytes.len());
    while end < bytes.len() && bytes[end] != b'\n' {
        end += 1;
    }
    // Before a CRLF's `\r`, and with one of its own, so the new line ends like the others.
    let crlf = end > 0 && bytes.get(end - 1) == Some(&b'\r');
    let at = if crlf { end - 1 } else { end };
    let line_start = source[..after as usize].rfind('\n').map_or(0, |i| i + 1);
    let indent: String = source[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let indent = default_indent.map_or(indent, str::to_string);
    let newline = if crlf { "\r\n" } else { "\n" };
    Some((at as u32, format!("{newline}{indent}")))
}

/// The numbers a constraint writes: a number, or a range's ends.
fn constraint_numbers(kind: &ConstraintKind) -> impl Iterator<Item = Decimal> {
    let (a, b) = match kind {
        ConstraintKind::Number(n) => (Some(*n), None),
        ConstraintKind::Range { low, high } => (*low, *high),
        _ => (None, None),
    };
    a.into_iter().chain(b)
}

/// A number constraint list written again with every number at `scale` places (raising a
/// scale never changes a value).
fn rescaled_list(cs: &ast::Constraints, scale: u32) -> String {
    let at = |n: Decimal| {
        let mut n = n;
        n.rescale(scale);
        n.to_string()
    };
    let items: Vec<String> = cs
        .items
        .iter()
        .map(|c| match &c.kind {
            ConstraintKind::Number(n) => at(*n),
            ConstraintKind::Range { low, high } => {
                format!(
                    "{}-{}",
                    low.map(at).unwrap_or_default(),
                    high.map(at).unwrap_or_default()
                )
            }
            ConstraintKind::Symbol(s) => s.clone(),
            ConstraintKind::String(s) => format!("{s:?}"),
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn decimal_places(n: u32) -> String {
    if n == 1 {
        "1 decimal place".to_string()
    } else {
        format!("{n} decimal places")
    }
}

/// A help line for a type mismatch: quotes where an enum was meant, and the reverse.
fn quote_help(value: &ExprKind, want: Type) -> String {
    match (value, want) {
        (ExprKind::String(s), Type::Enum(_)) => {
            format!("enum values are written without quotes: `{s}`")
        }
        (_, Type::Number) => "numbers are written without quotes: `5`, `0.50`".to_string(),
        (_, Type::Bool) => "write `TRUE` or `FALSE`".to_string(),
        (_, Type::String) => "strings are written in quotes: `\"text\"`".to_string(),
        _ => format!("give it {}", want.name()),
    }
}

/// `true` / `false` in any case (a `{false, true}` variable's value names).
fn bool_word(name: &str) -> Option<bool> {
    if name.eq_ignore_ascii_case("true") {
        Some(true)
    } else if name.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether a constraint list is exactly `{false, true}`, in either order and any case.
fn is_boolean_list(cs: &ast::Constraints) -> bool {
    let words: Vec<Option<bool>> = cs
        .items
        .iter()
        .map(|c| match &c.kind {
            ConstraintKind::Symbol(s) => bool_word(s),
            _ => None,
        })
        .collect();
    words.len() == 2 && words.contains(&Some(true)) && words.contains(&Some(false))
}

#[cfg(test)]
mod tests {
    //! AST-level tests; the diagnostics snapshots over source files live in `tests/lang/check.rs`.
    use super::*;

    fn id(name: &str) -> ast::Ident {
        ast::Ident {
            name: name.into(),
            span: Span::default(),
        }
    }
    fn path(p: &str) -> ast::Path {
        ast::Path {
            segments: p.split('.').map(id).collect(),
            span: Span::default(),
        }
    }
    fn decl(kind: DeclKind, name: &str, syms: &[&str]) -> ast::Item {
        ast::Item::Decl(ast::Decl {
            kind,
            keyword: Span::default(),
            name: path(name),
            instance_key: None,
            alias: None,
            constraints: (!syms.is_empty()).then(|| ast::Constraints {
                items: syms
                    .iter()
                    .map(|s| ast::Constraint {
                        kind: ConstraintKind::Symbol(s.to_string()),
                        span: Span::default(),
                    })
                    .collect(),
                span: Span::default(),
            }),
            initial: None,
            duration: None,
            trivia: Default::default(),
            span: Span::default(),
        })
    }
    fn pexpr(p: &str) -> ast::Expr {
        ast::Expr {
            kind: ExprKind::Path(path(p)),
            span: Span::default(),
        }
    }

    fn module(items: Vec<ast::Item>) -> ast::Module {
        ast::Module {
            header: Some(ast::ModuleHeader {
                name: id("m"),
                instance_key: None,
                agent: None,
                trivia: Default::default(),
                span: Span::default(),
            }),
            items,
            ..Default::default()
        }
    }

    #[test]
    fn enum_values_resolve_in_the_context_of_their_variable() {
        let m = module(vec![
            decl(DeclKind::Subscribe, "mode", &["off", "auto"]),
            decl(DeclKind::Publish, "state", &["off", "on"]),
            ast::Item::Statement(ast::Statement {
                trigger: Trigger::On(pexpr("mode.auto")),
                keyword: Span::default(),
                conditions: vec![ast::Condition {
                    expr: ast::Expr {
                        kind: ExprKind::Binary {
                            op: ast::BinaryOp::Eq,
                            lhs: Box::new(pexpr("off")),
                            rhs: Box::new(pexpr("state")),
                        },
                        span: Span::default(),
                    },
                    trivia: Default::default(),
                    span: Span::default(),
                }],
                actions: vec![ast::Action {
                    kind: ActionKind::Assign {
                        target: path("state"),
                        value: pexpr("on"),
                    },
                    trivia: Default::default(),
                    span: Span::default(),
                }],
                trivia: Default::default(),
                span: Span::default(),
            }),
        ]);
        let (p, diags) = check(&m, "m.scc", "", &CompileLimits::default());
        assert!(diags.is_empty(), "{diags:?}");
        let on_sym = p.symbol("on").unwrap();
        assert_eq!(p.ons.len(), 1);
        assert_eq!(
            p.ons[0].event,
            OnEvent::Var {
                slot: 0,
                value: p.symbol("auto")
            }
        );
        assert!(p.consts.contains(&Value::Enum(on_sym)));
        assert_eq!(p.ons_by_slot[0], vec![0]);
    }

    #[test]
    fn duplicate_names_and_unknown_values_are_reported() {
        let m = module(vec![
            decl(DeclKind::Private, "a", &[]),
            decl(DeclKind::Private, "a", &[]),
            decl(DeclKind::Publish, "state", &["off", "on"]),
            ast::Item::Statement(ast::Statement {
                trigger: Trigger::When(pexpr("state.dim")),
                keyword: Span::default(),
                conditions: vec![],
                actions: vec![ast::Action {
                    kind: ActionKind::Expr(pexpr("state.of")),
                    trivia: Default::default(),
                    span: Span::default(),
                }],
                trivia: Default::default(),
                span: Span::default(),
            }),
        ]);
        let (_, diags) = check(&m, "m.scc", "", &CompileLimits::default());
        let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "`a` is declared twice",
                "`dim` is not a value of `state`",
                "`of` is not a value of `state`"
            ]
        );
        assert_eq!(diags[2].help.as_deref(), Some("did you mean `off`?"));
    }
}
