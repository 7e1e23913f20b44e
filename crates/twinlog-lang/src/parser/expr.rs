//! Expressions, one function per precedence level (lowest first): `OR`, `AND`, `NOT`,
//! comparisons, `+ -`, `* /`, unary minus, then literals, names, attributes, calls and
//! parentheses (kept as [`ExprKind::Paren`] so the formatter reproduces them).
//!
//! Comparisons do not chain (`0 < x < 10` is an error with a hint), because a reader would
//! take it for a range test. A minus directly in front of a number literal folds into the
//! literal (`-5` is the number −5, as in a constraint or an initial value); in front of
//! anything else it is [`UnaryOp::Neg`]. Nesting and operator counts are bounded
//! ([`MAX_NESTING`], [`MAX_OPERATORS`]) so no input can exhaust the stack.

use super::{MAX_NESTING, MAX_OPERATORS, PResult, Parser, is_name, unescape};
use crate::ast::{BinaryOp, Expr, ExprKind, Path, UnaryOp};
use crate::diag::Diagnostic;
use crate::lexer::{Keyword, TokenKind};

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    }
}

fn comparison(kind: Option<TokenKind>) -> Option<BinaryOp> {
    Some(match kind? {
        TokenKind::EqEq => BinaryOp::Eq,
        TokenKind::NotEq => BinaryOp::Ne,
        TokenKind::Lt => BinaryOp::Lt,
        TokenKind::Le => BinaryOp::Le,
        TokenKind::Gt => BinaryOp::Gt,
        TokenKind::Ge => BinaryOp::Ge,
        _ => return None,
    })
}

