//! What the chart holds and how it becomes what the drawing layer takes: the
//! bars, the studies (indicators from `quant`'s catalog, computed here in the
//! browser by the same code the server runs), the legend under the cursor and
//! the study list kept in the URL. Pure Rust without a DOM, so all of it is
//! tested natively.

use quant::indicators::catalog::{self, DynIndicator, Spec};
use quant::{Bar, Timeframe};

use crate::components::format;

/// Where a study is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// On the price scale, over the candles (moving averages, bands, stops).
    Price,
    /// In a pane of its own below the price, with its own scale (oscillators).
    Pane,
}

/// Indicators whose values are prices, drawn over the candles; every other
/// catalog entry gets a pane of its own.
const ON_PRICE: [&str; 16] = [
    "BBANDS",
    "DEMA",
    "DONCHIAN",
    "EMA",
    "ICHIMOKU",
    "KAMA",
    "KELTNER",
    "LINEARREG",
    "MEDPRICE",
    "SAR",
    "SMA",
    "SUPERTREND",
    "TEMA",
    "TYPPRICE",
    "VWAP",
    "WMA",
];

/// Where the catalog indicator `name` (upper case) is drawn.
pub(crate) fn placement(name: &str) -> Placement {
    if ON_PRICE.contains(&name) { Placement::Price } else { Placement::Pane }
}

/// Whether the study labelled `label` (e.g. `RSI(14)`) gets a pane of its own.
pub(crate) fn in_pane(label: &str) -> bool {
    let name = label.split('(').next().unwrap_or_default().trim().to_ascii_uppercase();
    placement(&name) == Placement::Pane
}

/// How one output of a study is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A line.
    Line,
    /// Columns from zero (MACD's histogram).
    Histogram,
}

/// Outputs drawn as columns rather than lines.
fn style_of(output: &str) -> Style {
    if output.ends_with("hist") { Style::Histogram } else { Style::Line }
}

/// The studies shown when the URL names none.
pub(crate) const DEFAULT_STUDIES: &str = "SMA(20)";

/// The most studies one chart shows.
pub(crate) const MAX_STUDIES: usize = 8;

/// Line colours, one per study in the order they were added (readable on both
/// the dark and the light theme).
const COLORS: [&str; 8] = ["#f0a202", "#7b61ff", "#00a6a6", "#e0529c", "#3d9be9", "#8fb339", "#ff7a45", "#9e9e9e"];

/// One indicator on the chart, with its values for every bar held.
#[derive(Debug)]
pub(crate) struct Study {
    /// The specification as the user wrote it, normalised, e.g. `EMA(50)`.
    pub label: String,
    /// Over the price or in a pane.
    pub placement: Placement,
    /// The indicator's output names, e.g. `upperband`, `middleband`, `lowerband`.
    pub outputs: &'static [&'static str],
    /// Its colour.
    pub color: &'static str,
    /// Per output, one value per bar; NaN until the indicator has warmed up.
    values: Vec<Vec<f64>>,
    /// The indicator's state after every bar but the last, which may still be
    /// forming: a live update of the last bar replays it on a copy.
    settled: Box<dyn DynIndicator>,
}

impl Study {
    /// The id of one output's series on the chart.
    pub(crate) fn series_id(&self, output: usize) -> String {
        format!("{}:{}", self.label, self.outputs[output])
    }

    /// How one output is drawn.
    pub(crate) fn style(&self, output: usize) -> Style {
        style_of(self.outputs[output])
    }

    /// The value of `output` at bar `index`, when warmed up.
    pub(crate) fn value(&self, output: usize, index: usize) -> Option<f64> {
        self.values.get(output)?.get(index).copied().filter(|v| v.is_finite())
    }
}

/// Feeds `bar` to `indicator` and writes its outputs (NaN while warming up)
/// at `index` of each output's values.
fn record(values: &mut [Vec<f64>], index: usize, indicator: &mut dyn DynIndicator, bar: &Bar, out: &mut [f64]) {
    let ready = indicator.update(bar, out);
    for (series, value) in values.iter_mut().zip(out.iter()) {
        series[index] = if ready { *value } else { f64::NAN };
    }
}

