//! The news crawler against a loopback server of real-shaped feeds (Yahoo's
//! per-symbol RSS, an Atom feed, an RSS feed without guids) and broken answers
//! (malformed XML, HTML pages, error statuses, oversized and slow documents);
//! its storage, schedule and REST endpoint on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;
mod mocks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mocks::http::Reply;
use mocks::rss::rss;
use serde_json::Value;
use server::config::Config;
use server::news::{self, Crawler, NewsError, NewsSource, OnNews};
use server::scheduler::{self, Cadence};
use server::state::AppState;
use server::storage::news::{self as store, Cursor, NewsItem, StoredNews};
use server::storage::{Db, runs};
use server::symbol::Symbol;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

// ---------------------------------------------------------------------------
// The documents.

/// Yahoo's headline feed for AAPL: guids are opaque, descriptions are HTML
/// (in CDATA or entity-escaped), times are RFC 2822 with various zones.
const YAHOO_AAPL: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0">
  <channel>
    <copyright>Copyright (c) 2024 Yahoo! Inc. All rights reserved.</copyright>
    <description>Latest Financial News for AAPL</description>
    <item>
      <description><![CDATA[<p>Apple&#39;s <b>iPhone</b> sales&nbsp;beat estimates in the quarter.</p><script>track('x')</script><img src="https://s.yimg.com/x.png"/>]]></description>
      <guid isPermaLink="false">0b0cfd4e-4c8d-3d52-9c0e-6a6f3f1e2c11</guid>
      <link>https://finance.yahoo.com/news/apple-iphone-sales-beat-164512345.html?.tsrc=rss</link>
      <pubDate>Tue, 19 Nov 2024 16:45:12 +0000</pubDate>
      <title>Apple&#8217;s iPhone sales beat estimates</title>
    </item>
    <item>
      <description>Big Tech led the Nasdaq higher on Tuesday.</description>
      <guid isPermaLink="false">7c2e9a10-1111-3b7e-a5d2-3e2f1d0c9b8a</guid>
      <link>https://finance.yahoo.com/news/apple-microsoft-lead-tech-rally-150000789.html?.tsrc=rss</link>
      <pubDate>Tue, 19 Nov 2024 15:00:00 +0000</pubDate>
      <title>Apple &amp; Microsoft lead tech rally</title>
    </item>
    <item>
      <description>&lt;p&gt;Analysts at &lt;a href="https://example.com/ms"&gt;Morgan Stanley&lt;/a&gt; raised their&lt;br/&gt;price targets.&lt;/p&gt;</description>
      <guid isPermaLink="false">e4b1f7d2-2222-3c1d-8f3e-9a8b7c6d5e4f</guid>
      <link>https://finance.yahoo.com/news/analysts-raise-apple-targets-213000456.html?.tsrc=rss</link>
      <pubDate>Mon, 18 Nov 2024 21:30:00 GMT</pubDate>
      <title>Analysts raise Apple price targets</title>
    </item>
    <language>en-US</language>
    <lastBuildDate>Tue, 19 Nov 2024 17:02:03 +0000</lastBuildDate>
    <link>https://finance.yahoo.com/quote/AAPL?p=AAPL</link>
    <title>Yahoo! Finance: AAPL News</title>
  </channel>
</rss>
"#;

/// MSFT's feed: the shared "tech rally" item and one of its own.
const YAHOO_MSFT: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0">
  <channel>
    <description>Latest Financial News for MSFT</description>
    <item>
      <description>Big Tech led the Nasdaq higher on Tuesday.</description>
      <guid isPermaLink="false">7c2e9a10-1111-3b7e-a5d2-3e2f1d0c9b8a</guid>
      <link>https://finance.yahoo.com/news/apple-microsoft-lead-tech-rally-150000789.html?.tsrc=rss</link>
      <pubDate>Tue, 19 Nov 2024 15:00:00 +0000</pubDate>
      <title>Apple &amp; Microsoft lead tech rally</title>
    </item>
    <item>
      <description>The cloud unit grew 33%.</description>
      <guid isPermaLink="false">a9d8c7b6-3333-3e4f-9a0b-1c2d3e4f5a6b</guid>
      <link>https://finance.yahoo.com/news/microsoft-azure-growth-090500111.html?.tsrc=rss</link>
      <pubDate>Tue, 19 Nov 2024 09:05:00 -0500</pubDate>
      <title>Microsoft's Azure keeps growing</title>
    </item>
    <link>https://finance.yahoo.com/quote/MSFT?p=MSFT</link>
    <title>Yahoo! Finance: MSFT News</title>
  </channel>
</rss>
"#;

/// An Atom feed of central-bank press releases (general economic news): one
/// entry with an HTML summary, one with only HTML content and a time in the future.
const ATOM_FED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Federal Reserve Board - Press Releases</title>
  <id>https://www.federalreserve.gov/feeds/press_all.xml</id>
  <updated>2024-11-07T19:00:00Z</updated>
  <link rel="self" href="https://www.federalreserve.gov/feeds/press_all.xml"/>
  <entry>
    <title>Federal Reserve issues FOMC statement</title>
    <link href="https://www.federalreserve.gov/newsevents/pressreleases/monetary20241107a.htm"/>
    <id>https://www.federalreserve.gov/newsevents/pressreleases/monetary20241107a.htm</id>
    <published>2024-11-07T19:00:00Z</published>
    <updated>2024-11-07T19:05:00Z</updated>
    <summary type="html">&lt;p&gt;The Committee decided to lower the target range for the federal funds rate by 1/4 percentage point.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title type="text">Minutes of the Federal Open Market Committee</title>
    <id>tag:federalreserve.gov,2024:minutes-20241107</id>
    <link rel="enclosure" type="application/pdf" href="https://www.federalreserve.gov/monetarypolicy/files/fomcminutes20241107.pdf"/>
    <link rel="alternate" type="text/html" href="https://www.federalreserve.gov/monetarypolicy/fomcminutes20241107.htm"/>
    <updated>2099-01-01T00:00:00Z</updated>
    <content type="html">&lt;div&gt;&lt;h3&gt;Developments&lt;/h3&gt;&lt;p&gt;Participants noted inflation had eased.&lt;/p&gt;&lt;/div&gt;</content>
  </entry>
</feed>
"#;

/// RSS without guids: items are keyed by link; items without a usable link are dropped.
const RSS_NO_GUID: &str = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="2.0">
  <channel>
    <title>ECB press releases</title>
    <link>https://www.ecb.europa.eu/</link>
    <description>Press releases</description>
    <item>
      <title>Monetary policy decisions</title>
      <link>https://www.ecb.europa.eu/press/pr/date/2024/html/ecb.mp241017.en.html</link>
      <description>The Governing Council today decided to lower the three key ECB interest rates by 25 basis points.</description>
      <pubDate>Thu, 14 Nov 2024 13:30:00 +0000</pubDate>
    </item>
    <item>
      <title>Euro area bank interest rate statistics</title>
      <link>https://www.ecb.europa.eu/press/stats/mfi/html/ecb.birs2410.en.html</link>
    </item>
    <item>
      <title>An item with nothing to identify it</title>
      <description>No guid, no link.</description>
    </item>
    <item>
      <title>A script link</title>
      <link>javascript:alert(1)</link>
    </item>
  </channel>
</rss>
"#;

/// Yahoo-shaped, cut off in the middle of the second item.
const TRUNCATED: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0">
  <channel>
    <item>
      <guid isPermaLink="false">11111111-2222-3333-4444-555555555555</guid>
      <link>https://finance.yahoo.com/news/first-item.html</link>
      <title>A complete first item</title>
    </item>
    <item>
      <guid isPermaLink="false">66666666-7777-8888-9999-000000000000</guid>
      <title>Cut off"#;

/// A bare `&` in a title: not well-formed XML.
const BAD_ENTITY: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>x</title>
<item><title>AT&T earnings beat</title><link>https://example.com/att</link></item>
</channel></rss>"#;

/// What Cloudflare answers instead of the feed (status 200 here, as some setups do).
const CLOUDFLARE_PAGE: &str = r#"<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper" role="main">
<noscript>Enable JavaScript and cookies to continue</noscript>
<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8e5f"></script></div></body></html>"#;

/// A consent page: HTML, 200, no bot-protection markers.
const CONSENT_PAGE: &str = r#"<!DOCTYPE html><html><head><title>Yahoo is part of the Yahoo family of brands</title></head>
<body><form method="post" action="https://consent.yahoo.com/v2/collectConsent"><button>Accept all</button></form></body></html>"#;

const EMPTY_CHANNEL: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0"><channel><description>Latest Financial News for EMPTY</description>
<link>https://finance.yahoo.com/quote/EMPTY</link><title>Yahoo! Finance: EMPTY News</title></channel></rss>"#;

// ---------------------------------------------------------------------------
// The loopback server.

/// The shared feed server, answering what each test here expects.
struct Feeds {
    mock: mocks::rss::Feeds,
    base: String,
}

impl Feeds {
    async fn start() -> Self {
        let mock = mocks::rss::Feeds::start().await;
        for (symbol, body) in [("AAPL", YAHOO_AAPL), ("MSFT", YAHOO_MSFT), ("BROKEN", TRUNCATED)] {
            mock.headlines(symbol, rss(body));
        }
        for symbol in ["EMPTY", "^GSPC", "EURUSD=X"] {
            mock.headlines(symbol, rss(EMPTY_CHANNEL));
        }
        mock.headlines("GONE", Reply::with_type(404, "text/html", "<html><body>Not Found</body></html>"));
        mock.at("/fed.atom", Reply::with_type(200, "application/atom+xml", ATOM_FED));
        mock.rss("/ecb.rss", RSS_NO_GUID);
        mock.rss("/bad-entity.rss", BAD_ENTITY);
        mock.at("/cloudflare", Reply::with_type(200, "text/html; charset=UTF-8", CLOUDFLARE_PAGE));
        mock.at("/consent", Reply::with_type(200, "text/html", CONSENT_PAGE));
        mock.rss("/big.rss", format!("{}{}", YAHOO_AAPL, " ".repeat(100 * 1024)));
        // Never answers: a fetch of it can only end by the crawler giving up.
        mock.silent("/slow.rss");
        let base = mock.base().to_owned();
        Self { mock, base }
    }

    fn crawler(&self) -> Crawler {
        Crawler::new().unwrap().yahoo_base(self.mock.yahoo_base()).timeout(Duration::from_secs(5)).max_bytes(64 * 1024)
    }

    fn source(&self, name: &str, path: &str, symbols: &[&str]) -> NewsSource {
        let symbols = symbols.iter().map(|s| Symbol::parse(s).unwrap()).collect();
        NewsSource::new(name, &format!("{}{path}", self.base), symbols).unwrap()
    }
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------
// Normalisation, without a database.

#[test]
fn html_is_reduced_to_short_plain_text() {
    let text = news::plain_text;
    assert_eq!(text("<p>Hello&nbsp;<b>wor</b>ld</p><p>Next&hellip;</p>", 100), "Hello world Next…");
    assert_eq!(text("a<script type=\"x\">var s = '<p>';</script>b<STYLE>p{}</STYLE>c", 100), "a b c");
    assert_eq!(text("x<!-- <p>hidden</p> -->y", 100), "x y");
    assert_eq!(text("if a < b &amp;&amp; c > d", 100), "if a < b && c > d");
    assert_eq!(
        text("&lt;b&gt; stays visible, AT&T and &unknown; too", 100),
        "<b> stays visible, AT&T and &unknown; too"
    );
    assert_eq!(text("Apple&#8217;s &#x2019;Q4&#x2019; &#0; &quot;beat&quot;", 100), "Apple’s ’Q4’ &#0; \"beat\"");
    assert_eq!(text("<a href=\"x?a=1>2\" title='>'>link</a> text", 100), "link text");
    assert_eq!(text("line one<br/>line\ttwo\n\n three", 100), "line one line two three");
    assert_eq!(text("unterminated <b tag", 100), "unterminated");

    let long = "word ".repeat(200);
    let cut = text(&long, 500);
    assert!(cut.chars().count() <= 500, "{}", cut.chars().count());
    assert!(cut.ends_with("word…"), "cut on a word boundary: {cut:?}");
    let unbroken = "x".repeat(600);
    assert_eq!(text(&unbroken, 10), "xxxxxxxxx…");
}

#[test]
fn configured_feeds_are_validated() {
    let ok =
        NewsSource::new("ecb-press.v2", "https://www.ecb.europa.eu/rss/press.html", vec![sym("eurusd=x")]).unwrap();
    assert_eq!(ok.name(), "ecb-press.v2");
    assert_eq!(ok.run_key().as_str(), "_ECB-PRESS.V2");
    assert_eq!(ok.symbols(), &[sym("EURUSD=X")]);
    for (name, url) in [
        ("", "https://x.example/feed"),
        ("Fed", "https://x.example/feed"),
        ("fed feed", "https://x.example/feed"),
        ("a-name-that-is-too-long", "https://x.example/feed"),
        ("fed", "ftp://x.example/feed"),
        ("fed", "not a url"),
        ("fed", "file:///etc/passwd"),
    ] {
        let err = NewsError::from(NewsSource::new(name, url, vec![]).unwrap_err());
        assert!(matches!(err, NewsError::Config(_)), "{name} {url}: {err}");
    }
    // The configuration form: a TOML/JSON table, checked the same way.
    let parsed: NewsSource =
        serde_json::from_value(serde_json::json!({"name": "fed", "url": "https://f.example/rss"})).unwrap();
    assert!(parsed.symbols().is_empty());
    let bad = serde_json::from_value::<NewsSource>(serde_json::json!({"name": "FED!", "url": "https://f.example"}));
    assert!(bad.unwrap_err().to_string().contains("must be 1 to 19 characters"));
    let unknown = serde_json::json!({"name": "fed", "url": "https://f.example", "colour": "red"});
    assert!(serde_json::from_value::<NewsSource>(unknown).is_err());
}

#[tokio::test]
async fn yahoo_feed_addresses_follow_the_headline_pattern() {
    let crawler = Crawler::new().unwrap();
    assert_eq!(
        crawler.symbol_source(&sym("AAPL")).url(),
        "https://feeds.finance.yahoo.com/rss/2.0/headline?s=AAPL&region=US&lang=en-US"
    );
    let feeds = Feeds::start().await;
    let crawler = feeds.crawler();
    for s in ["^GSPC", "EURUSD=X"] {
        let source = crawler.symbol_source(&sym(s));
        assert_eq!(source.name(), news::YAHOO_SOURCE);
        assert!(crawler.fetch(&source).await.unwrap().is_empty(), "{s}");
    }
    let seen = feeds.mock.requested();
    assert_eq!(
        seen,
        ["/rss/2.0/headline?s=%5EGSPC&region=US&lang=en-US", "/rss/2.0/headline?s=EURUSD%3DX&region=US&lang=en-US"]
    );
}

#[tokio::test]
async fn items_are_normalised() {
    let feeds = Feeds::start().await;
    let crawler = feeds.crawler();
    let before = now();
    let items = crawler.fetch(&crawler.symbol_source(&sym("AAPL"))).await.unwrap();
    assert_eq!(items.len(), 3);
    let first = &items[0];
    assert_eq!(first.dedupe_key, "yahoo:0b0cfd4e-4c8d-3d52-9c0e-6a6f3f1e2c11", "opaque guids are scoped by source");
    assert_eq!(first.source, "yahoo");
    assert_eq!(first.title, "Apple’s iPhone sales beat estimates");
    assert_eq!(first.summary.as_deref(), Some("Apple's iPhone sales beat estimates in the quarter."));
    assert_eq!(
        first.url.as_deref(),
        Some("https://finance.yahoo.com/news/apple-iphone-sales-beat-164512345.html?.tsrc=rss")
    );
    assert_eq!(first.published_at, 1_732_034_712);
    assert!(first.fetched_at >= before);
    assert_eq!(first.symbols, ["AAPL"]);
    assert_eq!(items[1].title, "Apple & Microsoft lead tech rally");
    assert_eq!(items[2].summary.as_deref(), Some("Analysts at Morgan Stanley raised their price targets."));
    assert_eq!(items[2].published_at, 1_731_965_400);

    // Atom: URI ids are kept as they are; the alternate link wins over the
    // enclosure; content stands in for a missing summary; a future time is
    // clamped to the fetch time.
    let items = crawler.fetch(&feeds.source("fed", "/fed.atom", &[])).await.unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].dedupe_key, "https://www.federalreserve.gov/newsevents/pressreleases/monetary20241107a.htm");
    assert_eq!(items[0].published_at, 1_731_006_000, "published wins over updated");
    assert_eq!(
        items[0].summary.as_deref(),
        Some("The Committee decided to lower the target range for the federal funds rate by 1/4 percentage point.")
    );
    assert!(items[0].symbols.is_empty());
    assert_eq!(items[1].dedupe_key, "tag:federalreserve.gov,2024:minutes-20241107");
    assert_eq!(items[1].url.as_deref(), Some("https://www.federalreserve.gov/monetarypolicy/fomcminutes20241107.htm"));
    assert_eq!(items[1].summary.as_deref(), Some("Developments Participants noted inflation had eased."));
    assert_eq!(items[1].published_at, items[1].fetched_at);

    // No guids: the link is the key; items without a usable link are dropped;
    // a missing time is the fetch time.
    let items = crawler.fetch(&feeds.source("ecb", "/ecb.rss", &["EURUSD=X"])).await.unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.dedupe_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "https://www.ecb.europa.eu/press/pr/date/2024/html/ecb.mp241017.en.html",
            "https://www.ecb.europa.eu/press/stats/mfi/html/ecb.birs2410.en.html"
        ]
    );
    assert_eq!(items[0].published_at, 1_731_591_000);
    assert_eq!(items[1].published_at, items[1].fetched_at);
    assert_eq!(items[1].summary, None);
    assert_eq!(items[1].symbols, ["EURUSD=X"]);
}

