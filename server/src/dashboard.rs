//! The server's answers to the dashboard's server functions (the
//! [`app::api::ssr::Backend`] port, and the lab's
//! [`app::lab_api::ssr::LabBackend`]), read from storage.

mod lab;
mod watchlist;

use app::api::ApiError;
use app::api::ChatChange;
use app::api::ssr::{Backend, BoxFuture};
use app::auth::Owner;
use app::live::protocol::NewsItem;
use app::model::{Chart, ChatSettings, QuoteRow, SignalQuery, SignalRow, StrategyRow, WatchRow};
use quant::Timeframe;

use crate::bus::Bus;
use crate::cache::MarketCache;
use crate::state::AppState;
use crate::storage::symbols::SymbolRow;
use crate::storage::{Db, StorageError};
use crate::symbol::Symbol;

/// Reads the dashboard's data from the database.
#[derive(Debug, Clone)]
pub(crate) struct DashboardData {
    db: Db,
    bus: Bus,
    cache: MarketCache,
    pipeline: Option<crate::pipeline::Pipeline>,
    watchlist: crate::storage::watchlist::Watchlist,
    feed: crate::config::Feed,
    remote: crate::providers::remote::Remote,
}

impl DashboardData {
    /// Serves the stored watchlist from the state's database.
    #[must_use]
    pub(crate) fn new(state: &AppState) -> Self {
        Self {
            db: state.db.clone(),
            bus: state.bus.clone(),
            cache: state.cache.clone(),
            pipeline: state.pipeline.clone(),
            watchlist: state.watchlist.clone(),
            feed: state.config.feed,
            remote: state.remote.clone(),
        }
    }

    async fn quote(&self, info: SymbolRow) -> Result<Option<QuoteRow>, StorageError> {
        crate::quotes::latest(&self.db, &self.bus, &self.cache, info).await
    }

    async fn chart_of(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        limit: usize,
    ) -> Result<Result<Chart, ApiError>, StorageError> {
        let Some(info) = crate::quotes::details(&self.db, &self.cache, symbol).await? else {
            return Ok(Err(ApiError::NotFound(format!("symbol {symbol}"))));
        };
        let stored = crate::quotes::chart_bars(&self.db, &self.cache, symbol, timeframe, limit).await?;
        let (symbol, name, simulated) = (info.symbol.clone(), info.name.clone(), info.simulated);
        let quote = self.quote(info).await?;
        let (bars, timeframes) = (stored.bars.clone(), stored.timeframes.clone());
        let levels = crate::storage::stats::get(&self.db, &symbol).await?.map(|s| app::model::Levels {
            ath: s.ath,
            high_52w: s.high_52w,
            low_52w: s.low_52w,
        });
        Ok(Ok(Chart { symbol, name, timeframe, timeframes, bars, quote, simulated, levels }))
    }

    async fn older_bars_of(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        before: i64,
        limit: usize,
    ) -> Result<Result<Vec<quant::Bar>, ApiError>, StorageError> {
        if crate::quotes::details(&self.db, &self.cache, symbol).await?.is_none() {
            return Ok(Err(ApiError::NotFound(format!("symbol {symbol}"))));
        }
        Ok(Ok(crate::storage::bars::before(&self.db, symbol, timeframe, before, limit).await?))
    }
}

impl DashboardData {
    async fn signals_of(&self, query: SignalQuery, limit: usize) -> Result<Vec<SignalRow>, StorageError> {
        let filter = crate::storage::signals::SignalFilter {
            symbol: query.symbol.as_deref(),
            strategy: query.strategy.as_deref(),
            timeframe: query.timeframe,
            passed_only: query.passed_only,
            before_id: None,
        };
        let rows = crate::storage::signals::list(&self.db, &filter, limit).await?;
        Ok(rows.into_iter().map(|s| SignalRow { signal: s.event, passed: s.passed }).collect())
    }

    async fn news_of(&self, symbol: Option<String>, limit: usize) -> Result<Vec<NewsItem>, StorageError> {
        let rows = crate::storage::news::list(&self.db, symbol.as_deref(), None, limit).await?;
        Ok(rows.iter().map(crate::news::live_item).collect())
    }

