//! `/signals`: the latest signals, filtered by symbol, strategy, timeframe and
//! whether they were sent; new ones arrive live on the `signals` channel.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use quant::Timeframe;
use quant::strategies::NAME_LIST;

use crate::api::get_signals;
use crate::components::{SignalHeader, SignalRowView};
use crate::live::{self, protocol::*};
use crate::model::{SignalQuery, SignalRow};

/// How many rows the live feed keeps.
const KEEP: usize = 200;

/// The signals page.
#[component]
pub(super) fn SignalsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        SignalQuery {
            symbol: q.get("symbol").filter(|s| !s.is_empty()).map(|s| s.to_ascii_uppercase()),
            strategy: q.get("strategy").filter(|s| !s.is_empty()),
            timeframe: q.get("tf").and_then(|t| t.parse::<Timeframe>().ok()),
            passed_only: q.get("sent").is_some_and(|v| v == "1"),
        }
    });
    let initial = Resource::new(move || filter.get(), |f| get_signals(f, Some(KEEP)));

    view! {
        <h1>"Signals"</h1>
        <Filters filter=filter.get_untracked()/>
        <Suspense fallback=|| view! { <p class="loading">"Loading signals…"</p> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(rows) => view! { <Feed rows filter=filter.get_untracked()/> }.into_any(),
                    Err(e) => view! { <p class="error" data-testid="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A plain GET form: the filters live in the URL, so a filtered view can be bookmarked.
#[component]
fn Filters(filter: SignalQuery) -> impl IntoView {
    let chosen = filter.strategy.clone().unwrap_or_default();
    let tf = filter.timeframe.map(|t| t.to_string()).unwrap_or_default();
    view! {
        <form class="filters" method="get" action="/signals" data-testid="signal-filters">
            <label>"Symbol " <input name="symbol" value=filter.symbol.clone().unwrap_or_default() size="10"/></label>
            <label>
                "Strategy "
                <select name="strategy">
                    <option value="">"any"</option>
                    {NAME_LIST
                        .iter()
                        .map(|&name| view! { <option value=name selected=name == chosen>{name}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>
                "Timeframe "
                <select name="tf">
                    <option value="">"any"</option>
                    {Timeframe::ALL
                        .iter()
                        .map(|t| {
                            let name = t.to_string();
                            view! { <option value=name.clone() selected=name == tf>{name.clone()}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <label><input type="checkbox" name="sent" value="1" checked=filter.passed_only/> " sent only"</label>
            <button type="submit">"Filter"</button>
        </form>
    }
}

/// Whether a live signal belongs in the filtered view (live signals were all sent).
fn matches(filter: &SignalQuery, s: &SignalEvent) -> bool {
    filter.symbol.as_ref().is_none_or(|x| *x == s.symbol)
        && filter.strategy.as_ref().is_none_or(|x| *x == s.strategy)
        && filter.timeframe.is_none_or(|t| t == s.timeframe)
}

#[component]
fn Feed(rows: Vec<SignalRow>, filter: SignalQuery) -> impl IntoView {
    let rows = RwSignal::new(rows);
    let add = move |incoming: Vec<SignalEvent>, filter: &SignalQuery| {
        rows.update(|rows| {
            for s in incoming.into_iter().rev() {
                if matches(filter, &s) && !rows.iter().any(|r| r.signal.id == s.id) {
                    rows.insert(0, SignalRow { signal: s, passed: true });
                }
            }
            rows.sort_by_key(|r| std::cmp::Reverse(r.signal.id));
            rows.truncate(KEEP);
        });
    };
    Effect::new({
        let filter = filter.clone();
        move |_| {
            let symbols = vec![filter.symbol.clone().unwrap_or_else(|| ALL_SYMBOLS.into())];
            let filter = filter.clone();
            let handle =
                live::connect(vec![ClientMessage::Subscribe { channel: Channel::Signals, symbols }], move |msg| {
                    match msg {
                        ServerMessage::Signal(s) => add(vec![s], &filter),
                        ServerMessage::Snapshot { signals, .. } => add(signals, &filter),
                        _ => {}
                    }
                });
            on_cleanup(move || handle.stop());
        }
    });
    view! {
        <table class="signals" data-testid="signals">
            <thead><SignalHeader/></thead>
            <tbody>
                <For each=move || rows.get() key=|r| r.signal.id let:row>
                    <SignalRowView signal=row.signal passed=row.passed/>
                </For>
            </tbody>
        </table>
        <p class="empty" data-testid="signal-count">
            {move || match rows.with(Vec::len) {
                0 => "No signals yet.".to_owned(),
                n => format!("{n} signals"),
            }}
        </p>
    }
}
