//! The lab's browser side: drives runs (reads the form, keeps the URL in
//! step, loads bars when the data changes and runs the backtest on a choice
//! or a pause in typing), sweeps, walk-forwards, checks and saved runs.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use serde_json::Value;
use wasm_bindgen::JsCast;

use super::bridge::{self, Session};
use super::sweep::grid_json;
use super::sweep_view::{Finished, Progress, Request, Windows, dims};
use super::{Check, FieldError, LabInput, Settings, Status};

/// Settings as the worker reads them.
fn settings_json(settings: &Settings) -> String {
    serde_json::to_string(settings).unwrap_or_default()
}

/// Waits this long after a change before running, so typing a number runs once.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// A form's fields as its GET submission would send them.
pub(super) fn form_pairs(form: &web_sys::HtmlFormElement) -> Vec<(String, String)> {
    let Ok(data) = web_sys::FormData::new_with_form(form) else { return Vec::new() };
    let mut pairs = Vec::new();
    let entries = js_sys::try_iter(&data).ok().flatten();
    for entry in entries.into_iter().flatten().flatten() {
        let pair: js_sys::Array = entry.unchecked_into();
        if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            pairs.push((k, v));
        }
    }
    pairs
}

/// The page's signals and elements a runner drives.
#[derive(Clone, Copy)]
pub(super) struct Parts {
    pub input: RwSignal<LabInput>,
    pub errors: RwSignal<Vec<FieldError>>,
    pub status: RwSignal<Status>,
    pub summary: RwSignal<Option<Value>>,
    /// The last run's trades and months.
    pub columns: RwSignal<std::sync::Arc<super::results::RunColumns>>,
    pub price: NodeRef<leptos::html::Div>,
    pub equity: NodeRef<leptos::html::Div>,
    pub form: NodeRef<leptos::html::Form>,
    pub sweep_progress: RwSignal<Progress>,
    pub sweep_finished: RwSignal<Option<Finished>>,
    pub sweep_canvas: NodeRef<leptos::html::Canvas>,
    pub check: RwSignal<Check>,
    pub walk: RwSignal<Option<(Value, String)>>,
    pub wf_chart: NodeRef<leptos::html::Div>,
    pub saved: RwSignal<Vec<crate::lab_api::LabRunSummary>>,
    pub saved_message: RwSignal<Option<String>>,
    pub compared: RwSignal<Vec<crate::lab_api::LabRunSummary>>,
    pub compare_chart: NodeRef<leptos::html::Div>,
    pub symbols: RwSignal<Vec<String>>,
}

#[derive(Clone)]
pub(super) struct Runner {
    input: RwSignal<LabInput>,
    errors: RwSignal<Vec<FieldError>>,
    status: RwSignal<Status>,
    summary: RwSignal<Option<Value>>,
    price: NodeRef<leptos::html::Div>,
    equity: NodeRef<leptos::html::Div>,
    parts: Parts,
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    loaded: Option<(String, quant::Timeframe, String, String)>,
    /// Bars held by the workers, and the time of the last one.
    bars: f64,
    last_ts: f64,
    /// The heatmap's geometry (from the drawing) and its keyboard cursor.
    plot: Option<wasm_bindgen::JsValue>,
    cursor: Option<usize>,
    /// Increases with every change; a run that finds it moved on stops.
    generation: u64,
}

impl Runner {
    pub(super) fn new(parts: Parts) -> Self {
        let Parts { input, errors, status, summary, price, equity, .. } = parts;
        let runner = Self { input, errors, status, summary, price, equity, parts, state: Rc::default() };
        runner.listen_to_heatmap();
        runner.refresh_saved();
        runner.offer_symbols();
        let first = runner.clone();
        // The first run, once both charts' elements are on the page: at
        // hydration they are already; after a client-side navigation they
        // mount a moment after this.
        Effect::new(move |started: Option<bool>| {
            if started == Some(true) || price.get().is_none() || equity.get().is_none() {
                return started.unwrap_or(false);
            }
            let first = first.clone();
            leptos::task::spawn_local(async move { first.run(0).await });
            true
        });
        runner
    }