#[tokio::test]
async fn broken_feeds_are_typed_errors() {
    let feeds = Feeds::start().await;
    let crawler = feeds.crawler();
    let fetch = |source: NewsSource| {
        let crawler = crawler.clone();
        async move { crawler.fetch(&source).await.unwrap_err() }
    };
    let err = fetch(crawler.symbol_source(&sym("BROKEN"))).await;
    assert!(matches!(&err, NewsError::Malformed { feed, .. } if feed == "yahoo"), "{err}");
    let err = fetch(feeds.source("x", "/bad-entity.rss", &[])).await;
    assert!(matches!(err, NewsError::Malformed { .. }), "{err}");
    let err = fetch(feeds.source("x", "/consent", &[])).await;
    assert!(matches!(err, NewsError::Malformed { .. }), "an HTML page is not a feed: {err}");
    let err = fetch(feeds.source("x", "/cloudflare", &[])).await;
    assert!(matches!(err, NewsError::Blocked { .. }), "{err}");
    let err = fetch(crawler.symbol_source(&sym("GONE"))).await;
    assert!(matches!(err, NewsError::Status { status: 404, .. }), "{err}");
    assert!(err.to_string().contains("HTTP 404"));
    let err = fetch(crawler.symbol_source(&sym("OOPS"))).await;
    assert!(matches!(err, NewsError::Status { status: 500, .. }), "{err}");
    let err = fetch(feeds.source("x", "/big.rss", &[])).await;
    assert!(matches!(err, NewsError::TooLarge { limit: 65_536, .. }), "{err}");
    // The feed never answers, so getting an error back at all shows the
    // crawler gave up by itself; the outer limit only keeps a crawler without
    // a timeout from hanging the suite.
    let impatient = crawler.clone().timeout(Duration::from_millis(200));
    let slow = feeds.source("x", "/slow.rss", &[]);
    let err = tokio::time::timeout(Duration::from_secs(60), impatient.fetch(&slow))
        .await
        .expect("the crawler waited for a feed that never answers")
        .unwrap_err();
    assert!(
        matches!(&err, NewsError::Timeout { feed, after } if feed == "x" && *after == Duration::from_millis(200)),
        "{err}"
    );
    // A closed port: bind one, note its address, drop it.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let source = NewsSource::new("x", &format!("http://{closed}/feed"), vec![]).unwrap();
    let err = fetch(source).await;
    assert!(matches!(err, NewsError::Transport { .. }), "{err}");
}

