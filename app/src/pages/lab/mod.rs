//! `/lab`: the backtest lab. Pick a stored series, a strategy and the
//! engine's settings; the run happens in a Web Worker on `quant` compiled to
//! wasm (the server's engine), and its metrics, curves, trades and months
//! appear beside the form, again whenever a field changes.
//!
//! - [`input`]: the run's input and its URL form (the source of truth).
//! - [`form`]: the form's fields, generated from the strategies' metadata.
//! - [`results`]: the metrics table, trade list and monthly heatmap.
//! - `bridge` (browser only): the worker pool and the charts in `/lab/lab.js`.
//! - `browser` (browser only): what drives runs, sweeps, checks and saved runs.

mod form;
mod input;
mod results;
mod saved;
mod sweep;
mod sweep_view;

#[cfg(feature = "hydrate")]
mod bridge;
#[cfg(feature = "hydrate")]
mod browser;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use quant::Timeframe;
#[cfg(feature = "hydrate")]
use quant::backtest::Settings;
use quant::backtest::{Fill, Mode, Sizing};
use quant::strategies::INFO;
use serde_json::Value;

use crate::lab_api::LabRunSummary;
use form::{Field, NumberField, OptionalField, ParamField};
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
