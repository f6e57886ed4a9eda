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
pub mod meta;
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

use self::meta::{MAX_LISTED_PERIOD, Param, Rule, choice, flag, float, int, period};
use crate::error::ParamError;
use crate::strategy::Strategy;

/// A strategy of the catalog, ready to run.
pub type BoxedStrategy = Box<dyn Strategy + Send>;

/// What a strategy is and which parameters it takes.
#[derive(Debug, Clone, Copy)]
pub struct Info {
    /// The name used by the CLI, the API and the browser.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Every parameter, in the order forms show them.
    pub params: &'static [Param],
    /// Rules linking two parameters (`fast` below `slow`).
    pub rules: &'static [Rule],
}

impl Info {
    /// The full parameter set `params` stands for: checked against the
    /// metadata, every key present, defaults filled in.
    ///
    /// # Errors
    /// [`ParamError`] naming the parameter: an unknown key, a value of the
    /// wrong type or outside its range ([`meta`]), or a broken rule.
    pub fn resolve(&self, params: &Value) -> Result<serde_json::Map<String, Value>, ParamError> {
        meta::check(self.name, self.params, self.rules, params)
    }

    /// The parameter called `name`.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// One catalog entry: the description and the builder. It reads as its
/// [`Info`] (`entry.name`, `entry.params`).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// What it is.
    pub info: &'static Info,
    build: fn(&Value) -> Result<BoxedStrategy, ParamError>,
}

impl std::ops::Deref for Entry {
    type Target = Info;

    fn deref(&self) -> &Info {
        self.info
    }
}

impl Entry {
    /// Builds the strategy from JSON parameters (an object; missing keys take defaults).
    ///
    /// # Errors
    /// As [`Info::resolve`].
    pub fn build(&self, params: &Value) -> Result<BoxedStrategy, ParamError> {
        (self.build)(&Value::Object(self.resolve(params)?))
    }
}

/// `fast < slow`, the rule of every pair of averages.
const FAST_BELOW_SLOW: &[Rule] = &[Rule::Below { low: "fast", high: "slow", strict: true }];
/// `oversold < overbought`, the rule of every pair of zones.
const ZONES: &[Rule] = &[Rule::Below { low: "oversold", high: "overbought", strict: true }];

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

/// Every strategy's description, alphabetically: what forms, URLs and
/// validation need, without the strategies' code (a wasm bundle that
/// only shows or checks parameters, the lab page, links none of it).
pub static INFO: [&Info; 24] = [
    &ADX_TREND,
    &AROON,
    &BOLLINGER_BREAKOUT,
    &BOLLINGER_REVERSION,
    &CCI,
    &DONCHIAN_BREAKOUT,
    &EMA_CROSS,
    &GOLDEN_CROSS,
    &ICHIMOKU,
    &KELTNER_BREAKOUT,
    &MACD_SIGNAL_CROSS,
    &MACD_ZERO_CROSS,
    &MFI,
    &NEW_HIGH,
    &OBV_TREND,
    &PARABOLIC_SAR,
    &RSI_REVERSAL,
    &RSI_TREND,
    &SMA_CROSS,
    &STOCHASTIC_CROSS,
    &SUPERTREND,
    &TRIX,
    &VOLUME_BREAKOUT,
    &WILLIAMS_R,
];

static ADX_TREND: Info = Info {
    name: "adx_trend",
    summary: "Buy when +DI crosses above -DI with ADX above a threshold, sell on the opposite crossing",
    params: &[
        period("period", 14, 2, "Window of ADX and the directional indicators"),
        float("threshold", 20.0, 0.0, 99.0, 1.0, "ADX level the trend must exceed for a buy or a sell"),
    ],
    rules: &[],
};

static AROON: Info = Info {
    name: "aroon",
    summary: "Buy when Aroon up crosses above Aroon down, sell when it crosses below",
    params: &[period("period", 25, 2, "Window of Aroon up and down")],
    rules: &[],
};

static BOLLINGER_BREAKOUT: Info = Info {
    name: "bollinger_breakout",
    summary: "Buy when the close crosses above the upper Bollinger band, sell below the middle band",
    params: &[
        period("period", 20, 2, "Window of the middle band and the deviation"),
        float("nbdev", 2.0, 0.1, 10.0, 0.1, "Band width in standard deviations"),
    ],
    rules: &[],
};

