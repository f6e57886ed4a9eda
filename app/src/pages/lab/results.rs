//! The lab's result views, from the summary the worker returns (JSON, where
//! an undefined figure is `null`): the metrics table split All / Long /
//! Short, the monthly returns heatmap, and the trade list (from the trade
//! columns the worker returns beside the summary).

use std::sync::Arc;

use leptos::prelude::*;
use quant::backtest::columns::{EXIT_REASONS, MONTH_WIDTH, TRADE_COLUMNS, TRADE_WIDTH};
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

/// A run's long results, as columns (`quant::backtest::columns`): they come
/// from the worker beside the summary's JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RunColumns {
    /// [`TRADE_WIDTH`] values per trade.
    pub trades: Vec<f64>,
    /// [`MONTH_WIDTH`] values per month.
    pub months: Vec<f64>,
}

/// Trades shown per page of the trade list: a run on a million bars can
/// have tens of thousands, and a page lays out in a frame.
pub(super) const TRADES_PER_PAGE: usize = 50;

/// One trade's cells, from its row of trade columns.
#[derive(Debug, Clone)]
struct TradeRow {
    entry_ts: i64,
    exit_ts: i64,
    cells: [String; 10],
    win: bool,
}

impl TradeRow {
    fn new(row: &[f64; TRADE_WIDTH], daily: bool) -> Self {
        let when = |ts: i64| if daily { format::date(ts) } else { format::datetime(ts) };
        let at = |name: &str| TRADE_COLUMNS.iter().position(|c| *c == name).map_or(f64::NAN, |k| row[k]);
        let (entry_ts, exit_ts) = (at("entry_ts") as i64, at("exit_ts") as i64);
        let exit = EXIT_REASONS.get(at("exit") as usize).copied().unwrap_or_default();
        TradeRow {
            entry_ts,
            exit_ts,
            win: at("pnl") > 0.0,
            cells: [
                if at("side") > 0.0 { "long" } else { "short" }.to_owned(),
                when(entry_ts),
                format::price(at("entry_price")),
                when(exit_ts),
                format::price(at("exit_price")),
                format!("{}", at("size")),
                show(Some(at("pnl")), Unit::Money),
                show(Some(at("return_pct")), Unit::Pct),
                format!("{}", at("bars_held")),
                exit.replace('-', " "),
            ],
        }
    }
}

/// The trade list, a page at a time (dates only for `daily` bars); choosing
/// a trade calls `on_pick(entry_ts, exit_ts)`.
#[component]
pub(super) fn TradeList(columns: Arc<RunColumns>, daily: bool, on_pick: Callback<(i64, i64)>) -> impl IntoView {
    let count = columns.trades.len() / TRADE_WIDTH;
    let pages = count.div_ceil(TRADES_PER_PAGE).max(1);
    let page = RwSignal::new(0usize);
    let body = {
        let columns = Arc::clone(&columns);
        move || {
            let first = page.get() * TRADES_PER_PAGE;
            let rows = columns.trades.as_chunks::<TRADE_WIDTH>().0;
            rows.iter()
                .enumerate()
                .skip(first)
                .take(TRADES_PER_PAGE)
                .map(|(i, row)| {
                    let row = TradeRow::new(row, daily);
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
                .collect_view()
        }
    };
    let shown = move || {
        let first = page.get() * TRADES_PER_PAGE;
        if count == 0 {
            "No trades".to_owned()
        } else {
            format!("Trades {}–{} of {count}", first + 1, (first + TRADES_PER_PAGE).min(count))
        }
    };
    let go = move |to: usize| page.set(to.min(pages - 1));
    let pager = (pages > 1).then(|| {
        view! {
            <nav class="pager" aria-label="Trade pages" data-testid="lab-trades-pager">
                <button type="button" on:click=move |_| go(0) disabled=move || { page.get() == 0 }>"First"</button>
                <button type="button" on:click=move |_| go(page.get_untracked().saturating_sub(1))
                    disabled=move || { page.get() == 0 }>"Previous"</button>
                <span aria-live="polite">{move || format!("Page {} of {pages}", page.get() + 1)}</span>
                <button type="button" on:click=move |_| go(page.get_untracked() + 1)
                    disabled=move || { page.get() + 1 >= pages }>"Next"</button>
                <button type="button" on:click=move |_| go(pages - 1) disabled=move || { page.get() + 1 >= pages }>"Last"</button>
            </nav>
        }
    });
    view! {
        <div class="table-scroll">
            <table class="lab-trades" data-testid="lab-trades" data-count=count>
                <caption>{format!("{count} trades")}" · "{shown}</caption>
                <thead>
                    <tr>
                        <th>"#"</th><th>"Side"</th><th>"Entry"</th><th>"Price"</th><th>"Exit"</th><th>"Price"</th>
                        <th>"Size"</th><th>"P&L"</th><th>"Return"</th><th>"Bars"</th><th>"Exit reason"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
        {pager}
    }
}

/// Returns by month as a heatmap: a row per year, green up, red down, the
/// shade growing with the size of the move (full at 10%).
#[component]
pub(super) fn MonthlyHeatmap(columns: Arc<RunColumns>) -> impl IntoView {
    let months: Vec<(i64, u64, f64)> =
        columns.months.as_chunks::<MONTH_WIDTH>().0.iter().map(|&[y, m, r]| (y as i64, m as u64, r)).collect();
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
