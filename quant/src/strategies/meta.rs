//! What each catalog strategy's parameters are: name, type, default, range,
//! step and a one-line meaning, plus the rules that link two parameters.
//!
//! This is the one source the lab's forms, the sweeps' ranges, the CLI's
//! `--help` and the API's validation are generated from. [`check`] runs before a
//! strategy is built, so a bad value is refused with the parameter's name and
//! its range however it arrived; the strategy's own constructor still checks
//! everything again (it is public API on its own).
//!
//! Ranges are the values a user may pick, not everything the arithmetic would
//! survive: periods stop at [`MAX_LISTED_PERIOD`] (eight years of daily bars),
//! which keeps sweeps and forms sensible. A test builds every strategy at each
//! parameter's minimum, default and maximum.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ParamError;

/// The longest period a form or a sweep offers, in bars.
pub const MAX_LISTED_PERIOD: usize = 2_000;

/// A parameter's type and the values it may take.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    /// A whole number (a period, a count of bars).
    Int {
        /// The default.
        default: i64,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A real number (a level, a multiplier, a fraction).
    Float {
        /// The default.
        default: f64,
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
        /// The natural increment for forms and sweeps.
        step: f64,
    },
    /// On or off.
    Bool {
        /// The default.
        default: bool,
    },
    /// One word out of a fixed list.
    Choice {
        /// The default, one of `options`.
        default: &'static str,
        /// Every accepted word.
        options: &'static [&'static str],
    },
}

/// One parameter of a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Param {
    /// The JSON key, e.g. `fast`.
    pub name: &'static str,
    /// Type, default and range.
    #[serde(flatten)]
    pub kind: Kind,
    /// One line on what it does.
    pub doc: &'static str,
}

/// A rule between two parameters of one strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// `low < high` (or `low <= high` when not `strict`).
    Below {
        /// The smaller parameter.
        low: &'static str,
        /// The larger parameter.
        high: &'static str,
        /// Whether equality is refused.
        strict: bool,
    },
    /// At least one of the two is non-zero (two ways to exit, one needed).
    AnyNonZero {
        /// The first parameter.
        a: &'static str,
        /// The second parameter.
        b: &'static str,
    },
}

impl Rule {
    /// Whether `params` (every key present) satisfy the rule.
    #[must_use]
    pub fn holds(&self, params: &Map<String, Value>) -> bool {
        let num = |k: &str| params.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        match *self {
            Self::Below { low, high, strict: true } => num(low) < num(high),
            Self::Below { low, high, strict: false } => num(low) <= num(high),
            Self::AnyNonZero { a, b } => num(a) != 0.0 || num(b) != 0.0,
        }
    }

    /// What a violation looks like to the user.
    #[must_use]
    pub fn describe(&self) -> String {
        match *self {
            Self::Below { low, high, strict: true } => format!("{low} must be below {high}"),
            Self::Below { low, high, strict: false } => format!("{low} must not exceed {high}"),
            Self::AnyNonZero { a, b } => format!("{a} or {b} must be above 0"),
        }
    }
}

/// A whole-number parameter.
#[must_use]
pub const fn int(name: &'static str, default: i64, min: i64, max: i64, doc: &'static str) -> Param {
    Param { name, kind: Kind::Int { default, min, max }, doc }
}

/// A period: a whole number of bars from `min` to [`MAX_LISTED_PERIOD`].
#[must_use]
pub const fn period(name: &'static str, default: i64, min: i64, doc: &'static str) -> Param {
    int(name, default, min, MAX_LISTED_PERIOD as i64, doc)
}

/// A real-number parameter.
#[must_use]
pub const fn float(name: &'static str, default: f64, min: f64, max: f64, step: f64, doc: &'static str) -> Param {
    Param { name, kind: Kind::Float { default, min, max, step }, doc }
}

/// An on/off parameter.
#[must_use]
pub const fn flag(name: &'static str, default: bool, doc: &'static str) -> Param {
    Param { name, kind: Kind::Bool { default }, doc }
}

/// A parameter taking one word of `options`.
#[must_use]
pub const fn choice(
    name: &'static str,
    default: &'static str,
    options: &'static [&'static str],
    doc: &'static str,
) -> Param {
    Param { name, kind: Kind::Choice { default, options }, doc }
}

