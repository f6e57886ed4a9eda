//! The backtest lab's server functions: saved runs, and "check on the
//! server" (the same backtest run natively on the stored bars, compared by
//! fingerprint).
//!
//! Only the lab page uses this module. The page is a lazy route, so in the
//! split release build these calls, and the decoding of what they answer
//! (a [`Report`] among it), land in the lab's chunk, not in the main module
//! every first visit loads (`docs/WASM.md`). Nothing outside the lab should
//! import it.
//!
//! Every function takes and answers JSON (`input = Json`): the page already
//! speaks JSON, and the form encoding would pull `serde_qs` into its chunk.
//! The flat input is passed as JSON text, exactly as the page keeps it in
//! its URL; the server parses it as `POST /api/v1/backtests` does.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use quant::backtest::{Fingerprint, Report};
use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// A saved run in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabRunSummary {
    /// Its id.
    pub id: i64,
    /// The name it was saved under.
    pub name: String,
    /// When it was saved, Unix ms.
    pub created_at: i64,
    /// The input's symbol.
    pub symbol: String,
    /// The input's timeframe.
    pub timeframe: String,
    /// The input's strategy.
    pub strategy: String,
    /// Its metrics as saved: a JSON object, or `null`.
    pub metrics: String,
}

/// A saved run with its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabRun {
    /// What the list shows.
    pub summary: LabRunSummary,
    /// The run's flat input, JSON text (what the page puts in its URL).
    pub input: String,
}

/// The server's side of "check on the server".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReply {
    /// The fingerprint of the server's native run.
    pub server: Fingerprint,
    /// The server's whole report, only when its fingerprint differs from the
    /// page's (for `quant::backtest::first_difference`). Undefined metrics
    /// (NaN) travel as `null` and come back as NaN (`quant` reads them so).
    #[serde(default)]
    pub report: Option<Report>,
    /// How many stored bars the server ran on.
    pub bars: usize,
}

/// Saved runs, newest first.
#[server(prefix = "/api", endpoint = "lab_runs", input = Json)]
pub async fn lab_runs() -> Result<Vec<LabRunSummary>, ApiError> {
    crate::api::ssr::reply(async move { ssr::lab_backend()?.runs(crate::auth::current_owner()).await }.await)
}

/// Saves a run: `input` is its flat input as JSON text (checked as a
/// backtest's input; the symbol need not be stored), `metrics` its metrics
/// as a JSON object (empty for none). `name`: 1 to 100 characters.
#[server(prefix = "/api", endpoint = "lab_save", input = Json)]
pub async fn save_lab_run(name: String, input: String, metrics: String) -> Result<LabRunSummary, ApiError> {
    crate::api::ssr::reply(
        async move { ssr::lab_backend()?.save(crate::auth::current_owner(), name, input, metrics).await }.await,
    )
}

/// One saved run with its input; `NotFound` when there is none.
#[server(name = LabRunCall, prefix = "/api", endpoint = "lab_run", input = Json)]
pub async fn lab_run(id: i64) -> Result<LabRun, ApiError> {
    crate::api::ssr::reply(async move { ssr::lab_backend()?.run(crate::auth::current_owner(), id).await }.await)
}

/// Deletes a saved run; whether there was one.
#[server(prefix = "/api", endpoint = "lab_delete", input = Json)]
pub async fn delete_lab_run(id: i64) -> Result<bool, ApiError> {
    crate::api::ssr::reply(async move { ssr::lab_backend()?.delete(crate::auth::current_owner(), id).await }.await)
}

/// Runs the backtest `input` (flat JSON text) natively on the stored bars
/// and compares its fingerprint with the page's.
#[server(prefix = "/api", endpoint = "lab_check", input = Json)]
pub async fn check_backtest(input: String, fingerprint: Fingerprint) -> Result<CheckReply, ApiError> {
    crate::api::ssr::reply(async move { ssr::lab_backend()?.check(input, fingerprint).await }.await)
}

