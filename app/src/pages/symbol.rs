//! `/symbol/:symbol`: a price chart with its SMA and the latest price, kept live by
//! the `bars` and `quotes` channels.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use quant::{Bar, Timeframe};

use super::SimulatedBanner;
use crate::api::get_chart;
use crate::components::{PriceChart, format};
use crate::live::{self, protocol::*};
use crate::model::{CHART_SMA_PERIOD, Chart, change};

/// The symbol page.
#[component]
pub(crate) fn SymbolPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let symbol = Memo::new(move |_| params.read().get("symbol").unwrap_or_default().to_ascii_uppercase());
    let timeframe = Memo::new(move |_| query.read().get("tf"));
    let chart = Resource::new(move || (symbol.get(), timeframe.get()), |(s, tf)| get_chart(s, tf, None));

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading chart…"</p> }>
            {move || Suspend::new(async move {
                match chart.await {
                    Ok(chart) => view! { <LiveChart chart/> }.into_any(),
                    Err(e) => view! { <p class="error" data-testid="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The chart of one symbol and timeframe, extended by live bars as they arrive.
#[component]
fn LiveChart(chart: Chart) -> impl IntoView {
    let Chart { symbol, name, timeframe, timeframes, bars, quote: initial, simulated } = chart;
    let bars = RwSignal::new(bars);
    let quote =
        RwSignal::new(initial.map(|q| Quote { symbol: q.symbol, price: q.last, prev_close: q.prev_close, ts: q.ts }));

    Effect::new({
        let symbol = symbol.clone();
        move |_| {
            let subscriptions = [Channel::Bars, Channel::Quotes]
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
        <PriceChart bars sma_period=CHART_SMA_PERIOD/>
        <p class="bar-count" data-testid="bar-count">
            {move || format!("{} bars of {timeframe}", bars.with(Vec::len))}
        </p>
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
