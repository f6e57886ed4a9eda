//! The strategy catalog: each strategy is a typed, serde-serializable parameter
//! set plus a documented rule, built by name from JSON parameters.
//!
//! Every strategy here emits `Buy`/`Sell` only on the bar where its condition
//! becomes true (an event, not a state), and `Hold` otherwise, including during
//! its indicators' warm-up. Parameters not given take the documented defaults;
//! unknown parameter names are refused.

mod crossover;

pub use crossover::{Cross, CrossParams, MaKind};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ParamError;
use crate::strategy::Strategy;

/// A strategy of the catalog, ready to run.
pub type BoxedStrategy = Box<dyn Strategy + Send>;

/// One catalog entry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The name used by the CLI, the API and the browser.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    build: fn(&Value) -> Result<BoxedStrategy, ParamError>,
}

impl Entry {
    /// Builds the strategy from JSON parameters (an object; missing keys take defaults).
    ///
    /// # Errors
    /// [`ParamError`] for unknown or invalid parameters.
    pub fn build(&self, params: &Value) -> Result<BoxedStrategy, ParamError> {
        (self.build)(params)
    }
}

/// Every strategy, alphabetically.
pub const CATALOG: &[Entry] = &[
    Entry {
        name: "ema_cross",
        summary: "Buy when EMA(fast) crosses above EMA(slow), sell when it crosses below",
        build: |p| Ok(Box::new(Cross::new(MaKind::Ema, parse(p, "ema_cross", CrossParams { fast: 12, slow: 26 })?)?)),
    },
    Entry {
        name: "golden_cross",
        summary: "Buy on the golden cross of SMA(50) over SMA(200), sell on the death cross",
        build: |p| {
            Ok(Box::new(Cross::new(MaKind::Sma, parse(p, "golden_cross", CrossParams { fast: 50, slow: 200 })?)?))
        },
    },
    Entry {
        name: "sma_cross",
        summary: "Buy when SMA(fast) crosses above SMA(slow), sell when it crosses below",
        build: |p| Ok(Box::new(Cross::new(MaKind::Sma, parse(p, "sma_cross", CrossParams { fast: 10, slow: 20 })?)?)),
    },
];

/// The catalog entry called `name`.
///
/// # Errors
/// [`ParamError::Unknown`] listing the known names.
pub fn find(name: &str) -> Result<&'static Entry, ParamError> {
    CATALOG.iter().find(|e| e.name == name).ok_or_else(|| ParamError::Unknown {
        kind: "strategy",
        value: name.to_owned(),
        expected: NAMES,
    })
}

/// Every strategy name, for messages.
pub const NAMES: &str = "ema_cross, golden_cross, sma_cross";

/// Overlays `params` (a JSON object) on `defaults` and deserializes the result,
/// so a missing key keeps its default and an unknown key is an error.
fn parse<P: serde::Serialize + DeserializeOwned>(params: &Value, strategy: &str, defaults: P) -> Result<P, ParamError> {
    let bad = |reason: String| ParamError::Spec { spec: strategy.to_owned(), reason };
    let mut merged = serde_json::to_value(defaults).map_err(|e| bad(e.to_string()))?;
    match (params, &mut merged) {
        (Value::Null, _) => {}
        (Value::Object(given), Value::Object(base)) => {
            for (key, value) in given {
                if !base.contains_key(key) {
                    let known: Vec<&str> = base.keys().map(String::as_str).collect();
                    return Err(bad(format!("unknown parameter `{key}`; expected one of: {}", known.join(", "))));
                }
                base.insert(key.clone(), value.clone());
            }
        }
        _ => return Err(bad("parameters must be an object".into())),
    }
    serde_json::from_value(merged).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catalog_names_are_sorted_unique_and_listed() {
        let names: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(NAMES, names.join(", "));
    }

    #[test]
    fn parameters_default_override_and_refuse_unknown_keys() {
        let sma = find("sma_cross").unwrap();
        assert_eq!(sma.build(&json!(null)).unwrap().warmup(), 20);
        assert_eq!(sma.build(&json!({"slow": 30})).unwrap().warmup(), 30);
        let err = sma.build(&json!({"slowest": 30})).err().unwrap().to_string();
        assert!(err.contains("unknown parameter `slowest`"), "{err}");
        assert!(sma.build(&json!({"fast": "ten"})).is_err());
        assert!(sma.build(&json!({"fast": 30, "slow": 10})).is_err());
        assert!(matches!(find("nope"), Err(ParamError::Unknown { .. })));
    }
}