    async fn strategy_rows(&self) -> Result<Vec<StrategyRow>, StorageError> {
        let stored = crate::storage::signals::settings(&self.db).await?;
        Ok(quant::strategies::CATALOG
            .iter()
            .map(|entry| {
                let s = stored
                    .iter()
                    .find(|s| s.strategy == entry.name)
                    .cloned()
                    .unwrap_or_else(|| crate::storage::signals::StrategySetting::default_for(entry.name));
                StrategyRow {
                    name: entry.name.to_owned(),
                    summary: entry.summary.to_owned(),
                    enabled: s.enabled,
                    min_trades: s.min_trades,
                    min_win_rate: s.min_win_rate,
                    min_profit_factor: s.min_profit_factor,
                    min_sharpe: s.min_sharpe,
                }
            })
            .collect())
    }

    async fn store_strategy(&self, row: StrategyRow) -> Result<Result<StrategyRow, ApiError>, StorageError> {
        let Some(entry) = quant::strategies::CATALOG.iter().find(|e| e.name == row.name) else {
            return Ok(Err(ApiError::NotFound(format!("strategy {}", row.name))));
        };
        let mut setting = crate::storage::signals::settings(&self.db)
            .await?
            .into_iter()
            .find(|s| s.strategy == entry.name)
            .unwrap_or_else(|| crate::storage::signals::StrategySetting::default_for(entry.name));
        setting.enabled = row.enabled;
        setting.min_trades = row.min_trades;
        setting.min_win_rate = row.min_win_rate;
        setting.min_profit_factor = row.min_profit_factor;
        setting.min_sharpe = row.min_sharpe;
        crate::storage::signals::put_setting(&self.db, &setting, crate::jobs::now_ms()).await?;
        if let Some(pipeline) = &self.pipeline {
            pipeline.reload().await?;
        }
        Ok(Ok(StrategyRow { summary: entry.summary.to_owned(), ..row }))
    }
}

impl DashboardData {
    async fn chats(&self, owner: Owner) -> Result<Vec<ChatSettings>, StorageError> {
        use crate::storage::telegram as tg;
        let mut out = Vec::new();
        for chat in tg::list_chats_of(&self.db, owner).await? {
            let subscriptions =
                tg::subscriptions(&self.db, chat.chat_id).await?.into_iter().map(|s| (s.symbol, s.strategy)).collect();
            out.push(ChatSettings {
                chat_id: chat.chat_id,
                title: chat.title,
                muted: chat.muted,
                quiet: chat.quiet.map(|q| q.to_string()),
                subscriptions,
            });
        }
        Ok(out)
    }

    async fn apply(
        &self,
        owner: Owner,
        chat_id: i64,
        change: ChatChange,
    ) -> Result<Result<(), ApiError>, StorageError> {
        use crate::storage::telegram as tg;
        let now = crate::jobs::now_ms();
        if change == ChatChange::Link {
            let Some(user_id) = owner.user_id else {
                return Ok(Err(ApiError::BadRequest("log in to link a chat".into())));
            };
            if !tg::link_chat_for(&self.db, chat_id, user_id, now).await? {
                return Ok(Err(ApiError::BadRequest(format!("chat {chat_id} is linked already, by someone else"))));
            }
            return Ok(Ok(()));
        }
        // Another user's chat is, to this caller, no chat at all.
        if tg::get_chat_of(&self.db, owner, chat_id).await?.is_none() {
            return Ok(Err(ApiError::NotFound(format!("chat {chat_id} is not linked"))));
        }
        match change {
            ChatChange::Link => {}
            ChatChange::Unlink => {
                tg::unlink(&self.db, chat_id).await?;
            }
            ChatChange::Mute(muted) => {
                tg::set_muted(&self.db, chat_id, muted).await?;
            }
            ChatChange::Quiet(text) => {
                let quiet = match text.as_deref() {
                    None => None,
                    Some(t) => match tg::QuietHours::parse(t) {
                        Ok(q) => Some(q),
                        Err(e) => return Ok(Err(ApiError::BadRequest(e))),
                    },
                };
                tg::set_quiet(&self.db, chat_id, quiet).await?;
            }
            ChatChange::Subscribe(symbol, strategy) => {
                let symbol = match Symbol::parse(&symbol) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(ApiError::BadRequest(e.to_string()))),
                };
                tg::subscribe(&self.db, chat_id, symbol.as_str(), strategy.as_deref(), now).await?;
            }
            ChatChange::Unsubscribe(symbol, strategy) => {
                let strategy = strategy.as_deref().unwrap_or(tg::ANY_STRATEGY);
                tg::unsubscribe(&self.db, chat_id, Some(&symbol), Some(strategy)).await?;
            }
        }
        Ok(Ok(()))
    }
}

