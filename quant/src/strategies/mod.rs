//! The strategy catalog: each strategy is a typed, serde-serializable parameter
//! set plus a documented rule, built by name from JSON parameters.
//!
//! Every strategy here emits `Buy`/`Sell` only on the bar where its condition
//! becomes true (an event, not a state), and `Hold` otherwise, including during
//! its indicators' warm-up. Parameters not given take the documented defaults;
//! unknown parameter names are refused.

mod bollinger;
mod breakout;
mod common;
mod crossover;
mod ichimoku;
mod macd;
mod oscillators;
mod rsi;
mod trend;
mod volume;

pub use bollinger::{
    BandExit, BollingerBreakout, BollingerBreakoutParams, BollingerReversion, BollingerReversionParams,
};
pub use breakout::{DonchianBreakout, DonchianParams, KeltnerBreakout, KeltnerParams, NewHigh, NewHighParams};
pub use crossover::{Cross, CrossParams, MaKind};
pub use ichimoku::{IchimokuCloud, IchimokuParams};
pub use macd::{MacdCross, MacdSignalParams, MacdZeroParams};
pub use oscillators::{
    CciBreakout, CciParams, StochasticCross, StochasticParams, TrixCross, TrixParams, WilliamsR, WilliamsRParams,
};
pub use rsi::{RsiReversal, RsiReversalParams, RsiTrend, RsiTrendParams};
pub use trend::{
    AdxParams, AdxTrend, AroonCross, AroonParams, ParabolicSar, SarParams, SuperTrendFlip, SuperTrendParams,
};
pub use volume::{MfiParams, MfiReversal, ObvParams, ObvTrend, VolumeBreakout, VolumeBreakoutParams};

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

/// The catalog's strategy names, in its order. Listing strategies through
/// this instead of [`CATALOG`] keeps the strategies' code out of a wasm bundle
/// that only shows their names (the dashboard); a test keeps the two equal.
pub const NAME_LIST: &[&str] = &[
    "adx_trend",
    "aroon",
    "bollinger_breakout",
    "bollinger_reversion",
    "cci",
    "donchian_breakout",
    "ema_cross",
    "golden_cross",
    "ichimoku",
    "keltner_breakout",
    "macd_signal_cross",
    "macd_zero_cross",
    "mfi",
    "new_high",
    "obv_trend",
    "parabolic_sar",
    "rsi_reversal",
    "rsi_trend",
    "sma_cross",
    "stochastic_cross",
    "supertrend",
    "trix",
    "volume_breakout",
    "williams_r",
];

