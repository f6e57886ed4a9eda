//! Technical indicators, each a streaming state machine plus a batch function.
//!
//! Streaming: `new(params) -> Result<Self, ParamError>`, `next(input) -> Option<output>`
//! (O(1) per bar, `None` during warm-up) and `reset()`. Batch: a free function over
//! a slice whose output has the input's length, `NAN` where warm-up is not done.
//! Both forms share one state machine, so batch output equals streaming output.

mod sma;

pub use sma::{Sma, sma};
