//! `/lab`: the backtest lab. Pick a stored series, a strategy and the
//! engine's settings; the run happens in a Web Worker on `quant` compiled to
//! wasm (the server's engine), and its metrics, curves, trades and months
//! appear beside the form, again whenever a field changes.
//!
//! - [`input`]: the run's input and its URL form (the source of truth).
//! - [`results`]: the metrics table, trade list and monthly heatmap.
//! - `bridge` (browser only): the worker pool and the charts in `/lab/lab.js`.

mod input;
mod results;
mod saved;
mod sweep;
mod sweep_view;

#[cfg(feature = "hydrate")]
mod bridge;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use quant::Timeframe;
#[cfg(feature = "hydrate")]
use quant::backtest::Settings;
use quant::backtest::{Fill, Mode, Sizing};
use quant::strategies::{INFO, meta};
use serde_json::Value;

use crate::lab_api::LabRunSummary;
pub(crate) use input::{FieldError, LabInput};
use results::{MetricsTable, MonthlyHeatmap, TradeList};
use saved::SavedRuns;
use sweep_view::{Finished, Progress, Request, SweepPanel, WalkForwardView, Windows};

/// Where a run is.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), expect(dead_code, reason = "only the browser moves a run along"))]
enum Status {
    /// Waiting for the browser (the first paint, before hydration).
    Starting,
    /// Fetching and decoding bars.
    Loading,
    /// The engine is running.
    Running,
    /// A result is shown.
    Done { bars: f64, engine_ms: f64, total_ms: f64 },
    /// Something failed; the message says what.
    Failed(String),
}

