//! The lab's result views, from the summary the worker returns (JSON, where
//! an undefined figure is `null`): the metrics table split All / Long /
//! Short, the trade list and the monthly returns heatmap.

use leptos::prelude::*;
use serde_json::Value;

use crate::components::format;

/// How a figure is written.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Pct,
    Ratio,
    Money,
    Count,
    Bars,
}

fn show(value: Option<f64>, unit: Unit) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else { return "n/a".into() };
    match unit {
        Unit::Pct => format!("{:.2}%", v * 100.0),
        Unit::Ratio => format!("{v:.3}"),
        Unit::Money => format!("{v:.2}"),
        Unit::Count => format!("{v:.0}"),
        Unit::Bars => format!("{v:.1}"),
    }
}

/// Portfolio figures (of the equity curve: one value) and trade figures (per side).
const PORTFOLIO: [(&str, &str, Unit); 12] = [
    ("Total return", "total_return", Unit::Pct),
    ("Buy & hold return", "buy_and_hold_return", Unit::Pct),
    ("CAGR", "cagr", Unit::Pct),
    ("Volatility (ann.)", "volatility", Unit::Pct),
    ("Sharpe", "sharpe", Unit::Ratio),
    ("Sortino", "sortino", Unit::Ratio),
    ("Calmar", "calmar", Unit::Ratio),
    ("Max drawdown", "max_drawdown", Unit::Pct),
    ("Max drawdown (bars)", "max_drawdown_bars", Unit::Count),
    ("Avg drawdown", "avg_drawdown", Unit::Pct),
    ("Exposure", "exposure", Unit::Pct),
    ("Final equity", "final_equity", Unit::Money),
];

const TRADES: [(&str, &str, Unit); 10] = [
    ("Trades", "trades", Unit::Count),
    ("Win rate", "win_rate", Unit::Pct),
    ("Net profit", "net_profit", Unit::Money),
    ("Profit factor", "profit_factor", Unit::Ratio),
    ("Expectancy", "expectancy", Unit::Money),
    ("SQN", "sqn", Unit::Ratio),
    ("Avg trade", "avg_trade", Unit::Pct),
    ("Best trade", "best_trade", Unit::Pct),
    ("Worst trade", "worst_trade", Unit::Pct),
    ("Avg bars held", "avg_bars_held", Unit::Bars),
];

