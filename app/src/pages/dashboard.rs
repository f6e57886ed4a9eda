//! `/`: the watchlist. Each row has the symbol's latest price and change, a
//! sparkline of its last daily closes, the day's range and volume, and where
//! the price sits in its 52-week range; quotes and daily bars keep it live
//! (channels `quotes` and `bars`). Symbols are added and removed here.
//!
//! This page is in the wasm every first visit loads (`docs/WASM.md`), and
//! Leptos generates rendering and hydration code for every distinct view
//! type. So the rows, the form and the messages are plain markup that effects
//! update by hand (a row's live cells from its [`RowText`]), adding and
//! removing share one action, and the calls that change the list are lazy
//! functions loaded with the first change.

use std::collections::HashMap;
use std::fmt::Write as _;

use leptos::prelude::Action;
use leptos::prelude::*;
use quant::{Bar, Timeframe};

use super::SimulatedBanner;
use crate::api::{ApiError, add_to_watchlist, get_watchlist, remove_from_watchlist};
use crate::components::format;
use crate::live::{self, protocol::*};
use crate::model::{WatchRow, change, range_position};

/// What arrived live, by symbol: the latest quote and the latest daily bar.
#[derive(Clone, Copy)]
struct Live {
    quotes: RwSignal<HashMap<String, Quote>>,
    days: RwSignal<HashMap<String, Bar>>,
}

/// Adds (`true`) or removes (`false`) a symbol; the answer says which it was.
type Change = Action<(String, bool), (bool, Result<bool, ApiError>)>;

