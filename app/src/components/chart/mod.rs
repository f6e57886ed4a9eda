//! The price chart: candles (or a line or an area), volume, studies over the
//! price and in panes below it, signal markers with their details, level
//! lines, a legend under the crosshair, zoom and pan by mouse, touch and
//! keyboard, older bars paged in as the user scrolls back, and live updates.
//!
//! The data and every decision live in Rust ([`data`], also rendered on the
//! server: legend, summary, toolbar). Drawing is TradingView Lightweight
//! Charts behind a small adapter (`public/chart/finchart.js`) bound in
//! `bridge`, loaded only in the browser and only by pages with a chart.

#[cfg(feature = "hydrate")]
mod bridge;
// The server renders the legend and the summary from this data; the shapes
// handed to the drawing (columns, points, series ids) are for the browser only.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code, reason = "drawing shapes are used in the browser build"))]
mod data;

use leptos::prelude::*;
use quant::{Bar, Timeframe};

use data::{ChartData, MAX_STUDIES};
pub(crate) use data::{studies_from_query, studies_to_query};

use crate::components::signals::{action_word, evidence, record};
use crate::live::protocol::SignalEvent;
use crate::model::SignalRow;

/// Where the chart's adapter is served from (`public/chart/`).
pub(crate) const CHART_ADAPTER: &str = "/chart/finchart.js";
/// Where the drawing library is served from (`public/vendor/`, from npm).
pub(crate) const CHART_LIBRARY: &str = "/vendor/lightweight-charts.mjs";

/// A horizontal line across the price (all-time high, 52-week high and low).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Level {
    /// Its label on the price axis.
    pub label: String,
    /// Its price.
    pub price: f64,
}

/// One chart's data, shared by the page (which feeds it live bars) and the
/// chart's view. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChartModel {
    data: StoredValue<ChartData>,
    /// Bumped on every change of the bars or studies.
    revision: RwSignal<u64>,
    /// The bar under the crosshair.
    hover: RwSignal<Option<usize>>,
    /// The bars in view, first and last index.
    visible: RwSignal<Option<(usize, usize)>>,
    #[cfg(feature = "hydrate")]
    view: StoredValue<Option<bridge::View>, LocalStorage>,
}

impl ChartModel {
    /// A model holding `bars` of `timeframe`.
    pub(crate) fn new(timeframe: Timeframe, bars: Vec<Bar>) -> Self {
        #[cfg(feature = "hydrate")]
        browser::mark("finchart:data");
        Self {
            data: StoredValue::new(ChartData::new(timeframe, bars)),
            revision: RwSignal::new(0),
            hover: RwSignal::new(None),
            visible: RwSignal::new(None),
            #[cfg(feature = "hydrate")]
            view: StoredValue::new_local(None),
        }
    }

    /// How many bars are held (tracks changes).
    pub(crate) fn len(&self) -> usize {
        self.revision.track();
        self.data.with_value(|d| d.bars().len())
    }

    /// The latest bar held (tracks changes).
    pub(crate) fn last_bar(&self) -> Option<Bar> {
        self.revision.track();
        self.data.with_value(|d| d.bars().last().copied())
    }

    /// The opening times of the first and last bar in view (tracks changes).
    pub(crate) fn visible_times(&self) -> Option<(i64, i64)> {
        let (from, to) = self.visible.get()?;
        self.data.with_value(|d| Some((d.bars().get(from)?.ts, d.bars().get(to)?.ts)))
    }

    /// Applies a live bar of the chart's timeframe: the forming bar moves, a
    /// new bar is appended, studies follow; nothing else is redrawn.
    pub(crate) fn push(&self, bar: Bar) {
        let Some(change) = self.data.try_update_value(|d| d.apply(bar)) else { return };
        if change == data::Change::Ignored {
            return;
        }
        #[cfg(feature = "hydrate")]
        self.draw_live(bar, change == data::Change::Appended);
        self.revision.update(|r| *r += 1);
    }