/// The lab page.
#[component]
pub(crate) fn LabPage() -> impl IntoView {
    let query = use_query_map();
    let (start, start_errors) = {
        let q = query.read_untracked();
        let pairs: Vec<(String, String)> = q.clone().into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        LabInput::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    };
    let input = RwSignal::new(start);
    let errors = RwSignal::new(start_errors);
    let status = RwSignal::new(Status::Starting);
    let summary = RwSignal::new(None::<Value>);
    let columns = RwSignal::new(std::sync::Arc::new(results::RunColumns::default()));
    let price_ref = NodeRef::<leptos::html::Div>::new();
    let equity_ref = NodeRef::<leptos::html::Div>::new();
    let strategy = Memo::new(move |_| input.with(|i| i.settings.strategy.clone()));

    let form_ref = NodeRef::<leptos::html::Form>::new();
    let sweep_progress = RwSignal::new(Progress::Idle);
    let sweep_finished = RwSignal::new(None::<Finished>);
    let sweep_canvas = NodeRef::<leptos::html::Canvas>::new();
    let check = RwSignal::new(Check::Idle);
    let walk = RwSignal::new(None::<(Value, String)>);
    let wf_chart = NodeRef::<leptos::html::Div>::new();
    let saved = RwSignal::new(Vec::<LabRunSummary>::new());
    let saved_message = RwSignal::new(None::<String>);
    let compared = RwSignal::new(Vec::<LabRunSummary>::new());
    let compare_chart = NodeRef::<leptos::html::Div>::new();
    let symbols = RwSignal::new(Vec::<String>::new());
    #[cfg(feature = "hydrate")]
    let runner = StoredValue::new_local(browser::Runner::new(browser::Parts {
        input,
        errors,
        status,
        summary,
        columns,
        price: price_ref,
        equity: equity_ref,
        form: form_ref,
        sweep_progress,
        sweep_finished,
        sweep_canvas,
        check,
        walk,
        wf_chart,
        saved,
        saved_message,
        compared,
        compare_chart,
        symbols,
    }));
    // Copy in both builds: the browser's runner sits behind a stored handle.
    // Typing waits for a pause; a choice made (a select, a checkbox, leaving a
    // field, the Run button) runs at once.
    let changed = move |typing: bool| {
        #[cfg(feature = "hydrate")]
        if let Some(form) = form_ref.get_untracked() {
            runner.with_value(|r| r.form_changed(&form, typing));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = typing;
    };
    let on_pick = Callback::new(move |(from, to): (i64, i64)| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.focus(from, to));
        #[cfg(not(feature = "hydrate"))]
        let _ = (from, to);
    });
    let run_sweep = Callback::new(move |request: Request| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.sweep(request));
        #[cfg(not(feature = "hydrate"))]
        let _ = request;
    });
    let run_wf = Callback::new(move |(request, windows): (Request, Windows)| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.walk_forward(request, windows));
        #[cfg(not(feature = "hydrate"))]
        let _ = (request, windows);
    });
    let cancel_sweep = Callback::new(move |()| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.cancel_sweep());
    });
    let on_check = Callback::new(move |()| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.check_on_server());
    });
    let save_run = Callback::new(move |name: String| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.save(name));
        #[cfg(not(feature = "hydrate"))]
        let _ = name;
    });
    let open_run = Callback::new(move |id: i64| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.open(id));
        #[cfg(not(feature = "hydrate"))]
        let _ = id;
    });
    let delete_run = Callback::new(move |id: i64| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.delete(id));
        #[cfg(not(feature = "hydrate"))]
        let _ = id;
    });
    let compare_runs = Callback::new(move |ids: Vec<i64>| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.compare(ids));
        #[cfg(not(feature = "hydrate"))]
        let _ = ids;
    });
    let load_params = Callback::new(move |params: Vec<(String, String)>| {
        #[cfg(feature = "hydrate")]
        runner.with_value(|r| r.load_params(&params));
        #[cfg(not(feature = "hydrate"))]
        let _ = params;
    });
    let error_for = move |field: &'static str| {
        move || errors.with(|e| e.iter().find(|f| f.field == field).map(|f| f.message.clone()))
    };

    let data_fields = view! {
                <fieldset>
                    <legend>"Data"</legend>
                    <Field label="Symbol" name="symbol" error=error_for("symbol")>
                        <input id="lab-symbol" name="symbol" value=input.with_untracked(|i| i.symbol.clone())
                            autocomplete="off" spellcheck="false" size="10" required list="lab-symbols"/>
                        <datalist id="lab-symbols">
                            {move || symbols.get().into_iter().map(|s| view! { <option value=s></option> }).collect_view()}
                        </datalist>
                    </Field>
                    <Field label="Timeframe" name="tf" error=error_for("tf")>
                        <select id="lab-tf" name="tf">
                            {Timeframe::ALL.iter().map(|tf| {
                                let chosen = input.with_untracked(|i| i.timeframe) == *tf;
                                view! { <option value=tf.to_string() selected=chosen>{tf.to_string()}</option> }
                            }).collect_view()}
                        </select>
                    </Field>
                    <Field label="From" name="from" error=error_for("from")>
                        <input id="lab-from" name="from" type="date" value=input.with_untracked(|i| i.from.clone())/>
                    </Field>
                    <Field label="To" name="to" error=error_for("to")>
                        <input id="lab-to" name="to" type="date" value=input.with_untracked(|i| i.to.clone())/>
                    </Field>
                </fieldset>
    }
    .into_any();
    let strategy_fields = view! {
                <fieldset>
                    <legend>"Strategy"</legend>
                    <Field label="Strategy" name="strategy" error=error_for("strategy")>
                        <select id="lab-strategy" name="strategy">
                            {INFO.iter().map(|e| {
                                let chosen = input.with_untracked(|i| i.settings.strategy == e.name);
                                view! { <option value=e.name selected=chosen title=e.summary>{e.name}</option> }
                            }).collect_view()}
                        </select>
                    </Field>
                    {move || {
                        let name = strategy.get();
                        let entry = INFO.iter().copied().find(|e| e.name == name);
                        let summary_line = entry.map(|e| e.summary).unwrap_or_default();
                        let params = input.with_untracked(|i| i.settings.params.clone());
                        view! {
                            <p class="hint">{summary_line}</p>
                            {entry.map(|e| e.params.iter().map(|p| {
                                let value = params.get(p.name).cloned().unwrap_or_else(|| p.default_value());
                                view! { <ParamField param=*p value errors/> }
                            }).collect_view())}
                        }
                    }}
                </fieldset>
    }
    .into_any();
    let money_fields = view! {
                <fieldset>
                    <legend>"Money"</legend>
                    <NumberField label="Initial cash" name="cash" value=input.with_untracked(|i| i.settings.cash) step="any" errors/>
                    <NumberField label="Commission (0.001 = 0.1%)" name="commission" value=input.with_untracked(|i| i.settings.commission) step="any" errors/>
                    <NumberField label="Fixed commission per fill" name="commission_fixed" value=input.with_untracked(|i| i.settings.commission_fixed) step="any" errors/>
                    <NumberField label="Slippage (basis points)" name="slippage_bps" value=input.with_untracked(|i| i.settings.slippage_bps) step="any" errors/>
                    <Field label="Sizing" name="sizing" error=error_for("sizing")>
                        <select id="lab-sizing" name="sizing">
                            {[(Sizing::Equity, "equity", "fraction of equity"), (Sizing::Cash, "cash", "fixed cash"), (Sizing::Units, "units", "fixed units")]
                                .into_iter().map(|(v, key, label)| {
                                    let chosen = input.with_untracked(|i| i.settings.sizing == v);
                                    view! { <option value=key selected=chosen>{label}</option> }
                                }).collect_view()}
                        </select>
                    </Field>
                    <NumberField label="Fraction of equity (sizing: equity)" name="fraction" value=input.with_untracked(|i| i.settings.fraction) step="any" errors/>
                    <NumberField label="Cash or units per entry" name="size" value=input.with_untracked(|i| i.settings.size) step="any" errors/>
                    <label class="check">
                        <input name="fractional" type="checkbox" checked=input.with_untracked(|i| i.settings.fractional)/>
                        " Fractional units"
                    </label>
                </fieldset>
    }
    .into_any();
    let exit_fields = view! {
                <fieldset>
                    <legend>"Positions and exits"</legend>
                    <Field label="Positions" name="mode" error=error_for("mode")>
                        <select id="lab-mode" name="mode">
                            {[(Mode::LongOnly, "long-only", "long only"), (Mode::LongShort, "long-short", "long and short")]
                                .into_iter().map(|(v, key, label)| {
                                    let chosen = input.with_untracked(|i| i.settings.mode == v);
                                    view! { <option value=key selected=chosen>{label}</option> }
                                }).collect_view()}
                        </select>
                    </Field>
                    <Field label="Orders fill" name="fill" error=error_for("fill")>
                        <select id="lab-fill" name="fill">
                            {[(Fill::NextOpen, "next-open", "at the next open"), (Fill::Close, "close", "at the signal's close")]
                                .into_iter().map(|(v, key, label)| {
                                    let chosen = input.with_untracked(|i| i.settings.fill == v);
                                    view! { <option value=key selected=chosen>{label}</option> }
                                }).collect_view()}
                        </select>
                    </Field>
                    <OptionalField label="Stop-loss (0.05 = 5%)" name="stop_loss" value=input.with_untracked(|i| i.settings.stop_loss) errors/>
                    <OptionalField label="Take-profit" name="take_profit" value=input.with_untracked(|i| i.settings.take_profit) errors/>
                    <OptionalField label="Trailing stop" name="trailing_stop" value=input.with_untracked(|i| i.settings.trailing_stop) errors/>
                </fieldset>
    }
    .into_any();
    view! {
        <h1>"Backtest lab"</h1>
        <p class="lede">
            "Runs in your browser on the server's own engine (compiled to WebAssembly, in a background worker). "
            "Every field is in the address bar: reload or share the link to get the same run."
        </p>
        <div class="lab">
            <form class="lab-form" method="get" action="/lab" node_ref=form_ref data-testid="lab-form"
                on:input=move |_| changed(true)
                on:change=move |_| changed(false)
                on:submit=move |ev| { ev.prevent_default(); changed(false); }>
                {data_fields}
                {strategy_fields}
                {money_fields}
                {exit_fields}
                <button type="submit" class="primary">"Run"</button>
            </form>
            <section class="lab-results" aria-live="polite">
                <StatusLine status/>
                <CheckView check on_check/>
                <h2 class="visually-hidden">"Price and trades"</h2>
                <div class="lab-chart" node_ref=price_ref data-testid="lab-price" role="img"
                    aria-label="Price with each trade's entry and exit"></div>
                <h2 class="visually-hidden">"Equity"</h2>
                <div class="lab-chart lab-equity" node_ref=equity_ref data-testid="lab-equity" role="img"
                    aria-label="Equity, buy and hold, and drawdown"></div>
                <p class="chart-key">
                    <span class="key k0">"strategy equity"</span>
                    <span class="key khold">"buy and hold"</span>
                    <span class="key kdown">"drawdown, % (lower pane)"</span>
                </p>
                {move || summary.get().map(|s| view! {
                    <div class="lab-tables">
                        <MetricsTable summary=s/>
                        <MonthlyHeatmap columns=columns.get_untracked()/>
                    </div>
                    <TradeList columns=columns.get_untracked() daily=input.with_untracked(|i| i.timeframe.seconds() >= 86_400) on_pick/>
                })}
                <section class="lab-sweep" aria-labelledby="lab-sweep-title">
                    <h2 id="lab-sweep-title">"Sweep"</h2>
                    <p class="hint">"Runs every combination of one or two parameters over the same bars, on every core."</p>
                    <SweepPanel strategy progress=sweep_progress finished=sweep_finished run=run_sweep
                        run_wf cancel=cancel_sweep load=load_params canvas=sweep_canvas/>
                </section>
                <section class="lab-sweep" aria-labelledby="lab-wf-title">
                    <h2 id="lab-wf-title">"Walk-forward"</h2>
                    <p class="hint">"Chooses the best combination of the sweep's grid on each training window, then trades it on the next, unseen window."</p>
                    {move || walk.get().map(|(report, metric)| view! { <WalkForwardView report metric chart=wf_chart/> })}
                </section>
                <section class="lab-sweep" aria-labelledby="lab-saved-title">
                    <h2 id="lab-saved-title">"Saved runs"</h2>
                    <SavedRuns runs=saved message=saved_message save=save_run open=open_run delete=delete_run
                        compare=compare_runs compared compare_chart/>
                </section>
            </section>
        </div>
    }
}

