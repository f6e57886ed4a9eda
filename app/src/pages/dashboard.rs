//! `/`: the watchlist with each symbol's latest price, kept live by the `quotes` channel.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::components::A;

use super::SimulatedBanner;
use crate::api::get_watchlist;
use crate::components::format;
use crate::live::{self, protocol::*};
use crate::model::{QuoteRow, change};

/// The dashboard page.
#[component]
pub(crate) fn Dashboard() -> impl IntoView {
    let rows = Resource::new(|| (), |()| get_watchlist());
    // Live quotes by symbol; a row shows its live quote once one has arrived.
    let live_quotes = RwSignal::new(HashMap::<String, Quote>::new());

    Effect::new(move |_| {
        let handle = live::connect(
            vec![ClientMessage::Subscribe { channel: Channel::Quotes, symbols: vec![ALL_SYMBOLS.into()] }],
            move |msg| match msg {
                ServerMessage::Quote(q) => live_quotes.update(|m| {
                    m.insert(q.symbol.clone(), q);
                }),
                ServerMessage::Snapshot { quotes, .. } => live_quotes.update(|m| {
                    m.extend(quotes.into_iter().map(|q| (q.symbol.clone(), q)));
                }),
                _ => {}
            },
        );
        on_cleanup(move || handle.stop());
    });

    view! {
        <h1>"Watchlist"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading watchlist…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => {
                        let simulated = rows.iter().any(|r| r.simulated);
                        view! {
                            {simulated.then(|| view! { <SimulatedBanner/> })}
                            <WatchlistTable rows live_quotes/>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn WatchlistTable(rows: Vec<QuoteRow>, live_quotes: RwSignal<HashMap<String, Quote>>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"The watchlist is empty."</p> }.into_any();
    }
    view! {
        <table class="watchlist" data-testid="watchlist">
            <thead>
                <tr>
                    <th>"Symbol"</th>
                    <th class="name">"Name"</th>
                    <th class="num">"Last"</th>
                    <th class="num">"Change"</th>
                    <th class="time">"Updated (UTC)"</th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <WatchlistRow row live_quotes/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn WatchlistRow(row: QuoteRow, live_quotes: RwSignal<HashMap<String, Quote>>) -> impl IntoView {
    let symbol = row.symbol.clone();
    let initial = (row.last, row.prev_close, row.ts);
    let current = Memo::new(move |_| {
        live_quotes.with(|m| m.get(&symbol).map(|q| (q.price, q.prev_close, q.ts))).unwrap_or(initial)
    });
    let moved = move || current.with(|&(last, prev, _)| change(last, prev));
    let href = format!("/symbol/{}", row.symbol);
    let label = row.symbol.clone();
    view! {
        <tr data-symbol=row.symbol data-ts=move || current.get().2.to_string()>
            <td class="symbol">
                <A href=href>{label}</A>
            </td>
            <td class="name">{row.name.unwrap_or_default()}</td>
            <td class="num price" data-testid="price">{move || format::price(current.get().0)}</td>
            <td class=move || format!("num change {}", moved().map_or("flat", |(abs, _)| format::direction(abs)))>
                {move || moved().map_or_else(|| "–".to_owned(), |(abs, pct)| format::change(abs, pct))}
            </td>
            <td class="time">{move || format::datetime(current.get().2)}</td>
        </tr>
    }
}