// ---------------------------------------------------------------------------
// Storage and crawling, on both backends.

async fn crawls_store_items_once_and_link_every_symbol(db: &Db) {
    let feeds = Feeds::start().await;
    let crawler = feeds.crawler();
    let aapl = crawler.symbol_source(&sym("AAPL"));

    let first = crawler.crawl(db, &aapl).await.unwrap();
    assert_eq!((first.created.len(), first.linked), (3, 0));
    let listed = store::list(db, None, None, 10).await.unwrap();
    assert_eq!(listed, first.created, "stored as returned, newest first");
    let top = &listed[0];
    assert_eq!(
        (top.source.as_str(), top.title.as_str(), top.published_at, top.symbols.as_slice()),
        ("yahoo", "Apple’s iPhone sales beat estimates", 1_732_034_712, &["AAPL".to_owned()][..])
    );
    assert_eq!(top.summary.as_deref(), Some("Apple's iPhone sales beat estimates in the quarter."));

    // The same feed again: nothing new.
    let again = crawler.crawl(db, &aapl).await.unwrap();
    assert_eq!((again.created.len(), again.linked), (0, 0));
    assert_eq!(store::list(db, None, None, 10).await.unwrap().len(), 3);

    // MSFT's feed shares one item: it gains the symbol, and only MSFT's own item is new.
    let msft = crawler.crawl(db, &crawler.symbol_source(&sym("MSFT"))).await.unwrap();
    assert_eq!(msft.created.len(), 1);
    assert_eq!(msft.created[0].title, "Microsoft's Azure keeps growing");
    assert_eq!(msft.created[0].published_at, 1_732_025_100);
    assert_eq!(msft.linked, 1);
    let msft_news = store::list(db, Some("MSFT"), None, 10).await.unwrap();
    let titles: Vec<&str> = msft_news.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(titles, ["Apple & Microsoft lead tech rally", "Microsoft's Azure keeps growing"]);
    assert_eq!(msft_news[0].symbols, ["AAPL", "MSFT"]);
    assert_eq!(store::list(db, Some("AAPL"), None, 10).await.unwrap().len(), 3);
    assert_eq!(store::list(db, Some("NVDA"), None, 10).await.unwrap(), []);

    // Economy and guid-less feeds, crawled twice.
    let fed = feeds.source("fed", "/fed.atom", &[]);
    let ecb = feeds.source("ecb", "/ecb.rss", &[]);
    assert_eq!(crawler.crawl(db, &fed).await.unwrap().created.len(), 2);
    assert_eq!(crawler.crawl(db, &ecb).await.unwrap().created.len(), 2);
    assert_eq!(crawler.crawl(db, &fed).await.unwrap(), store::Inserted::default());
    assert_eq!(crawler.crawl(db, &ecb).await.unwrap(), store::Inserted::default());

    // Newest first: the clamped "future" minutes and the time-less ECB item
    // (both at fetch time), then by publication time.
    let all = store::list(db, None, None, 100).await.unwrap();
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|w| (w[0].published_at, w[0].id) > (w[1].published_at, w[1].id)));
    let economy: Vec<&StoredNews> = all.iter().filter(|n| n.symbols.is_empty()).collect();
    assert_eq!(economy.len(), 4);
    assert!(economy.iter().all(|n| n.source == "fed" || n.source == "ecb"));

    // Keyset pages cover everything exactly once.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store::list(db, None, cursor, 3).await.unwrap();
        cursor = page.last().map(Cursor::after);
        let done = page.len() < 3;
        paged.extend(page);
        if done {
            break;
        }
    }
    assert_eq!(paged, all);
    let older = store::list(db, None, Some(Cursor::before_time(1_732_028_400)), 100).await.unwrap();
    assert!(older.iter().all(|n| n.published_at < 1_732_028_400));
    assert_eq!(older.len(), 4, "{older:?}");
}

