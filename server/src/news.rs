//! The news crawler: headlines from RSS 2.0 and Atom feeds, stored in `news`
//! and handed to a callback as they first appear.
//!
//! Two kinds of feed are read:
//! - per symbol, Yahoo Finance's headline feed
//!   (`{base}?s={SYMBOL}&region=US&lang=en-US`, base [`YAHOO_HEADLINES`]),
//!   whose items are linked to that symbol;
//! - configured feeds ([`NewsSource`]: a name, an address and the symbols the
//!   feed concerns, none for general economic news).
//!
//! Each feed is fetched with a timeout and a size limit, parsed by `feed-rs`,
//! and its items normalised into [`NewsItem`]s:
//! - the dedupe key is the item's guid (RSS) or id (Atom) when present — as is
//!   when it is a URI (`https://...`, `tag:...`, `urn:...`), else prefixed with
//!   the source's name so that two publishers' numeric ids cannot collide —
//!   and the item's link otherwise; items with neither are dropped;
//! - the time is the publication time, else the update time, else the fetch
//!   time, and never later than the fetch time (a clock or time-zone mistake
//!   in a feed must not pin an item to the top of every list);
//! - title and summary are reduced to plain text ([`plain_text`]): tags
//!   removed, scripts and styles dropped, entities decoded, whitespace
//!   collapsed, then shortened on a word boundary;
//! - only `http`/`https` links are kept.
//!
//! A feed that cannot be fetched or parsed is a [`NewsError`]; nothing of it is
//! stored, and the caller logs it and moves on. The `news` schedule
//! (`crate::schedules::news`) runs one crawl per symbol and one per configured feed.

use std::sync::Arc;
use std::time::Duration;

use app::live::protocol::NewsItem as LiveNewsItem;

use crate::bus::Bus;
use crate::providers::http::{BROWSER_USER_AGENT, cloudflare_challenge};
use crate::storage::news::{self, Inserted, NewsItem, StoredNews};
use crate::storage::{Db, StorageError};
use crate::symbol::Symbol;

pub use crate::config::news::{NewsSource, NewsSourceSpec, SourceError, YAHOO_HEADLINES};
/// The source name of items from the per-symbol Yahoo feeds.
pub const YAHOO_SOURCE: &str = "yahoo";
/// The name of the news schedule, as recorded in `runs`.
pub const SCHEDULE_NAME: &str = "news";
/// Default whole-request timeout for one feed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default largest feed document read; a headline feed is a few tens of kB.
pub const DEFAULT_MAX_BYTES: usize = 2 * 1024 * 1024;
/// The most items taken from one feed document.
pub const MAX_ITEMS_PER_FEED: usize = 200;
/// Longest stored title, in characters.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest stored summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 500;
/// Longest accepted dedupe key or link, in bytes; longer items are dropped.
const MAX_KEY_BYTES: usize = 2_048;

