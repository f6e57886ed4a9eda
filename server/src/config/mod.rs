//! Typed configuration, read once at start-up.
//!
//! Sources, later ones winning: built-in defaults, a TOML file (`--config PATH`,
//! else `$FINSTAGE_CONFIG`, else `./finstage.toml` when it exists), `DATABASE_URL`,
//! then `FINSTAGE_*` environment variables (`FINSTAGE_SIM__SEED` for `sim.seed`).
//! Every key is documented in the README. A bad value fails start-up with a
//! message that names the key; nothing here panics.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use quant::Timeframe;
use serde::{Deserialize, Deserializer, Serialize};

use crate::symbol::Symbol;

pub mod auth;
pub mod cache;
pub mod news;
pub mod telegram;

/// The whole configuration of one `finstage` process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` (the default, a file created on first use) or `postgres://...`.
    pub database_url: DatabaseUrl,
    /// Where market data comes from.
    pub feed: Feed,
    /// Symbols followed by the feed and shown on the dashboard, in display order.
    #[serde(deserialize_with = "symbol_list")]
    pub watchlist: Vec<Symbol>,
    /// A `tracing` filter, e.g. `info` or `finstage=debug,sqlx=warn`.
    pub log: String,
    /// Log format: `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Directory with the built site (`pkg/` with the wasm, JS and CSS).
    pub site_root: PathBuf,
    /// Settings of the simulated feed.
    pub sim: SimConfig,
    /// Remote market-data providers.
    pub providers: ProvidersConfig,
    /// Periodic work.
    pub schedule: ScheduleConfig,
    /// In-process caches of quotes and indicator series.
    pub cache: cache::CacheConfig,
    /// The news crawler.
    pub news: NewsConfig,
    /// The live signal pipeline.
    pub signals: SignalsConfig,
    /// The Telegram bot.
    pub telegram: telegram::TelegramConfig,
    /// The HTTP edge: which names the server answers to, limits and timeouts.
    pub http: HttpConfig,
    /// Accounts and sessions: anonymous access, timeouts, proxies, login limits.
    pub auth: auth::AuthConfig,
}

/// The HTTP edge (section `http`): what every request passes before a route.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Host names the server answers to besides the listen address, IP
    /// literals and `localhost`, e.g. `["finstage.example.com"]` behind a proxy.
    /// A request whose `Host` is none of these gets 421 (DNS rebinding defence);
    /// an `Origin` with one of these names is accepted for state changes.
    pub public_names: Vec<String>,
    /// Largest request body in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Seconds a client may take to send a request's headers, and then its body.
    pub read_timeout_secs: u64,
    /// Seconds a request may take from its headers to its answer (408 after).
    pub request_timeout_secs: u64,
    /// Count requests per route with a latency histogram on `/metrics`.
    pub request_metrics: bool,
    /// Web origins (`https://app.example.com`) whose pages may call the REST
    /// API with an API token (CORS; never with the session cookie). Empty:
    /// none may.
    pub cors_origins: Vec<String>,
}

/// Whether `origin` is a web origin as an `Origin` header carries it:
/// `http://` or `https://`, a host name or IPv4 address, an optional port.
#[must_use]
pub fn is_origin(origin: &str) -> bool {
    let Some(authority) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else {
        return false;
    };
    let (host, port) = authority.rsplit_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
    is_host_name(host) && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

/// Whether `name` is a DNS host name as a `Host` header carries it, without
/// port: dot-separated labels of ASCII letters, digits and `-`.
#[must_use]
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_names: Vec::new(),
            body_limit_bytes: 1 << 20,
            read_timeout_secs: 10,
            request_timeout_secs: 30,
            request_metrics: true,
            cors_origins: Vec::new(),
        }
    }
}

/// The live signal pipeline (section `signals`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// Run the strategies on closed bars.
    pub enabled: bool,
    /// Timeframes followed; empty means the feed's own: `sim.interval` and `1d`
    /// for the simulator, `1d` for Yahoo.
    pub timeframes: Vec<Timeframe>,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self { enabled: true, timeframes: Vec::new() }
    }
}

