//! The lab page's server functions ([`app::lab_api::ssr::LabBackend`]):
//! saved runs through [`crate::lab::saved`], and "check on the server": the
//! page's backtest run natively on the stored bars ([`crate::lab`]), compared
//! by fingerprint.

use app::api::ApiError;
use app::api::ssr::BoxFuture;
use app::auth::Owner;
use app::lab_api::ssr::LabBackend;
use app::lab_api::{CheckReply, LabRun, LabRunSummary};
use quant::backtest::Fingerprint;
use serde_json::Value;

use super::{DashboardData, internal};
use crate::lab::saved::{self, ToSave};
use crate::lab::{self, LabError};
use crate::storage::lab_runs::{self, LabRunRow};

/// How many saved runs the page lists.
const LISTED: usize = 200;

/// A lab refusal as the browser sees it: the field named, a storage failure hidden.
fn refusal(e: LabError) -> ApiError {
    match e {
        LabError::Invalid(m) | LabError::NoBars(m) => ApiError::BadRequest(m),
        LabError::NotFound(m) => ApiError::NotFound(m),
        LabError::Storage(e) => internal(e),
    }
}

fn summary(row: &LabRunRow) -> LabRunSummary {
    LabRunSummary {
        id: row.id,
        name: row.name.clone(),
        created_at: row.created_at,
        symbol: row.symbol.clone(),
        timeframe: row.timeframe.clone(),
        strategy: row.strategy.clone(),
        metrics: row.metrics.clone().unwrap_or_else(|| "null".into()),
    }
}

impl DashboardData {
    async fn save_run(
        &self,
        owner: Owner,
        name: String,
        input: String,
        metrics: String,
    ) -> Result<LabRunSummary, ApiError> {
        let input: Value = serde_json::from_str(&input).map_err(|e| {
            ApiError::BadRequest(format!("input is not JSON: {}", app::api::excerpt_message(&e.to_string())))
        })?;
        let metrics = match metrics.trim() {
            "" => None,
            text => Some(serde_json::from_str::<Value>(text).map_err(|e| {
                ApiError::BadRequest(format!("metrics is not JSON: {}", app::api::excerpt_message(&e.to_string())))
            })?),
        };
        let run = ToSave { name, input, metrics, equity: None };
        let row = saved::save(&self.db, run, owner.user_id, crate::jobs::now_ms()).await.map_err(refusal)?;
        Ok(summary(&row))
    }

    async fn check_run(&self, input: String, theirs: Fingerprint) -> Result<CheckReply, ApiError> {
        let input = lab::input::parse_text(&input).map_err(refusal)?;
        let bars = lab::load_bars(&self.db, &input.data).await.map_err(refusal)?;
        let count = bars.len();
        let report = tokio::task::spawn_blocking(move || lab::run(&bars, &input.resolved))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "a lab check's backtest failed");
                ApiError::Internal
            })?
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let server = quant::backtest::fingerprint(&report);
        let report = (server != theirs).then_some(report);
        Ok(CheckReply { server, report, bars: count })
    }
}

impl LabBackend for DashboardData {
    fn runs(&self, owner: Owner) -> BoxFuture<'_, Result<Vec<LabRunSummary>, ApiError>> {
        Box::pin(async move {
            let rows = saved::list(&self.db, owner, LISTED).await.map_err(refusal)?;
            Ok(rows.iter().map(summary).collect())
        })
    }

    fn save(
        &self,
        owner: Owner,
        name: String,
        input: String,
        metrics: String,
    ) -> BoxFuture<'_, Result<LabRunSummary, ApiError>> {
        Box::pin(self.save_run(owner, name, input, metrics))
    }

    fn run(&self, owner: Owner, id: i64) -> BoxFuture<'_, Result<LabRun, ApiError>> {
        Box::pin(async move {
            let row = lab_runs::get(&self.db, owner, id).await.map_err(internal)?;
            let row = row.ok_or_else(|| ApiError::NotFound(format!("lab run {id}")))?;
            Ok(LabRun { summary: summary(&row), input: row.input })
        })
    }

    fn delete(&self, owner: Owner, id: i64) -> BoxFuture<'_, Result<bool, ApiError>> {
        Box::pin(async move { lab_runs::delete(&self.db, owner, id).await.map_err(internal) })
    }

    fn check(&self, input: String, fingerprint: Fingerprint) -> BoxFuture<'_, Result<CheckReply, ApiError>> {
        Box::pin(self.check_run(input, fingerprint))
    }
}