    #[cfg(feature = "hydrate")]
    fn draw_live(&self, bar: Bar, appended: bool) {
        self.view.with_value(|view| {
            let Some(view) = view else { return };
            let handle = view.handle();
            #[expect(clippy::cast_precision_loss, reason = "Unix seconds are far below 2^53")]
            let t = bar.ts as f64;
            handle.update_bar(t, bar.open, bar.high, bar.low, bar.close, bar.volume, appended);
            self.data.with_value(|d| {
                let last = d.bars().len() - 1;
                for study in d.studies() {
                    for output in 0..study.outputs.len() {
                        if let Some(value) = study.value(output, last) {
                            handle.update_line(&study.series_id(output), t, value);
                        }
                    }
                }
            });
        });
    }
}

/// The chart with its toolbar, legend and text alternative.
#[component]
pub(crate) fn PriceChart(
    model: ChartModel,
    symbol: String,
    timeframe: Timeframe,
    /// Signals of this symbol and timeframe, drawn as markers.
    #[prop(into)]
    signals: Signal<Vec<SignalRow>>,
    /// Level lines.
    levels: Vec<Level>,
    /// The studies asked for (from the URL).
    #[prop(into)]
    studies: Signal<Vec<String>>,
    /// Called with the new study list when the user adds or removes one.
    on_studies: Callback<Vec<String>>,
    /// The time range to show first (Unix seconds), as far as it is held.
    initial_range: Option<(i64, i64)>,
) -> impl IntoView {
    let tip = RwSignal::new(None::<Tip>);
    let state = RwSignal::new(State::Loading);
    let mode = RwSignal::new(Mode::Candles);
    let scale = RwSignal::new(Scale::Normal);
    let form_error = RwSignal::new(None::<String>);
    // The studies are computed here, on the server too, so that the page
    // arrives with their values in the legend; the browser draws them once
    // the library has loaded.
    let refused = RwSignal::new(
        model
            .data
            .try_update_value(|d| {
                studies.with_untracked(|list| {
                    list.iter()
                        .filter_map(|label| d.add_study(label).err().map(|e| format!("{label}: {e}")))
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default(),
    );
    let input = RwSignal::new(String::new());
    let container = NodeRef::<leptos::html::Div>::new();
    let summary_id = format!("chart-summary-{symbol}-{timeframe}");

    #[cfg(feature = "hydrate")]
    browser::mount(browser::Mount {
        model,
        symbol: symbol.clone(),
        timeframe,
        container,
        signals,
        levels,
        studies,
        refused,
        tip,
        state,
        mode,
        scale,
        initial_range,
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (&levels, initial_range);

    let legend = Memo::new(move |_| {
        model.revision.track();
        model.data.with_value(|d| {
            let index = model.hover.get().unwrap_or_else(|| d.bars().len().saturating_sub(1));
            d.legend(index)
        })
    });
    // A study's values in the legend, by its label.
    let study_values = move |label: String| {
        move || {
            legend.with(|l| {
                l.iter()
                    .flat_map(|l| l.studies.iter())
                    .find(|(s, _, _)| *s == label)
                    .map(|(_, _, values)| values.clone())
                    .unwrap_or_default()
            })
        }
    };
    // One legend field as text; every field reads the same memo.
    let field =
        move |pick: fn(&data::Legend) -> String| move || legend.with(|l| l.as_ref().map(pick).unwrap_or_default());
    let summary = Memo::new(move |_| {
        model.revision.track();
        let visible = model.visible.get();
        model.data.with_value(|d| d.summary(visible))
    });

    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = input.get_untracked();
        match check_study(&text, &studies.get_untracked()) {
            Ok(label) => {
                form_error.set(None);
                input.set(String::new());
                let mut list = studies.get_untracked();
                list.push(label);
                on_studies.run(list);
            }
            Err(message) => form_error.set(Some(message)),
        }
    };
    let remove = move |label: String| {
        let list = studies.get_untracked().into_iter().filter(|s| *s != label).collect();
        on_studies.run(list);
    };
    let keydown = move |ev: leptos::ev::KeyboardEvent| {
        if let Some(action) = key_action(&ev.key()) {
            ev.prevent_default();
            if action == KeyAction::Close {
                tip.set(None);
            }
            #[cfg(feature = "hydrate")]
            browser::act(model, action);
        }
    };
    let field_id = format!("add-study-{symbol}");
    let chart_label = format!("{symbol} {timeframe} price chart; arrow keys pan, + and - zoom, Home resets");
    let tip_symbol = symbol.clone();

    view! {
        <section class="price-chart" data-testid="price-chart">
            <div class="chart-toolbar">
                <div class="segmented" role="group" aria-label="Chart type">
                    {Mode::ALL
                        .into_iter()
                        .map(|m| {
                            view! {
                                <button
                                    type="button"
                                    aria-pressed=move || (mode.get() == m).to_string()
                                    on:click=move |_| mode.set(m)
                                >
                                    {m.label()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
                <div class="segmented" role="group" aria-label="Price scale">
                    {Scale::ALL
                        .into_iter()
                        .map(|s| {
                            view! {
                                <button
                                    type="button"
                                    aria-pressed=move || (scale.get() == s).to_string()
                                    on:click=move |_| scale.set(s)
                                >
                                    {s.label()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
                <div class="segmented" role="group" aria-label="Zoom">
                    <button type="button" aria-label="Zoom in" on:click=move |_| zoom_click(model, KeyAction::ZoomIn)>"+"</button>
                    <button type="button" aria-label="Zoom out" on:click=move |_| zoom_click(model, KeyAction::ZoomOut)>"−"</button>
                    <button type="button" on:click=move |_| zoom_click(model, KeyAction::Reset)>"Reset"</button>
                </div>
                <form class="study-form" on:submit=add novalidate>
                    <label for=field_id.clone()>"Indicator"</label>
                    <input
                        id=field_id.clone()
                        name="study"
                        list="study-names"
                        autocomplete="off"
                        placeholder="EMA(50), RSI(14)…"
                        aria-invalid=move || form_error.with(Option::is_some).to_string()
                        aria-describedby=format!("{field_id}-error")
                        prop:value=move || input.get()
                        on:input=move |ev| input.set(event_target_value(&ev))
                    />
                    <button type="submit">"Add"</button>
                    <datalist id="study-names">
                        {quant::indicators::catalog::NAMES
                            .split(", ")
                            .map(|n| view! { <option value=format!("{n}()")></option> })
                            .collect_view()}
                    </datalist>
                    <p class="field-error" id=format!("{field_id}-error") role="alert" data-testid="study-error">
                        {move || form_error.get().unwrap_or_default()}
                    </p>
                </form>
            </div>
            <ul class="studies" aria-label="Indicators on the chart" data-testid="studies">
                <For each=move || studies.get() key=|s| s.clone() let:label>
                    <li>
                        {label.clone()}
                        <button
                            type="button"
                            class="remove"
                            aria-label=format!("Remove {label}")
                            on:click={
                                let label = label.clone();
                                move |_| remove(label.clone())
                            }
                        >
                            "×"
                        </button>
                    </li>
                </For>
                {move || {
                    refused
                        .get()
                        .into_iter()
                        .map(|m| view! { <li class="refused" data-testid="study-refused">{m}</li> })
                        .collect_view()
                }}
            </ul>
            // Built once; a live bar or a crosshair move changes its texts only.
            <div class="legend-bar" data-testid="legend">
                <span class="time" data-testid="legend-time">{field(|l| l.time.clone())}</span>
                <span>"O " <b data-testid="legend-open">{field(|l| l.open.clone())}</b></span>
                <span>"H " <b data-testid="legend-high">{field(|l| l.high.clone())}</b></span>
                <span>"L " <b data-testid="legend-low">{field(|l| l.low.clone())}</b></span>
                <span>"C " <b data-testid="legend-close">{field(|l| l.close.clone())}</b></span>
                <span
                    class=move || format!("change {}", legend.with(|l| l.as_ref().map_or("flat", |l| l.direction)))
                    data-testid="legend-change"
                >
                    {field(|l| l.change.clone())}
                </span>
                <span>"Vol " <b data-testid="legend-volume">{field(|l| l.volume.clone())}</b></span>
                <For
                    each=move || {
                        legend.with(|l| {
                            l.iter().flat_map(|l| l.studies.iter().map(|(label, color, _)| (label.clone(), *color))).collect::<Vec<_>>()
                        })
                    }
                    key=|(label, _)| label.clone()
                    let:((label, color))
                >
                    <span class="study" data-study=label.clone()>
                        <i class="swatch" style=format!("background:{color}")></i>
                        {label.clone()}
                        " "
                        <b>{study_values(label.clone())}</b>
                    </span>
                </For>
            </div>
            <div
                class="chart-canvas"
                node_ref=container
                tabindex="0"
                role="group"
                aria-roledescription="interactive chart"
                aria-label=chart_label
                aria-describedby=summary_id.clone()
                aria-keyshortcuts="ArrowLeft ArrowRight + - Home End Escape"
                data-testid="chart"
                data-state=move || state.get().name()
                style=move || format!("--panes:{}", studies.with(|l| l.iter().filter(|s| data::in_pane(s)).count()))
                on:keydown=keydown
            >
                {move || match state.get() {
                    State::Loading => Some(view! { <p class="chart-status">"Loading chart…"</p> }.into_any()),
                    State::Failed(message) => {
                        Some(view! { <p class="chart-status error" role="alert">{message}</p> }.into_any())
                    }
                    State::Ready | State::LoadingOlder => None,
                }}
                {move || {
                    (state.get() == State::LoadingOlder)
                        .then(|| view! { <p class="chart-older" role="status">"Loading older bars…"</p> })
                }}
                {move || {
                    tip.get()
                        .and_then(|t| {
                            let row = signals.with(|rows| rows.iter().find(|r| r.signal.id == t.id).cloned())?;
                            Some(view! { <SignalTip signal=row.signal at=t symbol=tip_symbol.clone() close=move || tip.set(None)/> })
                        })
                }}
            </div>
            <p class="chart-summary" id=summary_id data-testid="chart-summary">{move || summary.get()}</p>
            <p class="attribution">
                "Chart drawn with "
                <a href="https://www.tradingview.com/lightweight-charts/" rel="noopener noreferrer" target="_blank">
                    "TradingView Lightweight Charts™"
                </a>
                " (Apache-2.0, "
                <a href="/vendor/lightweight-charts.NOTICE.txt">"notice"</a>
                "). Times are UTC."
            </p>
        </section>
    }
    // One type for the whole chart keeps the page's view type shallow.
    .into_any()
}

/// The details of a signal whose marker is hovered or tapped.
#[component]
fn SignalTip(signal: SignalEvent, at: Tip, symbol: String, close: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let word = action_word(signal.action);
    let params = signal.params.to_string();
    let href =
        format!("/signals?symbol={symbol}&strategy={}&tf={}#signal-{}", signal.strategy, signal.timeframe, signal.id);
    // Beside the cursor, kept inside the chart.
    let style = format!(
        "left:clamp(0px, {:.0}px, calc(100% - min(22rem, 100% - 1rem)));top:{:.0}px",
        at.x + 14.0,
        (at.y + 14.0).max(0.0)
    );
    view! {
        <div class=format!("signal-tip {word}") style=style role="dialog" aria-label="Signal" data-testid="signal-tip">
            <button type="button" class="close" aria-label="Close" on:click=move |_| close()>"×"</button>
            <p class="head">
                <span class=format!("badge {word}")>{word}</span>
                " " <b data-testid="tip-strategy">{signal.strategy.clone()}</b>
                " at " {crate::components::format::price(signal.price)}
            </p>
            <p class="time">{crate::components::format::datetime(signal.bar_ts)} " UTC"</p>
            <p><span class="k">"params "</span> <code>{params}</code></p>
            <p><span class="k">"evidence "</span> {evidence(&signal)}</p>
            <p><span class="k">"backtest "</span> {record(signal.backtest.as_ref())}</p>
            <a href=href>"Open in signals →"</a>
        </div>
    }
}

/// Where a signal's details are shown: its id and the point in the chart.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tip {
    id: i64,
    x: f64,
    y: f64,
    /// Tapped or clicked: stays until closed.
    pinned: bool,
}

/// The drawing's state.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code, reason = "the drawing exists in the browser only"))]
enum State {
    Loading,
    Ready,
    LoadingOlder,
    Failed(String),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Ready => "ready",
            Self::LoadingOlder => "loading-older",
            Self::Failed(_) => "failed",
        }
    }
}

/// How the price is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Candles,
    Line,
    Area,
}

impl Mode {
    const ALL: [Self; 3] = [Self::Candles, Self::Line, Self::Area];

    fn label(self) -> &'static str {
        match self {
            Self::Candles => "Candles",
            Self::Line => "Line",
            Self::Area => "Area",
        }
    }

    #[cfg(feature = "hydrate")]
    fn name(self) -> &'static str {
        match self {
            Self::Candles => "candles",
            Self::Line => "line",
            Self::Area => "area",
        }
    }
}

/// The price scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    Normal,
    Log,
    Percent,
}

impl Scale {
    const ALL: [Self; 3] = [Self::Normal, Self::Log, Self::Percent];

    fn label(self) -> &'static str {
        match self {
            Self::Normal => "Linear",
            Self::Log => "Log",
            Self::Percent => "%",
        }
    }

    /// The library's `PriceScaleMode`.
    #[cfg(feature = "hydrate")]
    fn code(self) -> u32 {
        match self {
            Self::Normal => 0,
            Self::Log => 1,
            Self::Percent => 2,
        }
    }
}

/// What a key does on the focused chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAction {
    PanBack,
    PanForward,
    ZoomIn,
    ZoomOut,
    Reset,
    Latest,
    Close,
}

fn key_action(key: &str) -> Option<KeyAction> {
    Some(match key {
        "ArrowLeft" => KeyAction::PanBack,
        "ArrowRight" => KeyAction::PanForward,
        "+" | "=" => KeyAction::ZoomIn,
        "-" | "_" => KeyAction::ZoomOut,
        "Home" | "0" => KeyAction::Reset,
        "End" => KeyAction::Latest,
        "Escape" => KeyAction::Close,
        _ => return None,
    })
}

fn zoom_click(model: ChartModel, action: KeyAction) {
    #[cfg(feature = "hydrate")]
    browser::act(model, action);
    #[cfg(not(feature = "hydrate"))]
    let _ = (model, action);
}

/// Checks a study typed into the form against the catalog and the list shown;
/// returns its normalised label or the message for the field.
fn check_study(text: &str, shown: &[String]) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type an indicator, e.g. EMA(50) or RSI(14)".to_owned());
    }
    let spec: quant::indicators::catalog::Spec = text.parse().map_err(|e: quant::ParamError| e.to_string())?;
    let label = spec.to_string();
    quant::indicators::catalog::build(&spec).map_err(|e| format!("{label}: {e}"))?;
    if shown.contains(&label) {
        return Err(format!("{label} is already on the chart"));
    }
    if shown.len() >= MAX_STUDIES {
        return Err(format!("at most {MAX_STUDIES} indicators at once; remove one first"));
    }
    Ok(label)
}

#[cfg(feature = "hydrate")]
mod browser {
    //! What only the browser does: create the drawing, keep it in step with
    //! the model, page older bars, and answer keys.

    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use quant::Timeframe;

    use super::bridge::{self, Callbacks, View};
    use super::{ChartModel, KeyAction, Level, Mode, Scale, State, Tip};
    use crate::model::SignalRow;

    /// How many older bars one scroll-back request asks for.
    const OLDER_PAGE: usize = crate::api::MAX_CHART_BARS;

    /// Older bars are asked for when fewer than this many are left of the view.
    const PREFETCH_BARS: f64 = 50.0;

    pub(super) struct Mount {
        pub model: ChartModel,
        pub symbol: String,
        pub timeframe: Timeframe,
        pub container: NodeRef<leptos::html::Div>,
        pub signals: Signal<Vec<SignalRow>>,
        pub levels: Vec<Level>,
        pub studies: Signal<Vec<String>>,
        pub refused: RwSignal<Vec<String>>,
        pub tip: RwSignal<Option<Tip>>,
        pub state: RwSignal<State>,
        pub mode: RwSignal<Mode>,
        pub scale: RwSignal<Scale>,
        pub initial_range: Option<(i64, i64)>,
    }

    /// Loads the library, creates the chart once the container is in the
    /// page, and keeps studies, markers, mode and scale in step.
    pub(super) fn mount(m: Mount) {
        let Mount {
            model,
            symbol,
            timeframe,
            container,
            signals,
            levels,
            studies,
            refused,
            tip,
            state,
            mode,
            scale,
            initial_range,
        } = m;
        let ready = RwSignal::new(false);
        let exhausted = RwSignal::new(false);
        let older = move || load_older(model, symbol.clone(), timeframe, state, exhausted, ready);
        let older = StoredValue::new_local(older);

        Effect::new(move |_| {
            let Some(element) = container.get() else { return };
            if ready.get_untracked() {
                return;
            }
            let levels = levels.clone();
            spawn_local(async move {
                let adapter = match bridge::load().await {
                    Ok(adapter) => adapter,
                    Err(message) => {
                        state.set(State::Failed(message));
                        return;
                    }
                };
                mark("finchart:library");
                let callbacks = Callbacks {
                    crosshair: Box::new(move |index, marker, x, y| {
                        let n = model.data.with_value(|d| d.bars().len());
                        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked range")]
                        let hovered = (index >= 0.0 && index < n as f64).then_some(index as usize);
                        if model.hover.get_untracked() != hovered {
                            model.hover.set(hovered);
                        }
                        match marker.parse::<i64>() {
                            Ok(id) => tip.set(Some(Tip { id, x, y, pinned: false })),
                            Err(_) if tip.with_untracked(|t| t.is_some_and(|t| !t.pinned)) => tip.set(None),
                            Err(_) => {}
                        }
                    }),
                    marker_click: Box::new(move |marker, x, y| {
                        if let Ok(id) = marker.parse::<i64>() {
                            tip.set(Some(Tip { id, x, y, pinned: true }));
                        }
                    }),
                    range: Box::new(move |from, to| {
                        let visible = model.data.with_value(|d| d.visible(from, to));
                        if model.visible.get_untracked() != visible {
                            model.visible.set(visible);
                        }
                        if from < PREFETCH_BARS {
                            older.with_value(|f| f());
                        }
                    }),
                };
                let view = View::new(&adapter, &element, timeframe.is_intraday(), callbacks);
                model.data.with_value(|d| {
                    view.handle().set_data(&bridge::columns(&d.columns()));
                    (0..d.studies().len()).for_each(|index| draw_study(&view, d, index));
                });
                let lines = js_sys::Array::new();
                for level in &levels {
                    lines.push(&bridge::object(&[
                        ("price", level.price.into()),
                        ("title", level.label.as_str().into()),
                    ]));
                }
                view.handle().set_price_lines(&lines);
                if let Some((from, to)) = initial_range {
                    #[expect(clippy::cast_precision_loss, reason = "Unix seconds are far below 2^53")]
                    view.handle().set_time_range(from as f64, to as f64);
                }
                model.view.set_value(Some(view));
                ready.set(true);
                state.set(State::Ready);
                measure_paint(model);
            });
        });

        // Studies follow the list asked for.
        Effect::new(move |_| {
            let wanted = studies.get();
            if !ready.get() {
                return;
            }
            let messages = sync_studies(model, &wanted);
            refused.set(messages);
        });

        // Markers follow the signals.
        Effect::new(move |_| {
            if !ready.get() {
                return;
            }
            let markers = js_sys::Array::new();
            signals.with(|rows| {
                let mut rows: Vec<&SignalRow> = rows.iter().collect();
                rows.sort_by_key(|r| (r.signal.bar_ts, r.signal.id));
                for r in rows {
                    #[expect(clippy::cast_precision_loss, reason = "Unix seconds are far below 2^53")]
                    let t = r.signal.bar_ts as f64;
                    markers.push(&bridge::object(&[
                        ("t", t.into()),
                        ("buy", (r.signal.action == crate::live::protocol::Action::Buy).into()),
                        ("id", r.signal.id.to_string().into()),
                    ]));
                }
            });
            with_handle(model, |h| h.set_markers(&markers));
        });

        Effect::new(move |_| {
            let name = mode.get().name();
            if ready.get() {
                with_handle(model, |h| h.set_mode(name));
            }
        });
        Effect::new(move |_| {
            let code = scale.get().code();
            if ready.get() {
                with_handle(model, |h| h.set_scale(code));
            }
        });

        on_cleanup(move || {
            // Removes the chart from the page, then drops its callbacks.
            model.view.try_update_value(Option::take);
        });
    }

    fn with_handle(model: ChartModel, f: impl FnOnce(&bridge::Handle)) {
        model.view.with_value(|v| {
            if let Some(v) = v {
                f(v.handle());
            }
        });
    }

    /// Brings the studies in line with `wanted`; returns a message for each
    /// study that was refused. The data changes first and the drawing after,
    /// so that the library's callbacks, which read the data, never meet it
    /// borrowed for writing.
    fn sync_studies(model: ChartModel, wanted: &[String]) -> Vec<String> {
        let (mut refused, mut removed, mut added) = (Vec::new(), Vec::new(), Vec::new());
        model.data.update_value(|d| {
            let shown: Vec<String> = d.studies().iter().map(|s| s.label.clone()).collect();
            for label in shown.iter().filter(|l| !wanted.contains(l)) {
                if let Some(study) = d.remove_study(label) {
                    removed.extend((0..study.outputs.len()).map(|o| study.series_id(o)));
                }
            }
            // Added after the removals, so the indexes returned stay valid.
            for label in wanted.iter().filter(|l| !shown.contains(l)) {
                match d.add_study(label) {
                    Ok(index) => added.push(index),
                    Err(message) => refused.push(format!("{label}: {message}")),
                }
            }
        });
        model.view.with_value(|view| {
            let Some(view) = view else { return };
            for id in &removed {
                view.handle().remove_line(id);
            }
            model.data.with_value(|d| added.iter().for_each(|&index| draw_study(view, d, index)));
        });
        model.revision.update(|r| *r += 1);
        refused
    }

    fn draw_study(view: &View, d: &super::ChartData, index: usize) {
        let study = &d.studies()[index];
        let pane = (study.placement == super::data::Placement::Pane).then(|| study.label.clone());
        for output in 0..study.outputs.len() {
            let points = d.points(index, output);
            view.set_line(&study.series_id(output), pane.clone(), study.color, study.style(output), &points);
        }
    }

    /// Asks the server for the bars before the first one held and puts them
    /// in front, keeping the view on the same bars.
    fn load_older(
        model: ChartModel,
        symbol: String,
        timeframe: Timeframe,
        state: RwSignal<State>,
        exhausted: RwSignal<bool>,
        ready: RwSignal<bool>,
    ) {
        if !ready.get_untracked() || exhausted.get_untracked() || state.get_untracked() != State::Ready {
            return;
        }
        let Some(first) = model.data.with_value(|d| d.bars().first().map(|b| b.ts)) else { return };
        state.set(State::LoadingOlder);
        spawn_local(async move {
            let page = crate::api::get_older_bars(symbol, timeframe.to_string(), first, Some(OLDER_PAGE)).await;
            match page {
                Ok(bars) => {
                    if bars.len() < OLDER_PAGE {
                        exhausted.set(true);
                    }
                    let count = model.data.try_update_value(|d| d.prepend(&bars)).unwrap_or(0);
                    if count > 0 {
                        model.view.with_value(|view| {
                            let Some(view) = view else { return };
                            model.data.with_value(|d| {
                                #[expect(clippy::cast_possible_truncation, reason = "a page is at most 2,000 bars")]
                                view.handle().prepend(&bridge::columns(&d.columns()), count as u32);
                                for index in 0..d.studies().len() {
                                    draw_study(view, d, index);
                                }
                            });
                        });
                        model.revision.update(|r| *r += 1);
                    }
                    state.set(State::Ready);
                }
                Err(e) => state.set(State::Failed(format!("older bars did not load: {e}"))),
            }
        });
    }

    /// Keys and toolbar buttons.
    pub(super) fn act(model: ChartModel, action: KeyAction) {
        with_handle(model, |h| match action {
            KeyAction::PanBack => h.scroll(-0.2),
            KeyAction::PanForward => h.scroll(0.2),
            KeyAction::ZoomIn => h.zoom(0.8),
            KeyAction::ZoomOut => h.zoom(1.25),
            KeyAction::Reset => h.reset(),
            KeyAction::Latest => h.to_real_time(),
            KeyAction::Close => {}
        });
    }

    pub(super) fn mark(name: &str) {
        if let Some(p) = window().performance() {
            let _ = p.mark(name);
        }
    }

    /// Records, for the benchmarks, the time to the first frame showing the
    /// bars and studies: `finchart:render` from the data's arrival in the
    /// browser (including loading the library), `finchart:draw` from the
    /// library being ready. Once per page.
    fn measure_paint(model: ChartModel) {
        let Some(performance) = window().performance() else { return };
        if performance.get_entries_by_name("finchart:render").length() > 0 {
            return;
        }
        let Some(promise) = model.view.with_value(|v| v.as_ref().map(|v| v.handle().painted())) else { return };
        spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            let _ = performance.measure_with_start_mark("finchart:render", "finchart:data");
            let _ = performance.measure_with_start_mark("finchart:draw", "finchart:library");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_takes_catalog_studies_and_says_what_is_wrong() {
        let shown = vec!["SMA(20)".to_owned()];
        assert_eq!(check_study(" ema( 50 ) ", &shown), Ok("EMA(50)".to_owned()));
        assert_eq!(check_study("RSI(0)", &shown), Err("RSI(0): period must be at least 2, got 0".to_owned()));
        assert!(check_study("", &shown).unwrap_err().contains("e.g. EMA(50)"));
        assert!(check_study("NOPE(1)", &shown).unwrap_err().contains("NOPE"));
        assert_eq!(check_study("sma(20)", &shown), Err("SMA(20) is already on the chart".to_owned()));
        let full: Vec<String> = (2..2 + MAX_STUDIES).map(|p| format!("SMA({p})")).collect();
        assert!(check_study("RSI(14)", &full).unwrap_err().starts_with("at most"));
    }

    #[test]
    fn keys_pan_zoom_reset_and_close() {
        assert_eq!(key_action("ArrowLeft"), Some(KeyAction::PanBack));
        assert_eq!(key_action("ArrowRight"), Some(KeyAction::PanForward));
        assert_eq!(key_action("+"), Some(KeyAction::ZoomIn));
        assert_eq!(key_action("="), Some(KeyAction::ZoomIn));
        assert_eq!(key_action("-"), Some(KeyAction::ZoomOut));
        assert_eq!(key_action("Home"), Some(KeyAction::Reset));
        assert_eq!(key_action("End"), Some(KeyAction::Latest));
        assert_eq!(key_action("Escape"), Some(KeyAction::Close));
        assert_eq!(key_action("a"), None, "other keys reach the page");
    }
}
