//! The lab's input: one flat JSON object, as the lab page keeps it in its URL
//! and the API takes it.
//!
//! ```json
//! {"symbol": "GOOG", "timeframe": "1d", "from": "2020-01-01", "to": "2024-12-31",
//!  "strategy": "sma_cross", "params": {"fast": 10, "slow": 20},
//!  "cash": 10000, "commission": 0.002, "mode": "long-short"}
//! ```
//!
//! The data fields ([`DATA_FIELDS`]) are split off; a request kind's own
//! fields (`grid`, `metric`, `train`...) are taken next; everything else is a
//! [`Settings`] field, and anything else at all is refused. `strategy` is
//! required; every other setting takes the CLI's default.

use quant::Timeframe;
use quant::backtest::{Grid, Resolved, Settings, WalkForward, check_metric};
use quant::strategies::Entry;
use quant::strategies::meta::Kind;
use serde_json::{Map, Value};

use super::{LabError, MAX_COMBINATIONS, MAX_LAB_BARS, MAX_WALK_FORWARD_RUNS, time_label};
use crate::providers::csv::parse_time;
use crate::symbol::Symbol;

/// The fields that say which bars a run uses.
pub const DATA_FIELDS: [&str; 4] = ["symbol", "timeframe", "from", "to"];

/// The fields a sweep adds to a backtest's.
pub const SWEEP_FIELDS: [&str; 2] = ["grid", "metric"];

/// The fields a walk-forward validation adds to a backtest's.
pub const WALK_FORWARD_FIELDS: [&str; 5] = ["grid", "metric", "train", "test", "anchored"];

/// The metric a sweep ranks by when none is named.
pub const DEFAULT_METRIC: &str = "sharpe";

/// Which stored bars a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The symbol.
    pub symbol: Symbol,
    /// The bars' timeframe (default `1d`).
    pub timeframe: Timeframe,
    /// Earliest bar opening time, Unix seconds (inclusive); `None`: the first bar.
    pub from: Option<i64>,
    /// Latest bar opening time, Unix seconds (inclusive); `None`: the last bar.
    pub to: Option<i64>,
}

impl Data {
    /// `between A and B`, `since A`, `until B` or `at all`, for messages.
    #[must_use]
    pub fn describe_range(&self) -> String {
        match (self.from, self.to) {
            (Some(a), Some(b)) => format!("between {} and {}", time_label(a), time_label(b)),
            (Some(a), None) => format!("since {}", time_label(a)),
            (None, Some(b)) => format!("until {}", time_label(b)),
            (None, None) => "stored".into(),
        }
    }
}

/// A backtest's whole input, checked.
#[derive(Debug, Clone)]
pub struct LabInput {
    /// The bars.
    pub data: Data,
    /// The settings as given.
    pub settings: Settings,
    /// The settings resolved: strategy, full parameters, engine configuration.
    pub resolved: Resolved,
}

/// A sweep's input, checked.
#[derive(Debug, Clone)]
pub struct SweepInput {
    /// Bars and settings; `params` not in the grid stay fixed.
    pub lab: LabInput,
    /// The grid: the swept parameters, then each fixed one with its one value.
    pub grid: Grid,
    /// The metric runs are ranked by.
    pub metric: String,
    /// Combinations in the grid.
    pub combinations: usize,
}

/// A walk-forward validation's input, checked (all but the windows' fit,
/// which needs the bars: [`WalkForwardInput::check_fit`]).
#[derive(Debug, Clone)]
pub struct WalkForwardInput {
    /// Bars, settings, grid and metric.
    pub sweep: SweepInput,
    /// Window sizes.
    pub windows: WalkForward,
}

fn invalid(message: impl Into<String>) -> LabError {
    LabError::Invalid(message.into())
}

/// Reads the flat input of a backtest from JSON text (the lab's URL, a saved
/// run, a server function's argument).
///
/// # Errors
/// [`LabError::Invalid`] naming the field.
pub fn parse_text(text: &str) -> Result<LabInput, LabError> {
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(format!("input is not JSON: {e}")))?;
    LabInput::parse(object(value, "input")?, &[]).map(|(input, _)| input)
}

