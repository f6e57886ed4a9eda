//! A lab run's whole input and its URL form. The URL is the source of truth:
//! the form is a plain GET form whose field names are the query's keys, so a
//! reload or a shared link reproduces the run, and the page reads the form
//! back through the same parser on every change.
//!
//! Keys: `symbol`, `tf`, `from`, `to` (dates, `YYYY-MM-DD`), `strategy`, one
//! `p.NAME` per strategy parameter, then the engine settings under the CLI's
//! names (`cash`, `commission`, `mode`...). Only values that differ from the
//! defaults are written back into the URL.

use quant::Timeframe;
use quant::backtest::{Fill, Mode, Settings, Sizing};
use quant::strategies::{self, meta};
use serde_json::{Map, Value};

/// A problem with one field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// The field's name in the form (and the URL).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Everything a lab run needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabInput {
    /// The stored symbol.
    pub symbol: String,
    /// The bars' timeframe.
    pub timeframe: Timeframe,
    /// First day, inclusive (`YYYY-MM-DD`), empty for the first stored bar.
    pub from: String,
    /// Last day, inclusive, empty for the latest bar.
    pub to: String,
    /// Strategy, parameters and engine settings.
    pub settings: Settings,
}

impl Default for LabInput {
    fn default() -> Self {
        Self {
            symbol: String::new(),
            timeframe: Timeframe::D1,
            from: String::new(),
            to: String::new(),
            settings: Settings::default(),
        }
    }
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl LabInput {
    /// Reads an input from query pairs; every problem is returned beside the
    /// field it belongs to (the input then holds the default for that field).
    pub(crate) fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> (Self, Vec<FieldError>) {
        let mut input = Self::default();
        let mut errors = Vec::new();
        let mut error = |field: &str, message: String| errors.push(FieldError { field: field.to_owned(), message });
        let mut params: Vec<(String, String)> = Vec::new();
        let s = &mut input.settings;
        for (key, raw) in pairs {
            let value = raw.trim();
            let number = |error: &mut dyn FnMut(&str, String)| -> Option<f64> {
                // Not `str::parse`: its table of powers of five would land in
                // the main module's data (docs/WASM.md).
                match quant::number::finite(value) {
                    Some(x) => Some(x),
                    None => {
                        error(key, format!("{key}: `{value}` is not a number"));
                        None
                    }
                }
            };
            match key {
                "symbol" => input.symbol = value.to_ascii_uppercase(),
                "tf" => match value.parse() {
                    Ok(tf) => input.timeframe = tf,
                    Err(e) => error(key, format!("{e}")),
                },
                "from" | "to" if value.is_empty() || is_date(value) => {
                    *(if key == "from" { &mut input.from } else { &mut input.to }) = value.to_owned();
                }
                "from" | "to" => error(key, format!("{key}: write the date as YYYY-MM-DD")),
                "strategy" => s.strategy = value.to_owned(),
                "cash" => s.cash = number(&mut error).unwrap_or(s.cash),
                "commission" => s.commission = number(&mut error).unwrap_or(s.commission),
                "commission_fixed" => s.commission_fixed = number(&mut error).unwrap_or(s.commission_fixed),
                "slippage_bps" => s.slippage_bps = number(&mut error).unwrap_or(s.slippage_bps),
                "fraction" => s.fraction = number(&mut error).unwrap_or(s.fraction),
                "size" if value.is_empty() => {}
                "size" => s.size = number(&mut error).unwrap_or(s.size),
                "periods_per_year" => s.periods_per_year = number(&mut error).unwrap_or(s.periods_per_year),
                "risk_free" => s.risk_free = number(&mut error).unwrap_or(s.risk_free),
                "fractional" => s.fractional = matches!(value, "on" | "true" | "1"),
                "stop_loss" | "take_profit" | "trailing_stop" => {
                    let level = if value.is_empty() { None } else { number(&mut error) };
                    match key {
                        "stop_loss" => s.stop_loss = level,
                        "take_profit" => s.take_profit = level,
                        _ => s.trailing_stop = level,
                    }
                }
                "mode" | "fill" | "sizing" => {
                    let parsed = serde_json::from_value::<Value>(Value::String(value.to_owned()));
                    let ok = match key {
                        "mode" => parsed.and_then(serde_json::from_value::<Mode>).map(|m| s.mode = m).is_ok(),
                        "fill" => parsed.and_then(serde_json::from_value::<Fill>).map(|f| s.fill = f).is_ok(),
                        _ => parsed.and_then(serde_json::from_value::<Sizing>).map(|z| s.sizing = z).is_ok(),
                    };
                    if !ok {
                        error(key, format!("{key}: unknown value `{value}`"));
                    }
                }
                _ => {
                    if let Some(name) = key.strip_prefix("p.") {
                        params.push((name.to_owned(), value.to_owned()));
                    }
                }
            }
        }
        // Parameters are read once the strategy is known; those of another
        // strategy (left in the form while it re-renders) are dropped.
        match strategies::info(&input.settings.strategy) {
            Err(e) => error("strategy", e.to_string()),
            Ok(entry) => {
                let mut map = Map::new();
                for (name, text) in params {
                    let Some(param) = entry.param(&name) else { continue };
                    let value = match param.kind {
                        meta::Kind::Bool { .. } => Value::Bool(matches!(text.as_str(), "on" | "true" | "1")),
                        meta::Kind::Choice { .. } => Value::String(text),
                        meta::Kind::Int { .. } | meta::Kind::Float { .. } => match text.parse::<f64>() {
                            // Whole numbers as integers, so the URL reads `p.fast=5`.
                            Ok(x) if x.fract() == 0.0 && x.abs() < 1e15 => Value::from(x as i64),
                            Ok(x) if x.is_finite() => {
                                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
                            }
                            _ => {
                                error(&format!("p.{name}"), format!("{name}: `{text}` is not a number"));
                                continue;
                            }
                        },
                    };
                    map.insert(name, value);
                }
                input.settings.params = map;
                if let Err(e) = input.settings.check() {
                    error(&field_of(&e, entry), e.to_string());
                }
            }
        }
        if input.symbol.is_empty() {
            error("symbol", "choose a stored symbol".into());
        }
        (input, errors)
    }

    /// The query string (without `?`) that [`LabInput::from_pairs`] reads back
    /// into this input; defaults are left out.
    #[cfg_attr(not(any(feature = "hydrate", test)), expect(dead_code, reason = "the browser writes the URL"))]
    pub(crate) fn to_query(&self) -> String {
        let d = Settings::default();
        let s = &self.settings;
        let mut pairs: Vec<(String, String)> = vec![("symbol".into(), self.symbol.clone())];
        let mut put = |k: &str, v: String| pairs.push((k.to_owned(), v));
        put("tf", self.timeframe.to_string());
        if !self.from.is_empty() {
            put("from", self.from.clone());
        }
        if !self.to.is_empty() {
            put("to", self.to.clone());
        }
        put("strategy", s.strategy.clone());
        if let Ok(entry) = strategies::info(&s.strategy) {
            for p in entry.params {
                if let Some(v) = s.params.get(p.name).filter(|v| **v != p.default_value()) {
                    put(&format!("p.{}", p.name), v.as_str().map_or_else(|| v.to_string(), str::to_owned));
                }
            }
        }
        for (key, value, default) in [
            ("cash", s.cash, d.cash),
            ("commission", s.commission, d.commission),
            ("commission_fixed", s.commission_fixed, d.commission_fixed),
            ("slippage_bps", s.slippage_bps, d.slippage_bps),
            ("fraction", s.fraction, d.fraction),
            ("size", s.size, d.size),
            ("periods_per_year", s.periods_per_year, d.periods_per_year),
            ("risk_free", s.risk_free, d.risk_free),
        ] {
            if value.to_bits() != default.to_bits() {
                put(key, value.to_string());
            }
        }
        let word = |v: Value| v.as_str().unwrap_or_default().to_owned();
        if s.mode != d.mode {
            put("mode", word(serde_json::to_value(s.mode).unwrap_or_default()));
        }
        if s.fill != d.fill {
            put("fill", word(serde_json::to_value(s.fill).unwrap_or_default()));
        }
        if s.sizing != d.sizing {
            put("sizing", word(serde_json::to_value(s.sizing).unwrap_or_default()));
        }
        if s.fractional {
            put("fractional", "on".into());
        }
        for (key, level) in
            [("stop_loss", s.stop_loss), ("take_profit", s.take_profit), ("trailing_stop", s.trailing_stop)]
        {
            if let Some(level) = level {
                put(key, level.to_string());
            }
        }
        pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
    }

    /// The input as `POST /api/v1/backtests` and the lab's server functions
    /// read it: the data fields and every setting, flat.
    #[cfg_attr(not(any(feature = "hydrate", test)), expect(dead_code, reason = "the browser sends it"))]
    pub(crate) fn to_flat_json(&self) -> String {
        let mut object = match serde_json::to_value(&self.settings) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        object.insert("symbol".into(), Value::from(self.symbol.clone()));
        object.insert("timeframe".into(), Value::from(self.timeframe.to_string()));
        if !self.from.is_empty() {
            object.insert("from".into(), Value::from(self.from.clone()));
        }
        if !self.to.is_empty() {
            // The last day whole, as the bars' URL asks for it.
            object.insert("to".into(), Value::from(format!("{}T23:59:59Z", self.to)));
        }
        Value::Object(object).to_string()
    }

    /// Reads back what [`LabInput::to_flat_json`] wrote (a saved run's input).
    ///
    /// # Errors
    /// A message when the text is not such an input.
    #[cfg_attr(not(any(feature = "hydrate", test)), expect(dead_code, reason = "the browser opens saved runs"))]
    pub(crate) fn from_flat_json(text: &str) -> Result<Self, String> {
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
            return Err("a saved input must be a JSON object".into());
        };
        let mut take = |k: &str| map.remove(k).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let symbol = take("symbol");
        let timeframe = take("timeframe");
        // Dates as the form writes them: the day only.
        let day = |t: String| t.get(..10).map(str::to_owned).unwrap_or(t);
        let (from, to) = (day(take("from")), day(take("to")));
        let settings: Settings = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
        let timeframe = if timeframe.is_empty() {
            Timeframe::D1
        } else {
            timeframe.parse().map_err(|e: quant::ParamError| e.to_string())?
        };
        Ok(Self { symbol, timeframe, from, to, settings })
    }