impl Parser<'_> {
    /// A whole expression: resets the nesting and operator budgets.
    pub(super) fn expr_top(&mut self) -> PResult<Expr> {
        self.nesting = 0;
        self.operators = 0;
        self.or_expr()
    }

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            let d = Diagnostic::error(self.here(), "expression nested too deeply")
                .with_label(format!("more than {MAX_NESTING} levels of nesting"))
                .with_help("split the condition into several AND lines or simpler parts");
            return Err(self.push(d));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn count_operator(&mut self) -> PResult<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            let d = Diagnostic::error(self.here(), "expression too long")
                .with_label(format!("more than {MAX_OPERATORS} operators"))
                .with_help("split it into several AND lines or intermediate PRIVATE variables");
            return Err(self.push(d));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> PResult<Expr> {
        let mut lhs = self.and_expr()?;
        while self.eat(TokenKind::Keyword(Keyword::Or)).is_some() {
            self.count_operator()?;
            let rhs = self.and_expr()?;
            lhs = binary(BinaryOp::Or, lhs, rhs);
        }
        Ok(lhs)
    }

    fn and_expr(&mut self) -> PResult<Expr> {
        let mut lhs = self.not_expr()?;
        while self.eat(TokenKind::Keyword(Keyword::And)).is_some() {
            self.count_operator()?;
            let rhs = self.not_expr()?;
            lhs = binary(BinaryOp::And, lhs, rhs);
        }
        Ok(lhs)
    }

    fn not_expr(&mut self) -> PResult<Expr> {
        let Some(not) = self.eat(TokenKind::Keyword(Keyword::Not)) else {
            return self.cmp_expr();
        };
        self.enter()?;
        self.count_operator()?;
        let operand = self.not_expr()?;
        self.leave();
        let span = not.span.to(operand.span);
        Ok(Expr {
            kind: ExprKind::Unary {
                op: UnaryOp::Not,
                operand: Box::new(operand),
            },
            span,
        })
    }

    fn cmp_expr(&mut self) -> PResult<Expr> {
        let lhs = self.add_expr()?;
        let Some(op) = comparison(self.peek_kind()) else {
            return Ok(lhs);
        };
        self.bump();
        self.count_operator()?;
        let rhs = self.add_expr()?;
        let e = binary(op, lhs, rhs);
        if let Some(op2) = comparison(self.peek_kind()) {
            let mid = match &e.kind {
                ExprKind::Binary { rhs, .. } => self.src.get(rhs.span.range()).unwrap_or("…"),
                _ => "…",
            };
            let d = Diagnostic::error(self.here(), "comparisons cannot be chained")
                .with_label(format!("a second `{}`", op2.as_str()))
                .with_secondary(e.span, "already a comparison")
                .with_help(format!(
                    "compare twice and join with AND: `… {} {mid} AND {mid} {} …`",
                    op.as_str(),
                    op2.as_str()
                ));
            return Err(self.push(d));
        }
        Ok(e)
    }

    fn add_expr(&mut self) -> PResult<Expr> {
        let mut lhs = self.mul_expr()?;
        loop {
            let op = match self.peek_kind() {
                Some(TokenKind::Plus) => BinaryOp::Add,
                Some(TokenKind::Minus) => BinaryOp::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            self.count_operator()?;
            let rhs = self.mul_expr()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn mul_expr(&mut self) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek_kind() {
                Some(TokenKind::Star) => BinaryOp::Mul,
                Some(TokenKind::Slash) => BinaryOp::Div,
                _ => return Ok(lhs),
            };
            self.bump();
            self.count_operator()?;
            let rhs = self.unary()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        let Some(minus) = self.eat(TokenKind::Minus) else {
            return self.primary();
        };
        if let Some(n) = self.eat(TokenKind::Number) {
            let d = self.decimal(n, true)?;
            return Ok(Expr {
                kind: ExprKind::Number(d),
                span: minus.span.to(n.span),
            });
        }
        self.enter()?;
        self.count_operator()?;
        let operand = self.unary()?;
        self.leave();
        let span = minus.span.to(operand.span);
        Ok(Expr {
            kind: ExprKind::Unary {
                op: UnaryOp::Neg,
                operand: Box::new(operand),
            },
            span,
        })
    }

    fn primary(&mut self) -> PResult<Expr> {
        let Some(t) = self.peek() else {
            return Err(self.expected("an expression"));
        };
        let kind = match t.kind {
            TokenKind::Number => {
                self.bump();
                ExprKind::Number(self.decimal(t, false)?)
            }
            TokenKind::String => {
                self.bump();
                ExprKind::String(unescape(self.text(t)))
            }
            TokenKind::Keyword(Keyword::True) => {
                self.bump();
                ExprKind::Bool(true)
            }
            TokenKind::Keyword(Keyword::False) => {
                self.bump();
                ExprKind::Bool(false)
            }
            TokenKind::LParen => {
                self.bump();
                self.enter()?;
                if self.peek_kind() == Some(TokenKind::RParen) {
                    return Err(self.expected("an expression inside the parentheses"));
                }
                let inner = self.or_expr()?;
                self.leave();
                let Some(close) = self.eat(TokenKind::RParen) else {
                    let d = Diagnostic::error(
                        self.here(),
                        format!("expected `)`, found {}", self.found()),
                    )
                    .with_label("expected `)`")
                    .with_secondary(t.span, "opened here");
                    return Err(self.push(d));
                };
                return Ok(Expr {
                    kind: ExprKind::Paren(Box::new(inner)),
                    span: t.span.to(close.span),
                });
            }
            TokenKind::Keyword(Keyword::Not) => {
                let d = Diagnostic::error(t.span, "`NOT` cannot stand here")
                    .with_label("NOT binds more loosely than comparisons and arithmetic")
                    .with_help("put it in parentheses: `(NOT …)`");
                return Err(self.push(d));
            }
            k if is_name(k) => return self.name_expr(),
            _ => return Err(self.expected("an expression")),
        };
        Ok(Expr { kind, span: t.span })
    }

    /// `name`, `a.b`, `v#attr`, `system.clock#hour`, `f(args)`.
    fn name_expr(&mut self) -> PResult<Expr> {
        if self.peek_nth_kind(1) == Some(TokenKind::LParen) {
            let func = self.name("a function name")?;
            let open = self.bump();
            let mut args = Vec::new();
            if let Some(close) = self.eat(TokenKind::RParen) {
                let span = func.span.to(close.span);
                return Ok(Expr {
                    kind: ExprKind::Call { func, args },
                    span,
                });
            }
            self.enter()?;
            loop {
                args.push(self.or_expr()?);
                match self.peek_kind() {
                    Some(TokenKind::Comma) => {
                        self.bump();
                    }
                    Some(TokenKind::RParen) => break,
                    _ => {
                        let d = Diagnostic::error(
                            self.here(),
                            format!("expected `,` or `)`, found {}", self.found()),
                        )
                        .with_label("expected `,` or `)`")
                        .with_secondary(open.span, "arguments start here");
                        return Err(self.push(d));
                    }
                }
            }
            self.leave();
            let close = self.bump();
            let span = func.span.to(close.span);
            return Ok(Expr {
                kind: ExprKind::Call { func, args },
                span,
            });
        }
        let base: Path = self.path("a name")?;
        if self.eat(TokenKind::Hash).is_some() {
            let attr = self.name("an attribute after `#`, such as `timestamp` or `hour`")?;
            let span = base.span.to(attr.span);
            return Ok(Expr {
                kind: ExprKind::Attribute { base, attr },
                span,
            });
        }
        let span = base.span;
        Ok(Expr {
            kind: ExprKind::Path(base),
            span,
        })
    }
}