/// The news crawler (section `news`). Off by default: it needs the internet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewsConfig {
    /// Run the `news` schedule.
    pub enabled: bool,
    /// Seconds between crawls.
    pub every_secs: u64,
    /// Feeds fetched at once.
    pub concurrency: usize,
    /// Yahoo's per-symbol headline feed; `?s=SYMBOL&region=US&lang=en-US` is appended.
    pub yahoo_base: String,
    /// Economy-wide (or other) feeds: `{ name = "fed", url = "https://...", symbols = [] }`.
    pub feeds: Vec<news::NewsSource>,
}

impl Default for NewsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            every_secs: 900,
            concurrency: 4,
            yahoo_base: news::YAHOO_HEADLINES.into(),
            feeds: Vec::new(),
        }
    }
}

/// Periodic work. `quote_refresh` runs with `feed = "yahoo"`; `daily_backfill`
/// and `all_time_high` run with any feed but `none`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Seconds between quote refreshes.
    pub quote_refresh_secs: u64,
    /// Symbols processed at once by each schedule.
    pub concurrency: usize,
    /// When the daily backfill and the all-time-high update run, `HH:MM` UTC.
    pub daily_at: String,
    /// Days back the daily backfill re-reads every day (late corrections).
    pub backfill_days: u32,
    /// Days back the daily backfill looks for gaps to fill.
    pub gap_scan_days: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            quote_refresh_secs: 60,
            concurrency: 8,
            daily_at: "22:30".into(),
            backfill_days: 7,
            gap_scan_days: 3_650,
        }
    }
}

impl ScheduleConfig {
    /// `daily_at` as a time of day (validated at load).
    #[must_use]
    pub fn daily_time(&self) -> chrono::NaiveTime {
        chrono::NaiveTime::parse_from_str(&self.daily_at, "%H:%M").unwrap_or_default()
    }
}

/// Where the remote providers are reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersConfig {
    /// Yahoo Finance's chart API.
    pub yahoo: RemoteConfig,
    /// Investing.com's historical-data API.
    pub investing: InvestingSettings,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            yahoo: RemoteConfig {
                base_url: "https://query1.finance.yahoo.com".into(),
                requests_per_second: 2.0,
                timeout_secs: 15,
            },
            investing: InvestingSettings {
                remote: RemoteConfig {
                    base_url: "https://api.investing.com".into(),
                    requests_per_second: 1.0,
                    timeout_secs: 15,
                },
                pairs: std::collections::BTreeMap::new(),
            },
        }
    }
}

/// A remote provider's address and pace.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// Scheme and host, e.g. `https://query1.finance.yahoo.com`.
    pub base_url: String,
    /// Steady request rate; the limiter slows below it after 429s.
    pub requests_per_second: f64,
    /// Time allowed for one request, seconds; a slower answer is a timeout (retried).
    pub timeout_secs: u64,
}

/// Investing.com's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvestingSettings {
    /// Address and pace.
    #[serde(flatten)]
    pub remote: RemoteConfig,
    /// Symbol to Investing.com pair id, e.g. `{ AAPL = 6408 }`.
    pub pairs: std::collections::BTreeMap<String, u64>,
}

/// The longest daily history the simulator serves, in calendar days
/// (`sim.history_days` may not exceed it).
pub const MAX_SIM_HISTORY_DAYS: u32 = 365 * 14;

/// Settings of the built-in market simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of the simulation: the same seed gives the same history.
    pub seed: u64,
    /// Length of the live intraday bars; one is emitted per interval.
    pub interval: Timeframe,
    /// Calendar days of daily history backfilled at start-up.
    pub history_days: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self { seed: 42, interval: Timeframe::S5, history_days: 5 * 365 }
    }
}

