//! Indicators by name: parses specifications such as `MACD(12,26,9)` and builds
//! the indicator behind one object-safe interface, [`DynIndicator`].
//!
//! Names, parameter order, defaults and output names follow TA-Lib's
//! (`BBANDS(timeperiod, nbdevup, nbdevdn, matype)` with outputs `upperband`,
//! `middleband`, `lowerband`). Trailing parameters may be left out; they take
//! TA-Lib's defaults. The CLI, the golden tests and (later) the dashboard all go
//! through here.

use crate::number::{Number, read as read_number};
use std::fmt;
use std::str::FromStr;

use super::stoch::sma_only;
use super::{
    Ad, AdOsc, Adx, Aroon, AroonOsc, Cci, Cmo, Macd, Mfi, MinusDi, Mom, Obv, PlusDi, Roc, Rsi, Stoch, StochRsi, Ultosc,
    Willr,
};
use super::{
    Atr, Bbands, Dema, Donchian, Ichimoku, Kama, Keltner, Linearreg, MaType, Medprice, Natr, Ppo, Sar, Stddev,
    SuperTrend, Tema, Trange, Trix, Typprice, Var, Vwap, VwapAnchor, Wma,
};
use super::{Ema, FromBar, Indicator, Outputs, Sma};
use crate::bar::Bar;
use crate::error::ParamError;

/// A parsed specification: a function name and the parameters as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Upper-cased function name, e.g. `MACD`.
    pub name: String,
    /// Parameter values in TA-Lib's order; may be shorter than the full list.
    pub params: Vec<f64>,
    /// The parameters as written, for display (`BBANDS(20,2,2)` stays so).
    written: Vec<String>,
}

impl Spec {
    /// A specification from a name and parameter values.
    #[must_use]
    pub fn new(name: &str, params: &[f64]) -> Self {
        Self {
            name: name.to_ascii_uppercase(),
            params: params.to_vec(),
            written: params.iter().map(ToString::to_string).collect(),
        }
    }
}

impl FromStr for Spec {
    type Err = ParamError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ParamError::Spec { spec: text.to_owned(), reason: reason.to_owned() };
        let text_trimmed = text.trim();
        let (name, args) = match text_trimmed.split_once('(') {
            None => (text_trimmed, None),
            Some((name, rest)) => {
                let inner = rest.strip_suffix(')').ok_or_else(|| bad("missing closing parenthesis"))?;
                (name.trim(), Some(inner))
            }
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("the name must be letters, digits and underscores, e.g. RSI(14)"));
        }
        let mut params = Vec::new();
        let mut written = Vec::new();
        if let Some(args) = args.filter(|a| !a.trim().is_empty()) {
            for arg in args.split(',') {
                let arg = arg.trim();
                let value = match read_number(arg) {
                    Number::Finite(value) => value,
                    Number::NotFinite => return Err(bad(&format!("`{arg}` is not a finite number"))),
                    Number::Invalid => return Err(bad(&format!("`{arg}` is not a number"))),
                };
                params.push(value);
                written.push(arg.to_owned());
            }
        }
        Ok(Self { name: name.to_ascii_uppercase(), params, written })
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name, self.written.join(","))
    }
}

/// Any indicator, fed whole bars, writing its outputs into a slice.
pub trait DynIndicator: fmt::Debug + Send + Sync {
    /// Output names in TA-Lib's order and spelling.
    fn outputs(&self) -> &'static [&'static str];
    /// Bars consumed before the first output.
    fn lookback(&self) -> usize;
    /// Consumes one bar; when warmed up, writes the outputs into `out` (length
    /// `outputs().len()`) and returns `true`; otherwise leaves `out` alone.
    fn update(&mut self, bar: &Bar, out: &mut [f64]) -> bool;
    /// Returns to the fresh state.
    fn reset(&mut self);
    /// A copy in the same state: feeding both the same bars gives the same
    /// values (a chart keeps the state after its last closed bar and replays
    /// the forming bar on a copy).
    fn boxed_clone(&self) -> Box<dyn DynIndicator>;
}