static BOLLINGER_REVERSION: Info = Info {
    name: "bollinger_reversion",
    summary: "Buy when the close comes back above the lower Bollinger band, sell at the middle (or upper) band",
    params: &[
        period("period", 20, 2, "Window of the middle band and the deviation"),
        float("nbdev", 2.0, 0.1, 10.0, 0.1, "Band width in standard deviations"),
        choice("exit", "middle", &["middle", "upper"], "The band whose upward crossing sells"),
    ],
    rules: &[],
};

static CCI: Info = Info {
    name: "cci",
    summary: "Buy when the CCI crosses above +100, sell when it crosses below -100",
    params: &[
        period("period", 20, 2, "Window of the CCI"),
        float("level", 100.0, 1.0, 500.0, 5.0, "Crossing +level buys, crossing -level sells"),
    ],
    rules: &[],
};

static DONCHIAN_BREAKOUT: Info = Info {
    name: "donchian_breakout",
    summary: "Turtle breakout: buy above the previous 20-bar high, sell below the previous 10-bar low",
    params: &[
        period("entry", 20, 1, "Bars whose highest high a close must exceed to buy"),
        period("exit", 10, 1, "Bars whose lowest low a close must undercut to sell"),
    ],
    rules: &[],
};

static EMA_CROSS: Info = Info {
    name: "ema_cross",
    summary: "Buy when EMA(fast) crosses above EMA(slow), sell when it crosses below",
    params: &[period("fast", 12, 1, "Period of the fast EMA"), period("slow", 26, 2, "Period of the slow EMA")],
    rules: FAST_BELOW_SLOW,
};

static GOLDEN_CROSS: Info = Info {
    name: "golden_cross",
    summary: "Buy on the golden cross of SMA(50) over SMA(200), sell on the death cross",
    params: &[period("fast", 50, 1, "Period of the fast SMA"), period("slow", 200, 2, "Period of the slow SMA")],
    rules: FAST_BELOW_SLOW,
};

static ICHIMOKU: Info = Info {
    name: "ichimoku",
    summary: "Buy when the close clears the cloud with tenkan above kijun, sell when it falls below the cloud",
    params: &[
        period("tenkan_period", 9, 1, "Window of the conversion line"),
        period("kijun_period", 26, 1, "Window of the base line"),
        period("senkou_b_period", 52, 1, "Window of leading span B"),
        int("displacement", 26, 0, MAX_LISTED_PERIOD as i64, "Bars the leading spans are shifted forward"),
    ],
    rules: &[],
};

static KELTNER_BREAKOUT: Info = Info {
    name: "keltner_breakout",
    summary: "Buy when the close crosses above the upper Keltner band, sell below the middle band",
    params: &[
        period("period", 20, 1, "Period of the EMA of closes, the middle band"),
        period("atr_period", 10, 1, "Period of the ATR"),
        float("multiplier", 2.0, 0.1, 10.0, 0.1, "Band width in ATRs"),
    ],
    rules: &[],
};

static MACD_SIGNAL_CROSS: Info = Info {
    name: "macd_signal_cross",
    summary: "Buy when the MACD line crosses above its signal line, sell when it crosses below",
    params: &[
        period("fast", 12, 2, "Period of the fast EMA"),
        period("slow", 26, 3, "Period of the slow EMA"),
        period("signal", 9, 1, "Period of the signal EMA of the MACD line"),
    ],
    rules: FAST_BELOW_SLOW,
};

static MACD_ZERO_CROSS: Info = Info {
    name: "macd_zero_cross",
    summary: "Buy when the MACD line crosses above zero, sell when it crosses below",
    params: &[period("fast", 12, 2, "Period of the fast EMA"), period("slow", 26, 3, "Period of the slow EMA")],
    rules: FAST_BELOW_SLOW,
};

static MFI: Info = Info {
    name: "mfi",
    summary: "Buy when the MFI climbs back above 20, sell when it drops back below 80",
    params: &[
        period("period", 14, 2, "Window of the MFI"),
        float("oversold", 20.0, 0.0, 100.0, 1.0, "Level the MFI climbs back above to buy"),
        float("overbought", 80.0, 0.0, 100.0, 1.0, "Level the MFI drops back below to sell"),
    ],
    rules: ZONES,
};