/// The metrics table.
#[component]
pub(super) fn MetricsTable(summary: Value) -> impl IntoView {
    let metric = |key: &str| summary["metrics"][key].as_f64();
    let side = |side: &str, key: &str| summary["sides"][side][key].as_f64();
    let portfolio = PORTFOLIO
        .iter()
        .map(|&(label, key, unit)| {
            view! {
                <tr data-metric=key>
                    <th scope="row">{label}</th>
                    <td>{show(metric(key), unit)}</td>
                    <td class="muted">"—"</td>
                    <td class="muted">"—"</td>
                </tr>
            }
        })
        .collect_view();
    let trades = TRADES
        .iter()
        .map(|&(label, key, unit)| {
            view! {
                <tr data-metric=key>
                    <th scope="row">{label}</th>
                    <td>{show(side("all", key), unit)}</td>
                    <td>{show(side("long", key), unit)}</td>
                    <td>{show(side("short", key), unit)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
        <table class="lab-metrics" data-testid="lab-metrics">
            <thead>
                <tr><th scope="col">"Metric"</th><th scope="col">"All"</th><th scope="col">"Long"</th><th scope="col">"Short"</th></tr>
            </thead>
            <tbody>{portfolio}{trades}</tbody>
        </table>
        </div>
    }
}

/// One trade, as the worker's JSON has it.
#[derive(Debug, Clone)]
pub(super) struct TradeRow {
    pub entry_ts: i64,
    pub exit_ts: i64,
    cells: [String; 10],
    win: bool,
}

impl TradeRow {
    fn all(summary: &Value, daily: bool) -> Vec<Self> {
        let when = |ts: i64| if daily { format::date(ts) } else { format::datetime(ts) };
        let Some(trades) = summary["trades"].as_array() else { return Vec::new() };
        trades
            .iter()
            .map(|t| {
                let f = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
                let ts = |k: &str| t[k].as_i64().unwrap_or_default();
                let word = |k: &str| t[k].as_str().unwrap_or_default().replace('-', " ");
                TradeRow {
                    entry_ts: ts("entry_ts"),
                    exit_ts: ts("exit_ts"),
                    win: f("pnl") > 0.0,
                    cells: [
                        word("side"),
                        when(ts("entry_ts")),
                        format::price(f("entry_price")),
                        when(ts("exit_ts")),
                        format::price(f("exit_price")),
                        format!("{}", f("size")),
                        show(Some(f("pnl")), Unit::Money),
                        show(Some(f("return_pct")), Unit::Pct),
                        format!("{}", t["bars_held"].as_u64().unwrap_or_default()),
                        word("exit"),
                    ],
                }
            })
            .collect()
    }
}

/// The trade list (dates only for `daily` bars); choosing a trade calls
/// `on_pick(entry_ts, exit_ts)`.
#[component]
pub(super) fn TradeList(summary: Value, daily: bool, on_pick: Callback<(i64, i64)>) -> impl IntoView {
    let rows = TradeRow::all(&summary, daily);
    let count = rows.len();
    let body = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let (from, to) = (row.entry_ts, row.exit_ts);
            let [side, entry_t, entry_p, exit_t, exit_p, size, pnl, ret, held, reason] = row.cells;
            view! {
                <tr class=if row.win { "win" } else { "loss" } data-trade=i>
                    <td>
                        <button type="button" class="link" on:click=move |_| on_pick.run((from, to))
                            aria-label=format!("Show trade {} on the chart", i + 1)>
                            {i + 1}
                        </button>
                    </td>
                    <td>{side}</td><td>{entry_t}</td><td>{entry_p}</td><td>{exit_t}</td><td>{exit_p}</td>
                    <td>{size}</td><td class="num">{pnl}</td><td class="num">{ret}</td><td>{held}</td><td>{reason}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="lab-trades" data-testid="lab-trades">
                <caption>{format!("{count} trades")}</caption>
                <thead>
                    <tr>
                        <th>"#"</th><th>"Side"</th><th>"Entry"</th><th>"Price"</th><th>"Exit"</th><th>"Price"</th>
                        <th>"Size"</th><th>"P&L"</th><th>"Return"</th><th>"Bars"</th><th>"Exit reason"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}

/// Returns by month as a heatmap: a row per year, green up, red down, the
/// shade growing with the size of the move (full at 10%).
#[component]
pub(super) fn MonthlyHeatmap(summary: Value) -> impl IntoView {
    let months: Vec<(i64, u64, f64)> = summary["monthly"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["year"].as_i64().unwrap_or(0),
                        m["month"].as_u64().unwrap_or(0),
                        m["ret"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut years: Vec<i64> = months.iter().map(|m| m.0).collect();
    years.dedup();
    const NAMES: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let rows = years
        .into_iter()
        .map(|year| {
            let cells = (1..=12u64)
                .map(|month| match months.iter().find(|m| m.0 == year && m.1 == month) {
                    Some(&(_, _, r)) => {
                        let strength = (r.abs() / 0.10).min(1.0);
                        let hue = if r >= 0.0 { "var(--up)" } else { "var(--down)" };
                        let style = format!(
                            "background: color-mix(in srgb, {hue} {:.0}%, transparent)",
                            10.0 + 70.0 * strength
                        );
                        view! { <td style=style title=format!("{} {year}: {:+.2}%", NAMES[month as usize - 1], r * 100.0)>{format!("{:+.1}", r * 100.0)}</td> }.into_any()
                    }
                    None => view! { <td class="muted"></td> }.into_any(),
                })
                .collect_view();
            view! { <tr><th scope="row">{year}</th>{cells}</tr> }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="lab-monthly" data-testid="lab-monthly">
                <caption>"Monthly returns, %"</caption>
                <thead><tr><th></th>{NAMES.iter().map(|n| view! { <th scope="col">{*n}</th> }).collect_view()}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