async fn batches_are_idempotent_and_merge_repeats(db: &Db) {
    let item = |key: &str, symbols: &[&str]| NewsItem {
        dedupe_key: key.to_owned(),
        source: "test".to_owned(),
        url: Some(format!("https://news.example/{key}")),
        title: format!("Title {key}"),
        summary: None,
        published_at: 1_700_000_000,
        fetched_at: 1_700_000_100,
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
    };
    assert_eq!(store::insert_many(db, &[]).await.unwrap(), store::Inserted::default());
    // The same key twice in one batch: one item, both symbols.
    let out = store::insert_many(db, &[item("a", &["X", "X"]), item("b", &[]), item("a", &["Y"])]).await.unwrap();
    assert_eq!(out.created.len(), 2);
    assert_eq!(out.created[0].symbols, ["X", "Y"]);
    assert_eq!(out.linked, 0);
    // Same publication second: ids break the tie, newest id first.
    let listed = store::list(db, None, None, 10).await.unwrap();
    assert_eq!(listed.iter().map(|n| n.title.as_str()).collect::<Vec<_>>(), ["Title b", "Title a"]);
    let first = store::list(db, None, None, 1).await.unwrap();
    let rest = store::list(db, None, Some(Cursor::after(&first[0])), 10).await.unwrap();
    assert_eq!(rest.iter().map(|n| n.title.as_str()).collect::<Vec<_>>(), ["Title a"]);
    // A later batch: the stored item keeps its content, gains a symbol.
    let mut changed = item("a", &["Z", "X"]);
    changed.title = "Rewritten".into();
    let out = store::insert_many(db, &[changed]).await.unwrap();
    assert_eq!((out.created.len(), out.linked), (0, 1));
    let a = store::list(db, Some("Z"), None, 10).await.unwrap();
    assert_eq!(
        (a[0].title.as_str(), a[0].symbols.as_slice()),
        ("Title a", &["X".to_owned(), "Y".into(), "Z".into()][..])
    );
}