impl<I> DynIndicator for I
where
    I: Indicator + fmt::Debug + Send + Sync + Clone + 'static,
    I::Input: FromBar,
    I::Output: Outputs,
{
    fn outputs(&self) -> &'static [&'static str] {
        <I::Output as Outputs>::NAMES
    }

    fn lookback(&self) -> usize {
        Indicator::lookback(self)
    }

    fn update(&mut self, bar: &Bar, out: &mut [f64]) -> bool {
        match self.next(I::Input::from_bar(bar)) {
            Some(values) => {
                values.write(out);
                true
            }
            None => false,
        }
    }

    fn reset(&mut self) {
        Indicator::reset(self);
    }

    fn boxed_clone(&self) -> Box<dyn DynIndicator> {
        Box::new(self.clone())
    }
}

/// Every name [`build`] accepts.
pub const NAMES: &str = "AD, ADOSC, ADX, AROON, AROONOSC, ATR, BBANDS, CCI, CMO, DEMA, DONCHIAN, EMA, ICHIMOKU, KAMA, KELTNER, LINEARREG, MACD, MEDPRICE, MFI, MINUS_DI, MOM, NATR, OBV, PLUS_DI, PPO, ROC, RSI, SAR, SMA, STDDEV, STOCH, STOCHRSI, SUPERTREND, TEMA, TRANGE, TRIX, TYPPRICE, ULTOSC, VAR, VWAP, WILLR, WMA";

