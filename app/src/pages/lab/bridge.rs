//! The browser side of the lab: loads `/lab/lab.js` (the worker pool and the
//! lab's charts) on first use and binds it with `wasm-bindgen`. Compiled into
//! the wasm bundle only; the script, its workers and their wasm are fetched by
//! the lab page alone.

use js_sys::{Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::results::RunColumns;

const SCRIPT: &str = "/lab/lab.js";
const SCRIPT_ID: &str = "finstage-lab";
const GLOBAL: &str = "FinstageLab";

#[wasm_bindgen]
extern "C" {
    /// `globalThis.FinstageLab`.
    pub(crate) type Factory;
    #[wasm_bindgen(method)]
    fn create(this: &Factory) -> Session;
    #[wasm_bindgen(method, js_name = drawSweep)]
    fn draw_sweep_raw(
        this: &Factory,
        canvas: &web_sys::HtmlCanvasElement,
        scores: &js_sys::Float64Array,
        nx: u32,
        ny: u32,
        x_labels: &js_sys::Array,
        y_labels: &js_sys::Array,
        lower_better: bool,
        best: i32,
        cursor: i32,
    ) -> JsValue;
    #[wasm_bindgen(method, js_name = cellAt)]
    fn cell_at_raw(this: &Factory, plot: &JsValue, x: f64, y: f64) -> i32;

    /// One lab: its worker pool and its charts (`Lab` in lab.js).
    #[derive(Debug, Clone)]
    pub(crate) type Session;
    #[wasm_bindgen(method)]
    fn load(this: &Session, url: &str) -> Promise;
    #[wasm_bindgen(method)]
    fn backtest(this: &Session, settings: &str, price: &web_sys::HtmlElement, equity: &web_sys::HtmlElement)
    -> Promise;
    #[wasm_bindgen(method)]
    pub(crate) fn focus(this: &Session, price: &web_sys::HtmlElement, from: f64, to: f64);
    #[wasm_bindgen(method, getter)]
    fn timing(this: &Session) -> JsValue;
    #[wasm_bindgen(method)]
    fn sweep(
        this: &Session,
        settings: &str,
        grid: &str,
        metric: &str,
        total: u32,
        progress: &Closure<dyn FnMut(f64, f64, f64)>,
    ) -> Promise;
    #[wasm_bindgen(method)]
    fn difference(this: &Session, report: &str) -> Promise;
    #[wasm_bindgen(method, js_name = fingerprint)]
    fn fingerprint_raw(this: &Session) -> Promise;
    #[wasm_bindgen(method, js_name = tradeRows)]
    fn trade_rows(this: &Session, start: u32, count: u32) -> js_sys::Float64Array;
    #[wasm_bindgen(method, js_name = monthRows)]
    fn month_rows(this: &Session) -> js_sys::Float64Array;
    #[wasm_bindgen(method, getter, js_name = tradeCount)]
    fn trade_count(this: &Session) -> u32;
    #[wasm_bindgen(method, js_name = curve)]
    fn curve_raw(this: &Session, settings: &str) -> Promise;
    #[wasm_bindgen(method, js_name = drawCompare)]
    fn draw_compare_raw(this: &Session, el: &web_sys::HtmlElement, runs: &js_sys::Array);
    #[wasm_bindgen(method, js_name = walkForward)]
    fn walk_forward_raw(
        this: &Session,
        settings: &str,
        grid: &str,
        metric: &str,
        train: u32,
        test: u32,
        anchored: bool,
    ) -> Promise;
    #[wasm_bindgen(method, js_name = drawWalkForward)]
    fn draw_walk_forward_raw(
        this: &Session,
        el: &web_sys::HtmlElement,
        start: u32,
        oos: &js_sys::Float64Array,
        in_sample: &js_sys::Float64Array,
    );
    /// Stops a running sweep at once; false when none runs.
    #[wasm_bindgen(method)]
    pub(crate) fn cancel(this: &Session) -> bool;
}

/// A finished (or cancelled) sweep.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SweepOutcome {
    /// The workers' rows, by grid position (NaN rows were not run).
    pub rows: Vec<f64>,
    /// Combinations finished.
    pub done: f64,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// Wall time in milliseconds.
    pub ms: f64,
}

