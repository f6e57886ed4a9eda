//! The news settings' feed list: a configured feed, validated when the
//! configuration is read. The crawler is `crate::news`.

use serde::{Deserialize, Serialize};

use crate::symbol::{MAX_SYMBOL_LEN, Symbol};

/// Yahoo Finance's per-symbol headline feed (RSS 2.0).
pub const YAHOO_HEADLINES: &str = "https://feeds.finance.yahoo.com/rss/2.0/headline";

/// Feed keys in the `news` schedule's runs start with this (tickers never do).
const FEED_KEY_PREFIX: char = '_';

/// Why a configured feed is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A configured feed: its name (also the `source` of its items), its address,
/// and the symbols its items concern (none: general economic news).
///
/// In configuration: `{ name = "fed", url = "https://...", symbols = [] }`.
/// Names are 1 to 19 characters of `a-z 0-9 - .`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NewsSourceSpec", into = "NewsSourceSpec")]
pub struct NewsSource {
    name: String,
    url: String,
    symbols: Vec<Symbol>,
    run_key: Symbol,
}

/// The configuration form of [`NewsSource`], validated on conversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewsSourceSpec {
    /// The feed's name.
    pub name: String,
    /// Its `http`/`https` address.
    pub url: String,
    /// Symbols its items concern.
    #[serde(default)]
    pub symbols: Vec<Symbol>,
}

impl TryFrom<NewsSourceSpec> for NewsSource {
    type Error = SourceError;
    fn try_from(spec: NewsSourceSpec) -> Result<Self, Self::Error> {
        Self::new(&spec.name, &spec.url, spec.symbols)
    }
}

impl From<NewsSource> for NewsSourceSpec {
    fn from(source: NewsSource) -> Self {
        Self { name: source.name, url: source.url, symbols: source.symbols }
    }
}

impl NewsSource {
    /// A feed named `name` at `url` whose items concern `symbols`.
    ///
    /// # Errors
    /// [`SourceError`] when the name is not 1 to 19 characters of
    /// `a-z 0-9 - .` or the address is not an absolute `http`/`https` URL.
    pub fn new(name: &str, url: &str, symbols: Vec<Symbol>) -> Result<Self, SourceError> {
        let name_ok = (1..MAX_SYMBOL_LEN).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
        let run_key = Symbol::parse(&format!("{FEED_KEY_PREFIX}{name}")).ok().filter(|_| name_ok).ok_or_else(|| {
            SourceError(format!("name `{name}` must be 1 to {} characters of a-z, 0-9, - and .", MAX_SYMBOL_LEN - 1))
        })?;
        match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {}
            _ => return Err(SourceError(format!("feed {name}: `{url}` is not an http(s) address"))),
        }
        let mut symbols = symbols;
        symbols.sort();
        symbols.dedup();
        Ok(Self { name: name.to_owned(), url: url.to_owned(), symbols, run_key })
    }

    /// A symbol's own headline feed, keyed in runs by the symbol itself.
    #[must_use]
    pub fn for_symbol(source: &str, url: String, symbol: &Symbol) -> Self {
        Self { name: source.to_owned(), url, symbols: vec![symbol.clone()], run_key: symbol.clone() }
    }

    /// The name, also the `source` of its items.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The symbols its items concern; empty for general economic news.
    #[must_use]
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The key of this feed in the `news` schedule's runs: `_` and the name,
    /// upper-cased (`fed` → `_FED`; tickers do not start with `_`). For a
    /// symbol's Yahoo feed, the symbol.
    #[must_use]
    pub fn run_key(&self) -> &Symbol {
        &self.run_key
    }
}
