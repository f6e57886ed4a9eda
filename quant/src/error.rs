//! The error type for everything in `quant` that can refuse its input.

/// A parameter that an indicator, strategy or backtest cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A length parameter (period, window) below its minimum.
    #[error("{name} must be at least {min}, got {value}")]
    TooSmall {
        /// The parameter's name as the user wrote it, e.g. `period`.
        name: &'static str,
        /// The smallest accepted value.
        min: usize,
        /// The value that was given.
        value: usize,
    },
    /// A text that should name a known value (a timeframe, an indicator) does not.
    #[error("unknown {kind} `{value}`; expected one of: {expected}")]
    Unknown {
        /// What was being parsed, e.g. `timeframe`.
        kind: &'static str,
        /// The text that did not parse.
        value: String,
        /// The accepted spellings, comma-separated.
        expected: &'static str,
    },
}