    /// The form changed: read it, show its errors, put it in the URL, and
    /// run: after a pause while `typing`, else at once.
    pub(super) fn form_changed(&self, form: &web_sys::HtmlFormElement, typing: bool) {
        let pairs = form_pairs(form);
        let (input, errors) = LabInput::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let url = format!("/lab?{}", input.to_query());
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
        let strategy_changed = self.input.with_untracked(|i| i.settings.strategy != input.settings.strategy);
        self.errors.set(errors);
        if strategy_changed {
            self.input.set(input);
        } else {
            self.input.update_untracked(|i| *i = input);
        }
        let generation = {
            let mut state = self.state.borrow_mut();
            state.generation += 1;
            state.generation
        };
        let runner = self.clone();
        leptos::task::spawn_local(async move {
            if typing {
                gloo_timers::future::sleep(DEBOUNCE).await;
            }
            runner.run(generation).await;
        });
    }

    /// Shows one trade on the price chart, with some bars around it.
    pub(super) fn focus(&self, from: i64, to: i64) {
        let state = self.state.borrow();
        let (Some(session), Some(price)) = (state.session.as_ref(), self.price.get_untracked()) else { return };
        session.focus(&price, from as f64, to as f64);
        price.scroll_into_view_with_bool(false);
    }

    /// The pool, started on first use.
    async fn session(&self) -> Result<Session, String> {
        let held = self.state.borrow().session.clone();
        match held {
            Some(s) => Ok(s),
            None => {
                let s = Session::start().await?;
                self.state.borrow_mut().session = Some(s.clone());
                Ok(s)
            }
        }
    }

    /// Runs a sweep of the form's current settings over the pool.
    pub(super) fn sweep(&self, request: Request) {
        let runner = self.clone();
        let progress = self.parts.sweep_progress;
        leptos::task::spawn_local(async move {
            let settings = settings_json(&runner.input.get_untracked().settings);
            let total = super::sweep::total(&request.axes);
            progress.set(Progress::Running { done: 0.0, total: total as f64, elapsed_ms: 0.0 });
            let outcome = async {
                let session = runner.session().await?;
                // Bars for the form's data must be loaded first.
                runner.ensure_bars(&session).await?;
                let grid = grid_json(&request.axes);
                session
                    .run_sweep(&settings, &grid, &request.metric, total, move |done, total, elapsed_ms| {
                        progress.set(Progress::Running { done, total, elapsed_ms });
                    })
                    .await
            }
            .await;
            match outcome {
                Ok(o) => {
                    progress.set(Progress::Idle);
                    let finished =
                        Finished::new(request.axes, request.metric, o.rows, o.done as usize, o.cancelled, o.ms);
                    runner.state.borrow_mut().cursor = finished.best.map(|(c, _)| c);
                    runner.parts.sweep_finished.set(Some(finished));
                    runner.draw_sweep();
                }
                Err(e) => progress.set(Progress::Failed(e)),
            }
        });
    }

    /// Runs the shown backtest natively on the server and compares the fingerprints.
    pub(super) fn check_on_server(&self) {
        let runner = self.clone();
        let check = self.parts.check;
        leptos::task::spawn_local(async move {
            let session = runner.state.borrow().session.clone();
            let local = match session {
                Some(session) if runner.summary.with_untracked(Option::is_some) => session.fingerprint().await,
                _ => Err("Run a backtest first.".into()),
            };
            let local = match local {
                Ok(local) => local,
                Err(e) => return check.set(Check::Failed(e)),
            };
            check.set(Check::Running);
            // The same bars: up to the last one loaded here, even if more
            // have closed on the server since.
            let mut input: Value =
                serde_json::from_str(&runner.input.get_untracked().to_flat_json()).unwrap_or_default();
            let last = runner.state.borrow().last_ts;
            if let Some(object) = input.as_object_mut().filter(|_| last.is_finite()) {
                object.insert("to".into(), Value::from(last as i64));
            }
            let input = input.to_string();
            let reply = match crate::lab_api::check_backtest(input, local.clone()).await {
                Ok(reply) => reply,
                Err(e) => return check.set(Check::Failed(e.to_string())),
            };
            if reply.server == local {
                let quant::backtest::Fingerprint { metrics, trades, equity } = reply.server;
                return check.set(Check::Identical { metrics, trades, equity, bars: reply.bars });
            }
            let session = runner.state.borrow().session.clone();
            let detail = match (reply.report, session) {
                (Some(report), Some(session)) => {
                    let text = serde_json::to_string(&report).unwrap_or_default();
                    match session.first_difference(&text).await {
                        Ok(Some(difference)) => difference,
                        Ok(None) => "the hashes differ but every value agrees".into(),
                        Err(e) => e,
                    }
                }
                _ => "the hashes differ".into(),
            };
            check.set(Check::Differs(format!("{detail} (the server ran on {} bars)", reply.bars)));
        });
    }