/// A labelled field with its error message below it.
#[component]
fn Field(
    label: &'static str,
    name: &'static str,
    error: impl Fn() -> Option<String> + Send + Sync + 'static,
    children: Children,
) -> impl IntoView {
    let id = format!("err-{name}");
    view! {
        <div class="field">
            <label for=format!("lab-{name}")>{label}</label>
            {children()}
            <span class="field-error" id=id role="alert">{error}</span>
        </div>
    }
}

fn field_error(errors: RwSignal<Vec<FieldError>>, name: String) -> impl Fn() -> Option<String> + Send + Sync + 'static {
    move || errors.with(|e| e.iter().find(|f| f.field == name).map(|f| f.message.clone()))
}

/// A number with its error.
#[component]
fn NumberField(
    label: &'static str,
    name: &'static str,
    value: f64,
    step: &'static str,
    errors: RwSignal<Vec<FieldError>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=format!("lab-{name}")>{label}</label>
            <input id=format!("lab-{name}") name=name type="number" step=step value=value.to_string()
                aria-describedby=format!("err-{name}")/>
            <span class="field-error" id=format!("err-{name}") role="alert">{field_error(errors, name.to_owned())}</span>
        </div>
    }
}

/// A level that may be off (empty).
#[component]
fn OptionalField(
    label: &'static str,
    name: &'static str,
    value: Option<f64>,
    errors: RwSignal<Vec<FieldError>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=format!("lab-{name}")>{label}</label>
            <input id=format!("lab-{name}") name=name type="number" step="any" min="0" placeholder="off"
                value=value.map(|v| v.to_string()).unwrap_or_default() aria-describedby=format!("err-{name}")/>
            <span class="field-error" id=format!("err-{name}") role="alert">{field_error(errors, name.to_owned())}</span>
        </div>
    }
}

