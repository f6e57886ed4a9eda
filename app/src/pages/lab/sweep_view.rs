//! The lab's sweep panel: one or two parameters with ranges, a metric to rank
//! by, a progress bar with the time left and a cancel button while the pool
//! runs, then a heatmap (a line for one parameter) with its colour scale, the
//! neighbourhood of the best cell (the overfitting guard) and a ranked table.
//! Choosing a cell or a row loads that combination into the form.

use leptos::prelude::*;
use quant::backtest::RANK_METRICS;
use quant::strategies::{INFO, Info, meta};

use super::sweep::{self, Axis, METRICS, Neighbourhood, WIDTH};

/// How many ranked rows are listed.
const LISTED: usize = 20;

/// A finished sweep, as shown.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Finished {
    pub axes: Vec<Axis>,
    pub metric: String,
    pub rows: Vec<f64>,
    pub order: Vec<usize>,
    pub scores: Vec<f64>,
    pub best: Option<(usize, Neighbourhood)>,
    pub done: usize,
    pub total: usize,
    pub cancelled: bool,
    pub ms: f64,
}

impl Finished {
    #[cfg_attr(not(any(feature = "hydrate", test)), expect(dead_code, reason = "the browser runs sweeps"))]
    pub(super) fn new(axes: Vec<Axis>, metric: String, rows: Vec<f64>, done: usize, cancelled: bool, ms: f64) -> Self {
        let total = sweep::total(&axes);
        let order = sweep::rank(&rows, &metric);
        let scores = sweep::scores(&rows, total);
        let (nx, ny) = dims(&axes);
        let best =
            order.first().filter(|&&c| scores[c].is_finite()).map(|&c| (c, sweep::neighbourhood(&scores, nx, ny, c)));
        Self { axes, metric, rows, order, scores, best, done, total, cancelled, ms }
    }

    /// The parameters of a cell, as `(name, value)` for the form.
    pub(super) fn params_of(&self, cell: usize) -> Vec<(String, String)> {
        let (_, ny) = dims(&self.axes);
        let mut out = vec![(self.axes[0].name.clone(), self.axes[0].label(cell / ny))];
        if let Some(y) = self.axes.get(1) {
            out.push((y.name.clone(), y.label(cell % ny)));
        }
        out
    }
}

/// Columns and rows of the heatmap (rows = 1 for one parameter).
pub(super) fn dims(axes: &[Axis]) -> (usize, usize) {
    (axes.first().map_or(0, |a| a.values.len()), axes.get(1).map_or(1, |a| a.values.len()))
}

/// The default range offered for a parameter: around its default.
fn default_range(p: &meta::Param) -> (f64, f64, f64) {
    match p.kind {
        meta::Kind::Int { default, min, max } => {
            let from = (default / 2).max(min);
            let to = (default * 2).min(max).max(from);
            let step = ((to - from) / 15).max(1);
            (from as f64, to as f64, step as f64)
        }
        meta::Kind::Float { default, min, max, step } => {
            let from = (default - 10.0 * step).max(min);
            let to = (default + 10.0 * step).min(max);
            (from, to, step)
        }
        _ => (0.0, 0.0, 1.0),
    }
}

fn numeric(entry: &Info) -> Vec<&'static meta::Param> {
    entry.params.iter().filter(|p| p.range().is_some()).collect()
}

/// What the sweep form asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Request {
    pub axes: Vec<Axis>,
    pub metric: String,
}

/// Walk-forward windows, in bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Windows {
    pub train: u32,
    pub test: u32,
    pub anchored: bool,
}

/// Reads the walk-forward fields (`train`, `test`, `anchored`).
fn read_windows(get: &impl Fn(&str) -> String) -> Result<Windows, String> {
    let bars = |k: &str| {
        get(k)
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("{k}: a whole number of bars above 0"))
    };
    Ok(Windows {
        train: bars("train")?,
        test: bars("test")?,
        anchored: matches!(get("anchored").as_str(), "on" | "true"),
    })
}

