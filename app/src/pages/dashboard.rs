//! `/`: the watchlist. Each row has the symbol's latest price and change, a
//! sparkline of its last daily closes, the day's range and volume, and where
//! the price sits in its 52-week range; quotes and daily bars keep it live
//! (channels `quotes` and `bars`). Symbols are added and removed here.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::components::A;
use quant::{Bar, Timeframe};

use super::SimulatedBanner;
use crate::api::{AddToWatchlist, RemoveFromWatchlist, get_watchlist};
use crate::components::format;
use crate::live::{self, protocol::*};
use crate::model::{WatchRow, change, range_position};

/// What arrived live, by symbol: the latest quote and the latest daily bar.
#[derive(Clone, Copy)]
struct Live {
    quotes: RwSignal<HashMap<String, Quote>>,
    days: RwSignal<HashMap<String, Bar>>,
}

/// The dashboard page.
#[component]
pub(crate) fn Dashboard() -> impl IntoView {
    let add = ServerAction::<AddToWatchlist>::new();
    let remove = ServerAction::<RemoveFromWatchlist>::new();
    // Reloaded after every change to the list.
    let rows = Resource::new(move || (add.version().get(), remove.version().get()), |_| get_watchlist());
    let live = Live { quotes: RwSignal::new(HashMap::new()), days: RwSignal::new(HashMap::new()) };
    // A row without data (a symbol just added) asks for the rows again once
    // its first live quote shows the feed has its history.
    let reload = Callback::new(move |()| rows.refetch());

    Effect::new(move |_| {
        let every = || vec![ALL_SYMBOLS.to_owned()];
        let handle = live::connect(
            vec![
                ClientMessage::Subscribe { channel: Channel::Quotes, symbols: every() },
                ClientMessage::Subscribe { channel: Channel::Bars, symbols: every() },
            ],
            move |msg| match msg {
                ServerMessage::Quote(q) => live.quotes.update(|m| {
                    m.insert(q.symbol.clone(), q);
                }),
                ServerMessage::Bar(b) if b.timeframe == Timeframe::D1 => live.days.update(|m| {
                    m.insert(b.symbol, b.bar);
                }),
                ServerMessage::Snapshot { quotes, bars, .. } => {
                    if !quotes.is_empty() {
                        live.quotes.update(|m| m.extend(quotes.into_iter().map(|q| (q.symbol.clone(), q))));
                    }
                    let days: Vec<_> = bars.into_iter().filter(|b| b.timeframe == Timeframe::D1).collect();
                    if !days.is_empty() {
                        live.days.update(|m| m.extend(days.into_iter().map(|b| (b.symbol, b.bar))));
                    }
                }
                _ => {}
            },
        );
        on_cleanup(move || handle.stop());
    });

    view! {
        <h1>"Watchlist"</h1>
        <AddSymbol add/>
        <Transition fallback=|| view! { <p class="loading">"Loading watchlist…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => {
                        let simulated = rows.iter().any(|r| r.simulated);
                        view! {
                            {simulated.then(|| view! { <SimulatedBanner/> })}
                            <WatchlistTable rows live remove reload/>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        {move || match remove.value().get() {
            Some(Err(e)) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            _ => ().into_any(),
        }}
    }
}

/// The form that adds a symbol; its error shows next to the field.
#[component]
fn AddSymbol(add: ServerAction<AddToWatchlist>) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    // A symbol added (or on the list already): the field is emptied for the next.
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get()
            && let Some(field) = input.get_untracked()
        {
            field.set_value("");
        }
    });
    let problem = move || match add.value().get() {
        Some(Err(e)) => message(&e),
        _ => String::new(),
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(field) = input.get_untracked() {
            add.dispatch(AddToWatchlist { symbol: field.value() });
        }
    };
    view! {
        <form class="watch-add" on:submit=submit data-testid="watch-add">
            <label for="watch-symbol">"Add a symbol"</label>
            <input
                id="watch-symbol"
                name="symbol"
                node_ref=input
                required
                maxlength="20"
                size="12"
                autocomplete="off"
                autocapitalize="characters"
                spellcheck="false"
                placeholder="e.g. AMD, ^GSPC, EURUSD=X"
                aria-describedby="watch-error"
                aria-invalid=move || if problem().is_empty() { "false" } else { "true" }
            />
            <button type="submit" disabled=move || add.pending().get()>"Add"</button>
            <span id="watch-error" class="error" role="alert" data-testid="watch-error">{problem}</span>
        </form>
    }
}

