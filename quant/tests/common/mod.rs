//! Fixtures shared by quant's integration tests: seeded bar series, and (off
//! wasm32, where proptest is not built) property-test generators.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use quant::Bar;

/// A seeded random walk of `n` consistent daily bars starting near `start`:
/// `low <= open, close <= high`, positive volume. Xorshift keeps the tests free
/// of an RNG crate and the series identical on every target.
pub fn walk(seed: u64, n: usize, start: f64) -> Vec<Bar> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut close = start;
    (0..n)
        .map(|i| {
            let open = close * (1.0 + 0.004 * next());
            close = open * (1.0 + 0.04 * next());
            let high = open.max(close) * (1.0 + 0.01 * (next() + 0.5));
            let low = open.min(close) * (1.0 - 0.01 * (next() + 0.5));
            Bar { ts: i as i64 * 86_400, open, high, low, close, volume: 1e6 * (1.5 + next()) }
        })
        .collect()
}

#[cfg(not(target_arch = "wasm32"))]
pub mod props {
    //! Property-test generators and a reference streaming runner.

    use proptest::prelude::*;
    use quant::Bar;
    use quant::indicators::{Indicator, Outputs};

    /// Up to `max_len` bars on a coarse price grid (ties, flat bars and repeated
    /// closes are common), scaled by a random factor, two hours apart (so daily
    /// sessions roll over): `low <= open, close <= high`, `volume >= 0`.
    pub fn bars(max_len: usize) -> impl Strategy<Value = Vec<Bar>> {
        let step = (-2i32..=2, 0u8..4, 0u8..4, 0u8..=4, 0u8..=4, prop_oneof![Just(0u32), 0u32..5000]);
        (prop::collection::vec(step, 0..max_len), 0.001f64..1000.0).prop_map(|(steps, scale)| {
            let mut mid = 100.0;
            steps
                .into_iter()
                .enumerate()
                .map(|(i, (dir, up, down, open_at, close_at, volume))| {
                    mid += f64::from(dir) * 0.5;
                    let (high, low) = (mid + f64::from(up) * 0.25, mid - f64::from(down) * 0.25);
                    let at = |q: u8| low + (high - low) * f64::from(q) / 4.0;
                    Bar {
                        ts: 1_700_000_000 + i as i64 * 7_200,
                        open: at(open_at) * scale,
                        high: high * scale,
                        low: low * scale,
                        close: at(close_at) * scale,
                        volume: f64::from(volume),
                    }
                })
                .collect()
        })
    }

    /// Feeds `inputs` one at a time; one column per output, NaN while warming up.
    pub fn stream_columns<I>(mut indicator: I, inputs: &[I::Input]) -> Vec<Vec<f64>>
    where
        I: Indicator,
        I::Output: Outputs,
    {
        let width = <I::Output as Outputs>::NAMES.len();
        let mut columns = vec![Vec::with_capacity(inputs.len()); width];
        let mut row = vec![f64::NAN; width];
        for &x in inputs {
            match indicator.next(x) {
                Some(out) => out.write(&mut row),
                None => row.fill(f64::NAN),
            }
            for (column, &v) in columns.iter_mut().zip(&row) {
                column.push(v);
            }
        }
        columns
    }
}
