//! Runtime values: what a variable holds, what a message carries, what an expression yields.
//!
//! The hot variants are cheap to copy: a number ([`Decimal`], 16 bytes), a boolean, an enum
//! value ([`Sym`], an index into the program's interned names) and a time are plain data, so
//! cloning them never allocates. Strings are `Arc<str>` (a clone is a reference count bump);
//! lists and objects exist for messages that carry structured data and are shared the same way.
//!
//! Two notions of equality live here on purpose:
//! - `==` ([`PartialEq`]) is *identity of state*: `Unset == Unset`, numbers compare by value
//!   (`1.0 == 1.00`). The evaluator uses it to decide whether a variable changed.
//! - [`Value::lang_eq`] is the language's `==`: an unset value is unequal to everything,
//!   itself included (LANGUAGE.md: "it compares unequal to everything").

use jiff::Timestamp;
use rust_decimal::Decimal;
use std::fmt;
use std::sync::Arc;

/// An interned name (an enum value) of one compiled program; see `ir::Program::symbol_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

/// A runtime value.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// No value yet (a variable without an initial value), or JSON `null`.
    #[default]
    Unset,
    Bool(bool),
    /// Exact decimal, scale kept (`0.50`).
    Number(Decimal),
    Str(Arc<str>),
    /// An enum value, interned in the program that holds it.
    Enum(Sym),
    Time(Timestamp),
    List(Arc<[Value]>),
    Object(Arc<[(Arc<str>, Value)]>),
}

impl PartialEq for Value {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Unset, Unset) => true,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => num_eq(a, b),
            (Str(a), Str(b)) => a == b,
            (Enum(a), Enum(b)) => a == b,
            (Time(a), Time(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Object(a), Object(b)) => a == b,
            _ => false,
        }
    }
}

/// [`Value`]'s `==` (identity of state) with the hot variants compared inline: the
/// evaluator asks it for every variable a cycle touched.
#[inline(always)]
pub fn same_state(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_eq(x, y),
        (Value::Enum(x), Value::Enum(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => a == b,
    }
}

/// Numeric equality with a fast path for the common case of equal scales (no rescaling).
#[inline]
pub fn num_eq(a: &Decimal, b: &Decimal) -> bool {
    if a.scale() == b.scale() {
        a.mantissa() == b.mantissa()
    } else {
        num_cmp(a, b).is_eq()
    }
}

/// `10^i` for the scale differences the fast path of [`num_cmp`] handles.
const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Numeric order, the same as [`Decimal`]'s `Ord`, with a fast path for what sensor values
/// and constants look like: mantissas within `i64` and scales at most 18 apart (`21.5 < 22`),
/// compared exactly as one widening multiplication instead of `Decimal`'s general rescaling.
#[inline]
pub fn num_cmp(a: &Decimal, b: &Decimal) -> std::cmp::Ordering {
    let (ma, mb) = (a.mantissa(), b.mantissa());
    let (sa, sb) = (a.scale(), b.scale());
    if sa == sb {
        return ma.cmp(&mb);
    }
    if let (Ok(x), Ok(y)) = (i64::try_from(ma), i64::try_from(mb)) {
        // |x|, |y| < 2^63 and 10^18 < 2^60: the products fit an i128 exactly.
        if sa < sb && sb - sa < 19 {
            return (i128::from(x) * i128::from(POW10[(sb - sa) as usize])).cmp(&i128::from(y));
        }
        if sb < sa && sa - sb < 19 {
            return i128::from(x).cmp(&(i128::from(y) * i128::from(POW10[(sa - sb) as usize])));
        }
    }
    a.cmp(b)
}

/// Decimal arithmetic with the scale LANGUAGE.md promises, whatever the values: `+` and `-`
/// keep the larger scale of the two operands, `*` the sum of both (at most 28). rust_decimal
/// returns the other operand unchanged when one side is zero (`0.00 + 1` would be `1`, and a
/// running total passing through zero would lose its places), so the scale is raised back
/// here. `None` on overflow.
pub mod decimal {
    use rust_decimal::Decimal;

    #[inline]
    pub fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
        a.checked_add(b)
            .map(|r| at_least(r, a.scale().max(b.scale())))
    }

    #[inline]
    pub fn sub(a: Decimal, b: Decimal) -> Option<Decimal> {
        a.checked_sub(b)
            .map(|r| at_least(r, a.scale().max(b.scale())))
    }

    #[inline]
    pub fn mul(a: Decimal, b: Decimal) -> Option<Decimal> {
        let scale = (a.scale() + b.scale()).min(Decimal::MAX_SCALE);
        a.checked_mul(b).map(|r| at_least(r, scale))
    }

    /// `n` written with at least `scale` places (`1` at 2 is `1.00`); never rounds.
    #[inline]
    pub fn at_least(n: Decimal, scale: u32) -> Decimal {
        if n.scale() >= scale {
            return n;
        }
        let mut r = n;
        r.rescale(scale);
        // Raising the scale multiplies the mantissa; where that no longer fits rust_decimal
        // caps the scale, which is the best that can be kept exactly.
        if r == n { r } else { n }
    }

    /// `n` written with at least `scale` places (`1` at 2 is `1.00`); places it has beyond
    /// them are kept (`0.505` and `21.00` at 0 stay as they are), so whether a number keeps
    /// its places never depends on its digits being zeros.
    #[inline]
    pub fn conform(n: Decimal, scale: u32) -> Decimal {
        at_least(n, scale)
    }
}

