//! `/symbol/:symbol`: the interactive price chart (candles, volume, the
//! indicators named in the URL's `ind`, signal markers, level lines), the
//! latest price, kept live by the `bars`, `quotes` and `signals` channels;
//! below it the symbol's recent signals and news.

use leptos::prelude::*;
use leptos_meta::Link;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use quant::Timeframe;

use super::SimulatedBanner;
use crate::api::{MAX_CHART_BARS, get_chart, get_news, get_signals};
use crate::components::{
    CHART_ADAPTER, CHART_LIBRARY, ChartModel, Level, PriceChart, SignalHeader, SignalRowView, format,
    studies_from_query, studies_to_query,
};
use crate::live::{self, protocol::*};
use crate::model::{Chart, Levels, SignalQuery, SignalRow, change};

/// Signals listed under the chart.
const LISTED: usize = 10;

/// Bars the page arrives with by default (two years of daily bars); older
/// ones are paged in as the user scrolls back. `?bars=N` asks for up to
/// [`MAX_CHART_BARS`] at once.
const CHART_BARS: usize = 500;

/// The symbol page.
#[component]
pub(super) fn SymbolPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let symbol = Memo::new(move |_| params.read().get("symbol").unwrap_or_default().to_ascii_uppercase());
    let timeframe = Memo::new(move |_| query.read().get("tf"));
    let count = Memo::new(move |_| {
        query
            .read()
            .get("bars")
            .and_then(|b| b.parse::<usize>().ok())
            .map_or(CHART_BARS, |n| n.clamp(1, MAX_CHART_BARS))
    });
    // Blocking: the response's status (404 for an unknown symbol) and head wait
    // for the chart, while the news below streams in behind it.
    let chart = Resource::new_blocking(
        move || (symbol.get(), timeframe.get(), count.get()),
        |(s, tf, count)| async move {
            let chart = get_chart(s.clone(), tf, Some(count)).await?;
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
        <p class="lab-link-line">
            <a href=move || format!("/lab?symbol={}&tf={}", symbol.get(), timeframe.get().unwrap_or_else(|| "1d".into()))
                data-testid="open-lab">"Backtest this series in the lab"</a>
        </p>
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
    let Chart { symbol, name, timeframe, timeframes, bars, quote: initial, simulated, levels } = chart;
    let query = use_query_map();
    let navigate = use_navigate();
    let model = ChartModel::new(timeframe, bars);
    let signals = RwSignal::new(signals);
    let quote =
        RwSignal::new(initial.map(|q| Quote { symbol: q.symbol, price: q.last, prev_close: q.prev_close, ts: q.ts }));
    let studies = Memo::new(move |_| studies_from_query(query.read().get("ind").as_deref()));
    let initial_range = query.with_untracked(|q| {
        let time = |key: &str| q.get(key).and_then(|v| v.parse::<i64>().ok());
        time("from").zip(time("to")).filter(|(from, to)| from <= to)
    });

    Effect::new({
        let symbol = symbol.clone();
        move |_| {
            let subscriptions = [Channel::Bars, Channel::Quotes, Channel::Signals]
                .map(|channel| ClientMessage::Subscribe { channel, symbols: vec![symbol.clone()] })
                .to_vec();
            let handle = live::connect(subscriptions, move |msg| match msg {
                ServerMessage::Bar(update) => apply_bar(model, timeframe, update),
                ServerMessage::Snapshot { bars: updates, quotes, .. } => {
                    updates.into_iter().for_each(|u| apply_bar(model, timeframe, u));
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

    let last = Memo::new(move |_| {
        quote
            .with(|q| q.as_ref().map(|q| (q.price, q.prev_close, q.ts)))
            .or_else(|| model.last_bar().map(|b| (b.close, None, b.ts)))
    });
    let moved = move || last.get().and_then(|(price, prev, _)| change(price, prev));
    let on_studies = Callback::new({
        let symbol = symbol.clone();
        move |list: Vec<String>| {
            let href = page_href(&symbol, timeframe, Some(&list), None);
            navigate(&href, NavigateOptions { replace: true, scroll: false, ..NavigateOptions::default() });
        }
    });
    let levels = levels.map(levels_of).unwrap_or_default();
    let sym = symbol.clone();

    view! {
        // The chart's code is fetched while the page hydrates rather than after.
        <Link rel="modulepreload" href=CHART_ADAPTER/>
        <Link rel="modulepreload" href=CHART_LIBRARY/>
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
        <nav class="timeframes" aria-label="Timeframe">
            {timeframes
                .into_iter()
                .map(|tf| {
                    let sym = sym.clone();
                    let current = tf == timeframe;
                    // The indicators and the time in view go along to the other timeframe.
                    let href = move || {
                        let list = query.read().get("ind").map(|_| studies.get());
                        page_href(&sym, tf, list.as_deref(), model.visible_times())
                    };
                    view! {
                        <A href=href attr:class=if current { "active" } else { "" } attr:aria-current=current.then_some("page")>
                            {tf.to_string()}
                        </A>
                    }
                })
                .collect_view()}
        </nav>
        <PriceChart
            model
            symbol=symbol.clone()
            timeframe
            signals=signals
            levels
            studies=studies
            on_studies
            initial_range
        />
        <p class="bar-count" data-testid="bar-count">
            {move || format!("{} bars of {timeframe} loaded", model.len())}
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

/// The symbol page's address for a timeframe, with the indicator list (when
/// the user chose one) and the time range in view.
fn page_href(symbol: &str, timeframe: Timeframe, studies: Option<&[String]>, range: Option<(i64, i64)>) -> String {
    let mut href = format!("/symbol/{symbol}?tf={timeframe}");
    if let Some(list) = studies {
        // `;` separates the studies and `+` would read as a space.
        let value = studies_to_query(list).replace(';', "%3B").replace('+', "%2B");
        href.push_str(&format!("&ind={value}"));
    }
    if let Some((from, to)) = range {
        href.push_str(&format!("&from={from}&to={to}"));
    }
    href
}

/// The level lines: the all-time high and the 52-week high and low (one line
/// when the all-time high is the 52-week high).
fn levels_of(l: Levels) -> Vec<Level> {
    let mut lines = Vec::with_capacity(3);
    if l.ath > l.high_52w {
        lines.push(Level { label: "ATH".to_owned(), price: l.ath });
        lines.push(Level { label: "52w high".to_owned(), price: l.high_52w });
    } else {
        lines.push(Level { label: "ATH · 52w high".to_owned(), price: l.ath });
    }
    lines.push(Level { label: "52w low".to_owned(), price: l.low_52w });
    lines
}

/// Hands a live bar of the chart's timeframe to the chart (which updates the
/// forming bar, appends a new one, or ignores a late one).
fn apply_bar(model: ChartModel, timeframe: Timeframe, update: BarUpdate) {
    if update.timeframe == timeframe {
        model.push(update.bar);
    }
}