/// Reads the sweep form's fields (`x`, `x_from`...; `y` empty for none).
pub(super) fn read_request(strategy: &str, get: &impl Fn(&str) -> String) -> Result<Request, String> {
    let entry = INFO.iter().copied().find(|e| e.name == strategy).ok_or("choose a strategy first")?;
    let num = |k: &str| quant::number::finite(get(k).trim()).ok_or_else(|| format!("{k}: not a number"));
    let mut axes = vec![Axis::new(entry, &get("x"), num("x_from")?, num("x_to")?, num("x_step")?)?];
    let y = get("y");
    if !y.is_empty() {
        if y == axes[0].name {
            return Err("choose two different parameters".into());
        }
        axes.push(Axis::new(entry, &y, num("y_from")?, num("y_to")?, num("y_step")?)?);
    }
    let total = sweep::total(&axes);
    if total > sweep::MAX_COMBINATIONS {
        return Err(format!("{total} combinations; at most {} per sweep", sweep::MAX_COMBINATIONS));
    }
    let metric = get("metric");
    quant::backtest::check_metric(&metric).map_err(|e| e.to_string())?;
    Ok(Request { axes, metric })
}

/// Where the sweep is.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), expect(dead_code, reason = "the browser runs sweeps"))]
pub(super) enum Progress {
    Idle,
    /// Work without a count (a walk-forward); the words say what.
    Working(String),
    Running {
        done: f64,
        total: f64,
        elapsed_ms: f64,
    },
    Failed(String),
}

