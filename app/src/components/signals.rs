//! How a signal is shown: one table row with its evidence and backtest record.

use leptos::prelude::*;
use leptos_router::components::A;

use super::format;
use crate::live::protocol::{Action, BacktestRecord, SignalEvent};

/// `buy` or `sell`, also the CSS class of the badge.
pub(crate) fn action_word(action: Action) -> &'static str {
    match action {
        Action::Buy => "buy",
        Action::Sell => "sell",
    }
}

/// The evidence, e.g. `fast 101.20 · slow 100.70`.
pub(crate) fn evidence(signal: &SignalEvent) -> String {
    signal.evidence.iter().map(|(k, v)| format!("{k} {}", format::number(*v))).collect::<Vec<_>>().join(" · ")
}

/// The backtest record, e.g. `42 trades · win 55% · PF 1.80 · Sharpe 1.10`.
pub(crate) fn record(record: Option<&BacktestRecord>) -> String {
    let Some(r) = record else { return "no backtest yet".to_owned() };
    let pf = r.profit_factor.map_or_else(|| "∞".to_owned(), |pf| format!("{pf:.2}"));
    format!("{} trades · win {:.0}% · PF {pf} · Sharpe {:.2}", r.trades, r.win_rate * 100.0, r.sharpe)
}

/// The column headers matching [`SignalRowView`].
#[component]
pub(crate) fn SignalHeader() -> impl IntoView {
    view! {
        <tr>
            <th>"Bar (UTC)"</th>
            <th>"Symbol"</th>
            <th>"Strategy"</th>
            <th>"Signal"</th>
            <th class="num">"Price"</th>
            <th>"Evidence"</th>
            <th>"Backtest"</th>
        </tr>
    }
}

/// The lab with this signal's strategy, parameters and series, up to the
/// day of its bar ("open in lab at this bar").
pub(crate) fn lab_href(signal: &SignalEvent) -> String {
    let mut href = format!("/lab?symbol={}&tf={}&strategy={}", signal.symbol, signal.timeframe, signal.strategy);
    if let Some(params) = signal.params.as_object() {
        for (name, value) in params {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            href.push_str(&format!("&p.{name}={text}"));
        }
    }
    href.push_str(&format!("&to={}", format::date(signal.bar_ts)));
    href
}

/// One signal as a table row.
#[component]
pub(crate) fn SignalRowView(signal: SignalEvent, passed: bool) -> impl IntoView {
    let word = action_word(signal.action);
    let evidence = evidence(&signal);
    let record = record(signal.backtest.as_ref());
    let href = format!("/symbol/{}?tf={}", signal.symbol, signal.timeframe);
    let lab = lab_href(&signal);
    view! {
        <tr
            // The chart's signal details link here (`/signals?...#signal-ID`).
            id=format!("signal-{}", signal.id)
            data-testid="signal-row"
            data-id=signal.id.to_string()
            class=if passed { "signal" } else { "signal held" }
            title=if passed { "" } else { "below the strategy's minimum backtest quality: stored, not sent" }
        >
            <td class="time">{format::datetime(signal.bar_ts)} " " <span class="tf">{signal.timeframe.to_string()}</span></td>
            <td class="symbol"><A href=href>{signal.symbol.clone()}</A></td>
            <td class="strategy">
                {signal.strategy.clone()}
                " "
                <a class="lab-link" href=lab title="Open in the lab at this bar">"lab"</a>
            </td>
            <td><span class=format!("badge {word}")>{word}</span></td>
            <td class="num">{format::price(signal.price)}</td>
            <td class="evidence">{evidence}</td>
            <td class="record">{record}</td>
        </tr>
    }
}