async fn concurrent_batches_sharing_items_do_not_deadlock(db: &Db) {
    // Two feeds listing the same items in opposite orders, stored at once,
    // round after round: rows are written in key order, so neither waits on
    // a lock the other holds while waiting on it.
    let batch = |symbol: &str, keys: Vec<usize>| -> Vec<NewsItem> {
        keys.into_iter()
            .map(|k| NewsItem {
                dedupe_key: format!("shared-{k:02}"),
                source: "test".to_owned(),
                url: None,
                title: format!("Shared {k}"),
                summary: None,
                published_at: 1_700_000_000 + i64::try_from(k).unwrap(),
                fetched_at: 1_700_001_000,
                symbols: vec![symbol.to_owned()],
            })
            .collect()
    };
    for round in 0..4 {
        let keys: Vec<usize> = (round * 10..round * 10 + 10).collect();
        let reversed: Vec<usize> = keys.iter().rev().copied().collect();
        let (left, right) = (batch("AAA", keys), batch("BBB", reversed));
        let (a, b) = tokio::join!(store::insert_many(db, &left), store::insert_many(db, &right));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.created.len() + b.created.len(), 10);
        assert_eq!(a.linked + b.linked, 10);
    }
    let all = store::list(db, None, None, 100).await.unwrap();
    assert_eq!(all.len(), 40);
    assert!(all.iter().all(|n| n.symbols == ["AAA", "BBB"]));
}