impl Value {
    /// The language's `==`: unset is unequal to everything, itself included.
    pub fn lang_eq(&self, other: &Value) -> bool {
        !self.is_unset() && !other.is_unset() && self == other
    }

    pub fn is_unset(&self) -> bool {
        matches!(self, Value::Unset)
    }

    /// The kind, for error messages: "a number", "an enum value".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Unset => "unset",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Enum(_) => "an enum value",
            Value::Time(_) => "a time",
            Value::List(_) => "a list",
            Value::Object(_) => "an object",
        }
    }

    pub fn number(n: impl Into<Decimal>) -> Value {
        Value::Number(n.into())
    }

    pub fn string(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    pub fn as_number(&self) -> Option<Decimal> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Displays the value; enum values need their program's names, given by `name_of`.
    pub fn display<'a>(&'a self, name_of: &'a dyn Fn(Sym) -> &'a str) -> DisplayValue<'a> {
        DisplayValue {
            value: self,
            name_of,
            tz: None,
        }
    }

    /// As [`Value::display`], with times in RFC 3339 at `tz`'s offset (what a user in that
    /// zone reads) instead of UTC.
    pub fn display_in<'a>(
        &'a self,
        name_of: &'a dyn Fn(Sym) -> &'a str,
        tz: &'a jiff::tz::TimeZone,
    ) -> DisplayValue<'a> {
        DisplayValue {
            value: self,
            name_of,
            tz: Some(tz),
        }
    }
}

/// [`Value::display`]: strings without quotes, numbers with their scale, times in RFC 3339.
pub struct DisplayValue<'a> {
    value: &'a Value,
    name_of: &'a dyn Fn(Sym) -> &'a str,
    tz: Option<&'a jiff::tz::TimeZone>,
}

