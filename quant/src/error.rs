//! The error type for everything in `quant` that can refuse its input.

/// A parameter or specification that an indicator, strategy or backtest cannot
/// work with. Nothing in `quant` panics on bad parameters; it returns this.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    /// A length parameter above [`crate::MAX_PERIOD`]: no series is that long,
    /// and the state it would need is refused before anything is allocated.
    #[error("{name} must be at most {max}, got {value}")]
    TooLarge {
        /// The parameter's name as the user wrote it, e.g. `period`.
        name: &'static str,
        /// The largest accepted value.
        max: usize,
        /// The value that was given.
        value: usize,
    },
    /// A real-valued parameter outside its accepted range.
    #[error("{name} must be within {min}..={max}, got {value}")]
    OutOfRange {
        /// The parameter's name, e.g. `nbdevup`.
        name: &'static str,
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
        /// The value that was given.
        value: f64,
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
    /// A specification such as `MACD(12,26,9)` that does not parse.
    #[error("invalid specification `{spec}`: {reason}")]
    Spec {
        /// The text as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
}