/// The dashboard page.
#[component]
pub(crate) fn Dashboard() -> impl IntoView {
    let edit: Change = Action::new(|(symbol, add): &(String, bool)| {
        let (symbol, add) = (symbol.clone(), *add);
        async move { (add, edit_watchlist(symbol, add).await) }
    });
    // Reloaded after every change to the list.
    let rows = Resource::new(
        move || edit.version().get(),
        |_| async {
            // The browser only fetches again after a change, from a lazy chunk.
            #[cfg(feature = "hydrate")]
            return fetch_watchlist().await;
            #[cfg(not(feature = "hydrate"))]
            get_watchlist().await
        },
    );
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

    // The form, the buttons and the messages are static markup that these
    // effects change by hand: as reactive attributes and text each was a
    // typed view of its own in the wasm every visit loads.
    Effect::new(move |_| {
        let result = edit.value().get();
        // A failed addition shows next to the field, a failed removal below the list.
        let (problem, removal) = match &result {
            Some((true, Err(e))) => (message(e), String::new()),
            Some((false, Err(e))) => (String::new(), e.to_string()),
            _ => (String::new(), String::new()),
        };
        if let Some(field) = field() {
            // A symbol added (or on the list already): the field is emptied for the next.
            if let Some((true, Ok(_))) = result {
                field.set_value("");
            }
            let _ = field.set_attribute("aria-invalid", if problem.is_empty() { "false" } else { "true" });
        }
        for (id, text) in [("watch-error", problem), ("watch-removal", removal)] {
            if let Some(element) = document().get_element_by_id(id) {
                element.set_text_content(Some(&text));
            }
        }
    });
    // The add and remove buttons are disabled while a change is under way.
    Effect::new(move |_| {
        let pending = edit.pending().get();
        let buttons = document().get_elements_by_class_name("watch-edit");
        for i in 0..buttons.length() {
            if let Some(button) = buttons.item(i) {
                let _ = button.toggle_attribute_with_force("disabled", pending);
            }
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(field) = field() {
            edit.dispatch((field.value(), true));
        }
    };
    // Viewers read; traders and admins edit (the server checks regardless).
    let editable = crate::auth::viewer_can(crate::auth::Role::Trader);
    view! {
        <h1>"Watchlist"</h1>
        <Show when=editable>
        <form class="watch-add" on:submit=submit data-testid="watch-add">
            <label for="watch-symbol">"Add a symbol"</label>
            <input
                id="watch-symbol"
                name="symbol"
                required
                maxlength="20"
                size="12"
                autocomplete="off"
                autocapitalize="characters"
                spellcheck="false"
                placeholder="e.g. AMD, ^GSPC, EURUSD=X"
                aria-describedby="watch-error"
                aria-invalid="false"
            />
            <button type="submit" class="watch-edit">"Add"</button>
            <span id="watch-error" class="error" role="alert" data-testid="watch-error"></span>
        </form>
        </Show>
        <Transition fallback=|| view! { <p class="loading">"Loading watchlist…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => {
                        let simulated = rows.iter().any(|r| r.simulated);
                        view! {
                            {simulated.then(|| view! { <SimulatedBanner/> })}
                            {watchlist_table(rows, live, edit, reload, editable())}
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <p id="watch-removal" class="error" role="alert"></p>
    }
}

/// Adds or removes a symbol. The browser's code for the calls (and for
/// [`fetch_watchlist`]) is a lazy chunk, loaded with the first change: a
/// visit that only watches does not load it.
#[lazy]
async fn edit_watchlist(symbol: String, add: bool) -> Result<bool, ApiError> {
    if add { add_to_watchlist(symbol).await } else { remove_from_watchlist(symbol).await }
}

/// The rows again, after a change. Only the browser calls it: the server's
/// first rows come with the page, and a lazy function the server runs would
/// have the page preload its chunk.
#[cfg(feature = "hydrate")]
#[lazy]
async fn fetch_watchlist() -> Result<Vec<WatchRow>, ApiError> {
    get_watchlist().await
}

/// The field of the form that adds a symbol.
fn field() -> Option<leptos::web_sys::HtmlInputElement> {
    use leptos::wasm_bindgen::JsCast;
    document().get_element_by_id("watch-symbol").map(|e| e.unchecked_into())
}

/// A server function's error as a sentence for the field's message.
fn message(error: &ApiError) -> String {
    match error {
        ApiError::BadRequest(m) | ApiError::NotFound(m) => {
            // The server's messages start with an ASCII letter (`char::to_uppercase`
            // would bring Unicode's case tables into the wasm).
            let mut m = m.clone();
            if let Some(first) = m.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            m
        }
        other => other.to_string(),
    }
}

fn watchlist_table(rows: Vec<WatchRow>, live: Live, edit: Change, reload: Callback<()>, editable: bool) -> AnyView {
    if rows.is_empty() {
        return view! { <p class="empty" data-testid="watchlist-empty">"The watchlist is empty: add a symbol above."</p> }
            .into_any();
    }
    // The rows are markup, written once and then changed cell by cell as
    // live data arrives: as typed views, each row's cells and button were
    // rendering and hydration code of their own in the wasm every visit loads.
    // The first text is from the live data there is (none on the server and
    // while hydrating, so the markup matches the server's).
    let shown: Vec<RowText> = live.quotes.with_untracked(|quotes| {
        live.days.with_untracked(|days| rows.iter().map(|row| row_text(row, quotes, days)).collect())
    });
    let markup: String = rows.iter().zip(&shown).map(|(row, text)| row_markup(row, text, editable)).collect();
    Effect::new(move |before: Option<(Vec<RowText>, bool)>| {
        let (before, mut reloaded) = before.unwrap_or_else(|| (shown.clone(), false));
        let now: Vec<RowText> = live
            .quotes
            .with(|quotes| live.days.with(|days| rows.iter().map(|row| row_text(row, quotes, days)).collect()));
        for ((row, now), before) in rows.iter().zip(&now).zip(&before) {
            // A row without data (a symbol just added) asks for the rows again
            // once its first live quote shows the feed has its history.
            if row.quote.is_none() && !now.ts.is_empty() && !reloaded {
                reloaded = true;
                reload.run(());
            }
            if now != before {
                update_row(&row.symbol, now, before);
            }
        }
        (now, reloaded)
    });
    let remove = move |ev: leptos::ev::MouseEvent| {
        use leptos::wasm_bindgen::JsCast;
        let button = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .and_then(|e| e.closest("button.remove").ok().flatten());
        if let Some(symbol) = button.and_then(|b| b.get_attribute("data-symbol")) {
            edit.dispatch((symbol, false));
        }
    };
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
                        {editable.then(|| view! { <th class="remove"><span class="visually-hidden">"Remove"</span></th> })}
                    </tr>
                </thead>
                <tbody inner_html=markup on:click=remove></tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The live cells of a row, in order: class and test id.
const CELLS: [(&str, &str); 7] = [
    ("num price", "price"),
    ("num change", "change"),
    ("spark", "spark"),
    ("num range", "day-range"),
    ("num volume", "volume"),
    ("w52", "w52"),
    ("time", "time"),
];

/// What a row shows of its live data: the quote's time (`data-ts`) and the
/// markup of each of [`CELLS`].
#[derive(Clone, PartialEq)]
struct RowText {
    ts: String,
    cells: [String; CELLS.len()],
}

/// A row as markup: symbol (a link to its page), name, the live cells of
/// `text`, and the remove button.
fn row_markup(row: &WatchRow, text: &RowText, editable: bool) -> String {
    let symbol = escape(&row.symbol);
    let name = escape(row.name.as_deref().unwrap_or_default());
    let mut html = format!(
        r#"<tr data-symbol="{symbol}" data-ts="{}"><td class="symbol"><a href="/symbol/{symbol}">{symbol}</a></td><td class="name">{name}</td>"#,
        text.ts
    );
    for ((class, id), cell) in CELLS.iter().zip(&text.cells) {
        html.push_str(&format!(r#"<td class="{class}" data-testid="{id}">{cell}</td>"#));
    }
    if editable {
        html.push_str(&format!(
            r#"<td class="remove"><button type="button" class="remove watch-edit" aria-label="Remove {symbol}" title="Remove {symbol}" data-symbol="{symbol}">×</button></td>"#
        ));
    }
    html.push_str("</tr>");
    html
}

/// Writes the cells of `symbol`'s row that differ between `before` and `now`.
fn update_row(symbol: &str, now: &RowText, before: &RowText) {
    let Ok(Some(tr)) = document().query_selector(&format!(r#"[data-testid=watchlist] tr[data-symbol="{symbol}"]"#))
    else {
        return;
    };
    if now.ts != before.ts {
        let _ = tr.set_attribute("data-ts", &now.ts);
    }
    for (((_, id), now), before) in CELLS.iter().zip(&now.cells).zip(&before.cells) {
        if now != before
            && let Ok(Some(td)) = tr.query_selector(&format!("[data-testid={id}]"))
        {
            td.set_inner_html(now);
        }
    }
}

/// `text` safe in markup, in an element or a quoted attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What `row` shows with the live `quotes` and daily bars (`days`) there are.
fn row_text(row: &WatchRow, quotes: &HashMap<String, Quote>, days: &HashMap<String, Bar>) -> RowText {
    let stored = row.day;
    let current = quotes
        .get(&row.symbol)
        .map(|q| (q.price, q.prev_close, q.ts))
        .or_else(|| row.quote.as_ref().map(|q| (q.last, q.prev_close, q.ts)));
    // The day's bar: the live one when it is as new as the stored one.
    let day = match (days.get(&row.symbol).copied(), stored) {
        (Some(l), Some(s)) if l.ts < s.ts => Some(s),
        (Some(l), _) => Some(l),
        (None, s) => s,
    };
    let dash = || "–".to_owned();
    // `+1.25 (+0.83%)`, in two parts: a phone shows only the percentage.
    let moved = current.and_then(|(last, prev, _)| change(last, prev));
    let (direction, text) =
        moved.map_or(("flat", dash()), |(abs, pct)| (format::direction(abs), format::change(abs, pct)));
    let (abs, pct) = text.split_once(' ').unwrap_or((&text, ""));
    let pct = if pct.is_empty() { String::new() } else { format!(" {pct}") };
    // The sparkline's closes, the last replaced or followed by the live day's.
    let mut points = row.closes.clone();
    if let (Some(d), Some(s)) = (day, stored) {
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
    // The 52-week range widened by today's bar, and the last price's place in it.
    let year = row.range_52w.and_then(|(low, high)| {
        let (low, high) = day.map_or((low, high), |d| (low.min(d.low), high.max(d.high)));
        let last = current?.0;
        Some((low, high, range_position(last, low, high)?))
    });
    RowText {
        ts: current.map(|c| c.2.to_string()).unwrap_or_default(),
        cells: [
            current.map_or_else(dash, |c| format::price(c.0)),
            format!(r#"<span class="{direction}"><span class="abs">{abs}</span><span class="pct">{pct}</span></span>"#),
            sparkline(&points),
            day.map_or_else(dash, |d| format!("{}–{}", format::price(d.low), format::price(d.high))),
            day.map_or_else(dash, |d| format::volume(d.volume)),
            year.map_or_else(dash, |(low, high, pct)| position_bar(low, high, pct)),
            current.map_or_else(dash, |c| format::datetime(c.2)),
        ],
    }
}

/// A small line of `closes` as SVG markup, up when the last is above the
/// first; nothing for fewer than two points. Drawn in a 100 × 24 box stretched
/// to the cell.
fn sparkline(closes: &[f64]) -> String {
    let (first, last) = match closes {
        [first, .., last] => (*first, *last),
        _ => return String::new(),
    };
    let low = closes.iter().copied().fold(f64::INFINITY, f64::min);
    let high = closes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if high > low { high - low } else { 1.0 };
    let step = 100.0 / (closes.len() - 1) as f64;
    let mut points = String::new();
    for (i, c) in closes.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(points, "{sep}{:.1},{:.1}", i as f64 * step, 23.0 - (c - low) / span * 22.0);
    }
    let trend = if last > first {
        "up"
    } else if last < first {
        "down"
    } else {
        "flat"
    };
    format!(
        r#"<svg class="sparkline {trend}" viewBox="0 0 100 24" preserveAspectRatio="none" role="img" aria-label="{} daily closes, {} to {}"><polyline points="{points}" vector-effect="non-scaling-stroke"></polyline></svg>"#,
        closes.len(),
        format::price(first),
        format::price(last)
    )
}

/// Where the last price sits between the 52-week low and high, as markup: a
/// marker on a track, and the percentage.
fn position_bar(low: f64, high: f64, pct: f64) -> String {
    let label = format!("{pct:.0}% of the 52-week range {}–{}", format::price(low), format::price(high));
    format!(
        r#"<span class="w52-bar" role="img" aria-label="{label}" title="{label}"><span class="w52-track"><span class="w52-mark" style="left:{pct:.1}%"></span></span><span class="w52-pct">{pct:.0}%</span></span>"#
    )
}