async fn broken_feeds_store_nothing(db: &Db) {
    let feeds = Feeds::start().await;
    let crawler = feeds.crawler();
    for source in [
        crawler.symbol_source(&sym("BROKEN")),
        crawler.symbol_source(&sym("GONE")),
        crawler.symbol_source(&sym("OOPS")),
        feeds.source("x", "/bad-entity.rss", &[]),
        feeds.source("x", "/cloudflare", &[]),
        feeds.source("x", "/consent", &[]),
        feeds.source("x", "/big.rss", &[]),
    ] {
        assert!(crawler.crawl(db, &source).await.is_err(), "{}", source.url());
    }
    let empty = crawler.crawl(db, &crawler.symbol_source(&sym("EMPTY"))).await.unwrap();
    assert_eq!(empty, store::Inserted::default());
    assert_eq!(store::list(db, None, None, 100).await.unwrap(), []);
}

async fn the_schedule_records_each_feed_and_reports_new_items(db: &Db) {
    let feeds = Feeds::start().await;
    let seen: Arc<Mutex<Vec<StoredNews>>> = Arc::default();
    let on_new: OnNews = {
        let seen = Arc::clone(&seen);
        Arc::new(move |item: &StoredNews| seen.lock().unwrap().push(item.clone()))
    };
    let schedule = server::schedules::news(
        db.clone(),
        feeds.crawler(),
        ["AAPL", "MSFT", "EMPTY", "BROKEN", "GONE", "AAPL"].into_iter().map(sym).collect::<Vec<_>>(),
        vec![
            feeds.source("fed", "/fed.atom", &[]),
            feeds.source("ecb", "/ecb.rss", &["EURUSD=X"]),
            feeds.source("blocked", "/cloudflare", &[]),
        ],
        Duration::from_secs(600),
        3,
        on_new,
    );
    assert_eq!(schedule.name, news::SCHEDULE_NAME);
    assert_eq!(schedule.cadence, Cadence::Every(Duration::from_secs(600)));
    assert_eq!(schedule.concurrency, 3);
    let keys = schedule.symbols.current().await.unwrap();
    let keys: Vec<&str> = keys.iter().map(Symbol::as_str).collect();
    assert_eq!(keys, ["AAPL", "BROKEN", "EMPTY", "GONE", "MSFT", "_BLOCKED", "_ECB", "_FED"]);

    let id = scheduler::run_once(db, &schedule).await.unwrap();
    let run = runs::list(db, Some("news"), 1).await.unwrap().pop().unwrap();
    assert_eq!((run.id, run.status.as_str(), run.succeeded, run.failed), (id, "partial", 5, 3));
    let errors: Value = serde_json::from_str(&run.errors).unwrap();
    let failed: Vec<&str> = errors.as_array().unwrap().iter().map(|e| e["symbol"].as_str().unwrap()).collect();
    assert_eq!(failed, ["BROKEN", "GONE", "_BLOCKED"]);
    let messages = errors.to_string();
    for expected in ["not a valid feed", "HTTP 404", "blocked by bot protection"] {
        assert!(messages.contains(expected), "{expected}: {messages}");
    }

    // Every stored item was reported once, whichever symbol's feed brought it first.
    let reported = seen.lock().unwrap().clone();
    assert_eq!(reported.len(), 8);
    let stored = store::list(db, None, None, 100).await.unwrap();
    let mut reported_ids: Vec<i64> = reported.iter().map(|n| n.id).collect();
    reported_ids.sort_unstable();
    let mut stored_ids: Vec<i64> = stored.iter().map(|n| n.id).collect();
    stored_ids.sort_unstable();
    assert_eq!(reported_ids, stored_ids);
    let rally = stored.iter().find(|n| n.title == "Apple & Microsoft lead tech rally").unwrap();
    assert_eq!(rally.symbols, ["AAPL", "MSFT"]);

    // The next run finds nothing new but records the same outcomes.
    scheduler::run_once(db, &schedule).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 8);
    let run = runs::list(db, Some("news"), 1).await.unwrap().pop().unwrap();
    assert_eq!((run.succeeded, run.failed), (5, 3));
    assert_eq!(store::list(db, None, None, 100).await.unwrap().len(), 8);
}