    /// Runs a walk-forward validation of the sweep's grid in a worker.
    pub(super) fn walk_forward(&self, request: Request, windows: Windows) {
        let runner = self.clone();
        let progress = self.parts.sweep_progress;
        leptos::task::spawn_local(async move {
            progress.set(Progress::Working(format!(
                "Walk-forward: {} combinations on each window…",
                super::sweep::total(&request.axes)
            )));
            let settings = settings_json(&runner.input.get_untracked().settings);
            let outcome = async {
                let session = runner.session().await?;
                runner.ensure_bars(&session).await?;
                let w = (windows.train, windows.test, windows.anchored);
                session
                    .walk_forward(&settings, &grid_json(&request.axes), &request.metric, w)
                    .await
                    .map(|j| (session, j))
            }
            .await;
            match outcome {
                Ok((_, None)) => progress.set(Progress::Failed("Walk-forward cancelled.".into())),
                Ok((session, Some(json))) => {
                    progress.set(Progress::Idle);
                    let report: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                    let curve = |k: &str| -> Vec<f64> {
                        report[k]
                            .as_array()
                            .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
                            .unwrap_or_default()
                    };
                    let (oos, ins) = (curve("oos_equity"), curve("in_sample_equity"));
                    let start = report["start"].as_u64().unwrap_or_default() as usize;
                    runner.parts.walk.set(Some((report, request.metric)));
                    // The chart's element exists once the view has rendered the report.
                    gloo_timers::future::TimeoutFuture::new(0).await;
                    if let Some(el) = runner.parts.wf_chart.get_untracked() {
                        session.draw_walk_forward(&el, start, &oos, &ins);
                    }
                }
                Err(e) => progress.set(Progress::Failed(e)),
            }
        });
    }

    /// The watchlist's symbols as suggestions; the first one when the URL names none.
    fn offer_symbols(&self) {
        let runner = self.clone();
        leptos::task::spawn_local(async move {
            let Ok(rows) = crate::api::get_watchlist().await else { return };
            let list: Vec<String> = rows.into_iter().map(|r| r.symbol).collect();
            let first = list.first().cloned();
            runner.parts.symbols.set(list);
            if let Some(first) = first.filter(|_| runner.input.with_untracked(|i| i.symbol.is_empty())) {
                if let Some(el) = document().get_element_by_id("lab-symbol") {
                    el.unchecked_ref::<web_sys::HtmlInputElement>().set_value(&first);
                }
                if let Some(form) = runner.parts.form.get_untracked() {
                    runner.form_changed(&form, false);
                }
            }
        });
    }

    fn refresh_saved(&self) {
        let saved = self.parts.saved;
        let message = self.parts.saved_message;
        leptos::task::spawn_local(async move {
            match crate::lab_api::lab_runs().await {
                Ok(runs) => saved.set(runs),
                Err(e) => message.set(Some(format!("Saved runs: {e}"))),
            }
        });
    }

    /// Saves the shown run under `name` (a default name when empty).
    pub(super) fn save(&self, name: String) {
        let input = self.input.get_untracked();
        let metrics = self.summary.with_untracked(|s| s.as_ref().map(|s| s["metrics"].to_string())).unwrap_or_default();
        let name = if name.trim().is_empty() {
            let params: Vec<String> = input.settings.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {} on {} {}", input.settings.strategy, params.join(" "), input.symbol, input.timeframe)
        } else {
            name.trim().to_owned()
        };
        let runner = self.clone();
        leptos::task::spawn_local(async move {
            let message = runner.parts.saved_message;
            match crate::lab_api::save_lab_run(name, input.to_flat_json(), metrics).await {
                Ok(run) => {
                    message.set(Some(format!("Saved as \"{}\".", run.name)));
                    runner.refresh_saved();
                }
                Err(e) => message.set(Some(e.to_string())),
            }
        });
    }

