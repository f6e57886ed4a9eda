//! `/symbol/:symbol`: a price chart with its SMA, the latest price and the
//! strategies' signals as markers, kept live by the `bars`, `quotes` and
//! `signals` channels; below it the symbol's recent signals and news.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use quant::{Bar, Timeframe};

use super::SimulatedBanner;
use crate::api::{get_chart, get_news, get_signals};
use crate::components::{Marker, PriceChart, SignalHeader, SignalRowView, format};
use crate::live::{self, protocol::*};
use crate::model::{CHART_SMA_PERIOD, Chart, SignalQuery, SignalRow, change};

/// Signals listed under the chart.
const LISTED: usize = 10;

/// The symbol page.
#[component]
pub(super) fn SymbolPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let symbol = Memo::new(move |_| params.read().get("symbol").unwrap_or_default().to_ascii_uppercase());
    let timeframe = Memo::new(move |_| query.read().get("tf"));
    // Blocking: the response's status (404 for an unknown symbol) and head wait
    // for the chart, while the news below streams in behind it.
    let chart = Resource::new_blocking(
        move || (symbol.get(), timeframe.get()),
        |(s, tf)| async move {
            let chart = get_chart(s.clone(), tf, None).await?;
            let query = SignalQuery { symbol: Some(s), timeframe: Some(chart.timeframe), ..SignalQuery::default() };
            let signals = get_signals(query, Some(200)).await?;
            Ok::<_, crate::api::ApiError>((chart, signals))
        },
    );
    let news = Resource::new(move || symbol.get(), |s| get_news(Some(s), Some(10)));

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading chart…"</p> }>
            {move || Suspend::new(async move {
                match chart.await {
                    Ok((chart, signals)) => view! { <LiveChart chart signals/> }.into_any(),
                    Err(e) => view! { <p class="error" data-testid="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <h2>"News"</h2>
        <Suspense fallback=|| view! { <p class="loading">"Loading news…"</p> }>
            {move || Suspend::new(async move {
                match news.await {
                    Ok(items) if items.is_empty() => view! { <p class="empty">"No news stored for this symbol."</p> }.into_any(),
                    Ok(items) => view! { <NewsList items/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn NewsList(items: Vec<NewsItem>) -> impl IntoView {
    view! {
        <ul class="news" data-testid="news">
            {items
                .into_iter()
                .map(|n| {
                    view! {
                        <li>
                            <a href=n.url rel="noopener noreferrer" target="_blank">{n.title}</a>
                            <span class="time">" " {format::datetime(n.published_at)} " · " {n.source}</span>
                            <p class="summary">{n.summary}</p>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// The chart of one symbol and timeframe, extended by live bars as they arrive.
#[component]
fn LiveChart(chart: Chart, signals: Vec<SignalRow>) -> impl IntoView {
    let Chart { symbol, name, timeframe, timeframes, bars, quote: initial, simulated } = chart;
    let bars = RwSignal::new(bars);
    let signals = RwSignal::new(signals);
    let markers = Signal::derive(move || {
        signals.with(|s| s.iter().map(|r| Marker { ts: r.signal.bar_ts, action: r.signal.action }).collect::<Vec<_>>())
    });
    let quote =
        RwSignal::new(initial.map(|q| Quote { symbol: q.symbol, price: q.last, prev_close: q.prev_close, ts: q.ts }));

    Effect::new({
        let symbol = symbol.clone();
        move |_| {
            let subscriptions = [Channel::Bars, Channel::Quotes, Channel::Signals]
                .map(|channel| ClientMessage::Subscribe { channel, symbols: vec![symbol.clone()] })
                .to_vec();
            let handle = live::connect(subscriptions, move |msg| match msg {
                ServerMessage::Bar(update) => apply_bar(bars, timeframe, update),
                ServerMessage::Snapshot { bars: updates, quotes, .. } => {
                    updates.into_iter().for_each(|u| apply_bar(bars, timeframe, u));
                    if let Some(q) = quotes.into_iter().last() {
                        quote.set(Some(q));
                    }
                }
                ServerMessage::Quote(q) => quote.set(Some(q)),
                ServerMessage::Signal(s) if s.timeframe == timeframe => signals.update(|rows| {
                    if !rows.iter().any(|r| r.signal.id == s.id) {
                        rows.insert(0, SignalRow { signal: s, passed: true });
                    }
                }),
                _ => {}
            });
            on_cleanup(move || handle.stop());
        }
    });

    let last_bar = move || bars.with(|b| b.last().copied());
    let last = Memo::new(move |_| {
        quote
            .with(|q| q.as_ref().map(|q| (q.price, q.prev_close, q.ts)))
            .or_else(|| last_bar().map(|b| (b.close, None, b.ts)))
    });
    let moved = move || last.get().and_then(|(price, prev, _)| change(price, prev));
    let sym = symbol.clone();

    view! {
        {simulated.then(|| view! { <SimulatedBanner/> })}
        <h1>
            <span class="symbol">{symbol.clone()}</span>
            " "
            <span class="name">{name.unwrap_or_default()}</span>
        </h1>
        <p class="quote" data-testid="quote" data-ts=move || last.get().map(|l| l.2.to_string()).unwrap_or_default()>
            <span class="price" data-testid="last-price">{move || last.get().map(|l| format::price(l.0)).unwrap_or_default()}</span>
            " "
            <span class=move || format!("change {}", moved().map_or("flat", |(a, _)| format::direction(a)))>
                {move || moved().map(|(a, p)| format::change(a, p)).unwrap_or_default()}
            </span>
            " "
            <span class="time">{move || last.get().map(|l| format::datetime(l.2)).unwrap_or_default()}</span>
        </p>
        <nav class="timeframes">
            {timeframes
                .into_iter()
                .map(|tf| {
                    let class = if tf == timeframe { "active" } else { "" };
                    view! {
                        <A href=format!("/symbol/{sym}?tf={tf}") attr:class=class>{tf.to_string()}</A>
                    }
                })
                .collect_view()}
        </nav>
        <PriceChart bars sma_period=CHART_SMA_PERIOD markers/>
        <p class="bar-count" data-testid="bar-count">
            {move || format!("{} bars of {timeframe}", bars.with(Vec::len))}
        </p>
        <h2>"Recent signals"</h2>
        <table class="signals" data-testid="symbol-signals">
            <thead><SignalHeader/></thead>
            <tbody>
                <For
                    each=move || signals.with(|s| s.iter().take(LISTED).cloned().collect::<Vec<_>>())
                    key=|r| r.signal.id
                    let:row
                >
                    <SignalRowView signal=row.signal passed=row.passed/>
                </For>
            </tbody>
        </table>
    }
}

/// Adds a live bar to the chart: replaces the last bar when it is the same period
/// (an update of a forming bar), appends it when newer, ignores it otherwise.
fn apply_bar(bars: RwSignal<Vec<Bar>>, timeframe: Timeframe, update: BarUpdate) {
    if update.timeframe != timeframe {
        return;
    }
    bars.update(|bars| match bars.last_mut() {
        Some(last) if last.ts == update.bar.ts => *last = update.bar,
        Some(last) if last.ts > update.bar.ts => {}
        _ => bars.push(update.bar),
    });
}