/// The source of market data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    /// The built-in simulator: offline, seeded, labelled as simulated everywhere.
    Sim,
    /// Yahoo Finance: daily history backfilled at start-up (durable jobs), then
    /// quotes refreshed by the `quote_refresh` schedule.
    Yahoo,
    /// No live feed: serve what is stored (CSV imports, earlier runs).
    None,
}

impl Feed {
    /// The name used in the configuration.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sim => "sim",
            Self::Yahoo => "yahoo",
            Self::None => "none",
        }
    }
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A database URL. Its `Debug` and `Display` hide any password, so it can be logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with its password, for connecting only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The file of a SQLite URL (`sqlite://PATH` or `sqlite:PATH`, options
    /// after `?` ignored); `None` for PostgreSQL and in-memory databases.
    #[must_use]
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.0.strip_prefix("sqlite://").or_else(|| self.0.strip_prefix("sqlite:"))?;
        let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" || options.split('&').any(|o| o == "mode=memory") {
            return None;
        }
        Some(PathBuf::from(path))
    }
}

impl From<&str> for DatabaseUrl {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // scheme://user:password@host -> scheme://user:***@host
        if let Some((scheme, rest)) = self.0.split_once("://")
            && let Some((credentials, host)) = rest.split_once('@')
            && let Some((user, _password)) = credentials.split_once(':')
        {
            return write!(f, "{scheme}://{user}:***@{host}");
        }
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: DatabaseUrl::from("sqlite://finstage.db"),
            feed: Feed::Sim,
            watchlist: ["AAPL", "MSFT", "GOOGL", "TSLA", "NVDA", "SPY", "BTC-USD"]
                .into_iter()
                .map(|s| Symbol::parse(s).expect("built-in watchlist symbols are valid"))
                .collect(),
            log: "info".into(),
            log_format: LogFormat::Text,
            site_root: PathBuf::from("target/site"),
            sim: SimConfig::default(),
            providers: ProvidersConfig::default(),
            schedule: ScheduleConfig::default(),
            cache: cache::CacheConfig::default(),
            news: NewsConfig::default(),
            signals: SignalsConfig::default(),
            telegram: telegram::TelegramConfig::default(),
            http: HttpConfig::default(),
            auth: auth::AuthConfig::default(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type or spelling.
    #[error("{}", describe(.0))]
    Source(#[from] Box<figment::Error>),
    /// The file named by `--config` or `FINSTAGE_CONFIG` does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value parsed but is not acceptable.
    #[error("invalid value for `{key}`: {message}")]
    Invalid {
        /// The offending key, e.g. `sim.interval`.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl Config {
    /// The refusal for removing a symbol the feed follows (it is on the
    /// watchlist and a feed runs).
    #[must_use]
    pub fn followed_message(&self, symbol: &Symbol) -> String {
        format!(
            "{symbol} is on the watchlist, which the {} feed follows: remove it from the watchlist first \
             (the Remove button on the dashboard)",
            self.feed.as_str()
        )
    }

    /// Loads the configuration from the file and the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key that is wrong.
    pub fn load(explicit_file: Option<&Path>) -> Result<Self, ConfigError> {
        let env_file = std::env::var_os("FINSTAGE_CONFIG").map(PathBuf::from);
        let file = match explicit_file.map(Path::to_path_buf).or(env_file) {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path)),
            Some(path) => Some(path),
            None => Some(PathBuf::from("finstage.toml")).filter(|p| p.exists()),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Env::prefixed("FINSTAGE_").ignore(&["CONFIG"]).split("__"));
        Self::from_figment(&figment)
    }

    /// The timeframes the signal pipeline follows (see [`SignalsConfig::timeframes`]).
    #[must_use]
    pub fn signal_timeframes(&self) -> Vec<Timeframe> {
        if !self.signals.enabled {
            return Vec::new();
        }
        if !self.signals.timeframes.is_empty() {
            return self.signals.timeframes.clone();
        }
        match self.feed {
            Feed::Sim => vec![self.sim.interval, Timeframe::D1],
            Feed::Yahoo => vec![Timeframe::D1],
            Feed::None => Vec::new(),
        }
    }

    /// Extracts and validates a configuration from any figment (tests build their own).
    ///
    /// # Errors
    /// [`ConfigError`] naming the key that is wrong.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(bad) = self.http.public_names.iter().find(|n| !is_host_name(n)) {
            return Err(ConfigError::Invalid {
                key: "http.public_names",
                message: format!("`{bad}` is not a host name (letters, digits, `-` and `.`; no port or scheme)"),
            });
        }
        if self.http.body_limit_bytes == 0 || self.http.read_timeout_secs == 0 || self.http.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "http",
                message: "body_limit_bytes, read_timeout_secs and request_timeout_secs must be at least 1".into(),
            });
        }
        if let Some(bad) = self.http.cors_origins.iter().find(|o| !is_origin(o)) {
            return Err(ConfigError::Invalid {
                key: "http.cors_origins",
                message: format!(
                    "`{bad}` is not an origin: `http://` or `https://`, a host name, an optional port, no path"
                ),
            });
        }
        let auth = &self.auth;
        if auth.session_idle_secs == 0
            || auth.session_max_secs == 0
            || auth.login_failures_per_account == 0
            || auth.login_failures_per_address == 0
            || auth.login_window_minutes == 0
            || auth.token_requests_per_minute == 0
        {
            return Err(ConfigError::Invalid {
                key: "auth",
                message: "session_idle_secs, session_max_secs, login_failures_per_account, \
                          login_failures_per_address, login_window_minutes and token_requests_per_minute \
                          must be at least 1"
                    .into(),
            });
        }
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid {
                key: "database_url",
                message: format!("`{}` is neither sqlite://PATH nor postgres://...", self.database_url),
            });
        }
        if !self.sim.interval.is_intraday() {
            return Err(ConfigError::Invalid {
                key: "sim.interval",
                message: format!("`{}` is not an intraday timeframe", self.sim.interval),
            });
        }
        if self.sim.history_days == 0 || self.sim.history_days > MAX_SIM_HISTORY_DAYS {
            return Err(ConfigError::Invalid {
                key: "sim.history_days",
                message: format!("{} is outside 1..={}", self.sim.history_days, MAX_SIM_HISTORY_DAYS),
            });
        }
        if chrono::NaiveTime::parse_from_str(&self.schedule.daily_at, "%H:%M").is_err() {
            return Err(ConfigError::Invalid {
                key: "schedule.daily_at",
                message: format!("`{}` is not a time of day HH:MM (UTC)", self.schedule.daily_at),
            });
        }
        if self.schedule.concurrency == 0 || self.schedule.quote_refresh_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "schedule",
                message: "concurrency and quote_refresh_secs must be at least 1".into(),
            });
        }
        if self.news.every_secs == 0 || self.news.concurrency == 0 {
            return Err(ConfigError::Invalid {
                key: "news",
                message: "every_secs and concurrency must be at least 1".into(),
            });
        }
        if !(self.news.yahoo_base.starts_with("http://") || self.news.yahoo_base.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                key: "news.yahoo_base",
                message: format!("`{}` is not an http(s) URL", self.news.yahoo_base),
            });
        }
        if self.watchlist.is_empty() && self.feed == Feed::Sim {
            return Err(ConfigError::Invalid {
                key: "watchlist",
                message: "the simulated feed needs at least one symbol".into(),
            });
        }
        for (key, remote) in
            [("providers.yahoo", &self.providers.yahoo), ("providers.investing", &self.providers.investing.remote)]
        {
            if !(remote.base_url.starts_with("http://") || remote.base_url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("base_url `{}` is not an http(s) URL", remote.base_url),
                });
            }
            if !(remote.requests_per_second > 0.0 && remote.requests_per_second <= 1_000.0) {
                return Err(ConfigError::Invalid { key, message: "requests_per_second must be in (0, 1000]".into() });
            }
            if !(1..=300).contains(&remote.timeout_secs) {
                return Err(ConfigError::Invalid { key, message: "timeout_secs must be 1 to 300".into() });
            }
        }
        if let Some(bad) = self.providers.investing.pairs.keys().find(|s| Symbol::parse(s).is_err()) {
            return Err(ConfigError::Invalid {
                key: "providers.investing.pairs",
                message: format!("`{bad}` is not a symbol"),
            });
        }
        self.telegram.validate()?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return Err(ConfigError::Invalid { key: "log", message: e.to_string() });
        }
        Ok(())
    }
}