/// Why a feed yielded nothing.
#[derive(Debug, thiserror::Error)]
pub enum NewsError {
    /// A configured feed is invalid.
    #[error("invalid news feed: {0}")]
    Config(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    /// The request did not complete (connection refused, reset, bad address...).
    #[error("feed {feed}: request failed: {reason}")]
    Transport {
        /// The feed's name.
        feed: String,
        /// What failed.
        reason: String,
    },
    /// No complete answer within the timeout.
    #[error("feed {feed}: no answer within {after:?}")]
    Timeout {
        /// The feed's name.
        feed: String,
        /// The timeout.
        after: Duration,
    },
    /// The server answered with a non-success status.
    #[error("feed {feed}: HTTP {status} from {url}")]
    Status {
        /// The feed's name.
        feed: String,
        /// The HTTP status.
        status: u16,
        /// The address requested.
        url: String,
    },
    /// A bot-protection page (Cloudflare) came back instead of the feed.
    #[error("feed {feed}: blocked by bot protection ({evidence})")]
    Blocked {
        /// The feed's name.
        feed: String,
        /// What gave it away.
        evidence: &'static str,
    },
    /// The document is larger than the crawler's limit.
    #[error("feed {feed}: document larger than {limit} bytes")]
    TooLarge {
        /// The feed's name.
        feed: String,
        /// The limit.
        limit: usize,
    },
    /// The document is not a well-formed RSS or Atom feed.
    #[error("feed {feed}: not a valid feed: {reason}")]
    Malformed {
        /// The feed's name.
        feed: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The items could not be stored.
    #[error("storing news failed: {0}")]
    Storage(#[from] StorageError),
}

impl From<SourceError> for NewsError {
    fn from(e: SourceError) -> Self {
        Self::Config(e.0)
    }
}

/// Fetches, parses and stores feeds. Cheap to clone (the HTTP client is shared).
#[derive(Debug, Clone)]
pub struct Crawler {
    client: reqwest::Client,
    yahoo_base: String,
    timeout: Duration,
    max_bytes: usize,
}

impl Crawler {
    /// A crawler with its own HTTP client (rustls, a browser-like user agent:
    /// Yahoo refuses library user agents) and the default limits.
    ///
    /// # Errors
    /// [`NewsError::Client`] when the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, NewsError> {
        let client = reqwest::Client::builder()
            .user_agent(BROWSER_USER_AGENT)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(2)
            .build()
            .map_err(NewsError::Client)?;
        Ok(Self::with_client(client))
    }

    /// A crawler using `client` (its user agent and proxies), with the default limits.
    #[must_use]
    pub fn with_client(client: reqwest::Client) -> Self {
        Self { client, yahoo_base: YAHOO_HEADLINES.to_owned(), timeout: DEFAULT_TIMEOUT, max_bytes: DEFAULT_MAX_BYTES }
    }

    /// Replaces the base of the per-symbol feed address (tests point it to loopback).
    #[must_use]
    pub fn yahoo_base(mut self, base: impl Into<String>) -> Self {
        self.yahoo_base = base.into();
        self
    }

    /// Replaces the per-feed timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces the largest document read.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The Yahoo headline feed of `symbol`; its items are linked to `symbol`.
    #[must_use]
    pub fn symbol_source(&self, symbol: &Symbol) -> NewsSource {
        // Tickers are `A-Z 0-9 . - = ^ _`; of those only `=` and `^` need escaping.
        let escaped = symbol.as_str().replace('=', "%3D").replace('^', "%5E");
        let url = format!("{}?s={escaped}&region=US&lang=en-US", self.yahoo_base);
        NewsSource::for_symbol(YAHOO_SOURCE, url, symbol)
    }

    /// Fetches and parses `source`, returning its items normalised (not stored).
    ///
    /// # Errors
    /// [`NewsError`] when the feed cannot be fetched or is not a valid feed.
    pub async fn fetch(&self, source: &NewsSource) -> Result<Vec<NewsItem>, NewsError> {
        let body = self.download(source).await?;
        let fetched_at = chrono::Utc::now().timestamp();
        parse(source, &body, fetched_at)
    }

    /// Fetches, parses and stores `source`; returns what was new.
    ///
    /// # Errors
    /// [`NewsError`] when the feed cannot be fetched, is not a valid feed, or
    /// cannot be stored. Nothing is stored then.
    pub async fn crawl(&self, db: &Db, source: &NewsSource) -> Result<Inserted, NewsError> {
        let items = self.fetch(source).await?;
        Ok(news::insert_many(db, &items).await?)
    }

    async fn download(&self, source: &NewsSource) -> Result<Vec<u8>, NewsError> {
        let feed = || source.name().to_owned();
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                NewsError::Timeout { feed: feed(), after: self.timeout }
            } else {
                NewsError::Transport { feed: feed(), reason: error_chain(&e) }
            }
        };
        let request = self.client.get(source.url()).timeout(self.timeout).header(
            reqwest::header::ACCEPT,
            "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1",
        );
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if response.content_length().is_some_and(|n| n > self.max_bytes as u64) {
            return Err(NewsError::TooLarge { feed: feed(), limit: self.max_bytes });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(NewsError::TooLarge { feed: feed(), limit: self.max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        if let Some(evidence) = cloudflare_challenge(status, &headers, &body) {
            return Err(NewsError::Blocked { feed: feed(), evidence });
        }
        if !status.is_success() {
            return Err(NewsError::Status { feed: feed(), status: status.as_u16(), url: source.url().to_owned() });
        }
        Ok(body)
    }
}

/// An error and its causes on one line (reqwest's own message is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Parses a feed document of `source` fetched at `fetched_at` (Unix seconds)
/// into normalised items. Items without a usable key or title are dropped;
/// a document that does not parse as a whole yields an error and no items.
///
/// # Errors
/// [`NewsError::Malformed`] when `body` is not a well-formed RSS or Atom feed.
pub fn parse(source: &NewsSource, body: &[u8], fetched_at: i64) -> Result<Vec<NewsItem>, NewsError> {
    // An empty id stays empty (feed-rs would otherwise hash one up): a missing
    // guid must fall back to the link, which is stable across crawls.
    let parser = feed_rs::parser::Builder::new().id_generator(|_, _, _| String::new()).sanitize_content(false).build();
    let feed = parser
        .parse(body)
        .map_err(|e| NewsError::Malformed { feed: source.name().to_owned(), reason: error_chain(&e) })?;
    let symbols: Vec<String> = source.symbols().iter().map(|s| s.as_str().to_owned()).collect();
    let items = feed
        .entries
        .into_iter()
        .take(MAX_ITEMS_PER_FEED)
        .filter_map(|entry| normalise(source, entry, fetched_at, &symbols))
        .collect();
    Ok(items)
}

fn normalise(
    source: &NewsSource,
    entry: feed_rs::model::Entry,
    fetched_at: i64,
    symbols: &[String],
) -> Option<NewsItem> {
    let url = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .map(|l| without_controls(l.href.trim()))
        .filter(|href| is_web_address(href) && href.len() <= MAX_KEY_BYTES);
    let guid = without_controls(entry.id.trim());
    let dedupe_key = if !guid.is_empty() {
        if has_uri_scheme(&guid) { guid } else { format!("{}:{guid}", source.name()) }
    } else {
        url.clone()?
    };
    if dedupe_key.len() > MAX_KEY_BYTES {
        return None;
    }
    let text_of = |text: &feed_rs::model::Text, max_chars: usize| {
        let html = matches!(text.content_type.as_str(), "text/html" | "application/xhtml+xml");
        if html { plain_text(&text.content, max_chars) } else { decoded_text(&text.content, max_chars) }
    };
    let summary = match (&entry.summary, &entry.content) {
        (Some(summary), _) => Some(text_of(summary, MAX_SUMMARY_CHARS)),
        (None, Some(content)) => content.body.as_deref().map(|body| plain_text(body, MAX_SUMMARY_CHARS)),
        (None, None) => None,
    }
    .filter(|s| !s.is_empty());
    let title = entry.title.as_ref().map(|t| text_of(t, MAX_TITLE_CHARS)).filter(|t| !t.is_empty());
    let title = match (title, &summary) {
        (Some(title), _) => title,
        (None, Some(summary)) => shorten(summary, MAX_TITLE_CHARS),
        (None, None) => return None,
    };
    let published_at = entry.published.or(entry.updated).map_or(fetched_at, |t| t.timestamp().min(fetched_at));
    Some(NewsItem {
        dedupe_key,
        source: source.name().to_owned(),
        url,
        title,
        summary,
        published_at,
        fetched_at,
        symbols: symbols.to_vec(),
    })
}

/// Whether `text` starts with a URI scheme (`https:`, `tag:`, `urn:`...).
fn has_uri_scheme(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else { return false };
    !rest.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Whether `href` is an absolute `http`/`https` address (what a reader may follow).
fn is_web_address(href: &str) -> bool {
    reqwest::Url::parse(href).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

fn without_controls(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// Reduces an HTML fragment to plain text of at most `max_chars` characters:
/// tags removed (block-level ones leave a space, inline ones nothing),
/// `script`/`style` elements and comments dropped, entities decoded,
/// whitespace collapsed, and an over-long result cut on a word boundary with `…`.
#[must_use]
pub fn plain_text(html: &str, max_chars: usize) -> String {
    decoded_text(&strip_tags(html), max_chars)
}

/// Decodes entities, collapses whitespace and shortens, for text that is not HTML.
fn decoded_text(text: &str, max_chars: usize) -> String {
    let decoded = decode_entities(text);
    let collapsed =
        decoded.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect::<Vec<_>>();
    shorten(&collapsed.join(" "), max_chars)
}

/// Cuts `text` to at most `max_chars` characters, on a word boundary when one
/// is near, marking the cut with `…`.
fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let keep: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    let cut = match keep.rfind(' ') {
        Some(space) if keep[space..].chars().count() <= 30 => keep[..space].trim_end(),
        _ => keep.trim_end(),
    };
    format!("{cut}…")
}

/// Inline elements: removing their tags must not split a word.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd", "mark", "q", "s", "samp",
    "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var",
];

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        // A comment runs to `-->`, whatever it contains.
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            out.push(' ');
            continue;
        }
        // `<` not followed by a tag name, `/`, `!` or `?` is text (`a < b`).
        if !after.starts_with(|c: char| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?')) {
            out.push('<');
            rest = after;
            continue;
        }
        let Some(close) = tag_end(after) else {
            // An unterminated tag: drop the rest rather than show markup.
            rest = "";
            break;
        };
        let tag = &after[..close];
        rest = &after[close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !tag.starts_with('/') && matches!(name.as_str(), "script" | "style") {
            // Skip the element's content up to its end tag.
            let lower = rest.to_ascii_lowercase();
            rest = match lower.find(&format!("</{name}")) {
                Some(end) => rest[end..].find('>').map_or("", |gt| &rest[end + gt + 1..]),
                None => "",
            };
            out.push(' ');
            continue;
        }
        if !INLINE_TAGS.contains(&name.as_str()) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

/// The index of the `>` closing a tag that starts at `tag[0]`, skipping quoted
/// attribute values.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices() {
        match (quote, c) {
            (None, '>') => return Some(i),
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    None
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded =
            after.find(';').filter(|&semi| semi <= 10).and_then(|semi| entity(&after[..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity name (between `&` and `;`) stands for, if known.
fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| !c.is_control() || c.is_whitespace());
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" | "ensp" | "emsp" | "thinsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "times" => '×',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        _ => return None,
    })
}

/// Called with each headline the `news` schedule stores for the first time
/// (the server publishes it on the live `news` channel).
pub type OnNews = Arc<dyn Fn(&StoredNews) + Send + Sync>;

/// The live-protocol form of a stored headline: an absent link or summary
/// becomes an empty string.
#[must_use]
pub fn live_item(item: &StoredNews) -> LiveNewsItem {
    LiveNewsItem {
        id: item.id,
        source: item.source.clone(),
        url: item.url.clone().unwrap_or_default(),
        title: item.title.clone(),
        summary: item.summary.clone().unwrap_or_default(),
        published_at: item.published_at,
        symbols: item.symbols.clone(),
    }
}

/// An [`OnNews`] that publishes each new headline on `bus`'s `news` channel.
#[must_use]
pub fn publish_on(bus: Bus) -> OnNews {
    Arc::new(move |item: &StoredNews| bus.publish_news(live_item(item)))
}