static NEW_HIGH: Info = Info {
    name: "new_high",
    summary: "Buy a new 252-bar (or all-time) closing high, sell below the 20-bar low or a trailing stop",
    params: &[
        period("period", 252, 1, "Bars whose highest close a close must exceed to buy (unused with all_time)"),
        flag("all_time", false, "Buy a new all-time closing high instead"),
        int(
            "exit",
            20,
            0,
            MAX_LISTED_PERIOD as i64,
            "Bars whose lowest close a close must undercut to sell; 0 disables",
        ),
        float("trailing", 0.0, 0.0, 0.99, 0.01, "Trailing stop below the highest close since the buy; 0 disables"),
    ],
    rules: &[Rule::AnyNonZero { a: "exit", b: "trailing" }],
};

static OBV_TREND: Info = Info {
    name: "obv_trend",
    summary: "Buy when on-balance volume crosses above its 20-bar average, sell when it crosses below",
    params: &[period("period", 20, 1, "Period of the average of on-balance volume")],
    rules: &[],
};

static PARABOLIC_SAR: Info = Info {
    name: "parabolic_sar",
    summary: "Buy when the close crosses above the parabolic SAR, sell when it crosses below",
    params: &[
        float("acceleration", 0.02, 0.001, 1.0, 0.001, "Acceleration step"),
        float("maximum", 0.2, 0.001, 1.0, 0.01, "Largest acceleration"),
    ],
    rules: &[Rule::Below { low: "acceleration", high: "maximum", strict: false }],
};

static RSI_REVERSAL: Info = Info {
    name: "rsi_reversal",
    summary: "Buy when RSI(14) climbs back above 30, sell when it drops back below 70",
    params: &[
        period("period", 14, 2, "RSI period"),
        float("oversold", 30.0, 0.0, 100.0, 1.0, "Level the RSI climbs back above to buy"),
        float("overbought", 70.0, 0.0, 100.0, 1.0, "Level the RSI drops back below to sell"),
    ],
    rules: ZONES,
};

static RSI_TREND: Info = Info {
    name: "rsi_trend",
    summary: "Buy when RSI(14) crosses above 50, sell when it crosses below",
    params: &[
        period("period", 14, 2, "RSI period"),
        float("level", 50.0, 0.0, 100.0, 1.0, "The level whose crossings are traded"),
    ],
    rules: &[],
};

static SMA_CROSS: Info = Info {
    name: "sma_cross",
    summary: "Buy when SMA(fast) crosses above SMA(slow), sell when it crosses below",
    params: &[period("fast", 10, 1, "Period of the fast SMA"), period("slow", 20, 2, "Period of the slow SMA")],
    rules: FAST_BELOW_SLOW,
};

static STOCHASTIC_CROSS: Info = Info {
    name: "stochastic_cross",
    summary: "Buy when %K crosses above %D below 20, sell when it crosses below %D above 80",
    params: &[
        period("fastk_period", 14, 1, "Window of the raw %K"),
        period("slowk_period", 3, 1, "SMA smoothing of raw %K into %K"),
        period("slowd_period", 3, 1, "SMA smoothing of %K into %D"),
        float("oversold", 20.0, 0.0, 100.0, 1.0, "%D level below which an upward crossing buys"),
        float("overbought", 80.0, 0.0, 100.0, 1.0, "%D level above which a downward crossing sells"),
    ],
    rules: ZONES,
};

static SUPERTREND: Info = Info {
    name: "supertrend",
    summary: "Buy when the SuperTrend turns up, sell when it turns down",
    params: &[
        period("period", 10, 1, "Period of the ATR"),
        float("multiplier", 3.0, 0.1, 10.0, 0.1, "Band distance in ATRs"),
    ],
    rules: &[],
};

static TRIX: Info = Info {
    name: "trix",
    summary: "Buy when TRIX crosses above its signal EMA, sell when it crosses below",
    params: &[
        period("period", 15, 1, "Period of the three EMAs"),
        period("signal", 9, 1, "Period of the signal EMA of TRIX"),
    ],
    rules: &[],
};