/// Logs a storage failure and hides it from the browser.
fn internal(e: StorageError) -> ApiError {
    tracing::error!(error = %e, "dashboard query failed");
    ApiError::Internal
}

impl Backend for DashboardData {
    fn watchlist(&self, owner: Owner) -> BoxFuture<'_, Result<Vec<WatchRow>, ApiError>> {
        Box::pin(async move { self.watch_rows(owner).await.map_err(internal) })
    }

    fn chart<'a>(
        &'a self,
        symbol: &'a str,
        timeframe: Timeframe,
        limit: usize,
    ) -> BoxFuture<'a, Result<Chart, ApiError>> {
        Box::pin(async move {
            let symbol = Symbol::parse(symbol).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            self.chart_of(symbol.as_str(), timeframe, limit).await.map_err(internal)?
        })
    }

    fn older_bars<'a>(
        &'a self,
        symbol: &'a str,
        timeframe: Timeframe,
        before: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<quant::Bar>, ApiError>> {
        Box::pin(async move {
            let symbol = Symbol::parse(symbol).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            self.older_bars_of(symbol.as_str(), timeframe, before, limit).await.map_err(internal)?
        })
    }

    fn signals(&self, query: SignalQuery, limit: usize) -> BoxFuture<'_, Result<Vec<SignalRow>, ApiError>> {
        Box::pin(async move {
            if let Some(symbol) = &query.symbol {
                Symbol::parse(symbol).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            }
            if let Some(name) = &query.strategy
                && !quant::strategies::CATALOG.iter().any(|e| e.name == name)
            {
                return Err(ApiError::BadRequest(format!("unknown strategy `{}`", app::api::excerpt(name))));
            }
            self.signals_of(query, limit).await.map_err(internal)
        })
    }

    fn news(&self, symbol: Option<String>, limit: usize) -> BoxFuture<'_, Result<Vec<NewsItem>, ApiError>> {
        Box::pin(async move {
            if let Some(symbol) = &symbol {
                Symbol::parse(symbol).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            }
            self.news_of(symbol, limit).await.map_err(internal)
        })
    }

    fn strategies(&self) -> BoxFuture<'_, Result<Vec<StrategyRow>, ApiError>> {
        Box::pin(async move { self.strategy_rows().await.map_err(internal) })
    }

    fn set_strategy(&self, row: StrategyRow) -> BoxFuture<'_, Result<StrategyRow, ApiError>> {
        Box::pin(async move { self.store_strategy(row).await.map_err(internal)? })
    }

    fn telegram(&self, owner: Owner) -> BoxFuture<'_, Result<Vec<ChatSettings>, ApiError>> {
        Box::pin(async move { self.chats(owner).await.map_err(internal) })
    }

    fn link_code(&self, owner: Owner) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(async move {
            crate::storage::telegram::create_link_code_for(&self.db, owner.user_id, crate::jobs::now_ms())
                .await
                .map_err(internal)
        })
    }

    fn change_chat(&self, owner: Owner, chat_id: i64, change: ChatChange) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move { self.apply(owner, chat_id, change).await.map_err(internal)? })
    }

    fn watch(&self, owner: Owner, symbol: String) -> BoxFuture<'_, Result<bool, ApiError>> {
        Box::pin(async move { self.watch_symbol(owner, &symbol).await.map_err(internal)? })
    }

    fn unwatch(&self, owner: Owner, symbol: String) -> BoxFuture<'_, Result<bool, ApiError>> {
        Box::pin(async move { self.unwatch_symbol(owner, &symbol).await.map_err(internal)? })
    }

    fn audit(&self, before: Option<i64>, limit: usize) -> BoxFuture<'_, Result<Vec<app::auth::AuditEntry>, ApiError>> {
        Box::pin(async move {
            let rows = crate::storage::accounts::list_audit(&self.db, limit, before, None).await.map_err(internal)?;
            Ok(rows.into_iter().map(crate::accounts::audit_entry).collect())
        })
    }
}