/// The bars as parallel columns, times in Unix seconds (UTC), the shape the
/// drawing layer copies in one pass.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Columns {
    pub time: Vec<f64>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
}

/// A line's points with a value: warm-up and undefined values are left out,
/// so NaN never reaches the chart.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Points {
    pub time: Vec<f64>,
    pub value: Vec<f64>,
}

/// What a live bar did to the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Older than the last bar held (a late duplicate): nothing changed.
    Ignored,
    /// The last bar (still forming) was updated.
    ReplacedLast,
    /// A new bar opened after the last one.
    Appended,
}

/// The values shown for one bar: under the crosshair, or the latest bar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Legend {
    /// When the bar opened, `YYYY-MM-DD HH:MM` UTC (just the date for daily
    /// and longer bars).
    pub time: String,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    /// Against the previous bar's close, e.g. `+1.25 (+0.83%)`; empty for the first bar.
    pub change: String,
    /// `up`, `down` or `flat`.
    pub direction: &'static str,
    pub volume: String,
    /// Each study with a value at this bar: (label, colour, its outputs'
    /// values in order, e.g. `163.61 · 157.15 · 150.68` for the three bands).
    pub studies: Vec<(String, &'static str, String)>,
}

/// Everything one chart holds.
#[derive(Debug)]
pub(crate) struct ChartData {
    timeframe: Timeframe,
    bars: Vec<Bar>,
    studies: Vec<Study>,
}

impl ChartData {
    /// Bars sorted by time, one per time (the last of duplicates wins).
    pub(crate) fn new(timeframe: Timeframe, mut bars: Vec<Bar>) -> Self {
        bars.sort_by_key(|b| b.ts);
        bars.reverse();
        bars.dedup_by_key(|b| b.ts);
        bars.reverse();
        Self { timeframe, bars, studies: Vec::new() }
    }

    /// The bars held, oldest first.
    pub(crate) fn bars(&self) -> &[Bar] {
        &self.bars
    }

    /// The studies, in the order they were added.
    pub(crate) fn studies(&self) -> &[Study] {
        &self.studies
    }

    /// Adds the study `text` (e.g. `RSI(14)`) and computes it over the bars
    /// held. Returns its index.
    ///
    /// # Errors
    /// A message for the form: the text does not parse, names no catalog
    /// indicator, has parameters it refuses, is already shown, or there are
    /// already [`MAX_STUDIES`].
    pub(crate) fn add_study(&mut self, text: &str) -> Result<usize, String> {
        let spec: Spec = text.parse().map_err(|e: quant::ParamError| e.to_string())?;
        let indicator = catalog::build(&spec).map_err(|e| e.to_string())?;
        let label = spec.to_string();
        if self.studies.iter().any(|s| s.label == label) {
            return Err(format!("{label} is already on the chart"));
        }
        if self.studies.len() >= MAX_STUDIES {
            return Err(format!("at most {MAX_STUDIES} indicators at once; remove one first"));
        }
        let used: Vec<&str> = self.studies.iter().map(|s| s.color).collect();
        let color = COLORS.iter().find(|c| !used.contains(c)).copied().unwrap_or(COLORS[0]);
        let mut study = Study {
            label,
            placement: placement(&spec.name),
            outputs: indicator.outputs(),
            color,
            values: Vec::new(),
            settled: indicator,
        };
        compute(&mut study, &self.bars);
        self.studies.push(study);
        Ok(self.studies.len() - 1)
    }

    /// Removes the study labelled `label`; returns it when it was there.
    pub(crate) fn remove_study(&mut self, label: &str) -> Option<Study> {
        let index = self.studies.iter().position(|s| s.label == label)?;
        Some(self.studies.remove(index))
    }