/// `value` as an object, or a message naming `what`.
///
/// # Errors
/// [`LabError::Invalid`] when `value` is not an object.
pub fn object(value: Value, what: &str) -> Result<Map<String, Value>, LabError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(format!("{what} must be a JSON object, got {}", kind_of(&other)))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The names of every [`Settings`] field, in declaration order.
fn settings_fields() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

impl LabInput {
    /// Splits `map` into the data fields, the fields in `extra` (returned
    /// as they are, for the caller to read) and the settings.
    ///
    /// # Errors
    /// [`LabError::Invalid`] naming the first bad field: an unknown one, a
    /// missing `symbol` or `strategy`, a value of the wrong type or out of
    /// range, a bad strategy parameter, `from` after `to`.
    pub fn parse(mut map: Map<String, Value>, extra: &[&str]) -> Result<(Self, Map<String, Value>), LabError> {
        let settings_fields = settings_fields();
        if let Some(key) = map.keys().find(|k| {
            !DATA_FIELDS.contains(&k.as_str())
                && !extra.contains(&k.as_str())
                && !settings_fields.iter().any(|f| f == k.as_str())
        }) {
            let expected: Vec<&str> = DATA_FIELDS
                .iter()
                .copied()
                .chain(settings_fields.iter().map(String::as_str))
                .chain(extra.iter().copied())
                .collect();
            return Err(invalid(format!(
                "unknown field `{}`; expected one of: {}",
                app::api::excerpt(key),
                expected.join(", ")
            )));
        }
        let data = Data::take(&mut map)?;
        let mut extras = Map::new();
        for name in extra {
            if let Some(v) = map.remove(*name) {
                extras.insert((*name).to_owned(), v);
            }
        }
        let (settings, resolved) = resolve_settings(map)?;
        Ok((Self { data, settings, resolved }, extras))
    }
}

/// Reads and resolves the settings fields of a flat input (`strategy` required).
///
/// # Errors
/// [`LabError::Invalid`] naming the field.
pub fn resolve_settings(map: Map<String, Value>) -> Result<(Settings, Resolved), LabError> {
    match map.get("strategy") {
        None => {
            return Err(invalid(format!("strategy is required; one of: {}", quant::strategies::NAME_LIST.join(", "))));
        }
        Some(Value::String(_)) => {}
        Some(other) => return Err(invalid(format!("strategy must be a string, got {}", kind_of(other)))),
    }
    let settings = settings(map)?;
    let resolved = settings.resolve()?;
    Ok((settings, resolved))
}

/// Deserializes the settings; a refusal names the field it is about.
fn settings(map: Map<String, Value>) -> Result<Settings, LabError> {
    match serde_json::from_value::<Settings>(Value::Object(map.clone())) {
        Ok(s) => Ok(s),
        Err(whole) => {
            // serde's message for a value of the wrong type does not say
            // which field it was: try each field alone to find it.
            for (key, value) in &map {
                let mut one = Map::new();
                one.insert(key.clone(), value.clone());
                if let Err(e) = serde_json::from_value::<Settings>(Value::Object(one)) {
                    let message = app::api::excerpt_message(&e.to_string());
                    return Err(invalid(if message.contains(&format!("`{key}`")) {
                        message
                    } else {
                        format!("{key}: {message}")
                    }));
                }
            }
            Err(invalid(app::api::excerpt_message(&whole.to_string())))
        }
    }
}

/// A time field: Unix seconds (a number or its text), a date, a UTC
/// date-time or RFC 3339; `None` when absent, null or empty.
///
/// # Errors
/// [`LabError::Invalid`] naming the field.
pub fn time(name: &str, value: Option<Value>) -> Result<Option<i64>, LabError> {
    let bad = |shown: &str| {
        invalid(format!(
            "{name}: `{}` is not a time (Unix seconds, a date, a UTC date-time or RFC 3339)",
            app::api::excerpt(shown)
        ))
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse_time(s.trim()).map(Some).map_err(|_| bad(&s)),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad(&n.to_string())),
        Some(other) => Err(invalid(format!("{name} must be a string or a number, got {}", kind_of(&other)))),
    }
}