/// The lab's drawing helpers (no session needed).
pub(crate) fn factory() -> Option<Factory> {
    Reflect::get(&js_sys::global(), &GLOBAL.into()).ok().filter(|f| !f.is_undefined()).map(JsCast::unchecked_into)
}

impl Factory {
    /// Draws a sweep's heatmap (or line); returns the plot geometry for [`Factory::cell_at`].
    #[expect(clippy::too_many_arguments, reason = "one call across to JavaScript")]
    pub(crate) fn draw_sweep(
        &self,
        canvas: &web_sys::HtmlCanvasElement,
        scores: &[f64],
        nx: usize,
        ny: usize,
        x_labels: &[String],
        y_labels: &[String],
        lower_better: bool,
        best: Option<usize>,
        cursor: Option<usize>,
    ) -> JsValue {
        let labels = |l: &[String]| l.iter().map(|s| JsValue::from(s.as_str())).collect::<js_sys::Array>();
        let cell = |c: Option<usize>| c.map_or(-1, |c| c as i32);
        self.draw_sweep_raw(
            canvas,
            &js_sys::Float64Array::from(scores),
            nx as u32,
            ny as u32,
            &labels(x_labels),
            &labels(y_labels),
            lower_better,
            cell(best),
            cell(cursor),
        )
    }

    /// The grid cell under a canvas point.
    pub(crate) fn cell_at(&self, plot: &JsValue, x: f64, y: f64) -> Option<usize> {
        usize::try_from(self.cell_at_raw(plot, x, y)).ok()
    }
}

/// What loading bars reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Loaded {
    /// Bars held.
    pub bars: f64,
    /// First and last bar times.
    pub first: f64,
    /// Last bar time.
    pub last: f64,
    /// Packed size on arrival (after decompression).
    pub bytes: f64,
}

fn message(error: JsValue) -> String {
    Reflect::get(&error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "the lab failed".into())
}

fn number(object: &JsValue, key: &str) -> f64 {
    Reflect::get(object, &key.into()).ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN)
}

impl Session {
    /// Starts the lab's script (once per page) and a session of it.
    ///
    /// # Errors
    /// A message when the script cannot be loaded.
    pub(crate) async fn start() -> Result<Self, String> {
        let factory: Factory = crate::components::script::load_module(SCRIPT, SCRIPT_ID, GLOBAL)
            .await
            .map_err(|e| format!("the lab: {e}"))?
            .unchecked_into();
        Ok(factory.create())
    }

    /// Fetches and loads packed bars.
    ///
    /// # Errors
    /// The server's message, or the worker's.
    pub(crate) async fn load_bars(&self, url: &str) -> Result<Loaded, String> {
        let r = JsFuture::from(self.load(url)).await.map_err(message)?;
        Ok(Loaded {
            bars: number(&r, "bars"),
            first: number(&r, "first"),
            last: number(&r, "last"),
            bytes: number(&r, "bytes"),
        })
    }

    /// Runs a backtest and draws its charts; returns the summary JSON, the
    /// trades and the monthly returns (laid out by `quant::backtest::columns`).
    ///
    /// # Errors
    /// The engine's message (a bad field).
    pub(crate) async fn run(
        &self,
        settings: &str,
        price: &web_sys::HtmlElement,
        equity: &web_sys::HtmlElement,
    ) -> Result<(String, RunColumns), String> {
        let r = JsFuture::from(self.backtest(settings, price, equity)).await.map_err(message)?;
        let json = r.as_string().ok_or("the lab answered without a summary")?;
        let columns =
            RunColumns { trades: self.trade_rows(0, self.trade_count()).to_vec(), months: self.month_rows().to_vec() };
        Ok((json, columns))
    }