    /// Applies a live bar of this chart's timeframe: an update of the forming
    /// bar, a new bar, or (older than the last) nothing. Studies follow in
    /// constant time per bar.
    pub(crate) fn apply(&mut self, bar: Bar) -> Change {
        let mut out = [0.0; 8];
        match self.bars.last() {
            Some(last) if last.ts > bar.ts => Change::Ignored,
            Some(last) if last.ts == bar.ts => {
                let index = self.bars.len() - 1;
                self.bars[index] = bar;
                for study in &mut self.studies {
                    let mut copy = study.settled.boxed_clone();
                    let n = study.outputs.len();
                    record(&mut study.values, index, copy.as_mut(), &bar, &mut out[..n]);
                }
                Change::ReplacedLast
            }
            previous => {
                let closed = previous.copied();
                self.bars.push(bar);
                let index = self.bars.len() - 1;
                for study in &mut self.studies {
                    let n = study.outputs.len();
                    // The bar before is final now: it joins the settled state.
                    if let Some(closed) = closed {
                        study.settled.update(&closed, &mut out[..n]);
                    }
                    study.values.iter_mut().for_each(|v| v.push(f64::NAN));
                    let mut copy = study.settled.boxed_clone();
                    record(&mut study.values, index, copy.as_mut(), &bar, &mut out[..n]);
                }
                Change::Appended
            }
        }
    }

    /// Puts older bars in front of the ones held (those at or after the first
    /// held bar are dropped) and recomputes the studies. Returns how many were added.
    pub(crate) fn prepend(&mut self, older: &[Bar]) -> usize {
        let first = self.bars.first().map_or(i64::MAX, |b| b.ts);
        let mut added: Vec<Bar> = older.iter().copied().filter(|b| b.ts < first).collect();
        added.sort_by_key(|b| b.ts);
        added.dedup_by_key(|b| b.ts);
        let count = added.len();
        if count > 0 {
            added.append(&mut self.bars);
            self.bars = added;
            for study in &mut self.studies {
                compute(study, &self.bars);
            }
        }
        count
    }

    /// The bars as columns.
    pub(crate) fn columns(&self) -> Columns {
        let n = self.bars.len();
        let mut c = Columns {
            time: Vec::with_capacity(n),
            open: Vec::with_capacity(n),
            high: Vec::with_capacity(n),
            low: Vec::with_capacity(n),
            close: Vec::with_capacity(n),
            volume: Vec::with_capacity(n),
        };
        for b in &self.bars {
            #[expect(clippy::cast_precision_loss, reason = "Unix seconds are far below 2^53")]
            c.time.push(b.ts as f64);
            c.open.push(b.open);
            c.high.push(b.high);
            c.low.push(b.low);
            c.close.push(b.close);
            c.volume.push(b.volume);
        }
        c
    }

    /// The points of one study output that have a value.
    pub(crate) fn points(&self, study: usize, output: usize) -> Points {
        let mut points = Points::default();
        let Some(values) = self.studies.get(study).and_then(|s| s.values.get(output)) else { return points };
        for (bar, value) in self.bars.iter().zip(values) {
            if value.is_finite() {
                #[expect(clippy::cast_precision_loss, reason = "Unix seconds are far below 2^53")]
                points.time.push(bar.ts as f64);
                points.value.push(*value);
            }
        }
        points
    }

    /// The legend for bar `index`, or `None` past the bars held.
    pub(crate) fn legend(&self, index: usize) -> Option<Legend> {
        let bar = self.bars.get(index)?;
        let previous = index.checked_sub(1).and_then(|i| self.bars.get(i));
        let (change, direction) = match previous {
            Some(p) if p.close != 0.0 => {
                let abs = bar.close - p.close;
                (format::change(abs, abs / p.close * 100.0), format::direction(abs))
            }
            _ => (String::new(), "flat"),
        };
        let studies = self
            .studies
            .iter()
            .filter_map(|s| {
                let values: Vec<String> =
                    (0..s.outputs.len()).filter_map(|o| s.value(o, index).map(format::number)).collect();
                (!values.is_empty()).then(|| (s.label.clone(), s.color, values.join(" · ")))
            })
            .collect();
        Some(Legend {
            time: self.time_label(bar.ts),
            open: format::price(bar.open),
            high: format::price(bar.high),
            low: format::price(bar.low),
            close: format::price(bar.close),
            change,
            direction,
            volume: format::volume(bar.volume),
            studies,
        })
    }