impl Data {
    /// Takes the data fields out of `map`.
    ///
    /// # Errors
    /// [`LabError::Invalid`] naming the field.
    pub fn take(map: &mut Map<String, Value>) -> Result<Self, LabError> {
        let symbol = match map.remove("symbol") {
            None => return Err(invalid("symbol is required")),
            Some(Value::String(s)) => Symbol::parse(&s).map_err(|e| invalid(e.to_string()))?,
            Some(other) => return Err(invalid(format!("symbol must be a string, got {}", kind_of(&other)))),
        };
        let timeframe = match map.remove("timeframe") {
            None | Some(Value::Null) => Timeframe::D1,
            Some(Value::String(s)) if s.is_empty() => Timeframe::D1,
            Some(Value::String(s)) => s.parse().map_err(|e: quant::ParamError| invalid(e.to_string()))?,
            Some(other) => return Err(invalid(format!("timeframe must be a string, got {}", kind_of(&other)))),
        };
        let from = time("from", map.remove("from"))?;
        let to = time("to", map.remove("to"))?;
        if let (Some(a), Some(b)) = (from, to)
            && a > b
        {
            return Err(invalid(format!("from ({}) must not be after to ({})", time_label(a), time_label(b))));
        }
        Ok(Self { symbol, timeframe, from, to })
    }
}

impl SweepInput {
    /// Reads a sweep: a backtest's fields plus `grid` and `metric`.
    ///
    /// # Errors
    /// [`LabError::Invalid`] naming the field.
    pub fn parse(map: Map<String, Value>) -> Result<Self, LabError> {
        let (lab, extras) = LabInput::parse(map, &SWEEP_FIELDS)?;
        Self::from_parts(lab, &extras)
    }

    fn from_parts(lab: LabInput, extras: &Map<String, Value>) -> Result<Self, LabError> {
        let metric = match extras.get("metric") {
            None | Some(Value::Null) => DEFAULT_METRIC.to_owned(),
            Some(Value::String(m)) => {
                check_metric(m).map_err(|e| invalid(format!("metric: {e}")))?;
                m.clone()
            }
            Some(other) => return Err(invalid(format!("metric must be a string, got {}", kind_of(other)))),
        };
        let given = extras.get("grid").ok_or_else(|| {
            invalid("grid is required: parameter names to values, e.g. {\"fast\": [5, 10, 15]} or {\"fast\": {\"from\": 5, \"to\": 50, \"step\": 5}}")
        })?;
        let (grid, combinations) = parse_grid(given, lab.resolved.entry, &lab.resolved.params)?;
        Ok(Self { lab, grid, metric, combinations })
    }
}

impl WalkForwardInput {
    /// Reads a walk-forward validation: a sweep's fields plus `train`, `test`
    /// and `anchored`.
    ///
    /// # Errors
    /// [`LabError::Invalid`] naming the field.
    pub fn parse(map: Map<String, Value>) -> Result<Self, LabError> {
        let (lab, extras) = LabInput::parse(map, &WALK_FORWARD_FIELDS)?;
        let bars = |name: &str| match extras.get(name) {
            None | Some(Value::Null) => Err(invalid(format!("{name} is required: bars in each window"))),
            Some(v) => {
                v.as_u64().filter(|n| (1..=MAX_LAB_BARS as u64).contains(n)).map(|n| n as usize).ok_or_else(|| {
                    invalid(format!("{name} must be a whole number of bars from 1 to {MAX_LAB_BARS}, got {v}"))
                })
            }
        };
        let (train, test) = (bars("train")?, bars("test")?);
        let anchored = match extras.get("anchored") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(invalid(format!("anchored must be true or false, got {}", kind_of(other)))),
        };
        let sweep = SweepInput::from_parts(lab, &extras)?;
        Ok(Self { sweep, windows: WalkForward { train, test, anchored } })
    }

    /// Steps the windows make over `bars` bars.
    ///
    /// # Errors
    /// [`LabError::Invalid`] naming `train` and `test` when no window fits,
    /// or `grid` when the whole validation would run more than
    /// [`MAX_WALK_FORWARD_RUNS`] backtests.
    pub fn check_fit(&self, bars: usize) -> Result<usize, LabError> {
        let steps = self.windows.steps(bars).len();
        if steps == 0 {
            return Err(invalid(format!(
                "train + test ({} + {}) must fit in the {bars} bars of the range",
                self.windows.train, self.windows.test
            )));
        }
        let runs = self.sweep.combinations.saturating_mul(steps + 1);
        if runs > MAX_WALK_FORWARD_RUNS {
            return Err(invalid(format!(
                "grid: {} combinations over {steps} windows (and the hindsight sweep) are {runs} backtests, \
                 at most {MAX_WALK_FORWARD_RUNS}",
                self.sweep.combinations
            )));
        }
        Ok(steps)
    }
}

