//! Ticker symbols: validated once at the boundary, then trusted everywhere.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest symbol accepted (Yahoo's longest tickers, e.g. futures, fit).
pub const MAX_SYMBOL_LEN: usize = 20;

/// What [`Symbol::parse`] accepts, surrounding whitespace aside, as an
/// ECMA-262 pattern (with lengths 1 to [`MAX_SYMBOL_LEN`], for the API's
/// OpenAPI document): letters, digits and `. - = ^ _`, at least one letter or digit.
pub const SYMBOL_PATTERN: &str = "^[A-Za-z0-9.=^_-]*[A-Za-z0-9][A-Za-z0-9.=^_-]*$";

/// An upper-case ticker such as `AAPL`, `BRK.B`, `BTC-USD`, `^GSPC` or `EURUSD=X`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

/// Why a text is not a symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// Empty, or longer than [`MAX_SYMBOL_LEN`]. Errors quote at most a short
    /// prefix of the text ([`app::api::excerpt`]).
    #[error("symbol `{0}` must be 1 to {MAX_SYMBOL_LEN} characters")]
    Length(String),
    /// Contains a character outside `A-Z 0-9 . - = ^ _`.
    #[error("symbol `{0}` may only contain letters, digits and . - = ^ _")]
    Character(String),
    /// Made of punctuation only (`.`, `..`, `^`): no market lists such a ticker,
    /// and `.` or `..` would read as a path in a URL.
    #[error("symbol `{0}` must contain a letter or a digit")]
    Punctuation(String),
}

impl Symbol {
    /// Validates and upper-cases `text`.
    ///
    /// # Errors
    /// [`SymbolError`] when `text` is not a plausible ticker.
    pub fn parse(text: &str) -> Result<Self, SymbolError> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_SYMBOL_LEN {
            return Err(SymbolError::Length(app::api::excerpt(text)));
        }
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '=' | '^' | '_')) {
            return Err(SymbolError::Character(app::api::excerpt(text)));
        }
        if !text.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(SymbolError::Punctuation(text.to_owned()));
        }
        Ok(Self(text.to_ascii_uppercase()))
    }

    /// The ticker text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Symbol {
    type Error = SymbolError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> Self {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_world_tickers() {
        for t in ["AAPL", "brk.b", "BTC-USD", "^GSPC", "EURUSD=X"] {
            assert_eq!(Symbol::parse(t).unwrap().as_str(), t.to_ascii_uppercase());
        }
    }

    #[test]
    fn rejects_what_cannot_be_a_ticker() {
        assert!(matches!(Symbol::parse(""), Err(SymbolError::Length(_))));
        assert!(matches!(Symbol::parse("A".repeat(21).as_str()), Err(SymbolError::Length(_))));
        assert!(matches!(Symbol::parse("AA PL"), Err(SymbolError::Character(_))));
        assert!(matches!(Symbol::parse("x'; DROP TABLE bars"), Err(SymbolError::Character(_))));
    }

    #[test]
    fn rejects_punctuation_alone() {
        for t in [".", "..", "^", "-=", "_"] {
            assert!(matches!(Symbol::parse(t), Err(SymbolError::Punctuation(_))), "{t} was accepted");
        }
        assert_eq!(Symbol::parse("^VIX").unwrap().as_str(), "^VIX");
    }

    /// [`SYMBOL_PATTERN`], read by hand: every character allowed, and one of
    /// them a letter or a digit.
    #[test]
    fn the_pattern_says_what_parse_accepts() {
        let allowed = SYMBOL_PATTERN.trim_start_matches("^[").split(']').next().unwrap();
        assert_eq!(allowed, "A-Za-z0-9.=^_-");
        for c in (0u8..128).map(char::from) {
            let listed = c.is_ascii_alphanumeric() || ".=^_-".contains(c);
            assert_eq!(Symbol::parse(&format!("A{c}")).is_ok(), listed || c.is_whitespace(), "{c:?}");
        }
    }
}