    /// Where the packed bars of this input's data come from.
    #[cfg_attr(not(any(feature = "hydrate", test)), expect(dead_code, reason = "the browser writes the URL"))]
    pub(crate) fn bars_url(&self) -> String {
        let mut url = format!("/api/v1/symbols/{}/bars.fsb?timeframe={}", encode(&self.symbol), self.timeframe);
        if !self.from.is_empty() {
            url.push_str(&format!("&from={}", self.from));
        }
        if !self.to.is_empty() {
            url.push_str(&format!("&to={}T23:59:59Z", self.to));
        }
        url
    }

    /// The data this input runs on: a change here reloads the bars.
    #[cfg_attr(not(feature = "hydrate"), expect(dead_code, reason = "the browser loads bars"))]
    pub(crate) fn data_key(&self) -> (String, Timeframe, String, String) {
        (self.symbol.clone(), self.timeframe, self.from.clone(), self.to.clone())
    }
}

/// The form field a settings error belongs to.
fn field_of(error: &quant::ParamError, entry: &strategies::Info) -> String {
    use quant::ParamError as E;
    let name = match error {
        E::OutOfRange { name, .. } | E::TooSmall { name, .. } | E::TooLarge { name, .. } => (*name).to_owned(),
        E::Unknown { kind: "strategy", .. } => return "strategy".into(),
        // Rules and type errors: "fast=30, slow=10" or "size=7.5" name the field first.
        E::Spec { spec, .. } => spec.split(['=', ',']).next().unwrap_or_default().trim().to_owned(),
        E::Unknown { .. } => String::new(),
    };
    if entry.param(&name).is_some() { format!("p.{name}") } else { name }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
#[cfg_attr(not(any(feature = "hydrate", test)), expect(dead_code, reason = "the browser writes the URL"))]
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(query: &[(&str, &str)]) -> (LabInput, Vec<FieldError>) {
        LabInput::from_pairs(query.iter().copied())
    }

    #[test]
    fn a_query_reads_into_settings_and_writes_back_the_same() {
        let (input, errors) = read(&[
            ("symbol", "goog"),
            ("tf", "1d"),
            ("from", "2015-01-01"),
            ("strategy", "sma_cross"),
            ("p.fast", "5"),
            ("p.slow", "30"),
            ("cash", "25000"),
            ("commission", "0.002"),
            ("mode", "long-short"),
            ("stop_loss", "0.05"),
            ("take_profit", ""),
            ("fractional", "on"),
        ]);
        assert_eq!(errors, vec![]);
        assert_eq!(input.symbol, "GOOG");
        assert_eq!(input.settings.params, serde_json::json!({"fast": 5, "slow": 30}).as_object().unwrap().clone());
        assert_eq!(
            (input.settings.cash, input.settings.stop_loss, input.settings.take_profit),
            (25_000.0, Some(0.05), None)
        );
        let query = input.to_query();
        assert_eq!(
            query,
            "symbol=GOOG&tf=1d&from=2015-01-01&strategy=sma_cross&p.fast=5&p.slow=30&cash=25000&commission=0.002&mode=long-short&fractional=on&stop_loss=0.05"
        );
        let pairs: Vec<(&str, &str)> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
        let (again, errors) = LabInput::from_pairs(pairs);
        assert!(errors.is_empty());
        assert_eq!(again.to_query(), query);
        assert_eq!(again.settings.check().unwrap().params, input.settings.check().unwrap().params);
    }

    #[test]
    fn each_problem_is_attached_to_its_field() {
        let (_, errors) = read(&[("symbol", "X"), ("cash", "lots"), ("from", "1/2/2020"), ("p.fast", "0")]);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["cash", "from", "p.fast"], "{errors:?}");
        assert!(errors[2].message.contains("fast must be within 1..=2000"), "{errors:?}");
        let (_, errors) = read(&[("symbol", "X"), ("p.fast", "30"), ("p.slow", "10")]);
        assert_eq!(errors[0].field, "p.fast");
        assert!(errors[0].message.contains("fast must be below slow"));
        let (_, errors) = read(&[("symbol", "X"), ("commission", "0.9")]);
        assert_eq!(
            (errors[0].field.as_str(), errors[0].message.contains("commission must be within")),
            ("commission", true)
        );
        let (_, errors) = read(&[("strategy", "nope")]);
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["strategy", "symbol"]);
        // A parameter of another strategy (the form still shows it) is dropped.
        let (input, errors) = read(&[("symbol", "X"), ("strategy", "rsi_trend"), ("p.fast", "5")]);
        assert!(errors.is_empty() && input.settings.params.is_empty());
    }

    #[test]
    fn the_flat_json_is_what_the_api_takes() {
        let (input, _) = read(&[("symbol", "GOOG"), ("to", "2024-02-01"), ("p.fast", "5"), ("mode", "long-short")]);
        let v: Value = serde_json::from_str(&input.to_flat_json()).unwrap();
        assert_eq!(v["symbol"], "GOOG");
        assert_eq!(v["timeframe"], "1d");
        assert_eq!(v["to"], "2024-02-01T23:59:59Z");
        assert!(v.get("from").is_none());
        assert_eq!(v["params"]["fast"], 5);
        assert_eq!(v["mode"], "long-short");
        assert_eq!(v["strategy"], "sma_cross");
    }

    #[test]
    fn a_saved_input_reads_back() {
        let (input, _) = read(&[
            ("symbol", "GOOG"),
            ("from", "2020-01-01"),
            ("to", "2024-02-01"),
            ("p.fast", "5"),
            ("cash", "5000"),
        ]);
        let back = LabInput::from_flat_json(&input.to_flat_json()).unwrap();
        assert_eq!(back, input);
        assert!(LabInput::from_flat_json("[1]").is_err());
        assert!(
            LabInput::from_flat_json(r#"{"symbol": "X", "cassh": 1}"#).unwrap_err().contains("unknown field `cassh`")
        );
    }

    #[test]
    fn the_bars_url_names_the_data() {
        let (input, _) = read(&[("symbol", "BRK.B"), ("tf", "1h"), ("from", "2024-01-01"), ("to", "2024-02-01")]);
        assert_eq!(
            input.bars_url(),
            "/api/v1/symbols/BRK.B/bars.fsb?timeframe=1h&from=2024-01-01&to=2024-02-01T23:59:59Z"
        );
    }
}
