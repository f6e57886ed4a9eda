//! The browser side of the chart: loads `/chart/finchart.js` (our adapter around
//! TradingView Lightweight Charts) on first use and binds its methods with
//! `wasm-bindgen`. Compiled into the wasm bundle only.
//!
//! The adapter is a module script added to the page when a chart is first
//! shown, so pages without a chart never fetch it or the library.

use js_sys::{Float64Array, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::data::{Columns, Points, Style};

use super::CHART_ADAPTER as ADAPTER_URL;
/// The id of the adapter's script element, so concurrent charts add it once.
const SCRIPT_ID: &str = "finstage-chart-adapter";
/// The global the adapter publishes itself as.
const GLOBAL: &str = "FinstageChart";

#[wasm_bindgen]
extern "C" {
    /// `globalThis.FinstageChart`.
    pub(crate) type Adapter;
    #[wasm_bindgen(method)]
    fn create(this: &Adapter, element: &web_sys::HtmlElement, intraday: bool) -> Handle;

    /// One chart (the adapter's `FinChart`).
    #[derive(Debug)]
    pub(crate) type Handle;
    #[wasm_bindgen(method, js_name = setData)]
    pub(crate) fn set_data(this: &Handle, columns: &Object);
    #[wasm_bindgen(method)]
    pub(crate) fn prepend(this: &Handle, columns: &Object, count: u32);
    #[wasm_bindgen(method, js_name = updateBar)]
    pub(crate) fn update_bar(this: &Handle, t: f64, o: f64, h: f64, l: f64, c: f64, v: f64, appended: bool);
    #[wasm_bindgen(method, js_name = setLine)]
    fn set_line_raw(
        this: &Handle,
        id: &str,
        pane: Option<String>,
        color: &str,
        histogram: bool,
        time: &Float64Array,
        values: &Float64Array,
    );
    #[wasm_bindgen(method, js_name = updateLine)]
    pub(crate) fn update_line(this: &Handle, id: &str, time: f64, value: f64);
    #[wasm_bindgen(method, js_name = removeLine)]
    pub(crate) fn remove_line(this: &Handle, id: &str);
    #[wasm_bindgen(method, js_name = setMarkers)]
    pub(crate) fn set_markers(this: &Handle, markers: &js_sys::Array);
    #[wasm_bindgen(method, js_name = setPriceLines)]
    pub(crate) fn set_price_lines(this: &Handle, lines: &js_sys::Array);
    #[wasm_bindgen(method, js_name = setMode)]
    pub(crate) fn set_mode(this: &Handle, mode: &str);
    #[wasm_bindgen(method, js_name = setScale)]
    pub(crate) fn set_scale(this: &Handle, mode: u32);
    #[wasm_bindgen(method, js_name = onCrosshair)]
    fn on_crosshair(this: &Handle, callback: &Closure<dyn FnMut(f64, String, f64, f64)>);
    #[wasm_bindgen(method, js_name = onMarkerClick)]
    fn on_marker_click(this: &Handle, callback: &Closure<dyn FnMut(String, f64, f64)>);
    #[wasm_bindgen(method, js_name = onRange)]
    fn on_range(this: &Handle, callback: &Closure<dyn FnMut(f64, f64)>);
    #[wasm_bindgen(method, js_name = setTimeRange)]
    pub(crate) fn set_time_range(this: &Handle, from: f64, to: f64);
    #[wasm_bindgen(method)]
    pub(crate) fn zoom(this: &Handle, factor: f64);
    #[wasm_bindgen(method)]
    pub(crate) fn scroll(this: &Handle, fraction: f64);
    #[wasm_bindgen(method)]
    pub(crate) fn reset(this: &Handle);
    #[wasm_bindgen(method, js_name = toRealTime)]
    pub(crate) fn to_real_time(this: &Handle);
    #[wasm_bindgen(method)]
    pub(crate) fn painted(this: &Handle) -> Promise;
    #[wasm_bindgen(method)]
    fn destroy(this: &Handle);
}

/// Loads the adapter (once per page) and returns it.
///
/// # Errors
/// A message when the script cannot be loaded.
pub(crate) async fn load() -> Result<Adapter, String> {
    crate::components::script::load_module(ADAPTER_URL, SCRIPT_ID, GLOBAL)
        .await
        .map(JsCast::unchecked_into)
        .map_err(|e| format!("the chart library: {e}"))
}

/// What the chart reports back, as plain values.
pub(crate) struct Callbacks {
    /// The bar index under the crosshair (-1 outside the bars), the id of a
    /// hovered marker ("" for none), and the cursor's x and y in the chart.
    pub crosshair: Box<dyn FnMut(f64, String, f64, f64)>,
    /// A marker's id and the point clicked or tapped.
    pub marker_click: Box<dyn FnMut(String, f64, f64)>,
    /// The visible logical range (bar indexes, fractional).
    pub range: Box<dyn FnMut(f64, f64)>,
}

/// A chart on the page with the callbacks it holds; dropping it removes the
/// chart, then the callbacks.
pub(crate) struct View {
    handle: Handle,
    _crosshair: Closure<dyn FnMut(f64, String, f64, f64)>,
    _marker_click: Closure<dyn FnMut(String, f64, f64)>,
    _range: Closure<dyn FnMut(f64, f64)>,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View").finish_non_exhaustive()
    }
}

impl View {
    /// Creates a chart in `element`; `intraday` bars get hours and minutes in
    /// the crosshair's time label.
    pub(crate) fn new(adapter: &Adapter, element: &web_sys::HtmlElement, intraday: bool, callbacks: Callbacks) -> Self {
        let handle = adapter.create(element, intraday);
        let crosshair = Closure::wrap(callbacks.crosshair);
        let marker_click = Closure::wrap(callbacks.marker_click);
        let range = Closure::wrap(callbacks.range);
        handle.on_crosshair(&crosshair);
        handle.on_marker_click(&marker_click);
        handle.on_range(&range);
        Self { handle, _crosshair: crosshair, _marker_click: marker_click, _range: range }
    }

    /// The adapter's chart.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Draws one study output (`pane`: `None` over the price, else the pane's key).
    pub(crate) fn set_line(&self, id: &str, pane: Option<String>, color: &str, style: Style, points: &Points) {
        let time = Float64Array::from(points.time.as_slice());
        let values = Float64Array::from(points.value.as_slice());
        self.handle.set_line_raw(id, pane, color, style == Style::Histogram, &time, &values);
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.handle.destroy();
    }
}

/// The columns as the adapter takes them: `{t, o, h, l, c, v}` of `Float64Array`s.
pub(crate) fn columns(c: &Columns) -> Object {
    let object = Object::new();
    for (key, values) in
        [("t", &c.time), ("o", &c.open), ("h", &c.high), ("l", &c.low), ("c", &c.close), ("v", &c.volume)]
    {
        let _ = Reflect::set(&object, &key.into(), &Float64Array::from(values.as_slice()));
    }
    object
}

/// An object from key-value pairs, for the adapter's small records.
pub(crate) fn object(pairs: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (key, value) in pairs {
        let _ = Reflect::set(&object, &(*key).into(), value);
    }
    object
}