/// One line per problem, naming the key as written in the TOML file and, for
/// values from the environment, the exact variable.
fn describe(errors: &figment::Error) -> String {
    errors
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_env = e.metadata.as_ref().is_some_and(|m| m.name.contains("environment"));
            let origin = match &e.metadata {
                _ if key.is_empty() => String::new(),
                Some(_) if from_env && key == "database_url" => " (DATABASE_URL or FINSTAGE_DATABASE_URL)".to_owned(),
                Some(_) if from_env => format!(" (FINSTAGE_{})", key.to_ascii_uppercase().replace('.', "__")),
                Some(m) => {
                    format!(" (from {})", m.source.as_ref().map_or_else(|| m.name.to_string(), ToString::to_string))
                }
                None => String::new(),
            };
            if key.is_empty() { e.kind.to_string() } else { format!("invalid value for `{key}`{origin}: {}", e.kind) }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Accepts a list of symbols as a TOML/JSON array or as one comma-separated
/// string (the natural form in an environment variable).
fn symbol_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Symbol>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(deserializer)? {
        Raw::One(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        Raw::Many(v) => v,
    };
    let mut symbols: Vec<Symbol> = Vec::with_capacity(items.len());
    for item in items {
        let symbol = Symbol::parse(&item).map_err(serde::de::Error::custom)?;
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
    }
    Ok(symbols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn figment_with(pairs: &[(&str, &str)]) -> Figment {
        let mut toml = String::new();
        for (k, v) in pairs {
            toml.push_str(&format!("{k} = {v}\n"));
        }
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(&toml))
    }

    #[test]
    fn defaults_are_valid_and_embedded() {
        let config = Config::from_figment(&figment_with(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert!(config.database_url.expose().starts_with("sqlite:"));
        assert_eq!(config.feed, Feed::Sim);
        assert_eq!(config.watchlist.len(), 7);
    }

    #[test]
    fn watchlist_accepts_a_comma_separated_string() {
        let config = Config::from_figment(&figment_with(&[("watchlist", "\"aapl, msft,AAPL\"")])).unwrap();
        let names: Vec<&str> = config.watchlist.iter().map(Symbol::as_str).collect();
        assert_eq!(names, ["AAPL", "MSFT"]);
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("listen", "\"not an address\"")], "listen"),
            (&[("database_url", "\"mysql://x\"")], "database_url"),
            (&[("feed", "\"bloomberg\"")], "feed"),
            (&[("log", "\"=[\"")], "log"),
            (&[("watchlist", "\"AAPL,bad symbol!\"")], "watchlist"),
            (&[("nonsense", "1")], "nonsense"),
        ];
        for (pairs, key) in cases {
            let err = Config::from_figment(&figment_with(pairs)).unwrap_err().to_string();
            assert!(err.contains(key), "error for {pairs:?} should name `{key}`: {err}");
        }
        let sim =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string("[sim]\ninterval = \"1d\""));
        let err = Config::from_figment(&sim).unwrap_err().to_string();
        assert!(err.contains("sim.interval"), "{err}");
    }

    #[test]
    fn database_url_hides_its_password() {
        let url = DatabaseUrl::from("postgres://finstage:hunter2@db:5432/finstage");
        assert_eq!(url.to_string(), "postgres://finstage:***@db:5432/finstage");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "postgres://finstage:hunter2@db:5432/finstage");
    }
}