/// The server side of the lab's server functions.
#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use leptos::prelude::use_context;
    use quant::backtest::Fingerprint;

    use super::{CheckReply, LabRun, LabRunSummary};
    use crate::api::ApiError;
    use crate::api::ssr::BoxFuture;
    use crate::auth::Owner;

    /// What the lab's server functions need from the server, provided as an
    /// `Arc<dyn LabBackend>` in context beside [`crate::api::ssr::Backend`].
    pub trait LabBackend: Send + Sync + 'static {
        /// `owner`'s saved runs, newest first.
        fn runs(&self, owner: Owner) -> BoxFuture<'_, Result<Vec<LabRunSummary>, ApiError>>;
        /// Checks and saves a run as `owner`'s; `BadRequest` naming the bad field.
        fn save(
            &self,
            owner: Owner,
            name: String,
            input: String,
            metrics: String,
        ) -> BoxFuture<'_, Result<LabRunSummary, ApiError>>;
        /// One of `owner`'s saved runs; `NotFound` when absent (or another's).
        fn run(&self, owner: Owner, id: i64) -> BoxFuture<'_, Result<LabRun, ApiError>>;
        /// Deletes one of `owner`'s saved runs; whether there was one.
        fn delete(&self, owner: Owner, id: i64) -> BoxFuture<'_, Result<bool, ApiError>>;
        /// Runs `input` on the stored bars; the report only when `fingerprint` differs.
        fn check(&self, input: String, fingerprint: Fingerprint) -> BoxFuture<'_, Result<CheckReply, ApiError>>;
    }

    /// The lab backend handle the server puts into context.
    pub type SharedLabBackend = Arc<dyn LabBackend>;

    /// The lab backend from context.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the server did not provide one (a wiring bug).
    pub fn lab_backend() -> Result<SharedLabBackend, ApiError> {
        use_context::<SharedLabBackend>().ok_or(ApiError::Internal)
    }
}

#[cfg(test)]
mod tests {
    use quant::backtest::{Config, fingerprint, run_strategy};
    use quant::strategies::find;

    use super::*;

    #[test]
    fn a_report_with_undefined_metrics_crosses_json_bit_for_bit() {
        // Flat prices: no trades, so most trade statistics are NaN.
        let bars: Vec<quant::Bar> = (0..50)
            .map(|i| quant::Bar { ts: i * 86_400, open: 10.0, high: 10.0, low: 10.0, close: 10.0, volume: 1.0 })
            .collect();
        let mut s = find("sma_cross").unwrap().build(&serde_json::json!({})).unwrap();
        let report = run_strategy(&bars, s.as_mut(), &Config::default()).unwrap();
        assert!(report.metrics.sharpe.is_nan());
        let reply = CheckReply { server: fingerprint(&report), report: Some(report.clone()), bars: 50 };
        let text = serde_json::to_string(&reply).unwrap();
        assert!(text.contains("\"sharpe\":null"), "{text}");
        let back: CheckReply = serde_json::from_str(&text).unwrap();
        let back_report = back.report.unwrap();
        assert_eq!(fingerprint(&back_report), reply.server);
        assert_eq!(quant::backtest::first_difference(&report, &back_report), None);
        let none: CheckReply =
            serde_json::from_str(&serde_json::to_string(&CheckReply { report: None, ..back }).unwrap()).unwrap();
        assert!(none.report.is_none());

        // Swinging prices: trades cross too.
        let bars: Vec<quant::Bar> = (0..300)
            .map(|i| {
                let c = 100.0 + 10.0 * (f64::from(i) / 7.0).sin();
                quant::Bar { ts: i64::from(i) * 86_400, open: c, high: c + 1.0, low: c - 1.0, close: c, volume: 1.0 }
            })
            .collect();
        let mut s = find("sma_cross").unwrap().build(&serde_json::json!({"fast": 3, "slow": 9})).unwrap();
        let report = run_strategy(&bars, s.as_mut(), &Config::default()).unwrap();
        assert!(report.trades.len() > 5);
        let reply = CheckReply { server: fingerprint(&report), report: Some(report), bars: 300 };
        let back: CheckReply = serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
        assert_eq!(fingerprint(back.report.as_ref().unwrap()), reply.server);
    }
}
