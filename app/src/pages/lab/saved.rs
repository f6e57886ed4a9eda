//! Saved runs: the list (newest first) with a checkbox each for comparing
//! two to four of them, and the comparison itself, their metrics side by side
//! and their equity curves (each run again in the worker, since a saved run is
//! its input) overlaid as growth of one unit of cash.

use leptos::prelude::*;
use serde_json::Value;

use crate::components::format;
use crate::lab_api::LabRunSummary;

/// The metrics compared, with how each is written.
const COMPARED: [(&str, &str, bool); 10] = [
    ("Total return", "total_return", true),
    ("CAGR", "cagr", true),
    ("Sharpe", "sharpe", false),
    ("Sortino", "sortino", false),
    ("Max drawdown", "max_drawdown", true),
    ("Win rate", "win_rate", true),
    ("Profit factor", "profit_factor", false),
    ("Trades", "trades", false),
    ("Exposure", "exposure", true),
    ("Buy & hold", "buy_and_hold_return", true),
];

fn metric(run: &LabRunSummary, key: &str, pct: bool) -> String {
    let metrics: Value = serde_json::from_str(&run.metrics).unwrap_or(Value::Null);
    match metrics[key].as_f64() {
        Some(v) if pct => format!("{:.2}%", v * 100.0),
        Some(v) if key == "trades" => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
        None => "n/a".into(),
    }
}

/// The saved-runs panel. `save(name)` saves the shown run; `open`, `delete`
/// and `compare` act on ids.
#[component]
pub(super) fn SavedRuns(
    runs: RwSignal<Vec<LabRunSummary>>,
    message: RwSignal<Option<String>>,
    save: Callback<String>,
    open: Callback<i64>,
    delete: Callback<i64>,
    compare: Callback<Vec<i64>>,
    compared: RwSignal<Vec<LabRunSummary>>,
    compare_chart: NodeRef<leptos::html::Div>,
) -> impl IntoView {
    let chosen = RwSignal::new(Vec::<i64>::new());
    let name = RwSignal::new(String::new());
    let toggle = move |id: i64, on: bool| {
        chosen.update(|c| {
            c.retain(|x| *x != id);
            if on {
                c.push(id);
            }
        })
    };
    let can_compare = move || (2..=4).contains(&chosen.with(Vec::len));
    // Viewers compare runs; traders and admins save and delete their own.
    let can_save = crate::auth::viewer_can(crate::auth::Role::Trader);
    view! {
        <Show when=can_save>
        <form class="sweep-form" data-testid="save-form" on:submit=move |ev| {
            ev.prevent_default();
            save.run(name.get_untracked());
        }>
            <label>"Name" <input name="name" maxlength="100" placeholder="e.g. fast SMA, no costs"
                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></label>
            <button type="submit" class="primary">"Save this run"</button>
            <span role="status" class="hint">{move || message.get()}</span>
        </form>
        </Show>
        <div class="table-scroll">
            <table class="saved-runs" data-testid="saved-runs">
                <caption>"Saved runs: tick two to four to compare them"</caption>
                <thead><tr><th>"Compare"</th><th>"Name"</th><th>"Data"</th><th>"Strategy"</th><th>"Saved"</th><th>"Return"</th><th>"Sharpe"</th><th></th></tr></thead>
                <tbody>
                    <For each=move || runs.get() key=|r| r.id let:run>
                        {
                            let id = run.id;
                            view! {
                                <tr data-run=id>
                                    <td><input type="checkbox" aria-label=format!("Compare {}", run.name)
                                        on:change=move |ev| toggle(id, event_target_checked(&ev))/></td>
                                    <td class="name"><button type="button" class="link" on:click=move |_| open.run(id)>{run.name.clone()}</button></td>
                                    <td>{format!("{} {}", run.symbol, run.timeframe)}</td>
                                    <td>{run.strategy.clone()}</td>
                                    <td>{format::date(run.created_at / 1000)}</td>
                                    <td>{metric(&run, "total_return", true)}</td>
                                    <td>{metric(&run, "sharpe", false)}</td>
                                    <td><Show when=can_save><button type="button" class="remove" on:click=move |_| delete.run(id)
                                        aria-label=format!("Delete {}", run.name.clone())>"Delete"</button></Show></td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        </div>
        <button type="button" disabled=move || !can_compare() on:click=move |_| compare.run(chosen.get_untracked())
            data-testid="compare">"Compare"</button>
        {move || {
            let list = compared.get();
            (!list.is_empty()).then(|| {
                // Each run's colour on the chart below (lab.js draws them in this order).
                let header = list
                    .iter()
                    .enumerate()
                    .map(|(i, r)| view! { <th scope="col"><span class=format!("key k{i}")>{r.name.clone()}</span></th> })
                    .collect_view();
                let rows = COMPARED
                    .iter()
                    .map(|&(label, key, pct)| {
                        let cells = list.iter().map(|r| view! { <td>{metric(r, key, pct)}</td> }).collect_view();
                        view! { <tr data-metric=key><th scope="row">{label}</th>{cells}</tr> }
                    })
                    .collect_view();
                view! {
                    <table class="lab-compare" data-testid="compare-table">
                        <thead><tr><th>"Metric"</th>{header}</tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                    <div class="lab-chart lab-wf" node_ref=compare_chart data-testid="compare-chart" role="img"
                        aria-label="The compared runs' equity, as growth of one unit of cash"></div>
                }
            })
        }}
    }
}