impl fmt::Debug for DisplayValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DisplayValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Value::Unset => f.write_str("unset"),
            Value::Bool(true) => f.write_str("true"),
            Value::Bool(false) => f.write_str("false"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
            Value::Enum(s) => f.write_str((self.name_of)(*s)),
            Value::Time(t) => match self.tz {
                Some(tz) => write!(f, "{}", t.display_with_offset(tz.to_offset(*t))),
                None => write!(f, "{t}"),
            },
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    let shown = DisplayValue { value: v, ..*self };
                    write!(f, "{shown}")?;
                }
                f.write_str("]")
            }
            Value::Object(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    let shown = DisplayValue { value: v, ..*self };
                    write!(f, "{k}: {shown}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decimal from a mantissa and a scale, zeros drawn often (they were the bug).
    fn operand() -> impl proptest::strategy::Strategy<Value = Decimal> {
        use proptest::prelude::*;
        let mantissa = prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            -1_000_000_000i64..1_000_000_000
        ];
        (mantissa, 0u32..=10).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest::proptest! {
        #[test]
        fn sums_and_differences_keep_the_larger_scale(a in operand(), b in operand()) {
            let want = a.scale().max(b.scale());
            let sum = decimal::add(a, b).unwrap();
            let difference = decimal::sub(a, b).unwrap();
            proptest::prop_assert_eq!(sum.scale(), want, "{} + {} = {}", a, b, sum);
            proptest::prop_assert_eq!(difference.scale(), want, "{} - {} = {}", a, b, difference);
            proptest::prop_assert_eq!(sum, a + b);
            proptest::prop_assert_eq!(difference, a - b);
        }

        #[test]
        fn products_have_the_sum_of_the_scales(a in operand(), b in operand()) {
            let product = decimal::mul(a, b).unwrap();
            proptest::prop_assert_eq!(product.scale(), a.scale() + b.scale(), "{} * {} = {}", a, b, product);
            proptest::prop_assert_eq!(product, a * b);
        }

        #[test]
        fn conforming_never_changes_a_value_or_drops_places(a in operand(), scale in 0u32..=12) {
            let c = decimal::conform(a, scale);
            proptest::prop_assert_eq!(c, a);
            proptest::prop_assert_eq!(c.scale(), a.scale().max(scale));
        }
    }

    #[test]
    fn zero_does_not_drop_places() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(decimal::add(d("0.00"), d("1")).unwrap().to_string(), "1.00");
        assert_eq!(decimal::add(d("1"), d("0.00")).unwrap().to_string(), "1.00");
        assert_eq!(decimal::sub(d("3"), d("0.00")).unwrap().to_string(), "3.00");
        assert_eq!(decimal::mul(d("0.50"), d("0")).unwrap().to_string(), "0.00");
        assert_eq!(decimal::conform(d("1"), 2).to_string(), "1.00");
        assert_eq!(decimal::conform(d("0.500"), 2).to_string(), "0.500");
        assert_eq!(decimal::conform(d("0.505"), 2).to_string(), "0.505");
        assert_eq!(decimal::conform(d("21.00"), 0).to_string(), "21.00");
    }

    #[test]
    fn times_display_in_the_given_zone() {
        let t: Timestamp = "2024-01-20T05:00:00Z".parse().unwrap();
        let tz = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
        let names = |_: Sym| "";
        let time = Value::Time(t);
        assert_eq!(time.display(&names).to_string(), "2024-01-20T05:00:00Z");
        let list = Value::List(vec![Value::Time(t)].into());
        let shown = list.display_in(&names, &tz).to_string();
        assert_eq!(shown, "[2024-01-19T21:00:00-08:00]");
    }

    #[test]
    fn value_stays_small_and_hot_variants_copy_without_allocating() {
        // Decimal (16 bytes) plus the tag; Arc<str> is two words.
        assert_eq!(std::mem::size_of::<Value>(), 24);
        let n = Value::number(Decimal::new(50, 2));
        assert_eq!(
            n.clone(),
            Value::number(Decimal::new(5, 1)),
            "state equality ignores the scale"
        );
    }

    #[test]
    fn fast_numeric_order_agrees_with_decimal() {
        let samples = [
            Decimal::new(215, 1),
            Decimal::new(22, 0),
            Decimal::new(2200, 2),
            Decimal::new(-5, 0),
            Decimal::new(-50, 1),
            Decimal::new(0, 3),
            Decimal::new(-0, 0),
            Decimal::new(i64::MAX, 0),
            Decimal::new(i64::MIN, 18),
            Decimal::new(1, 28),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::from_i128_with_scale(i128::from(i64::MAX) * 1000, 20),
        ];
        for a in &samples {
            for b in &samples {
                assert_eq!(num_cmp(a, b), a.cmp(b), "{a} vs {b}");
                assert_eq!(num_eq(a, b), a == b, "{a} == {b}");
            }
        }
    }

    #[test]
    fn unset_is_unequal_to_everything_in_the_language() {
        assert!(!Value::Unset.lang_eq(&Value::Unset));
        assert!(Value::Unset == Value::Unset, "but unchanged as state");
        assert!(Value::Bool(false).lang_eq(&Value::Bool(false)));
        assert!(!Value::string("1").lang_eq(&Value::number(1)));
    }

    #[test]
    fn display_keeps_scale_and_names_enums() {
        let names = |s: Sym| if s.0 == 0 { "off" } else { "on" };
        let half = Value::number(Decimal::new(50, 2));
        assert_eq!(half.display(&names).to_string(), "0.50");
        let on = Value::Enum(Sym(1));
        assert_eq!(on.display(&names).to_string(), "on");
        let list = Value::List(Arc::from(vec![Value::Bool(true), Value::string("a")]));
        assert_eq!(list.display(&names).to_string(), "[true, a]");
    }
}