    /// A bar's time as the chart's axis would write it.
    pub(crate) fn time_label(&self, ts: i64) -> String {
        if self.timeframe.is_intraday() { format::datetime(ts)[..16].to_owned() } else { format::date(ts) }
    }

    /// The text alternative: the latest bar and the visible range, e.g.
    /// `Latest 1d bar 2026-12-04: open 101.00, high 103.50, low 100.20, close
    /// 102.80, volume 1.2M. Showing 120 of 500 bars, 2026-06-01 to 2026-12-04.`
    pub(crate) fn summary(&self, visible: Option<(usize, usize)>) -> String {
        let Some(last) = self.bars.last() else { return format!("No {} bars stored yet.", self.timeframe) };
        let mut text = format!(
            "Latest {} bar {}: open {}, high {}, low {}, close {}, volume {}.",
            self.timeframe,
            self.time_label(last.ts),
            format::price(last.open),
            format::price(last.high),
            format::price(last.low),
            format::price(last.close),
            format::volume(last.volume),
        );
        let n = self.bars.len();
        let (from, to) = visible.map_or((0, n - 1), |(f, t)| (f.min(n - 1), t.min(n - 1)));
        if from <= to {
            text.push_str(&format!(
                " Showing {} of {} bars, {} to {}.",
                to - from + 1,
                n,
                self.time_label(self.bars[from].ts),
                self.time_label(self.bars[to].ts)
            ));
        }
        text
    }

    /// The bar indexes covered by a visible logical range from the chart
    /// (fractional, may reach past either end), or `None` when it covers no bar.
    pub(crate) fn visible(&self, from: f64, to: f64) -> Option<(usize, usize)> {
        let n = self.bars.len();
        if n == 0 || to < 0.0 || from > (n - 1) as f64 {
            return None;
        }
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to 0..n first")]
        let clamp = |x: f64| x.round().clamp(0.0, (n - 1) as f64) as usize;
        Some((clamp(from), clamp(to)))
    }
}

/// Computes every value of `study` over `bars` from a fresh state, keeping the
/// state after all but the last bar.
fn compute(study: &mut Study, bars: &[Bar]) {
    study.settled.reset();
    let n = study.outputs.len();
    let mut out = [0.0; 8];
    study.values = vec![vec![f64::NAN; bars.len()]; n];
    let Some((last, settled)) = bars.split_last() else { return };
    for (i, bar) in settled.iter().enumerate() {
        record(&mut study.values, i, study.settled.as_mut(), bar, &mut out[..n]);
    }
    let mut copy = study.settled.boxed_clone();
    record(&mut study.values, bars.len() - 1, copy.as_mut(), last, &mut out[..n]);
}

/// The study list in the URL (`ind=EMA(50);RSI(14)`), parsed leniently:
/// blanks are skipped. `None` (no `ind` in the URL) gives the defaults.
pub(crate) fn studies_from_query(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or(DEFAULT_STUDIES)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Spec>().map_or_else(|_| s.to_owned(), |spec| spec.to_string()))
        .collect()
}

