//! News feeds: Yahoo Finance's per-symbol headline feed
//! (`/rss/2.0/headline?s=SYMBOL`) and any other RSS or Atom feed at a path,
//! each answering what the test registered. An unregistered headline symbol
//! gets a 500 (an upstream failure), an unknown path a 404.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{MockServer, Reply, Seen};

/// The path of Yahoo's headline feed.
pub const HEADLINE_PATH: &str = "/rss/2.0/headline";

#[derive(Default)]
struct Routes {
    paths: HashMap<String, Reply>,
    headlines: HashMap<String, Reply>,
}

/// A feed server; cheap to clone.
#[derive(Clone)]
pub struct Feeds {
    pub server: MockServer,
    routes: Arc<Mutex<Routes>>,
}

impl Feeds {
    pub async fn start() -> Self {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let answer = {
            let routes = Arc::clone(&routes);
            move |seen: &Seen| {
                let routes = routes.lock().unwrap();
                if seen.path == HEADLINE_PATH {
                    let symbol = seen.param("s").unwrap_or_default();
                    return routes
                        .headlines
                        .get(&symbol)
                        .cloned()
                        .unwrap_or_else(|| Reply::with_type(500, "text/plain", "upstream failed"));
                }
                routes
                    .paths
                    .get(&seen.path)
                    .cloned()
                    .unwrap_or_else(|| Reply::with_type(404, "text/plain", "no such feed"))
            }
        };
        Self { server: MockServer::serve(Arc::new(answer)).await, routes }
    }

    pub fn base(&self) -> &str {
        &self.server.base_url
    }

    /// The base the crawler is given for Yahoo's headline feed.
    pub fn yahoo_base(&self) -> String {
        format!("{}{HEADLINE_PATH}", self.base())
    }

    /// `reply` answers requests for `path`.
    pub fn at(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().paths.insert(path.to_owned(), reply);
    }

    /// An RSS document served at `path`.
    pub fn rss(&self, path: &str, body: impl Into<String>) {
        self.at(path, rss(body));
    }

    /// A request for `path` is never answered (within an hour).
    pub fn silent(&self, path: &str) {
        self.at(path, Reply::hang(Duration::from_secs(3_600)));
    }

    /// `reply` answers Yahoo's headline feed for `symbol`.
    pub fn headlines(&self, symbol: &str, reply: Reply) {
        self.routes.lock().unwrap().headlines.insert(symbol.to_owned(), reply);
    }

    /// Every request so far, as `path?query`.
    pub fn requested(&self) -> Vec<String> {
        self.server
            .seen()
            .into_iter()
            .map(|s| if s.query.is_empty() { s.path } else { format!("{}?{}", s.path, s.query) })
            .collect()
    }
}

/// A 200 with an RSS content type.
pub fn rss(body: impl Into<String>) -> Reply {
    Reply::with_type(200, "application/rss+xml", body)
}