/// Reads a grid: an object of parameter names to a list of values
/// (`[5, 10, 15]`) or a range (`{"from": 5, "to": 50, "step": 5}`; `step`
/// defaults to the parameter's). Every value is checked against the
/// strategy's metadata. Parameters of `base` the grid does not name are added
/// with their one value, so they stay as given. Returns the grid and its
/// number of combinations.
///
/// # Errors
/// [`LabError::Invalid`] naming `grid` and the parameter: an unknown one, a
/// bad value or range, more than [`MAX_COMBINATIONS`] combinations.
pub fn parse_grid(given: &Value, entry: &Entry, base: &Value) -> Result<(Grid, usize), LabError> {
    let Value::Object(map) = given else {
        return Err(invalid(format!("grid must be an object of parameter names to values, got {}", kind_of(given))));
    };
    if map.is_empty() {
        return Err(invalid("grid must name at least one parameter"));
    }
    let mut grid: Grid = Vec::new();
    let mut combinations: usize = 1;
    for (name, spec) in map {
        let Some(param) = entry.param(name) else {
            let known: Vec<&str> = entry.params.iter().map(|p| p.name).collect();
            return Err(invalid(format!(
                "grid: unknown parameter `{}` of {}; expected one of: {}",
                app::api::excerpt(name),
                entry.name,
                known.join(", ")
            )));
        };
        let values: Vec<Value> = match spec {
            Value::Array(list) => {
                if list.is_empty() {
                    return Err(invalid(format!("grid.{name} needs at least one value")));
                }
                if list.len() > MAX_COMBINATIONS {
                    return Err(invalid(format!("grid.{name}: at most {MAX_COMBINATIONS} values")));
                }
                list.iter()
                    .map(|v| param.check(v).map_err(|e| invalid(format!("grid.{name}: {e}"))))
                    .collect::<Result<_, _>>()?
            }
            Value::Object(range) => range_values(name, param, range)?,
            other => {
                return Err(invalid(format!(
                    "grid.{name} must be a list of values or {{\"from\", \"to\", \"step\"}}, got {}",
                    kind_of(other)
                )));
            }
        };
        combinations = combinations.saturating_mul(values.len());
        if combinations > MAX_COMBINATIONS {
            return Err(invalid(format!(
                "grid: more than {MAX_COMBINATIONS} combinations ({})",
                map.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(" x ")
            )));
        }
        grid.push((name.clone(), values));
    }
    if let Value::Object(base) = base {
        for (name, value) in base {
            if !map.contains_key(name) {
                grid.push((name.clone(), vec![value.clone()]));
            }
        }
    }
    Ok((grid, combinations))
}

/// The values of a range `{"from", "to", "step"}` of a numeric parameter.
fn range_values(
    name: &str,
    param: &quant::strategies::meta::Param,
    range: &Map<String, Value>,
) -> Result<Vec<Value>, LabError> {
    if matches!(param.kind, Kind::Bool { .. } | Kind::Choice { .. }) {
        return Err(invalid(format!("grid.{name}: a range needs a numeric parameter; list the values instead")));
    }
    if let Some(key) = range.keys().find(|k| !["from", "to", "step"].contains(&k.as_str())) {
        return Err(invalid(format!(
            "grid.{name}: unknown field `{}` of a range; expected from, to, step",
            app::api::excerpt(key)
        )));
    }
    let number = |key: &str| -> Result<Option<f64>, LabError> {
        match range.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| invalid(format!("grid.{name}.{key} must be a number, got {v}"))),
        }
    };
    let from = number("from")?.ok_or_else(|| invalid(format!("grid.{name}.from is required")))?;
    let to = number("to")?.ok_or_else(|| invalid(format!("grid.{name}.to is required")))?;
    let step = number("step")?.or_else(|| param.step()).unwrap_or(1.0);
    if step <= 0.0 {
        return Err(invalid(format!("grid.{name}.step must be above 0, got {step}")));
    }
    if from > to {
        return Err(invalid(format!("grid.{name}: from ({from}) must not be above to ({to})")));
    }
    let count = ((to - from) / step + 1e-9).floor() + 1.0;
    if count > MAX_COMBINATIONS as f64 {
        return Err(invalid(format!("grid.{name}: more than {MAX_COMBINATIONS} values from {from} to {to} by {step}")));
    }
    // Values are rounded to the step's decimals, so 0.1 + 2 * 0.1 is 0.3.
    let decimals = (0..=12).find(|d| {
        let scaled = step * 10f64.powi(*d);
        (scaled - scaled.round()).abs() < 1e-9 * scaled.abs().max(1.0)
    });
    let scale = 10f64.powi(decimals.unwrap_or(12).max(fraction_digits(from)));
    (0..count as usize)
        .map(|i| {
            let x = ((from + i as f64 * step) * scale).round() / scale;
            param.check(&Value::from(x)).map_err(|e| invalid(format!("grid.{name}: {e}")))
        })
        .collect()
}