impl Param {
    /// The default as JSON.
    #[must_use]
    pub fn default_value(&self) -> Value {
        match self.kind {
            Kind::Int { default, .. } => Value::from(default),
            Kind::Float { default, .. } => Value::from(default),
            Kind::Bool { default } => Value::Bool(default),
            Kind::Choice { default, .. } => Value::from(default),
        }
    }

    /// The smallest and largest value (`None` for booleans and choices).
    #[must_use]
    pub fn range(&self) -> Option<(f64, f64)> {
        match self.kind {
            Kind::Int { min, max, .. } => Some((min as f64, max as f64)),
            Kind::Float { min, max, .. } => Some((min, max)),
            Kind::Bool { .. } | Kind::Choice { .. } => None,
        }
    }

    /// The increment a form or a sweep moves by (1 for whole numbers).
    #[must_use]
    pub fn step(&self) -> Option<f64> {
        match self.kind {
            Kind::Int { .. } => Some(1.0),
            Kind::Float { step, .. } => Some(step),
            Kind::Bool { .. } | Kind::Choice { .. } => None,
        }
    }

    /// Checks one value and returns it normalised (a whole float such as
    /// `10.0` given for an integer becomes `10`).
    ///
    /// # Errors
    /// [`ParamError`] naming this parameter: the wrong type, or out of range.
    pub fn check(&self, value: &Value) -> Result<Value, ParamError> {
        let wrong = |expected: &str| ParamError::Spec {
            spec: format!("{}={value}", self.name),
            reason: format!("{} must be {expected}", self.name),
        };
        match self.kind {
            Kind::Int { min, max, .. } => {
                let n = value.as_f64().filter(|v| v.fract() == 0.0).ok_or_else(|| wrong("a whole number"))?;
                if n < min as f64 || n > max as f64 {
                    return Err(ParamError::OutOfRange { name: self.name, min: min as f64, max: max as f64, value: n });
                }
                Ok(Value::from(n as i64))
            }
            Kind::Float { min, max, .. } => {
                let x = value.as_f64().ok_or_else(|| wrong("a number"))?;
                if !(x.is_finite() && (min..=max).contains(&x)) {
                    return Err(ParamError::OutOfRange { name: self.name, min, max, value: x });
                }
                Ok(value.clone())
            }
            Kind::Bool { .. } => value.as_bool().map(Value::Bool).ok_or_else(|| wrong("true or false")),
            Kind::Choice { options, .. } => match value.as_str() {
                Some(word) if options.contains(&word) => Ok(value.clone()),
                _ => Err(wrong(&format!("one of: {}", options.join(", ")))),
            },
        }
    }
}

/// Checks `given` (a JSON object, or null for "all defaults") against `params`
/// and `rules`, and returns the full parameter set: every key, defaults filled in.
///
/// # Errors
/// [`ParamError`] naming the first unknown key, the first bad value, or the
/// first rule the combination breaks.
pub fn check(
    strategy: &str,
    params: &[Param],
    rules: &[Rule],
    given: &Value,
) -> Result<Map<String, Value>, ParamError> {
    let given = match given {
        Value::Null => &Map::new(),
        Value::Object(map) => map,
        _ => {
            return Err(ParamError::Spec { spec: strategy.to_owned(), reason: "parameters must be an object".into() });
        }
    };
    if let Some(key) = given.keys().find(|k| !params.iter().any(|p| p.name == k.as_str())) {
        let known: Vec<&str> = params.iter().map(|p| p.name).collect();
        return Err(ParamError::Spec {
            spec: strategy.to_owned(),
            reason: format!("unknown parameter `{key}`; expected one of: {}", known.join(", ")),
        });
    }
    let mut full = Map::new();
    for p in params {
        let value = match given.get(p.name) {
            Some(v) => p.check(v)?,
            None => p.default_value(),
        };
        full.insert(p.name.to_owned(), value);
    }
    if let Some(rule) = rules.iter().find(|r| !r.holds(&full)) {
        let shown = |k: &str| full.get(k).map_or_else(String::new, Value::to_string);
        let spec = match *rule {
            Rule::Below { low: a, high: b, .. } | Rule::AnyNonZero { a, b } => {
                format!("{a}={}, {b}={}", shown(a), shown(b))
            }
        };
        return Err(ParamError::Spec { spec, reason: rule.describe() });
    }
    Ok(full)
}