/// A server function's error as a sentence for the field's message.
fn message(error: &crate::api::ApiError) -> String {
    use crate::api::ApiError;
    match error {
        ApiError::BadRequest(m) | ApiError::NotFound(m) => {
            let mut chars = m.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

#[component]
fn WatchlistTable(
    rows: Vec<WatchRow>,
    live: Live,
    remove: ServerAction<RemoveFromWatchlist>,
    reload: Callback<()>,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty" data-testid="watchlist-empty">"The watchlist is empty: add a symbol above."</p> }
            .into_any();
    }
    view! {
        <div class="watchlist-scroll">
            <table class="watchlist" data-testid="watchlist">
                <thead>
                    <tr>
                        <th>"Symbol"</th>
                        <th class="name">"Name"</th>
                        <th class="num">"Last"</th>
                        <th class="num">"Change"</th>
                        <th class="spark">"30 days"</th>
                        <th class="num range">"Day range"</th>
                        <th class="num volume">"Volume"</th>
                        <th class="w52">"52 weeks"</th>
                        <th class="time">"Updated (UTC)"</th>
                        <th class="remove"><span class="visually-hidden">"Remove"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| view! { <WatchlistRow row live remove reload/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn WatchlistRow(
    row: WatchRow,
    live: Live,
    remove: ServerAction<RemoveFromWatchlist>,
    reload: Callback<()>,
) -> impl IntoView {
    let symbol = row.symbol.clone();
    let initial = row.quote.as_ref().map(|q| (q.last, q.prev_close, q.ts));
    if initial.is_none() {
        let symbol = symbol.clone();
        Effect::new(move |reloaded: Option<bool>| {
            if reloaded == Some(true) {
                return true;
            }
            let arrived = live.quotes.with(|m| m.contains_key(&symbol));
            if arrived {
                reload.run(());
            }
            arrived
        });
    }
    let current = Memo::new({
        let symbol = symbol.clone();
        move |_| live.quotes.with(|m| m.get(&symbol).map(|q| (q.price, q.prev_close, q.ts))).or(initial)
    });
    // The day's bar: the live one when it is as new as the stored one.
    let stored_day = row.day;
    let day = Memo::new({
        let symbol = symbol.clone();
        move |_| {
            let live_day = live.days.with(|m| m.get(&symbol).copied());
            match (live_day, stored_day) {
                (Some(l), Some(s)) if l.ts < s.ts => Some(s),
                (Some(l), _) => Some(l),
                (None, s) => s,
            }
        }
    });
    let closes = row.closes.clone();
    let spark = move || {
        let mut points = closes.clone();
        if let (Some(d), Some(s)) = (day.get(), stored_day) {
            if d.ts == s.ts {
                if let Some(last) = points.last_mut() {
                    *last = d.close;
                }
            } else if d.ts > s.ts {
                points.push(d.close);
                if points.len() > crate::model::SPARK_POINTS {
                    points.remove(0);
                }
            }
        }
        points
    };
    let range_52w = row.range_52w;
    // The 52-week range widened by today's bar, and the last price's place in it.
    let year = move || {
        let (low, high) = range_52w?;
        let (low, high) = day.get().map_or((low, high), |d| (low.min(d.low), high.max(d.high)));
        let last = current.get().map(|c| c.0)?;
        Some((low, high, range_position(last, low, high)?))
    };
    let moved = move || current.get().and_then(|(last, prev, _)| change(last, prev));
    let href = format!("/symbol/{}", row.symbol);
    let (label, remove_label) = (row.symbol.clone(), format!("Remove {}", row.symbol));
    let dash = || "–".to_owned();
    view! {
        <tr data-symbol=row.symbol.clone() data-ts=move || current.get().map(|c| c.2.to_string()).unwrap_or_default()>
            <td class="symbol">
                <A href=href>{label}</A>
            </td>
            <td class="name">{row.name.unwrap_or_default()}</td>
            <td class="num price" data-testid="price">{move || current.get().map_or_else(dash, |c| format::price(c.0))}</td>
            <td class=move || format!("num change {}", moved().map_or("flat", |(abs, _)| format::direction(abs)))>
                {move || {
                    // `+1.25 (+0.83%)`, in two parts: a phone shows only the percentage.
                    let text = moved().map_or_else(dash, |(abs, pct)| format::change(abs, pct));
                    let (abs, pct) = text.split_once(' ').map_or((text.clone(), String::new()), |(a, p)| (a.to_owned(), format!(" {p}")));
                    view! { <span class="abs">{abs}</span><span class="pct">{pct}</span> }
                }}
            </td>
            <td class="spark">{move || sparkline(&spark())}</td>
            <td class="num range" data-testid="day-range">
                {move || day.get().map_or_else(dash, |d| format!("{}–{}", format::price(d.low), format::price(d.high)))}
            </td>
            <td class="num volume" data-testid="volume">{move || day.get().map_or_else(dash, |d| format::volume(d.volume))}</td>
            <td class="w52" data-testid="w52">{move || year().map_or_else(|| dash().into_any(), |(low, high, pct)| position_bar(low, high, pct).into_any())}</td>
            <td class="time">{move || current.get().map_or_else(dash, |c| format::datetime(c.2))}</td>
            <td class="remove">
                <button
                    type="button"
                    class="remove"
                    aria-label=remove_label.clone()
                    title=remove_label
                    disabled=move || remove.pending().get()
                    on:click=move |_| {
                        remove.dispatch(RemoveFromWatchlist { symbol: symbol.clone() });
                    }
                >
                    "×"
                </button>
            </td>
        </tr>
    }
}

/// A small line of `closes`, up when the last is above the first; an empty
/// cell for fewer than two points. Drawn in a 100 × 24 box stretched to the cell.
fn sparkline(closes: &[f64]) -> impl IntoView + use<> {
    let (first, last) = match closes {
        [first, .., last] => (*first, *last),
        _ => return ().into_any(),
    };
    let low = closes.iter().copied().fold(f64::INFINITY, f64::min);
    let high = closes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if high > low { high - low } else { 1.0 };
    let step = 100.0 / (closes.len() - 1) as f64;
    let points = closes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{:.1},{:.1}", i as f64 * step, 23.0 - (c - low) / span * 22.0))
        .collect::<Vec<_>>()
        .join(" ");
    let trend = if last > first {
        "up"
    } else if last < first {
        "down"
    } else {
        "flat"
    };
    let label = format!("{} daily closes, {} to {}", closes.len(), format::price(first), format::price(last));
    view! {
        <svg class=format!("sparkline {trend}") viewBox="0 0 100 24" preserveAspectRatio="none" role="img" aria-label=label>
            <polyline points=points vector-effect="non-scaling-stroke"></polyline>
        </svg>
    }
    .into_any()
}

/// Where the last price sits between the 52-week low and high: a marker on a
/// track, and the percentage.
fn position_bar(low: f64, high: f64, pct: f64) -> impl IntoView {
    let label = format!("{pct:.0}% of the 52-week range {}–{}", format::price(low), format::price(high));
    view! {
        <span class="w52-bar" role="img" aria-label=label.clone() title=label>
            <span class="w52-track">
                <span class="w52-mark" style=format!("left:{pct:.1}%")></span>
            </span>
            <span class="w52-pct">{format!("{pct:.0}%")}</span>
        </span>
    }
}
