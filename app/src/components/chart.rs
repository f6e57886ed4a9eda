//! A dependency-free SVG line chart of closes with a simple moving average and
//! signal markers.

use leptos::prelude::*;
use quant::Bar;

use super::format;
use crate::live::protocol::Action;

/// A signal drawn on the chart, at the close of its bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Marker {
    /// The bar's opening time.
    pub ts: i64,
    /// Buy (up triangle) or sell (down triangle).
    pub action: Action,
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 320.0;
const PAD: f64 = 8.0;

/// Closing prices of `bars` as a line, with their SMA over `sma_period` (computed
/// by `quant`, the same code the server uses) as a second line.
#[component]
pub(crate) fn PriceChart(
    #[prop(into)] bars: Signal<Vec<Bar>>,
    sma_period: usize,
    /// Signals to mark; those whose bar is not on the chart are left out.
    #[prop(optional, into)]
    markers: Signal<Vec<Marker>>,
) -> impl IntoView {
    let geometry = Memo::new(move |_| bars.with(|bars| Geometry::of(bars, sma_period)));
    let points = Memo::new(move |_| bars.with(|b| markers.with(|m| marker_points(b, m))));
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label="price chart"
            >
                <path class="close-line" d=move || geometry.with(|g| g.close_path.clone())></path>
                <path class="sma-line" d=move || geometry.with(|g| g.sma_path.clone())></path>
                {move || {
                    points
                        .get()
                        .into_iter()
                        .map(|(x, y, action)| {
                            let word = crate::components::signals::action_word(action);
                            // A triangle pointing up for a buy, down for a sell, at the close.
                            let d = match action {
                                Action::Buy => format!("M{x:.1},{:.1} l-5,9 h10 z", y + 2.0),
                                Action::Sell => format!("M{x:.1},{:.1} l-5,-9 h10 z", y - 2.0),
                            };
                            view! { <path class=format!("marker {word}") data-testid="signal-marker" d=d></path> }
                        })
                        .collect_view()
                }}
            </svg>
            <figcaption>
                <span class="legend close">"close"</span>
                <span class="legend sma">{format!("SMA({sma_period})")}</span>
                <span class="range">{move || geometry.with(|g| g.caption.clone())}</span>
            </figcaption>
        </figure>
    }
}

/// Where each marker goes: the x of its bar and the y of that bar's close, on
/// the same scale as [`Geometry`].
fn marker_points(bars: &[Bar], markers: &[Marker]) -> Vec<(f64, f64, Action)> {
    let Some(scale) = Scale::of(bars) else { return Vec::new() };
    markers
        .iter()
        .filter_map(|m| {
            let i = bars.binary_search_by_key(&m.ts, |b| b.ts).ok()?;
            let (x, y) = scale.point(i, bars[i].close);
            Some((x, y, m.action))
        })
        .collect()
}

/// The closes' mapping to SVG coordinates; the same as [`Geometry`]'s, since an
/// average of closes never leaves the closes' range.
struct Scale {
    hi: f64,
    span: f64,
    step: f64,
}

impl Scale {
    fn of(bars: &[Bar]) -> Option<Self> {
        let (lo, hi) =
            bars.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), b| (lo.min(b.close), hi.max(b.close)));
        if !lo.is_finite() {
            return None;
        }
        let span = (hi - lo).max(hi.abs() * 1e-6).max(1e-12);
        let step = if bars.len() > 1 { (WIDTH - 2.0 * PAD) / (bars.len() - 1) as f64 } else { 0.0 };
        Some(Self { hi, span, step })
    }

    fn point(&self, i: usize, v: f64) -> (f64, f64) {
        (PAD + i as f64 * self.step, PAD + (self.hi - v) / self.span * (HEIGHT - 2.0 * PAD))
    }
}

/// The SVG paths and caption for one set of bars.
#[derive(Debug, Clone, PartialEq)]
struct Geometry {
    close_path: String,
    sma_path: String,
    caption: String,
}

impl Geometry {
    fn of(bars: &[Bar], sma_period: usize) -> Self {
        let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let sma = quant::indicators::sma(&closes, sma_period.max(1)).unwrap_or_default();
        let (lo, hi) = closes
            .iter()
            .chain(sma.iter().filter(|v| v.is_finite()))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if closes.is_empty() || !lo.is_finite() {
            return Self { close_path: String::new(), sma_path: String::new(), caption: "no data".into() };
        }
        let span = (hi - lo).max(hi.abs() * 1e-6).max(1e-12);
        let step = if closes.len() > 1 { (WIDTH - 2.0 * PAD) / (closes.len() - 1) as f64 } else { 0.0 };
        let point = |i: usize, v: f64| (PAD + i as f64 * step, PAD + (hi - v) / span * (HEIGHT - 2.0 * PAD));
        let caption = format!(
            "{} – {} · low {} · high {}",
            format::date(bars[0].ts),
            format::date(bars[bars.len() - 1].ts),
            format::price(lo),
            format::price(hi),
        );
        Self {
            close_path: path(closes.iter().copied().enumerate(), point),
            sma_path: path(sma.iter().copied().enumerate(), point),
            caption,
        }
    }
}

/// An SVG path through the finite points, starting a new segment after each gap.
fn path(values: impl Iterator<Item = (usize, f64)>, point: impl Fn(usize, f64) -> (f64, f64)) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in values {
        if !v.is_finite() {
            pen_down = false;
            continue;
        }
        let (x, y) = point(i, v);
        d.push_str(&format!("{}{x:.1},{y:.1} ", if pen_down { 'L' } else { 'M' }));
        pen_down = true;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, close: f64) -> Bar {
        Bar { ts, open: close, high: close, low: close, close, volume: 1.0 }
    }

    #[test]
    fn sma_line_starts_after_warm_up() {
        let bars: Vec<Bar> = (0..5).map(|i| bar(i * 86_400, 10.0 + i as f64)).collect();
        let g = Geometry::of(&bars, 3);
        assert_eq!(g.close_path.matches(['M', 'L']).count(), 5);
        assert_eq!(g.sma_path.matches(['M', 'L']).count(), 3);
        assert!(g.sma_path.starts_with('M'));
    }

    #[test]
    fn empty_series_draws_nothing() {
        assert_eq!(Geometry::of(&[], 20).caption, "no data");
    }
}