/// The `ind` value for a study list.
pub(crate) fn studies_to_query(labels: &[String]) -> String {
    labels.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, close: f64) -> Bar {
        Bar { ts, open: close - 0.5, high: close + 1.0, low: close - 1.0, close, volume: 1000.0 }
    }

    fn series(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let x = i as f64;
                bar(1_700_000_000 + i as i64 * 86_400, 100.0 + (x / 3.0).sin() * 5.0 + x * 0.1)
            })
            .collect()
    }

    /// What a fresh computation over `bars` gives for `spec`'s first output.
    fn fresh(spec: &str, bars: &[Bar]) -> Vec<f64> {
        let mut data = ChartData::new(Timeframe::D1, bars.to_vec());
        data.add_study(spec).unwrap();
        (0..bars.len()).map(|i| data.studies()[0].value(0, i).unwrap_or(f64::NAN)).collect()
    }

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn columns_carry_utc_seconds_and_every_field_in_order() {
        let bars = vec![bar(1_733_443_200, 10.0), bar(1_733_529_600, 11.0)];
        let c = ChartData::new(Timeframe::D1, bars).columns();
        assert_eq!(c.time, vec![1_733_443_200.0, 1_733_529_600.0]);
        assert_eq!(c.close, vec![10.0, 11.0]);
        assert_eq!(c.open, vec![9.5, 10.5]);
        assert_eq!(c.volume, vec![1000.0, 1000.0]);
    }

    #[test]
    fn bars_are_sorted_and_duplicate_times_keep_the_last() {
        let data = ChartData::new(Timeframe::D1, vec![bar(200, 2.0), bar(100, 1.0), bar(200, 3.0)]);
        let closes: Vec<f64> = data.bars().iter().map(|b| b.close).collect();
        assert_eq!(closes, vec![1.0, 3.0]);
    }

    #[test]
    fn warm_up_values_never_reach_the_chart() {
        let mut data = ChartData::new(Timeframe::D1, series(30));
        data.add_study("SMA(10)").unwrap();
        let points = data.points(0, 0);
        assert_eq!(points.time.len(), 21, "the first 9 bars have no SMA(10)");
        assert!(points.value.iter().all(|v| v.is_finite()));
        assert_eq!(points.time[0], data.columns().time[9]);
    }

    #[test]
    fn gaps_in_time_are_kept_as_they_are() {
        // A weekend and a missing day: times go through unchanged, nothing is filled in.
        let bars = vec![bar(0, 1.0), bar(86_400, 2.0), bar(4 * 86_400, 3.0), bar(6 * 86_400, 4.0)];
        let data = ChartData::new(Timeframe::D1, bars);
        assert_eq!(data.columns().time, vec![0.0, 86_400.0, 345_600.0, 518_400.0]);
    }

    #[test]
    fn live_updates_give_the_values_a_fresh_computation_gives() {
        let bars = series(60);
        let mut data = ChartData::new(Timeframe::D1, bars[..40].to_vec());
        data.add_study("RSI(14)").unwrap();
        data.add_study("BBANDS(20,2,2)").unwrap();
        // The forming bar changes twice, then a new bar opens, and so on.
        for bar in &bars[40..] {
            let forming = Bar { close: bar.open, ..*bar };
            assert_eq!(data.apply(forming), Change::Appended);
            assert_eq!(data.apply(*bar), Change::ReplacedLast);
        }
        assert!(same(
            &(0..60).map(|i| data.studies()[0].value(0, i).unwrap_or(f64::NAN)).collect::<Vec<_>>(),
            &fresh("RSI(14)", &bars)
        ));
        let upper: Vec<f64> = (0..60).map(|i| data.studies()[1].value(0, i).unwrap_or(f64::NAN)).collect();
        assert!(same(&upper, &fresh("BBANDS(20,2,2)", &bars)));
    }

    #[test]
    fn a_late_bar_changes_nothing() {
        let mut data = ChartData::new(Timeframe::D1, series(5));
        let before = data.columns();
        let old = data.bars()[1];
        assert_eq!(data.apply(Bar { close: 1.0, ..old }), Change::Ignored);
        assert_eq!(data.columns(), before);
    }

    #[test]
    fn older_bars_go_in_front_and_studies_are_recomputed() {
        let bars = series(50);
        let mut data = ChartData::new(Timeframe::D1, bars[30..].to_vec());
        data.add_study("EMA(10)").unwrap();
        // The page overlaps the held bars by one: that one is not added twice.
        assert_eq!(data.prepend(&bars[..31]), 30);
        assert_eq!(data.bars().len(), 50);
        let ema: Vec<f64> = (0..50).map(|i| data.studies()[0].value(0, i).unwrap_or(f64::NAN)).collect();
        assert!(same(&ema, &fresh("EMA(10)", &bars)));
        assert_eq!(data.prepend(&bars[..10]), 0, "nothing older than what is held");
    }

    #[test]
    fn bad_studies_are_refused_with_a_message() {
        let mut data = ChartData::new(Timeframe::D1, series(5));
        assert!(data.add_study("NOPE(3)").unwrap_err().contains("NOPE"));
        assert!(data.add_study("RSI(").is_err());
        assert!(data.add_study("SMA(0)").is_err());
        data.add_study("rsi(14)").unwrap();
        assert_eq!(data.add_study("RSI(14)").unwrap_err(), "RSI(14) is already on the chart");
        assert_eq!(data.studies().len(), 1);
    }

    #[test]
    fn oscillators_get_panes_and_averages_go_over_the_price() {
        assert_eq!(placement("EMA"), Placement::Price);
        assert_eq!(placement("BBANDS"), Placement::Price);
        assert_eq!(placement("RSI"), Placement::Pane);
        assert_eq!(placement("MACD"), Placement::Pane);
        assert!(in_pane("RSI(14)") && in_pane("obv") && !in_pane("EMA(50)"));
        let mut data = ChartData::new(Timeframe::D1, series(60));
        data.add_study("MACD(12,26,9)").unwrap();
        let macd = &data.studies()[0];
        assert_eq!(macd.style(0), Style::Line);
        assert_eq!(macd.style(2), Style::Histogram);
        assert_eq!(macd.series_id(2), "MACD(12,26,9):macdhist");
        let legend = data.legend(59).unwrap();
        let (label, _, values) = &legend.studies[0];
        assert_eq!(label, "MACD(12,26,9)");
        assert_eq!(values.split(" · ").count(), 3, "{values}");
        // Every catalog name has a placement and builds with its defaults.
        for name in catalog::NAMES.split(", ") {
            assert!(catalog::build(&Spec::new(name, &[])).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_legend_shows_the_bar_its_change_and_the_studies_with_values() {
        let mut data = ChartData::new(Timeframe::D1, vec![bar(1_733_443_200, 100.0), bar(1_733_529_600, 101.0)]);
        data.add_study("SMA(2)").unwrap();
        let first = data.legend(0).unwrap();
        assert_eq!(first.change, "");
        assert!(first.studies.is_empty(), "SMA(2) has no value at the first bar");
        let second = data.legend(1).unwrap();
        assert_eq!(second.time, "2024-12-07");
        assert_eq!((second.open.as_str(), second.close.as_str()), ("100.50", "101.00"));
        assert_eq!(second.change, "+1.00 (+1.00%)");
        assert_eq!(second.direction, "up");
        assert_eq!(second.studies, vec![("SMA(2)".to_owned(), data.studies()[0].color, "100.50".to_owned())]);
        assert!(data.legend(2).is_none());
    }

    #[test]
    fn intraday_times_show_hours_and_minutes_in_utc() {
        let data = ChartData::new(Timeframe::M5, vec![bar(1_733_443_200 + 13 * 3600 + 35 * 60, 1.0)]);
        assert_eq!(data.legend(0).unwrap().time, "2024-12-06 13:35");
    }

    #[test]
    fn the_summary_names_the_latest_bar_and_the_visible_range() {
        let data = ChartData::new(Timeframe::D1, series(10));
        let visible = data.visible(4.6, 20.0);
        assert_eq!(visible, Some((5, 9)));
        let text = data.summary(visible);
        assert!(text.starts_with("Latest 1d bar 2023-11-23: open "), "{text}");
        assert!(text.ends_with("Showing 5 of 10 bars, 2023-11-19 to 2023-11-23."), "{text}");
        assert_eq!(data.visible(-30.0, -1.0), None);
        assert_eq!(ChartData::new(Timeframe::H1, vec![]).summary(None), "No 1h bars stored yet.");
    }

    #[test]
    fn the_study_list_round_trips_through_the_url() {
        assert_eq!(studies_from_query(None), vec!["SMA(20)"]);
        assert!(studies_from_query(Some("")).is_empty());
        let labels = studies_from_query(Some(" ema(50) ; BBANDS( 20,2,2 );;RSI(14)"));
        assert_eq!(labels, vec!["EMA(50)", "BBANDS(20,2,2)", "RSI(14)"]);
        assert_eq!(studies_from_query(Some(&studies_to_query(&labels))), labels);
    }
}