on_both_backends!(
    crawls_store_items_once_and_link_every_symbol,
    batches_are_idempotent_and_merge_repeats,
    concurrent_batches_sharing_items_do_not_deadlock,
    broken_feeds_store_nothing,
    the_schedule_records_each_feed_and_reports_new_items,
);

#[tokio::test]
async fn new_items_can_be_published_on_the_live_bus() {
    let bus = server::bus::Bus::new(16);
    let mut events = bus.subscribe();
    let on_new = news::publish_on(bus.clone());
    let item = StoredNews {
        id: 7,
        source: "fed".into(),
        url: None,
        title: "Federal Reserve issues FOMC statement".into(),
        summary: Some("Rates lowered.".into()),
        published_at: 1_731_006_000,
        fetched_at: 1_731_006_060,
        symbols: vec!["AAPL".into(), "MSFT".into()],
    };
    on_new(&item);
    let symbols: Vec<String> = [events.try_recv().unwrap(), events.try_recv().unwrap()]
        .iter()
        .map(|e| {
            assert_eq!(e.channel, app::live::protocol::Channel::News);
            let frame: Value = serde_json::from_str(e.frame.as_str()).unwrap();
            assert_eq!(frame["type"], "news", "{frame}");
            e.symbol.to_string()
        })
        .collect();
    assert_eq!(symbols, ["AAPL", "MSFT"]);
    let live = news::live_item(&item);
    assert_eq!((live.url.as_str(), live.summary.as_str(), live.id), ("", "Rates lowered.", 7));
    let snapshot = bus.snapshot(app::live::protocol::Channel::News, |s| s == "MSFT");
    assert!(matches!(snapshot, app::live::protocol::ServerMessage::Snapshot { news, .. } if news == [live]));
}