/// Every strategy, alphabetically.
pub const CATALOG: &[Entry] = &[
    Entry {
        name: "adx_trend",
        summary: "Buy when +DI crosses above -DI with ADX above a threshold, sell on the opposite crossing",
        build: |p| Ok(Box::new(AdxTrend::new(parse(p, "adx_trend", AdxParams::default())?)?)),
    },
    Entry {
        name: "aroon",
        summary: "Buy when Aroon up crosses above Aroon down, sell when it crosses below",
        build: |p| Ok(Box::new(AroonCross::new(parse(p, "aroon", AroonParams::default())?)?)),
    },
    Entry {
        name: "bollinger_breakout",
        summary: "Buy when the close crosses above the upper Bollinger band, sell below the middle band",
        build: |p| {
            Ok(Box::new(BollingerBreakout::new(parse(p, "bollinger_breakout", BollingerBreakoutParams::default())?)?))
        },
    },
    Entry {
        name: "bollinger_reversion",
        summary: "Buy when the close comes back above the lower Bollinger band, sell at the middle (or upper) band",
        build: |p| {
            let params = parse(p, "bollinger_reversion", BollingerReversionParams::default())?;
            Ok(Box::new(BollingerReversion::new(params)?))
        },
    },
    Entry {
        name: "cci",
        summary: "Buy when the CCI crosses above +100, sell when it crosses below -100",
        build: |p| Ok(Box::new(CciBreakout::new(parse(p, "cci", CciParams::default())?)?)),
    },
    Entry {
        name: "donchian_breakout",
        summary: "Turtle breakout: buy above the previous 20-bar high, sell below the previous 10-bar low",
        build: |p| Ok(Box::new(DonchianBreakout::new(parse(p, "donchian_breakout", DonchianParams::default())?)?)),
    },
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
        name: "ichimoku",
        summary: "Buy when the close clears the cloud with tenkan above kijun, sell when it falls below the cloud",
        build: |p| Ok(Box::new(IchimokuCloud::new(parse(p, "ichimoku", IchimokuParams::default())?)?)),
    },
    Entry {
        name: "keltner_breakout",
        summary: "Buy when the close crosses above the upper Keltner band, sell below the middle band",
        build: |p| Ok(Box::new(KeltnerBreakout::new(parse(p, "keltner_breakout", KeltnerParams::default())?)?)),
    },
    Entry {
        name: "macd_signal_cross",
        summary: "Buy when the MACD line crosses above its signal line, sell when it crosses below",
        build: |p| Ok(Box::new(MacdCross::signal_cross(parse(p, "macd_signal_cross", MacdSignalParams::default())?)?)),
    },
    Entry {
        name: "macd_zero_cross",
        summary: "Buy when the MACD line crosses above zero, sell when it crosses below",
        build: |p| Ok(Box::new(MacdCross::zero_cross(parse(p, "macd_zero_cross", MacdZeroParams::default())?)?)),
    },
    Entry {
        name: "mfi",
        summary: "Buy when the MFI climbs back above 20, sell when it drops back below 80",
        build: |p| Ok(Box::new(MfiReversal::new(parse(p, "mfi", MfiParams::default())?)?)),
    },
    Entry {
        name: "new_high",
        summary: "Buy a new 252-bar (or all-time) closing high, sell below the 20-bar low or a trailing stop",
        build: |p| Ok(Box::new(NewHigh::new(parse(p, "new_high", NewHighParams::default())?)?)),
    },
    Entry {
        name: "obv_trend",
        summary: "Buy when on-balance volume crosses above its 20-bar average, sell when it crosses below",
        build: |p| Ok(Box::new(ObvTrend::new(parse(p, "obv_trend", ObvParams::default())?)?)),
    },
    Entry {
        name: "parabolic_sar",
        summary: "Buy when the close crosses above the parabolic SAR, sell when it crosses below",
        build: |p| Ok(Box::new(ParabolicSar::new(parse(p, "parabolic_sar", SarParams::default())?)?)),
    },
    Entry {
        name: "rsi_reversal",
        summary: "Buy when RSI(14) climbs back above 30, sell when it drops back below 70",
        build: |p| Ok(Box::new(RsiReversal::new(parse(p, "rsi_reversal", RsiReversalParams::default())?)?)),
    },
    Entry {
        name: "rsi_trend",
        summary: "Buy when RSI(14) crosses above 50, sell when it crosses below",
        build: |p| Ok(Box::new(RsiTrend::new(parse(p, "rsi_trend", RsiTrendParams::default())?)?)),
    },
    Entry {
        name: "sma_cross",
        summary: "Buy when SMA(fast) crosses above SMA(slow), sell when it crosses below",
        build: |p| Ok(Box::new(Cross::new(MaKind::Sma, parse(p, "sma_cross", CrossParams { fast: 10, slow: 20 })?)?)),
    },
    Entry {
        name: "stochastic_cross",
        summary: "Buy when %K crosses above %D below 20, sell when it crosses below %D above 80",
        build: |p| Ok(Box::new(StochasticCross::new(parse(p, "stochastic_cross", StochasticParams::default())?)?)),
    },
    Entry {
        name: "supertrend",
        summary: "Buy when the SuperTrend turns up, sell when it turns down",
        build: |p| Ok(Box::new(SuperTrendFlip::new(parse(p, "supertrend", SuperTrendParams::default())?)?)),
    },
    Entry {
        name: "trix",
        summary: "Buy when TRIX crosses above its signal EMA, sell when it crosses below",
        build: |p| Ok(Box::new(TrixCross::new(parse(p, "trix", TrixParams::default())?)?)),
    },
    Entry {
        name: "volume_breakout",
        summary: "Buy a close above the previous 20-bar high on 1.2x average volume, sell below the 10-bar low",
        build: |p| Ok(Box::new(VolumeBreakout::new(parse(p, "volume_breakout", VolumeBreakoutParams::default())?)?)),
    },
    Entry {
        name: "williams_r",
        summary: "Buy when Williams %R climbs back above -80, sell when it drops back below -20",
        build: |p| Ok(Box::new(WilliamsR::new(parse(p, "williams_r", WilliamsRParams::default())?)?)),
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
pub const NAMES: &str = concat!(
    "adx_trend, ",
    "aroon, ",
    "bollinger_breakout, ",
    "bollinger_reversion, ",
    "cci, ",
    "donchian_breakout, ",
    "ema_cross, ",
    "golden_cross, ",
    "ichimoku, ",
    "keltner_breakout, ",
    "macd_signal_cross, ",
    "macd_zero_cross, ",
    "mfi, ",
    "new_high, ",
    "obv_trend, ",
    "parabolic_sar, ",
    "rsi_reversal, ",
    "rsi_trend, ",
    "sma_cross, ",
    "stochastic_cross, ",
    "supertrend, ",
    "trix, ",
    "volume_breakout, ",
    "williams_r",
);

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
    #[test]
    fn names_list_the_catalog_in_order() {
        let catalog: Vec<&str> = super::CATALOG.iter().map(|e| e.name).collect();
        assert_eq!(super::NAME_LIST, catalog.as_slice());
    }

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

    /// A strategy's periods are capped like the indicators': a stored
    /// `fastk_period` of a billion would otherwise allocate on every build.
    #[test]
    fn periods_past_the_cap_are_refused_by_every_strategy_that_has_one() {
        let huge = crate::MAX_PERIOD + 1;
        for (name, key) in [("stochastic_cross", "fastk_period"), ("sma_cross", "slow"), ("rsi_reversal", "period")] {
            let entry = find(name).unwrap();
            let err = entry.build(&json!({ key: huge })).err();
            assert!(matches!(err, Some(ParamError::TooLarge { .. })), "{name}.{key}: {err:?}");
        }
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