/// One strategy parameter, as its metadata describes it.
#[component]
fn ParamField(param: meta::Param, value: Value, errors: RwSignal<Vec<FieldError>>) -> impl IntoView {
    let name = format!("p.{}", param.name);
    let id = format!("lab-p-{}", param.name);
    let err_id = format!("err-p-{}", param.name);
    let control = match param.kind {
        meta::Kind::Int { min, max, .. } => view! {
            <input id=id.clone() name=name.clone() type="number" min=min max=max step="1"
                value=value.to_string() aria-describedby=err_id.clone()/>
        }
        .into_any(),
        meta::Kind::Float { min, max, step, .. } => view! {
            <input id=id.clone() name=name.clone() type="number" min=min max=max step=step
                value=value.as_f64().map(|v| v.to_string()).unwrap_or_default() aria-describedby=err_id.clone()/>
        }
        .into_any(),
        meta::Kind::Bool { .. } => view! {
            <input id=id.clone() name=name.clone() type="checkbox" checked=value.as_bool().unwrap_or(false)/>
        }
        .into_any(),
        meta::Kind::Choice { options, .. } => {
            let chosen = value.as_str().unwrap_or_default().to_owned();
            view! {
                <select id=id.clone() name=name.clone()>
                    {options.iter().map(|o| view! { <option value=*o selected=*o == chosen>{*o}</option> }).collect_view()}
                </select>
            }
            .into_any()
        }
    };
    let range = match param.kind {
        meta::Kind::Int { min, max, .. } => format!(" ({min} to {max})"),
        meta::Kind::Float { min, max, .. } => format!(" ({min} to {max})"),
        _ => String::new(),
    };
    view! {
        <div class="field" data-param=param.name>
            <label for=id title=param.doc>{param.name}{range}</label>
            {control}
            <span class="field-error" id=err_id role="alert">{field_error(errors, name)}</span>
        </div>
    }
}