// ---------------------------------------------------------------------------
// The REST endpoint.

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let app = Router::new().nest("/api/v1", server::http::news::routes()).with_state(state.clone());
    let response = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn the_endpoint_pages_and_filters(db: &Db) {
    let config = Config::default();
    let state = AppState::new(config, db.clone(), CancellationToken::new());
    let items: Vec<NewsItem> = (0..5)
        .map(|i| NewsItem {
            dedupe_key: format!("k{i}"),
            source: if i % 2 == 0 { "yahoo" } else { "fed" }.to_owned(),
            url: Some(format!("https://news.example/{i}")),
            title: format!("Headline {i}"),
            summary: (i == 0).then(|| "A summary.".to_owned()),
            published_at: 1_732_000_000 + i64::from(i) * 60,
            fetched_at: 1_732_001_000,
            symbols: if i % 2 == 0 { vec!["AAPL".to_owned()] } else { vec![] },
        })
        .collect();
    store::insert_many(db, &items).await.unwrap();

    let (status, body) = get(&state, "/api/v1/news").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let titles = |body: &Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(titles(&body), ["Headline 4", "Headline 3", "Headline 2", "Headline 1", "Headline 0"]);
    assert_eq!(body["next_before"], Value::Null);
    assert_eq!(
        body["items"][4],
        serde_json::json!({"id": body["items"][4]["id"], "source": "yahoo", "url": "https://news.example/0",
            "title": "Headline 0", "summary": "A summary.", "published_at": 1_732_000_000,
            "fetched_at": 1_732_001_000, "symbols": ["AAPL"]})
    );

    let (_, page1) = get(&state, "/api/v1/news?symbol=aapl&limit=2").await;
    assert_eq!(titles(&page1), ["Headline 4", "Headline 2"]);
    let next = page1["next_before"].as_str().unwrap().to_owned();
    let (_, page2) = get(&state, &format!("/api/v1/news?symbol=AAPL&limit=2&before={next}")).await;
    assert_eq!(titles(&page2), ["Headline 0"]);
    assert_eq!(page2["next_before"], Value::Null);
    let (_, older) = get(&state, "/api/v1/news?before=1732000120").await;
    assert_eq!(titles(&older), ["Headline 1", "Headline 0"]);
    let (_, older) = get(&state, "/api/v1/news?before=2024-11-19T07:08:00Z").await;
    assert_eq!(titles(&older), ["Headline 1", "Headline 0"]);
    let (status, none) = get(&state, "/api/v1/news?symbol=NVDA").await;
    assert_eq!((status, none["items"].as_array().unwrap().len()), (StatusCode::OK, 0));

    for (query, expected) in [
        ("limit=0", "limit must be between 1 and 200"),
        ("limit=201", "limit must be between 1 and 200"),
        ("limit=ten", "limit"),
        ("symbol=bad%20symbol", "may only contain"),
        ("before=yesterday", "before:"),
    ] {
        let (status, body) = get(&state, &format!("/api/v1/news?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["status"], 400);
        assert!(body["error"]["message"].as_str().unwrap().contains(expected), "{query}: {body}");
    }
}

on_both_backends!(the_endpoint_pages_and_filters);