    /// Opens a saved run: its input becomes the page's URL.
    pub(super) fn open(&self, id: i64) {
        let message = self.parts.saved_message;
        leptos::task::spawn_local(async move {
            match crate::lab_api::lab_run(id)
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| LabInput::from_flat_json(&r.input))
            {
                Ok(input) => {
                    let _ = window().location().assign(&format!("/lab?{}", input.to_query()));
                }
                Err(e) => message.set(Some(e)),
            }
        });
    }

    /// Deletes a saved run.
    pub(super) fn delete(&self, id: i64) {
        let runner = self.clone();
        leptos::task::spawn_local(async move {
            if let Err(e) = crate::lab_api::delete_lab_run(id).await {
                runner.parts.saved_message.set(Some(e.to_string()));
            }
            runner.parts.compared.update(|c| c.retain(|r| r.id != id));
            runner.refresh_saved();
        });
    }

    /// Compares saved runs: metrics side by side, then each run again in
    /// the worker for its equity curve; the shown run is restored after.
    pub(super) fn compare(&self, ids: Vec<i64>) {
        let runner = self.clone();
        leptos::task::spawn_local(async move {
            let parts = runner.parts;
            let chosen: Vec<_> = parts
                .saved
                .with_untracked(|all| ids.iter().filter_map(|id| all.iter().find(|r| r.id == *id).cloned()).collect());
            parts.compared.set(chosen.clone());
            let outcome = async {
                let session = runner.session().await?;
                let mut curves = Vec::new();
                for run in &chosen {
                    let full = crate::lab_api::lab_run(run.id).await.map_err(|e| e.to_string())?;
                    let input = LabInput::from_flat_json(&full.input)?;
                    let loaded = session.load_bars(&input.bars_url()).await?;
                    runner.state.borrow_mut().loaded = None;
                    if loaded.bars == 0.0 {
                        return Err(format!("{}: no bars stored for its range", run.name));
                    }
                    let curve = session.curve(&settings_json(&input.settings)).await?;
                    curves.push((run.name.clone(), curve, input.settings.cash));
                }
                gloo_timers::future::TimeoutFuture::new(0).await;
                if let Some(el) = parts.compare_chart.get_untracked() {
                    session.draw_compare(&el, curves);
                }
                Ok::<_, String>(())
            }
            .await;
            if let Err(e) = outcome {
                parts.saved_message.set(Some(e));
            }
            // Back to the shown run's bars and result.
            let generation = runner.state.borrow().generation;
            runner.run(generation).await;
        });
    }

    /// Stops the running sweep now.
    pub(super) fn cancel_sweep(&self) {
        if let Some(session) = self.state.borrow().session.as_ref() {
            session.cancel();
        }
    }

    /// Puts parameter values into the form and reruns the backtest.
    pub(super) fn load_params(&self, params: &[(String, String)]) {
        let document = document();
        for (name, value) in params {
            if let Some(el) = document.get_element_by_id(&format!("lab-p-{name}")) {
                el.unchecked_ref::<web_sys::HtmlInputElement>().set_value(value);
            }
        }
        if let Some(form) = self.parts.form.get_untracked() {
            self.form_changed(&form, false);
        }
    }

    fn draw_sweep(&self) {
        let (Some(factory), Some(canvas)) = (bridge::factory(), self.parts.sweep_canvas.get_untracked()) else {
            return;
        };
        let cursor = self.state.borrow().cursor;
        let plot = self.parts.sweep_finished.with_untracked(|f| {
            f.as_ref().map(|f| {
                let (nx, ny) = dims(&f.axes);
                let labels = |k: usize| {
                    f.axes
                        .get(k)
                        .map(|a| (0..a.values.len()).map(|i| a.label(i)).collect::<Vec<_>>())
                        .unwrap_or_default()
                };
                factory.draw_sweep(
                    &canvas,
                    &f.scores,
                    nx,
                    ny,
                    &labels(0),
                    &labels(1),
                    quant::backtest::lower_is_better(&f.metric),
                    f.best.map(|(c, _)| c),
                    cursor,
                )
            })
        });
        self.state.borrow_mut().plot = plot;
    }

    /// Clicks and keys on the heatmap: a cell loads into the form; arrows move a cursor.
    fn listen_to_heatmap(&self) {
        let runner = self.clone();
        let canvas = self.parts.sweep_canvas;
        Effect::new(move |_| {
            let Some(el) = canvas.get() else { return };
            let click = runner.clone();
            let on_click =
                wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::MouseEvent)>::new(move |e: web_sys::MouseEvent| {
                    let plot = click.state.borrow().plot.clone();
                    let (Some(factory), Some(plot)) = (bridge::factory(), plot) else { return };
                    if let Some(cell) = factory.cell_at(&plot, f64::from(e.offset_x()), f64::from(e.offset_y())) {
                        click.state.borrow_mut().cursor = Some(cell);
                        click.load_cell(cell);
                    }
                });
            let keys = runner.clone();
            let on_key = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(
                move |e: web_sys::KeyboardEvent| {
                    let Some((nx, ny)) =
                        keys.parts.sweep_finished.with_untracked(|f| f.as_ref().map(|f| dims(&f.axes)))
                    else {
                        return;
                    };
                    let cell = keys.state.borrow().cursor.unwrap_or(0);
                    let (i, j) = (cell / ny, cell % ny);
                    let moved = match e.key().as_str() {
                        "ArrowLeft" if i > 0 => Some(cell - ny),
                        "ArrowRight" if i + 1 < nx => Some(cell + ny),
                        "ArrowUp" if j + 1 < ny => Some(cell + 1),
                        "ArrowDown" if j > 0 => Some(cell - 1),
                        "Enter" | " " => {
                            e.prevent_default();
                            keys.load_cell(cell);
                            None
                        }
                        _ => None,
                    };
                    if let Some(next) = moved {
                        e.prevent_default();
                        keys.state.borrow_mut().cursor = Some(next);
                        keys.draw_sweep();
                    }
                },
            );
            let _ = el.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
            let _ = el.add_event_listener_with_callback("keydown", on_key.as_ref().unchecked_ref());
            // The canvas lives as long as the page; so do its listeners.
            on_click.forget();
            on_key.forget();
        });
    }

    fn load_cell(&self, cell: usize) {
        let params = self.parts.sweep_finished.with_untracked(|f| f.as_ref().map(|f| f.params_of(cell)));
        if let Some(params) = params {
            self.load_params(&params);
            self.draw_sweep();
        }
    }

    /// Loads the form's bars into the pool unless they are there already.
    async fn ensure_bars(&self, session: &Session) -> Result<(), String> {
        let input = self.input.get_untracked();
        let key = input.data_key();
        if self.state.borrow().loaded.as_ref() == Some(&key) {
            return Ok(());
        }
        let loaded = session.load_bars(&input.bars_url()).await?;
        let mut state = self.state.borrow_mut();
        state.loaded = Some(key);
        state.bars = loaded.bars;
        state.last_ts = loaded.last;
        Ok(())
    }

    async fn run(&self, generation: u64) {
        if self.state.borrow().generation != generation {
            return;
        }
        if !self.errors.with_untracked(Vec::is_empty) {
            return;
        }
        let input = self.input.get_untracked();
        let (Some(price), Some(equity)) = (self.price.get_untracked(), self.equity.get_untracked()) else { return };
        let held = self.state.borrow().session.clone();
        let session = match held {
            Some(s) => s,
            None => match Session::start().await {
                Ok(s) => s,
                Err(e) => return self.status.set(Status::Failed(e)),
            },
        };
        self.state.borrow_mut().session = Some(session.clone());
        let key = input.data_key();
        if self.state.borrow().loaded.as_ref() != Some(&key) {
            self.status.set(Status::Loading);
            match session.load_bars(&input.bars_url()).await {
                Ok(loaded) if loaded.bars == 0.0 => {
                    return self.status.set(Status::Failed(format!(
                        "No {} bars of {} stored in that range.",
                        input.timeframe, input.symbol
                    )));
                }
                Ok(loaded) => {
                    let mut state = self.state.borrow_mut();
                    state.loaded = Some(key);
                    state.bars = loaded.bars;
                    state.last_ts = loaded.last;
                }
                Err(e) => return self.status.set(Status::Failed(e)),
            }
        }
        if self.state.borrow().generation != generation {
            return;
        }
        self.status.set(Status::Running);
        self.parts.check.set(Check::Idle);
        match session.run(&settings_json(&input.settings), &price, &equity).await {
            Ok((json, columns)) => {
                let summary: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                let (engine_ms, total_ms) = session.last_timing();
                let bars = self.state.borrow().bars;
                // Before the summary, whose change renders the tables.
                self.parts.columns.set(std::sync::Arc::new(columns));
                self.summary.set(Some(summary));
                self.status.set(Status::Done { bars, engine_ms, total_ms });
            }
            Err(e) => self.status.set(Status::Failed(e)),
        }
    }
}