/// How many decimals `x` needs (up to 12).
fn fraction_digits(x: f64) -> i32 {
    (0..=12)
        .find(|d| {
            let scaled = x * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-9 * scaled.abs().max(1.0)
        })
        .unwrap_or(12)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn refused(v: Value) -> String {
        LabInput::parse(map(v), &[]).unwrap_err().to_string()
    }

    #[test]
    fn the_issue_example_parses_with_defaults_for_the_rest() {
        let (input, extras) = LabInput::parse(
            map(json!({"symbol": "goog", "timeframe": "1d", "strategy": "sma_cross", "params": {"fast": 10, "slow": 20},
                        "cash": 10000, "commission": 0.002, "mode": "long-short", "from": "2020-01-01", "to": 1_700_000_000})),
            &[],
        )
        .unwrap();
        assert!(extras.is_empty());
        assert_eq!(input.data.symbol.as_str(), "GOOG");
        assert_eq!(input.data.from, Some(1_577_836_800));
        assert_eq!(input.data.to, Some(1_700_000_000));
        assert_eq!(input.resolved.config.commission_rate, 0.002);
        assert_eq!(input.resolved.params, json!({"fast": 10, "slow": 20}));
        let no_tf = LabInput::parse(map(json!({"symbol": "A", "strategy": "rsi_trend"})), &[]).unwrap().0;
        assert_eq!((no_tf.data.timeframe, no_tf.data.from), (Timeframe::D1, None));
    }

    #[test]
    fn every_refusal_names_its_field() {
        let base = || json!({"symbol": "GOOG", "strategy": "sma_cross"});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        for (input, expected) in [
            (with("cassh", json!(1)), "unknown field `cassh`"),
            (with("cash", json!("lots")), "cash: invalid type"),
            (with("cash", json!(-5)), "cash must be within"),
            (with("mode", json!("sideways")), "unknown variant `sideways`"),
            (with("params", json!({"fast": 0})), "fast must be within"),
            (with("params", json!({"fast": 30, "slow": 20})), "fast must be below slow"),
            (with("params", json!({"fastest": 3})), "unknown parameter `fastest`"),
            (with("strategy", json!("nope")), "unknown strategy `nope`"),
            (with("strategy", json!(3)), "strategy must be a string"),
            (with("timeframe", json!("2d")), "unknown timeframe `2d`"),
            (with("from", json!("yesterday")), "from: `yesterday` is not a time"),
            (with("symbol", json!("bad symbol")), "symbol `bad symbol`"),
            (json!({"strategy": "sma_cross"}), "symbol is required"),
            (json!({"symbol": "A"}), "strategy is required"),
            (json!({"symbol": "A", "strategy": "sma_cross", "from": "2024-02-01", "to": "2024-01-01"}), "from ("),
        ] {
            let message = refused(input.clone());
            assert!(message.contains(expected), "{input}: {message}");
        }
    }

    #[test]
    fn grids_are_lists_or_ranges_checked_against_the_metadata() {
        let sma = quant::strategies::find("sma_cross").unwrap();
        let base = json!({"fast": 10, "slow": 20});
        let (grid, n) = parse_grid(&json!({"fast": [5, 10.0, 15]}), sma, &base).unwrap();
        assert_eq!(n, 3);
        assert_eq!(grid, vec![("fast".into(), vec![json!(5), json!(10), json!(15)]), ("slow".into(), vec![json!(20)])]);
        let (grid, n) =
            parse_grid(&json!({"fast": {"from": 5, "to": 50, "step": 5}, "slow": {"from": 20, "to": 22}}), sma, &base)
                .unwrap();
        assert_eq!(n, 30);
        assert_eq!(grid[0].1.len(), 10);
        assert_eq!(grid[0].1[9], json!(50));
        assert_eq!(grid[1].1, vec![json!(20), json!(21), json!(22)]);
        let bb = quant::strategies::find("bollinger_breakout").unwrap();
        let (grid, _) = parse_grid(&json!({"nbdev": {"from": 0.1, "to": 0.5, "step": 0.1}}), bb, &json!({})).unwrap();
        assert_eq!(grid[0].1, vec![json!(0.1), json!(0.2), json!(0.3), json!(0.4), json!(0.5)]);

        for (given, expected) in [
            (json!([1]), "grid must be an object"),
            (json!({}), "at least one parameter"),
            (json!({"fastest": [1]}), "unknown parameter `fastest`"),
            (json!({"fast": []}), "grid.fast needs at least one value"),
            (json!({"fast": [0]}), "grid.fast: fast must be within"),
            (json!({"fast": [2.5]}), "fast must be a whole number"),
            (json!({"fast": {"from": 5}}), "grid.fast.to is required"),
            (json!({"fast": {"from": 9, "to": 5}}), "grid.fast: from (9) must not be above to (5)"),
            (json!({"fast": {"from": 1, "to": 5, "step": 0}}), "grid.fast.step must be above 0"),
            (json!({"fast": {"from": 1, "to": 5, "by": 1}}), "unknown field `by`"),
            (
                json!({"fast": {"from": 1, "to": 2000}, "slow": {"from": 2, "to": 2000}}),
                "more than 100000 combinations",
            ),
            (json!({"fast": "5..10"}), "grid.fast must be a list"),
        ] {
            let message = parse_grid(&given, sma, &base).unwrap_err().to_string();
            assert!(message.contains(expected), "{given}: {message}");
        }
    }

    #[test]
    fn sweeps_and_walk_forward_read_their_own_fields() {
        let s =
            SweepInput::parse(map(json!({"symbol": "A", "strategy": "sma_cross", "grid": {"fast": [5, 6]}}))).unwrap();
        assert_eq!((s.metric.as_str(), s.combinations), ("sharpe", 2));
        let err = |v: Value| SweepInput::parse(map(v)).unwrap_err().to_string();
        assert!(err(json!({"symbol": "A", "strategy": "sma_cross"})).contains("grid is required"));
        assert!(
            err(json!({"symbol": "A", "strategy": "sma_cross", "grid": {"fast": [5]}, "metric": "luck"}))
                .contains("metric: unknown metric `luck`")
        );
        assert!(
            err(json!({"symbol": "A", "strategy": "sma_cross", "grid": {"fast": [5]}, "train": 5}))
                .contains("unknown field `train`")
        );
        let w = WalkForwardInput::parse(map(json!({"symbol": "A", "strategy": "sma_cross", "grid": {"fast": [5, 6]},
                                                   "train": 100, "test": 50, "anchored": true})))
        .unwrap();
        assert_eq!(w.windows, WalkForward { train: 100, test: 50, anchored: true });
        assert_eq!(w.check_fit(250).unwrap(), 3);
        assert!(w.check_fit(149).unwrap_err().to_string().contains("train + test (100 + 50) must fit"));
        let werr = |v: Value| WalkForwardInput::parse(map(v)).unwrap_err().to_string();
        assert!(
            werr(json!({"symbol": "A", "strategy": "sma_cross", "grid": {"fast": [5]}, "test": 5}))
                .contains("train is required")
        );
        assert!(
            werr(json!({"symbol": "A", "strategy": "sma_cross", "grid": {"fast": [5]}, "train": 0, "test": 5}))
                .contains("train must be a whole number")
        );
    }
}
