//! A backtest's whole input apart from the bars, as users write it: the
//! strategy, its parameters and the engine's settings under the CLI's names
//! (`cash`, `commission`, `mode`...).
//!
//! The lab page, its URL, the Web Workers, `POST /api/v1/backtests` and
//! `finstage backtest` all speak this one shape, so a run typed in one place
//! reproduces exactly in another. Every field but `strategy` is optional and
//! takes the CLI's default.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Config, Fill, Mode, Sizing};
use crate::error::ParamError;
use crate::strategies::{self, Entry, Info};

/// A strategy with its parameters and the engine's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// A catalog strategy's name.
    pub strategy: String,
    /// Its parameters; missing ones take the metadata's defaults.
    pub params: Map<String, Value>,
    /// Starting cash.
    pub cash: f64,
    /// Commission per fill as a fraction of notional (0.002 = 0.2%).
    pub commission: f64,
    /// Fixed commission per fill.
    pub commission_fixed: f64,
    /// Slippage per fill, in basis points.
    pub slippage_bps: f64,
    /// `long-only` or `long-short`.
    pub mode: Mode,
    /// `next-open` or `close`.
    pub fill: Fill,
    /// `equity`, `cash` or `units`.
    pub sizing: Sizing,
    /// Fraction of equity per entry (`sizing: equity`).
    pub fraction: f64,
    /// Cash or units per entry (`sizing: cash` or `units`).
    pub size: f64,
    /// Allow fractional units.
    pub fractional: bool,
    /// Stop-loss as a fraction of the entry price.
    pub stop_loss: Option<f64>,
    /// Take-profit as a fraction of the entry price.
    pub take_profit: Option<f64>,
    /// Trailing stop as a fraction below the best price since entry.
    pub trailing_stop: Option<f64>,
    /// Bars per year for annualising.
    pub periods_per_year: f64,
    /// Annual risk-free rate for Sharpe and Sortino.
    pub risk_free: f64,
}

impl Default for Settings {
    fn default() -> Self {
        let c = Config::default();
        Self {
            strategy: "sma_cross".into(),
            params: Map::new(),
            cash: c.initial_cash,
            commission: c.commission_rate,
            commission_fixed: c.commission_fixed,
            slippage_bps: c.slippage_bps,
            mode: c.mode,
            fill: c.fill,
            sizing: c.sizing,
            fraction: c.fraction,
            size: c.size,
            fractional: c.fractional,
            stop_loss: c.stop_loss,
            take_profit: c.take_profit,
            trailing_stop: c.trailing_stop,
            periods_per_year: c.periods_per_year,
            risk_free: c.risk_free_rate,
        }
    }
}

/// Settings checked against the strategy's description (no strategy code
/// involved: what a form needs).
#[derive(Debug, Clone)]
pub struct Checked {
    /// The strategy's description.
    pub info: &'static Info,
    /// Every parameter, defaults filled in.
    pub params: Value,
    /// The engine's configuration.
    pub config: Config,
}

/// Settings checked and resolved: ready to run.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The strategy's catalog entry.
    pub entry: &'static Entry,
    /// Every parameter, defaults filled in.
    pub params: Value,
    /// The engine's configuration.
    pub config: Config,
}

impl Settings {
    /// The engine configuration these settings describe (unchecked).
    #[must_use]
    pub fn config(&self) -> Config {
        Config {
            initial_cash: self.cash,
            commission_rate: self.commission,
            commission_fixed: self.commission_fixed,
            slippage_bps: self.slippage_bps,
            mode: self.mode,
            fill: self.fill,
            sizing: self.sizing,
            fraction: self.fraction,
            size: self.size,
            fractional: self.fractional,
            stop_loss: self.stop_loss,
            take_profit: self.take_profit,
            trailing_stop: self.trailing_stop,
            periods_per_year: self.periods_per_year,
            risk_free_rate: self.risk_free,
        }
    }

    /// Checks everything and fills in the defaults.
    ///
    /// # Errors
    /// [`ParamError`] naming the first bad field as written here: an unknown
    /// strategy, a bad parameter, or a bad engine setting.
    pub fn resolve(&self) -> Result<Resolved, ParamError> {
        let Checked { params, config, .. } = self.check()?;
        Ok(Resolved { entry: strategies::find(&self.strategy)?, params, config })
    }

    /// [`Settings::resolve`] without the strategy's code: everything is
    /// checked the same way, against the strategy's [`Info`].
    ///
    /// # Errors
    /// As [`Settings::resolve`].
    pub fn check(&self) -> Result<Checked, ParamError> {
        let info = strategies::info(&self.strategy)?;
        let params = Value::Object(info.resolve(&Value::Object(self.params.clone()))?);
        let config = self.config();
        config.validate().map_err(|e| match e {
            ParamError::OutOfRange { name, min, max, value } => {
                ParamError::OutOfRange { name: config_field(name), min, max, value }
            }
            other => other,
        })?;
        Ok(Checked { info, params, config })
    }
}

/// The settings field an engine [`Config`] field is set by (`initial_cash` is
/// `cash`), for messages that must name what the user wrote.
#[must_use]
pub fn config_field(name: &'static str) -> &'static str {
    match name {
        "initial_cash" => "cash",
        "commission_rate" => "commission",
        "risk_free_rate" => "risk_free",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_api_example_parses_and_everything_else_defaults() {
        let s: Settings = serde_json::from_value(json!({
            "strategy": "sma_cross", "params": {"fast": 10, "slow": 20},
            "cash": 10000, "commission": 0.002, "mode": "long-short"
        }))
        .unwrap();
        let r = s.resolve().unwrap();
        assert_eq!(r.entry.name, "sma_cross");
        assert_eq!(r.params, json!({"fast": 10, "slow": 20}));
        assert_eq!(
            r.config,
            Config { commission_rate: 0.002, mode: Mode::LongShort, initial_cash: 10_000.0, ..Config::default() }
        );
        // Round trip: what the page writes into its URL reads back the same.
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&text).unwrap(), s);
    }

    #[test]
    fn bad_fields_are_named() {
        let err = |v: Value| match serde_json::from_value::<Settings>(v) {
            Err(e) => e.to_string(),
            Ok(s) => s.resolve().unwrap_err().to_string(),
        };
        assert!(err(json!({"strategy": "sma_cross", "cassh": 1})).contains("unknown field `cassh`"));
        assert!(err(json!({"strategy": "sma_cross", "mode": "sideways"})).contains("unknown variant `sideways`"));
        assert!(err(json!({"strategy": "nope"})).contains("unknown strategy `nope`"));
        assert!(err(json!({"strategy": "sma_cross", "params": {"fast": 0}})).contains("fast must be within"));
        assert!(err(json!({"strategy": "sma_cross", "commission": 2})).contains("commission must be within"));
        assert_eq!(config_field("commission_rate"), "commission");
    }
}