/// Where "check on the server" is.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), expect(dead_code, reason = "the browser checks"))]
enum Check {
    Idle,
    Running,
    /// The server's native run has the same three hashes.
    Identical {
        metrics: String,
        trades: String,
        equity: String,
        bars: usize,
    },
    /// It does not; the first value that differs.
    Differs(String),
    Failed(String),
}

/// The "check on the server" button and its verdict.
#[component]
fn CheckView(check: RwSignal<Check>, on_check: Callback<()>) -> impl IntoView {
    view! {
        <div class="lab-check">
            <button type="button" on:click=move |_| on_check.run(()) disabled=move || check.get() == Check::Running
                data-testid="lab-check">"Check on the server"</button>
            <span data-testid="lab-check-result" role="status">
                {move || match check.get() {
                    Check::Idle => view! { <span class="hint">"Runs the same backtest natively on the server and compares every number."</span> }.into_any(),
                    Check::Running => view! { <span class="loading">"Running on the server…"</span> }.into_any(),
                    Check::Identical { metrics, trades, equity, bars } => view! {
                        <span class="check-ok">{format!(
                            "Identical bit for bit on {bars} bars: metrics {metrics}, trades {trades}, equity {equity}"
                        )}</span>
                    }.into_any(),
                    Check::Differs(message) => view! { <span class="error">{format!("Differs from the server: {message}")}</span> }.into_any(),
                    Check::Failed(message) => view! { <span class="error">{message}</span> }.into_any(),
                }}
            </span>
        </div>
    }
}

/// What the lab is doing, in words.
#[component]
fn StatusLine(status: RwSignal<Status>) -> impl IntoView {
    view! {
        <p class="lab-status" data-testid="lab-status" data-state=move || match status.get() {
            Status::Starting => "starting",
            Status::Loading => "loading",
            Status::Running => "running",
            Status::Done { .. } => "done",
            Status::Failed(_) => "failed",
        }>
            {move || match status.get() {
                Status::Starting => view! { <span class="loading">"Starting the lab…"</span> }.into_any(),
                Status::Loading => view! { <progress aria-label="Loading bars"></progress>" Loading bars…" }.into_any(),
                Status::Running => view! { <progress aria-label="Running"></progress>" Running…" }.into_any(),
                Status::Done { bars, engine_ms, total_ms } => view! {
                    <span>{format!("{bars:.0} bars · engine {engine_ms:.1} ms · charts ready in {total_ms:.0} ms")}</span>
                }.into_any(),
                Status::Failed(message) => view! { <span class="error" role="alert">{message}</span> }.into_any(),
            }}
        </p>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    //! Drives runs: reads the form, keeps the URL in step, loads bars when the
    //! data changes and runs the backtest a moment after the last change.

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
            let metrics =
                self.summary.with_untracked(|s| s.as_ref().map(|s| s["metrics"].to_string())).unwrap_or_default();
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
                let chosen: Vec<_> = parts.saved.with_untracked(|all| {
                    ids.iter().filter_map(|id| all.iter().find(|r| r.id == *id).cloned()).collect()
                });
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
                let on_click = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::MouseEvent)>::new(
                    move |e: web_sys::MouseEvent| {
                        let plot = click.state.borrow().plot.clone();
                        let (Some(factory), Some(plot)) = (bridge::factory(), plot) else { return };
                        if let Some(cell) = factory.cell_at(&plot, f64::from(e.offset_x()), f64::from(e.offset_y())) {
                            click.state.borrow_mut().cursor = Some(cell);
                            click.load_cell(cell);
                        }
                    },
                );
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
}