/// Builds the indicator a specification names.
///
/// # Errors
/// [`ParamError`] for an unknown name, too many parameters, or a parameter the
/// indicator refuses.
pub fn build(spec: &Spec) -> Result<Box<dyn DynIndicator>, ParamError> {
    let mut p = Params { spec, next: 0 };
    let indicator: Box<dyn DynIndicator> = match spec.name.as_str() {
        "AD" => Box::new(Ad::new()),
        "ADOSC" => Box::new(AdOsc::new(p.period("fastperiod", 3)?, p.period("slowperiod", 10)?)?),
        "ADX" => Box::new(Adx::new(p.period("timeperiod", 14)?)?),
        "AROON" => Box::new(Aroon::new(p.period("timeperiod", 14)?)?),
        "AROONOSC" => Box::new(AroonOsc::new(p.period("timeperiod", 14)?)?),
        "ATR" => Box::new(Atr::new(p.period("timeperiod", 14)?)?),
        "BBANDS" => {
            let period = p.period("timeperiod", 5)?;
            let (up, down) = (p.real("nbdevup", 2.0)?, p.real("nbdevdn", 2.0)?);
            Box::new(Bbands::new(period, up, down, MaType::from_code(p.period("matype", 0)?)?)?)
        }
        "CCI" => Box::new(Cci::new(p.period("timeperiod", 14)?)?),
        "CMO" => Box::new(Cmo::new(p.period("timeperiod", 14)?)?),
        "DEMA" => Box::new(Dema::new(p.period("timeperiod", 30)?)?),
        "DONCHIAN" => Box::new(Donchian::new(p.period("timeperiod", 20)?)?),
        "EMA" => Box::new(Ema::new(p.period("timeperiod", 30)?)?),
        "ICHIMOKU" => {
            let (tenkan, kijun) = (p.period("tenkan_period", 9)?, p.period("kijun_period", 26)?);
            let (span_b, shift) = (p.period("senkou_b_period", 52)?, p.period("displacement", 26)?);
            Box::new(Ichimoku::new(tenkan, kijun, span_b, shift)?)
        }
        "KAMA" => Box::new(Kama::new(p.period("timeperiod", 30)?)?),
        "KELTNER" => {
            let (period, atr_period) = (p.period("timeperiod", 20)?, p.period("atr_period", 10)?);
            Box::new(Keltner::new(period, atr_period, p.real("multiplier", 2.0)?)?)
        }
        "LINEARREG" => Box::new(Linearreg::new(p.period("timeperiod", 14)?)?),
        "MACD" => {
            Box::new(Macd::new(p.period("fastperiod", 12)?, p.period("slowperiod", 26)?, p.period("signalperiod", 9)?)?)
        }
        "MEDPRICE" => Box::new(Medprice::new()),
        "MFI" => Box::new(Mfi::new(p.period("timeperiod", 14)?)?),
        "MINUS_DI" => Box::new(MinusDi::new(p.period("timeperiod", 14)?)?),
        "MOM" => Box::new(Mom::new(p.period("timeperiod", 10)?)?),
        "NATR" => Box::new(Natr::new(p.period("timeperiod", 14)?)?),
        "OBV" => Box::new(Obv::new()),
        "PLUS_DI" => Box::new(PlusDi::new(p.period("timeperiod", 14)?)?),
        "PPO" => {
            let (fast, slow) = (p.period("fastperiod", 12)?, p.period("slowperiod", 26)?);
            // TA-Lib 0.8's default matype for PPO is 1 (EMA).
            Box::new(Ppo::new(fast, slow, MaType::from_code(p.period("matype", 1)?)?)?)
        }
        "ROC" => Box::new(Roc::new(p.period("timeperiod", 10)?)?),
        "RSI" => Box::new(Rsi::new(p.period("timeperiod", 14)?)?),
        "SAR" => Box::new(Sar::new(p.real("acceleration", 0.02)?, p.real("maximum", 0.2)?)?),
        "SMA" => Box::new(Sma::new(p.period("timeperiod", 30)?)?),
        "STDDEV" => Box::new(Stddev::new(p.period("timeperiod", 5)?, p.real("nbdev", 1.0)?)?),
        "STOCH" => {
            let fastk = p.period("fastk_period", 5)?;
            let slowk = p.period("slowk_period", 3)?;
            sma_only("slowk_matype", p.period("slowk_matype", 0)?)?;
            let slowd = p.period("slowd_period", 3)?;
            sma_only("slowd_matype", p.period("slowd_matype", 0)?)?;
            Box::new(Stoch::new(fastk, slowk, slowd)?)
        }
        "STOCHRSI" => {
            let period = p.period("timeperiod", 14)?;
            let fastk = p.period("fastk_period", 5)?;
            let fastd = p.period("fastd_period", 3)?;
            sma_only("fastd_matype", p.period("fastd_matype", 0)?)?;
            Box::new(StochRsi::new(period, fastk, fastd)?)
        }
        "SUPERTREND" => Box::new(SuperTrend::new(p.period("timeperiod", 10)?, p.real("multiplier", 3.0)?)?),
        "TEMA" => Box::new(Tema::new(p.period("timeperiod", 30)?)?),
        "TRANGE" => Box::new(Trange::new()),
        "TRIX" => Box::new(Trix::new(p.period("timeperiod", 30)?)?),
        "TYPPRICE" => Box::new(Typprice::new()),
        "ULTOSC" => Box::new(Ultosc::new(
            p.period("timeperiod1", 7)?,
            p.period("timeperiod2", 14)?,
            p.period("timeperiod3", 28)?,
        )?),
        "VAR" => Box::new(Var::new(p.period("timeperiod", 5)?, p.real("nbdev", 1.0)?)?),
        "VWAP" => {
            // 0 (the default): reset each UTC day; n > 0: the last n bars.
            let anchor = match p.period("timeperiod", 0)? {
                0 => VwapAnchor::Session(crate::Timeframe::D1),
                n => VwapAnchor::Rolling(n),
            };
            Box::new(Vwap::new(anchor)?)
        }
        "WILLR" => Box::new(Willr::new(p.period("timeperiod", 14)?)?),
        "WMA" => Box::new(Wma::new(p.period("timeperiod", 30)?)?),
        _ => return Err(ParamError::Unknown { kind: "indicator", value: spec.name.clone(), expected: NAMES }),
    };
    p.finish()?;
    Ok(indicator)
}

/// Reads a specification's parameters in order, with TA-Lib's defaults.
struct Params<'a> {
    spec: &'a Spec,
    next: usize,
}

