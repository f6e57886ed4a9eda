//! Reading decimal numbers typed by people (indicator specifications, the
//! lab's form fields) without `f64::from_str`.

/// A number as [`read`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A finite value.
    Finite(f64),
    /// `inf`, `NaN`, or beyond `f64`'s range.
    NotFinite,
    /// Not a number at all.
    Invalid,
}

/// Reads `text` with the grammar of `f64::from_str` (`+2`, `.5`, `5.`,
/// `1e-3`, `inf`), to the same value. The digits are decoded by serde_json
/// (correctly rounded, with its `float_roundtrip` feature) instead of by
/// `f64::from_str`: core's parser carries a 10 KB table of powers of five,
/// and a wasm split build keeps every table in the main module, so that
/// table would be in the download of every page, not only the chart's.
#[must_use]
pub fn read(text: &str) -> Number {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if ["inf", "infinity", "nan"].iter().any(|word| unsigned.eq_ignore_ascii_case(word)) {
        return Number::NotFinite;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Number::Invalid;
    }
    if let Some(exponent) = exponent {
        let exponent_digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if exponent_digits.is_empty() || !digits(exponent_digits) {
            return Number::Invalid;
        }
    }
    // The same number in JSON's grammar: no `+`, no leading zeros, digits on
    // both sides of the point.
    let int = int.trim_start_matches('0');
    let mut json = String::with_capacity(text.len() + 2);
    if negative {
        json.push('-');
    }
    json.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        json.push('.');
        json.push_str(frac);
    }
    if let Some(exponent) = exponent {
        json.push('e');
        json.push_str(exponent);
    }
    // Well-formed by now; an error means out of range (`1e400`, infinite for `f64::from_str`).
    match serde_json::from_str::<f64>(&json) {
        Ok(value) if value.is_finite() => Number::Finite(value),
        _ => Number::NotFinite,
    }
}

/// The finite value `text` holds, if any.
#[must_use]
pub fn finite(text: &str) -> Option<f64> {
    match read(text) {
        Number::Finite(v) => Some(v),
        Number::NotFinite | Number::Invalid => None,
    }
}
