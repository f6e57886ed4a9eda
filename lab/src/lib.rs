//! The backtest lab's Web Worker: `quant` compiled to wasm and driven by
//! `public/lab/worker.js`, so backtests and sweeps never run on the page's
//! main thread. Each worker holds one [`engine::Lab`].
//!
//! Built by `scripts/build-lab` with the `lab-release` profile (speed, not
//! size) and `wasm-bindgen --target web`; only the lab page's workers fetch it.

pub mod engine;

#[cfg(target_arch = "wasm32")]
mod glue {
    use std::cell::RefCell;

    use js_sys::{Float64Array, Object, Reflect};
    use wasm_bindgen::prelude::*;

    use super::engine::{Lab, SWEEP_METRICS, SWEEP_ROW};

    /// A column's name and how it is read off a bar.
    type Column = (&'static str, fn(&quant::Bar) -> f64);

    thread_local! {
        static LAB: RefCell<Lab> = RefCell::new(Lab::default());
    }

    fn set(object: &Object, key: &str, value: &JsValue) {
        let _ = Reflect::set(object, &key.into(), value);
    }

    /// Loads packed bars; returns an object of columns (`time`, `open`,
    /// `high`, `low`, `close`, `volume` as `Float64Array`s).
    ///
    /// # Errors
    /// A message when the bytes are not packed bars.
    #[wasm_bindgen]
    pub fn load(packed: &[u8]) -> Result<Object, JsError> {
        LAB.with_borrow_mut(|lab| {
            lab.load(packed).map_err(|e| JsError::new(&e))?;
            let bars = lab.bars();
            let out = Object::new();
            let columns: [Column; 6] = [
                ("time", |b| b.ts as f64),
                ("open", |b| b.open),
                ("high", |b| b.high),
                ("low", |b| b.low),
                ("close", |b| b.close),
                ("volume", |b| b.volume),
            ];
            for (name, pick) in columns {
                let values: Vec<f64> = bars.iter().map(pick).collect();
                set(&out, name, &Float64Array::from(values.as_slice()));
            }
            Ok(out)
        })
    }

    /// Runs a backtest: `{json, equity, trades, months}` (`trades` and
    /// `months` laid out by `quant::backtest::columns`).
    ///
    /// # Errors
    /// A message naming the bad field.
    #[wasm_bindgen]
    pub fn backtest(settings: &str) -> Result<Object, JsError> {
        let outcome = LAB.with_borrow_mut(|lab| lab.backtest(settings)).map_err(|e| JsError::new(&e))?;
        let out = Object::new();
        set(&out, "json", &outcome.json.into());
        set(&out, "equity", &Float64Array::from(outcome.equity.as_slice()));
        set(&out, "trades", &Float64Array::from(outcome.trades.as_slice()));
        set(&out, "months", &Float64Array::from(outcome.months.as_slice()));
        Ok(out)
    }

    /// Runs a few backtests on generated bars so the browser optimises the
    /// engine before the real bars arrive ([`Lab::warm_up`]).
    #[wasm_bindgen(js_name = warmUp)]
    pub fn warm_up() {
        LAB.with_borrow_mut(Lab::warm_up);
    }

    /// The last backtest's hashes, as JSON `{metrics, trades, equity}`.
    ///
    /// # Errors
    /// A message when no backtest has run.
    #[wasm_bindgen]
    pub fn fingerprint() -> Result<String, JsError> {
        let print = LAB.with_borrow(Lab::fingerprint).map_err(|e| JsError::new(&e))?;
        serde_json::to_string(&print).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The first value where the last backtest differs from the server's report.
    ///
    /// # Errors
    /// A message when there was no backtest or the report does not parse.
    #[wasm_bindgen]
    pub fn difference(report: &str) -> Result<Option<String>, JsError> {
        LAB.with_borrow(|lab| lab.difference(report)).map_err(|e| JsError::new(&e))
    }

    /// Combinations `start..end` of a sweep, `SWEEP_ROW` values each.
    ///
    /// # Errors
    /// A message naming the bad field.
    #[wasm_bindgen(js_name = sweepChunk)]
    pub fn sweep_chunk(
        settings: &str,
        grid: &str,
        metric: &str,
        start: u32,
        end: u32,
    ) -> Result<Float64Array, JsError> {
        let rows = LAB
            .with_borrow_mut(|lab| lab.sweep_chunk(settings, grid, metric, start as usize, end as usize))
            .map_err(|e| JsError::new(&e))?;
        Ok(Float64Array::from(rows.as_slice()))
    }

    /// A walk-forward validation, as JSON.
    ///
    /// # Errors
    /// A message naming the bad field or saying why the windows do not fit.
    #[wasm_bindgen(js_name = walkForward)]
    pub fn walk_forward(
        settings: &str,
        grid: &str,
        metric: &str,
        train: u32,
        test: u32,
        anchored: bool,
    ) -> Result<String, JsError> {
        let windows = quant::backtest::WalkForward { train: train as usize, test: test as usize, anchored };
        LAB.with_borrow(|lab| lab.walk_forward(settings, grid, metric, windows)).map_err(|e| JsError::new(&e))
    }

    /// The layout of a sweep row: `["index", "refused", "score", metrics...]`.
    #[wasm_bindgen(js_name = sweepColumns)]
    pub fn sweep_columns() -> js_sys::Array {
        let names = ["index", "refused", "score"].into_iter().chain(SWEEP_METRICS);
        debug_assert_eq!(names.clone().count(), SWEEP_ROW);
        names.map(JsValue::from).collect()
    }
}