impl Params<'_> {
    fn take(&mut self) -> Option<f64> {
        let value = self.spec.params.get(self.next).copied();
        self.next += 1;
        value
    }

    fn error(&self, reason: String) -> ParamError {
        ParamError::Spec { spec: self.spec.to_string(), reason }
    }

    /// A whole-number parameter (a period).
    fn period(&mut self, name: &'static str, default: usize) -> Result<usize, ParamError> {
        match self.take() {
            None => Ok(default),
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= 1e9 => Ok(v as usize),
            Some(v) => Err(self.error(format!("{name} must be a whole number, got {v}"))),
        }
    }

    /// A real-valued parameter.
    fn real(&mut self, _name: &'static str, default: f64) -> Result<f64, ParamError> {
        Ok(self.take().unwrap_or(default))
    }

    /// Fails when more parameters were given than the function takes.
    fn finish(&self) -> Result<(), ParamError> {
        if self.spec.params.len() > self.next {
            return Err(self.error(format!("{} takes at most {} parameters", self.spec.name, self.next)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_display_as_written() {
        let spec: Spec = " bbands( 20, 2 ,2 ) ".parse().unwrap();
        assert_eq!(spec.name, "BBANDS");
        assert_eq!(spec.params, vec![20.0, 2.0, 2.0]);
        assert_eq!(spec.to_string(), "BBANDS(20,2,2)");
        assert_eq!("RSI".parse::<Spec>().unwrap().to_string(), "RSI()");
    }

    #[test]
    fn parameters_read_as_f64_from_str_reads_them() {
        let cases = [
            "0",
            "-0",
            "+2",
            "2",
            "2.5",
            ".5",
            "5.",
            "-.5",
            "007",
            "0.02",
            "1e3",
            "1E-3",
            "1e+03",
            "2.5e-1",
            "123456789012345678901234567890",
            "0.1000000000000000055511151231257827",
            "2.2250738585072011e-308",
            "4.9e-324",
            "1e-400",
            "1.7976931348623157e308",
            "9007199254740993",
            "0.30000000000000004",
        ];
        for text in cases {
            let expected: f64 = text.parse().unwrap();
            // Bit for bit: `-0` stays negative zero.
            assert!(matches!(read_number(text), Number::Finite(v) if v.to_bits() == expected.to_bits()), "{text}");
        }
        for text in ["inf", "-Infinity", "NaN", "1e400", "-1e309"] {
            assert!(!text.parse::<f64>().unwrap().is_finite());
            assert_eq!(read_number(text), Number::NotFinite, "{text}");
        }
        for text in ["", ".", "-", "+", "e5", "1e", "1e+", "1.2.3", "1,5", "0x10", " 1", "1 ", "--1", "1_000", "x"] {
            assert!(text.parse::<f64>().is_err(), "{text}");
            assert_eq!(read_number(text), Number::Invalid, "{text}");
        }
    }

    #[test]
    fn malformed_specs_are_errors() {
        for bad in ["", "RSI(14", "RSI(x)", "R SI(3)", "RSI(inf)"] {
            assert!(bad.parse::<Spec>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn build_applies_defaults_and_refuses_bad_parameters() {
        let sma = build(&"SMA".parse().unwrap()).unwrap();
        assert_eq!(sma.lookback(), 29);
        assert_eq!(sma.outputs(), &["real"]);
        assert!(matches!(build(&"SMA(0)".parse().unwrap()), Err(ParamError::TooSmall { .. })));
        // Periods past MAX_PERIOD are refused before anything is allocated.
        assert!(matches!(build(&"STOCH(999999999)".parse().unwrap()), Err(ParamError::TooLarge { .. })));
        assert!(build(&"SMA(100000)".parse().unwrap()).is_ok());
        assert!(matches!(build(&"SMA(100001)".parse().unwrap()), Err(ParamError::TooLarge { .. })));
        assert!(matches!(build(&"SMA(2.5)".parse().unwrap()), Err(ParamError::Spec { .. })));
        assert!(matches!(build(&"SMA(5,6)".parse().unwrap()), Err(ParamError::Spec { .. })));
        assert!(matches!(build(&"NOPE(1)".parse().unwrap()), Err(ParamError::Unknown { .. })));
    }

    #[test]
    fn a_boxed_clone_continues_from_the_same_state() {
        let bars: Vec<Bar> = (0..40)
            .map(|i| {
                let close = 100.0 + f64::from(i % 7) - f64::from(i % 3);
                Bar { ts: i64::from(i) * 60, open: close, high: close + 1.0, low: close - 1.0, close, volume: 10.0 }
            })
            .collect();
        let mut original = build(&"BBANDS(5,2,2)".parse().unwrap()).unwrap();
        let mut out = [0.0; 3];
        for bar in &bars[..20] {
            original.update(bar, &mut out);
        }
        let mut copy = original.boxed_clone();
        let (mut a, mut b) = ([0.0; 3], [0.0; 3]);
        for bar in &bars[20..] {
            assert_eq!(original.update(bar, &mut a), copy.update(bar, &mut b));
            assert_eq!(a, b);
        }
        // The copy is independent: feeding only the original moves it alone.
        original.update(&bars[0], &mut a);
        copy.update(&bars[39], &mut b);
        assert_ne!(a, b);
    }
}