    /// The last run's hashes of metrics, trades and equity.
    ///
    /// # Errors
    /// The worker's message (no run yet).
    pub(crate) async fn fingerprint(&self) -> Result<quant::backtest::Fingerprint, String> {
        let r = JsFuture::from(self.fingerprint_raw()).await.map_err(message)?;
        serde_json::from_str(&r.as_string().unwrap_or_default()).map_err(|e| e.to_string())
    }

    /// Runs a sweep over the pool; `progress(done, total, elapsed_ms)` as chunks finish.
    ///
    /// # Errors
    /// The engine's message (a bad field).
    pub(crate) async fn run_sweep(
        &self,
        settings: &str,
        grid: &str,
        metric: &str,
        total: usize,
        progress: impl FnMut(f64, f64, f64) + 'static,
    ) -> Result<SweepOutcome, String> {
        let progress = Closure::new(progress);
        let r = JsFuture::from(self.sweep(settings, grid, metric, total as u32, &progress)).await.map_err(message)?;
        let rows =
            Reflect::get(&r, &"rows".into()).ok().map(|a| js_sys::Float64Array::from(a).to_vec()).unwrap_or_default();
        Ok(SweepOutcome {
            rows,
            done: number(&r, "done"),
            cancelled: Reflect::get(&r, &"cancelled".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false),
            ms: number(&r, "ms"),
        })
    }

    /// The first value where the last run differs from `report` (JSON of the
    /// server's report); `None` when they agree bit for bit.
    ///
    /// # Errors
    /// The worker's message.
    pub(crate) async fn first_difference(&self, report: &str) -> Result<Option<String>, String> {
        let r = JsFuture::from(self.difference(report)).await.map_err(message)?;
        Ok(r.as_string())
    }

    /// A walk-forward validation in a worker: its report as JSON, `None` when cancelled.
    ///
    /// # Errors
    /// The engine's message (a bad field, windows that do not fit).
    pub(crate) async fn walk_forward(
        &self,
        settings: &str,
        grid: &str,
        metric: &str,
        (train, test, anchored): (u32, u32, bool),
    ) -> Result<Option<String>, String> {
        let r = JsFuture::from(self.walk_forward_raw(settings, grid, metric, train, test, anchored))
            .await
            .map_err(message)?;
        if Reflect::get(&r, &"cancelled".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false) {
            return Ok(None);
        }
        Ok(Reflect::get(&r, &"json".into()).ok().and_then(|v| v.as_string()))
    }

    /// Draws the stitched out-of-sample equity beside the in-sample one.
    pub(crate) fn draw_walk_forward(&self, el: &web_sys::HtmlElement, start: usize, oos: &[f64], in_sample: &[f64]) {
        self.draw_walk_forward_raw(
            el,
            start as u32,
            &js_sys::Float64Array::from(oos),
            &js_sys::Float64Array::from(in_sample),
        );
    }

    /// A run's times and equity, not drawn.
    ///
    /// # Errors
    /// The engine's message.
    pub(crate) async fn curve(&self, settings: &str) -> Result<JsValue, String> {
        JsFuture::from(self.curve_raw(settings)).await.map_err(message)
    }

    /// Overlays curves from [`Session::curve`], each with its name and initial cash.
    pub(crate) fn draw_compare(&self, el: &web_sys::HtmlElement, runs: Vec<(String, JsValue, f64)>) {
        let list = js_sys::Array::new();
        for (name, curve, cash) in runs {
            let _ = Reflect::set(&curve, &"name".into(), &name.into());
            let _ = Reflect::set(&curve, &"cash".into(), &cash.into());
            list.push(&curve);
        }
        self.draw_compare_raw(el, &list);
    }

    /// Engine and total milliseconds of the last run.
    pub(crate) fn last_timing(&self) -> (f64, f64) {
        let t = self.timing();
        (number(&t, "engineMs"), number(&t, "totalMs"))
    }
}