static VOLUME_BREAKOUT: Info = Info {
    name: "volume_breakout",
    summary: "Buy a close above the previous 20-bar high on 1.2x average volume, sell below the 10-bar low",
    params: &[
        period("period", 20, 1, "Bars whose highest high a close must exceed to buy"),
        period("volume_period", 20, 1, "Bars of the average volume"),
        float("multiplier", 1.2, 0.1, 10.0, 0.1, "Volume over its average needed for a buy"),
        period("exit", 10, 1, "Bars whose lowest low a close must undercut to sell"),
    ],
    rules: &[],
};

static WILLIAMS_R: Info = Info {
    name: "williams_r",
    summary: "Buy when Williams %R climbs back above -80, sell when it drops back below -20",
    params: &[
        period("period", 14, 2, "Window of %R"),
        float("oversold", -80.0, -100.0, 0.0, 1.0, "Level %R climbs back above to buy"),
        float("overbought", -20.0, -100.0, 0.0, 1.0, "Level %R drops back below to sell"),
    ],
    rules: ZONES,
};

/// Every strategy, alphabetically, ready to build.
pub const CATALOG: &[Entry] = &[
    Entry { info: &ADX_TREND, build: |p| Ok(Box::new(AdxTrend::new(parse(p, "adx_trend")?)?)) },
    Entry { info: &AROON, build: |p| Ok(Box::new(AroonCross::new(parse(p, "aroon")?)?)) },
    Entry {
        info: &BOLLINGER_BREAKOUT,
        build: |p| Ok(Box::new(BollingerBreakout::new(parse(p, "bollinger_breakout")?)?)),
    },
    Entry {
        info: &BOLLINGER_REVERSION,
        build: |p| {
            let params = parse(p, "bollinger_reversion")?;
            Ok(Box::new(BollingerReversion::new(params)?))
        },
    },
    Entry { info: &CCI, build: |p| Ok(Box::new(CciBreakout::new(parse(p, "cci")?)?)) },
    Entry { info: &DONCHIAN_BREAKOUT, build: |p| Ok(Box::new(DonchianBreakout::new(parse(p, "donchian_breakout")?)?)) },
    Entry { info: &EMA_CROSS, build: |p| Ok(Box::new(Cross::new(MaKind::Ema, parse(p, "ema_cross")?)?)) },
    Entry { info: &GOLDEN_CROSS, build: |p| Ok(Box::new(Cross::new(MaKind::Sma, parse(p, "golden_cross")?)?)) },
    Entry { info: &ICHIMOKU, build: |p| Ok(Box::new(IchimokuCloud::new(parse(p, "ichimoku")?)?)) },
    Entry { info: &KELTNER_BREAKOUT, build: |p| Ok(Box::new(KeltnerBreakout::new(parse(p, "keltner_breakout")?)?)) },
    Entry {
        info: &MACD_SIGNAL_CROSS,
        build: |p| Ok(Box::new(MacdCross::signal_cross(parse(p, "macd_signal_cross")?)?)),
    },
    Entry { info: &MACD_ZERO_CROSS, build: |p| Ok(Box::new(MacdCross::zero_cross(parse(p, "macd_zero_cross")?)?)) },
    Entry { info: &MFI, build: |p| Ok(Box::new(MfiReversal::new(parse(p, "mfi")?)?)) },
    Entry { info: &NEW_HIGH, build: |p| Ok(Box::new(NewHigh::new(parse(p, "new_high")?)?)) },
    Entry { info: &OBV_TREND, build: |p| Ok(Box::new(ObvTrend::new(parse(p, "obv_trend")?)?)) },
    Entry { info: &PARABOLIC_SAR, build: |p| Ok(Box::new(ParabolicSar::new(parse(p, "parabolic_sar")?)?)) },
    Entry { info: &RSI_REVERSAL, build: |p| Ok(Box::new(RsiReversal::new(parse(p, "rsi_reversal")?)?)) },
    Entry { info: &RSI_TREND, build: |p| Ok(Box::new(RsiTrend::new(parse(p, "rsi_trend")?)?)) },
    Entry { info: &SMA_CROSS, build: |p| Ok(Box::new(Cross::new(MaKind::Sma, parse(p, "sma_cross")?)?)) },
    Entry { info: &STOCHASTIC_CROSS, build: |p| Ok(Box::new(StochasticCross::new(parse(p, "stochastic_cross")?)?)) },
    Entry { info: &SUPERTREND, build: |p| Ok(Box::new(SuperTrendFlip::new(parse(p, "supertrend")?)?)) },
    Entry { info: &TRIX, build: |p| Ok(Box::new(TrixCross::new(parse(p, "trix")?)?)) },
    Entry { info: &VOLUME_BREAKOUT, build: |p| Ok(Box::new(VolumeBreakout::new(parse(p, "volume_breakout")?)?)) },
    Entry { info: &WILLIAMS_R, build: |p| Ok(Box::new(WilliamsR::new(parse(p, "williams_r")?)?)) },
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

/// The description of the strategy called `name` (no strategy code linked).
///
/// # Errors
/// [`ParamError::Unknown`] listing the known names.
pub fn info(name: &str) -> Result<&'static Info, ParamError> {
    INFO.iter().copied().find(|i| i.name == name).ok_or_else(|| ParamError::Unknown {
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

/// Deserializes a full parameter set, as [`Entry::resolve`] makes it: every
/// key of the struct must be present, so a field the metadata does not list
/// fails every build (and the catalog test) instead of silently defaulting.
fn parse<P: DeserializeOwned>(params: &Value, strategy: &str) -> Result<P, ParamError> {
    P::deserialize(params).map_err(|e| ParamError::Spec { spec: strategy.to_owned(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_list_the_catalog_in_order() {
        let catalog: Vec<&str> = super::CATALOG.iter().map(|e| e.name).collect();
        assert_eq!(super::NAME_LIST, catalog.as_slice());
        let info: Vec<&str> = super::INFO.iter().map(|i| i.name).collect();
        assert_eq!(info, catalog);
    }

    use super::*;
    use serde_json::{Map, json};

    #[test]
    fn catalog_names_are_sorted_unique_and_listed() {
        let names: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(NAMES, names.join(", "));
    }

    /// A strategy's periods are capped by the metadata: a stored
    /// `fastk_period` of a billion would otherwise allocate on every build.
    #[test]
    fn periods_past_the_listed_range_are_refused_by_name() {
        let huge = crate::MAX_PERIOD + 1;
        for (name, key) in [("stochastic_cross", "fastk_period"), ("sma_cross", "slow"), ("rsi_reversal", "period")] {
            let entry = find(name).unwrap();
            let err = entry.build(&json!({ key: huge })).err();
            assert!(matches!(err, Some(ParamError::OutOfRange { name, .. }) if name == key), "{name}.{key}: {err:?}");
        }
    }

    /// Every value the metadata offers builds, unless it breaks one of the
    /// strategy's declared rules; then it is refused, naming both parameters.
    fn expect_build(entry: &Entry, params: &Map<String, Value>, what: &str) {
        let broken = entry.rules.iter().find(|r| !r.holds(&full(entry, params)));
        let built = entry.build(&Value::Object(params.clone()));
        match (broken, built) {
            (None, Ok(mut s)) => {
                // And it runs: a few bars through it must not panic.
                for i in 0..30 {
                    let c = 100.0 + f64::from(i % 7);
                    s.next(&crate::Bar {
                        ts: i64::from(i),
                        open: c,
                        high: c + 1.0,
                        low: c - 1.0,
                        close: c,
                        volume: 10.0,
                    });
                }
            }
            (None, Err(e)) => panic!("{} {what}: refused: {e}", entry.name),
            (Some(rule), Ok(_)) => panic!("{} {what}: built despite `{}`", entry.name, rule.describe()),
            (Some(rule), Err(e)) => assert!(e.to_string().contains(&rule.describe()), "{} {what}: {e}", entry.name),
        }
    }

    fn full(entry: &Entry, params: &Map<String, Value>) -> Map<String, Value> {
        let mut all: Map<String, Value> = entry.params.iter().map(|p| (p.name.to_owned(), p.default_value())).collect();
        all.extend(params.clone());
        all
    }

    fn extremes(p: &Param) -> Vec<Value> {
        match p.kind {
            meta::Kind::Int { min, max, .. } => vec![json!(min), json!(max)],
            meta::Kind::Float { min, max, .. } => vec![json!(min), json!(max)],
            meta::Kind::Bool { .. } => vec![json!(false), json!(true)],
            meta::Kind::Choice { options, .. } => options.iter().map(|o| json!(o)).collect(),
        }
    }

    #[test]
    fn every_strategy_builds_at_each_parameters_minimum_default_and_maximum() {
        for entry in CATALOG {
            assert!(!entry.params.is_empty(), "{} lists no parameters", entry.name);
            expect_build(entry, &Map::new(), "at its defaults");
            for p in entry.params {
                for v in extremes(p) {
                    let one: Map<String, Value> = [(p.name.to_owned(), v.clone())].into_iter().collect();
                    expect_build(entry, &one, &format!("with {}={v}", p.name));
                }
            }
            // Every parameter at its minimum at once, then at its maximum.
            for pick in [0, 1] {
                let all: Map<String, Value> = entry
                    .params
                    .iter()
                    .filter(|p| p.range().is_some())
                    .map(|p| (p.name.to_owned(), extremes(p)[pick].clone()))
                    .collect();
                expect_build(entry, &all, if pick == 0 { "at every minimum" } else { "at every maximum" });
            }
        }
    }

    #[test]
    fn metadata_defaults_are_the_parameter_structs_defaults() {
        let structs: [(&str, Value); 24] = [
            ("adx_trend", json!(AdxParams::default())),
            ("aroon", json!(AroonParams::default())),
            ("bollinger_breakout", json!(BollingerBreakoutParams::default())),
            ("bollinger_reversion", json!(BollingerReversionParams::default())),
            ("cci", json!(CciParams::default())),
            ("donchian_breakout", json!(DonchianParams::default())),
            ("ema_cross", json!(CrossParams { fast: 12, slow: 26 })),
            ("golden_cross", json!(CrossParams { fast: 50, slow: 200 })),
            ("ichimoku", json!(IchimokuParams::default())),
            ("keltner_breakout", json!(KeltnerParams::default())),
            ("macd_signal_cross", json!(MacdSignalParams::default())),
            ("macd_zero_cross", json!(MacdZeroParams::default())),
            ("mfi", json!(MfiParams::default())),
            ("new_high", json!(NewHighParams::default())),
            ("obv_trend", json!(ObvParams::default())),
            ("parabolic_sar", json!(SarParams::default())),
            ("rsi_reversal", json!(RsiReversalParams::default())),
            ("rsi_trend", json!(RsiTrendParams::default())),
            ("sma_cross", json!(CrossParams { fast: 10, slow: 20 })),
            ("stochastic_cross", json!(StochasticParams::default())),
            ("supertrend", json!(SuperTrendParams::default())),
            ("trix", json!(TrixParams::default())),
            ("volume_breakout", json!(VolumeBreakoutParams::default())),
            ("williams_r", json!(WilliamsRParams::default())),
        ];
        for (name, defaults) in structs {
            let resolved = find(name).unwrap().resolve(&Value::Null).unwrap();
            // Compared as numbers: the struct writes 20.0 where the metadata may write 20.
            let as_f64 = |m: &Map<String, Value>| -> Vec<(String, String)> {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_f64().map_or_else(|| v.to_string(), |x| x.to_string())))
                    .collect()
            };
            let mut want = as_f64(defaults.as_object().unwrap());
            let mut got = as_f64(&resolved);
            want.sort();
            got.sort();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_parameter() {
        let sma = find("sma_cross").unwrap();
        let message = |entry: &Entry, params: Value| entry.build(&params).err().unwrap().to_string();
        assert_eq!(message(sma, json!({"fast": 0})), "fast must be within 1..=2000, got 0");
        assert!(message(sma, json!({"fast": "ten"})).contains("fast must be a whole number"));
        assert!(message(sma, json!({"fast": 2.5})).contains("fast must be a whole number"));
        assert!(message(sma, json!({"fast": 30, "slow": 10})).contains("fast must be below slow"));
        assert!(message(sma, json!([1, 2])).contains("parameters must be an object"));
        let bands = find("bollinger_reversion").unwrap();
        assert!(message(bands, json!({"exit": "lower"})).contains("exit must be one of: middle, upper"));
        assert!(message(bands, json!({"nbdev": f64::NAN})).contains("nbdev must be a number"));
        let high = find("new_high").unwrap();
        assert!(message(high, json!({"all_time": 1})).contains("all_time must be true or false"));
        assert!(message(high, json!({"exit": 0})).contains("exit or trailing must be above 0"));
        // A whole float for an integer is the integer.
        assert_eq!(sma.resolve(&json!({"fast": 5.0})).unwrap()["fast"], json!(5));
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