/// The sweep panel. `strategy` is the form's strategy; `run` starts a sweep,
/// `cancel` stops it and `load` puts a cell's parameters into the form.
#[component]
pub(super) fn SweepPanel(
    strategy: Memo<String>,
    progress: RwSignal<Progress>,
    finished: RwSignal<Option<Finished>>,
    run: Callback<Request>,
    run_wf: Callback<(Request, Windows)>,
    cancel: Callback<()>,
    load: Callback<Vec<(String, String)>>,
    canvas: NodeRef<leptos::html::Canvas>,
) -> impl IntoView {
    let form = NodeRef::<leptos::html::Form>::new();
    let error = RwSignal::new(None::<String>);
    // The form's fields, as its GET submission would send them.
    let pairs = move || -> Vec<(String, String)> {
        #[cfg(feature = "hydrate")]
        {
            form.get_untracked().map(|f| super::browser::form_pairs(&f)).unwrap_or_default()
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = form;
            Vec::new()
        }
    };
    let read = move || {
        let pairs = pairs();
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        read_request(&strategy.get_untracked(), &get).and_then(|r| read_windows(&get).map(|w| (r, w)))
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match read() {
            Ok((request, _)) => {
                error.set(None);
                run.run(request);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    let walk = move |_| match read() {
        Ok(both) => {
            error.set(None);
            run_wf.run(both);
        }
        Err(e) => error.set(Some(e)),
    };
    let fields = move || {
        let entry = INFO.iter().copied().find(|e| e.name == strategy.get());
        let params = entry.map(numeric).unwrap_or_default();
        let axis = |prefix: &'static str, pick: Option<&'static meta::Param>, optional: bool| {
            let (from, to, step) = pick.map(default_range).unwrap_or((0.0, 0.0, 1.0));
            let chosen = pick.map(|p| p.name).unwrap_or_default();
            view! {
                <div class="sweep-axis">
                    <label>{if optional { "Parameter 2" } else { "Parameter 1" }}
                        <select name=prefix>
                            {optional.then(|| view! { <option value="" selected=chosen.is_empty()>"none"</option> })}
                            {params.iter().map(|p| view! { <option value=p.name selected=p.name == chosen>{p.name}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>"from" <input name=format!("{prefix}_from") type="number" step="any" value=from/></label>
                    <label>"to" <input name=format!("{prefix}_to") type="number" step="any" value=to/></label>
                    <label>"step" <input name=format!("{prefix}_step") type="number" step="any" value=step/></label>
                </div>
            }
        };
        let first = params.first().copied();
        let second = params.get(1).copied();
        view! { {axis("x", first, false)} {axis("y", second, true)} }
    };
    let running = move || matches!(progress.get(), Progress::Running { .. } | Progress::Working(_));
    view! {
        <form class="sweep-form" node_ref=form on:submit=submit data-testid="sweep-form">
            {fields}
            <label>"Rank by "
                <select name="metric">
                    {RANK_METRICS.iter().map(|m| view! { <option value=*m selected=*m == "sharpe">{*m}</option> }).collect_view()}
                </select>
            </label>
            <div class="sweep-axis">
                <label>"Walk-forward: train bars" <input name="train" type="number" min="2" step="1" value="504"/></label>
                <label>"test bars" <input name="test" type="number" min="1" step="1" value="126"/></label>
                <label class="check"><input name="anchored" type="checkbox"/>" anchored"</label>
            </div>
            <button type="submit" class="primary" disabled=running>"Run sweep"</button>
            <button type="button" disabled=running on:click=walk data-testid="wf-run">"Run walk-forward"</button>
            <button type="button" disabled=move || !running() on:click=move |_| cancel.run(()) data-testid="sweep-cancel">"Cancel"</button>
            <span class="field-error" role="alert">{move || error.get()}</span>
        </form>
        <SweepProgress progress/>
        <canvas class="sweep-canvas" node_ref=canvas data-testid="sweep-heatmap" tabindex="0"
            aria-label="Sweep heatmap: arrow keys move, Enter loads the cell into the form"></canvas>
        {move || finished.get().map(|f| view! { <SweepSummary finished=f load/> })}
    }
}

/// The progress bar with the time left.
#[component]
fn SweepProgress(progress: RwSignal<Progress>) -> impl IntoView {
    move || match progress.get() {
        Progress::Idle => ().into_any(),
        Progress::Working(what) => view! {
            <p class="sweep-progress" data-testid="sweep-progress"><progress></progress>{format!(" {what}")}</p>
        }
        .into_any(),
        Progress::Failed(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Progress::Running { done, total, elapsed_ms } => {
            let left = if done > 0.0 { elapsed_ms / done * (total - done) / 1000.0 } else { f64::NAN };
            let left = if left.is_finite() { format!(" · about {left:.1} s left") } else { String::new() };
            view! {
                <p class="sweep-progress" data-testid="sweep-progress">
                    <progress max=total value=done></progress>
                    {format!(" {done:.0} of {total:.0} combinations{left}")}
                </p>
            }
            .into_any()
        }
    }
}

fn show(v: f64, metric: &str) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match metric {
        "total_return" | "cagr" | "max_drawdown" | "volatility" | "win_rate" | "exposure" | "avg_drawdown" => {
            format!("{:.2}%", v * 100.0)
        }
        "trades" => format!("{v:.0}"),
        _ => format!("{v:.3}"),
    }
}

/// The overfitting guard and the ranked table.
#[component]
fn SweepSummary(finished: Finished, load: Callback<Vec<(String, String)>>) -> impl IntoView {
    let metric = finished.metric.clone();
    let status = format!(
        "{} of {} combinations in {:.0} ms{}",
        finished.done,
        finished.total,
        finished.ms,
        if finished.cancelled { " (cancelled)" } else { "" }
    );
    let guard = finished.best.map(|(cell, n): (usize, Neighbourhood)| {
        let best = finished.scores[cell];
        let params: Vec<String> = finished.params_of(cell).iter().map(|(k, v)| format!("{k} {v}")).collect();
        let spread = format!(
            "Best: {} with {} {}. Its neighbourhood ({} cells one step around): mean {}, from {} to {}.",
            params.join(", "),
            metric,
            show(best, &metric),
            n.count,
            show(n.mean, &metric),
            show(n.min, &metric),
            show(n.max, &metric)
        );
        let fragile = n.count > 1 && best.is_finite() && n.mean.is_finite() && (best - n.mean).abs() > 0.5 * best.abs().max(1e-9);
        view! {
            <p class="sweep-guard" data-testid="sweep-guard">
                {spread}
                {fragile.then(|| view! { <strong>" The best cell stands well apart from its neighbours: likely overfitted."</strong> })}
            </p>
        }
    });
    let header = finished.axes.iter().map(|a| view! { <th scope="col">{a.name.clone()}</th> }).collect_view();
    let rows = finished
        .order
        .iter()
        .take(LISTED)
        .enumerate()
        .map(|(rank, &cell)| {
            let row = &finished.rows[cell * WIDTH..(cell + 1) * WIDTH];
            let params = finished.params_of(cell);
            let cells = params.iter().map(|(_, v)| view! { <td>{v.clone()}</td> }).collect_view();
            let at = |name: &str| METRICS.iter().position(|m| *m == name).map_or(f64::NAN, |k| row[3 + k]);
            let load_params = params.clone();
            view! {
                <tr data-cell=cell>
                    <td><button type="button" class="link" on:click=move |_| load.run(load_params.clone())
                        aria-label=format!("Load rank {} into the form", rank + 1)>{rank + 1}</button></td>
                    {cells}
                    <td>{show(row[2], &finished.metric)}</td>
                    <td>{show(at("total_return"), "total_return")}</td>
                    <td>{show(at("sharpe"), "sharpe")}</td>
                    <td>{show(at("max_drawdown"), "max_drawdown")}</td>
                    <td>{show(at("trades"), "trades")}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="lab-status" data-testid="sweep-status">{status}</p>
        {guard}
        <div class="table-scroll">
            <table class="sweep-ranked" data-testid="sweep-ranked">
                <caption>{format!("Best {LISTED} by {metric}")}</caption>
                <thead><tr><th>"#"</th>{header}<th>{metric.clone()}</th><th>"Return"</th><th>"Sharpe"</th><th>"Max DD"</th><th>"Trades"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// A walk-forward's windows and its degradation, from the worker's JSON.
#[component]
pub(super) fn WalkForwardView(
    report: serde_json::Value,
    metric: String,
    chart: NodeRef<leptos::html::Div>,
) -> impl IntoView {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let date = |v: &serde_json::Value| crate::components::format::date(v.as_i64().unwrap_or_default());
    let windows = report["windows"].as_array().cloned().unwrap_or_default();
    let oos = report["oos_equity"].as_array().map(|a| a.iter().map(f).collect::<Vec<_>>()).unwrap_or_default();
    let ins = report["in_sample_equity"].as_array().map(|a| a.iter().map(f).collect::<Vec<_>>()).unwrap_or_default();
    let total = |curve: &[f64]| curve.last().copied().unwrap_or(f64::NAN);
    let summary = format!(
        "{} windows. Mean {metric} in sample {}, out of sample {}: efficiency {}, degradation {}. \
         Stitched out-of-sample equity ends at {:.2}; the hindsight-best parameters ({}) end at {:.2}.",
        windows.len(),
        show(f(&report["mean_in_sample"]), &metric),
        show(f(&report["mean_out_of_sample"]), &metric),
        show(f(&report["efficiency"]), "ratio"),
        show(f(&report["degradation"]), "ratio"),
        total(&oos),
        report["in_sample_params"],
        total(&ins),
    );
    let rows = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            view! {
                <tr>
                    <td>{i + 1}</td>
                    <td>{format!("{} to {}", date(&w["train"][0]), date(&w["train"][1]))}</td>
                    <td>{format!("{} to {}", date(&w["test"][0]), date(&w["test"][1]))}</td>
                    <td class="params">{w["params"].to_string()}</td>
                    <td>{show(f(&w["in_sample"]), &metric)}</td>
                    <td>{show(f(&w["out_of_sample"]), &metric)}</td>
                    <td>{show(f(&w["test_return"]), "total_return")}</td>
                    <td>{w["test_trades"].as_u64().unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="wf-summary" data-testid="wf-summary">{summary}</p>
        <div class="lab-chart lab-wf" node_ref=chart data-testid="wf-chart" role="img"
            aria-label="Stitched out-of-sample equity beside the in-sample (hindsight) equity"></div>
        <p class="chart-key">
            <span class="key k0">"out of sample, stitched"</span>
            <span class="key khold">"hindsight-best parameters"</span>
        </p>
        <div class="table-scroll">
            <table class="wf-windows" data-testid="wf-windows">
                <caption>"Each window: parameters chosen in sample, then traded out of sample"</caption>
                <thead><tr><th>"#"</th><th>"Train"</th><th>"Test"</th><th>"Chosen"</th><th>{format!("{metric} in")}</th><th>{format!("{metric} out")}</th><th>"Test return"</th><th>"Trades"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_into_axes_and_a_metric() {
        let fields = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()).unwrap_or_default()
        };
        let r = read_request(
            "sma_cross",
            &fields(&[
                ("x", "fast"),
                ("x_from", "5"),
                ("x_to", "20"),
                ("x_step", "5"),
                ("y", "slow"),
                ("y_from", "30"),
                ("y_to", "60"),
                ("y_step", "10"),
                ("metric", "sharpe"),
            ]),
        )
        .unwrap();
        assert_eq!((sweep::total(&r.axes), r.metric.as_str()), (16, "sharpe"));
        let one = read_request(
            "sma_cross",
            &fields(&[("x", "fast"), ("x_from", "5"), ("x_to", "6"), ("x_step", "1"), ("metric", "cagr")]),
        )
        .unwrap();
        assert_eq!(one.axes.len(), 1);
        let same = read_request(
            "sma_cross",
            &fields(&[
                ("x", "fast"),
                ("x_from", "5"),
                ("x_to", "6"),
                ("x_step", "1"),
                ("y", "fast"),
                ("metric", "cagr"),
            ]),
        );
        assert_eq!(same.unwrap_err(), "choose two different parameters");
        let metric = read_request(
            "sma_cross",
            &fields(&[("x", "fast"), ("x_from", "5"), ("x_to", "6"), ("x_step", "1"), ("metric", "luck")]),
        );
        assert!(metric.unwrap_err().contains("unknown metric `luck`"));
        let windows = read_windows(&fields(&[("train", "504"), ("test", "126"), ("anchored", "on")])).unwrap();
        assert_eq!(windows, Windows { train: 504, test: 126, anchored: true });
        assert!(read_windows(&fields(&[("train", "0"), ("test", "5")])).unwrap_err().starts_with("train:"));
        let (from, to, step) = default_range(find_param("sma_cross", "slow"));
        assert_eq!((from, to, step), (10.0, 40.0, 2.0));
    }

    fn find_param(strategy: &str, name: &str) -> &'static meta::Param {
        quant::strategies::info(strategy).unwrap().param(name).unwrap()
    }

    #[test]
    fn cells_name_their_parameters() {
        let sma = quant::strategies::info("sma_cross").unwrap();
        let axes =
            vec![Axis::new(sma, "fast", 5.0, 7.0, 1.0).unwrap(), Axis::new(sma, "slow", 10.0, 30.0, 10.0).unwrap()];
        let f = Finished::new(axes, "sharpe".into(), Vec::new(), 0, false, 0.0);
        // Cell 4 = fast index 1 (6), slow index 1 (20): the last parameter varies fastest.
        assert_eq!(f.params_of(4), vec![("fast".to_owned(), "6".to_owned()), ("slow".to_owned(), "20".to_owned())]);
        assert_eq!((f.total, f.best), (9, None));
    }
}
