//! Test databases: every test gets its own SQLite file or its own PostgreSQL
//! database (created on the local server and dropped afterwards), so tests run
//! in parallel and never depend on what a server already holds.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::atomic::{AtomicU32, Ordering};

use server::config::DatabaseUrl;
use server::storage::Db;
use sqlx::Connection;

/// The PostgreSQL server tests create their databases on; override with
/// `FINSTAGE_TEST_POSTGRES`.
pub fn postgres_admin_url() -> String {
    std::env::var("FINSTAGE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A migrated database that exists for one test.
pub struct TestDb {
    pub db: Db,
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

impl TestDb {
    pub async fn sqlite() -> Self {
        Self::new_sqlite(true).await
    }

    pub async fn postgres() -> Self {
        Self::new_postgres(true).await
    }

    /// An empty SQLite database: no migration applied.
    pub async fn sqlite_unmigrated() -> Self {
        Self::new_sqlite(false).await
    }

    /// An empty PostgreSQL database: no migration applied.
    pub async fn postgres_unmigrated() -> Self {
        Self::new_postgres(false).await
    }

    async fn new_sqlite(migrate: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::from(format!("sqlite://{}", dir.path().join("test.db").display()).as_str());
        let db = Db::connect(&url).await.expect("open sqlite");
        if migrate {
            db.migrate().await.expect("migrate sqlite");
        }
        Self { db, url, cleanup: Cleanup::Sqlite(dir) }
    }

    async fn new_postgres(migrate: bool) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = postgres_admin_url();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("finstage_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL must run at {admin} for the test suite (see README): {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        let url = DatabaseUrl::from(format!("{base}/{name}").as_str());
        let db = Db::connect(&url).await.expect("open postgres");
        if migrate {
            db.migrate().await.expect("migrate postgres");
        }
        Self { db, url, cleanup: Cleanup::Postgres { admin, name } }
    }

    /// Closes the pools and removes the database. Closing waits for every
    /// checked-out connection, so it is bounded: a connection still held by a
    /// stray task fails the test by name instead of hanging the suite.
    pub async fn cleanup(self) {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.db.close())
            .await
            .expect("closing the test database took over 30 s: a connection is still checked out");
        if let Cleanup::Postgres { admin, name } = self.cleanup
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
        }
    }
}

/// Runs an `async fn(&Db)` test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let t = $crate::common::TestDb::sqlite().await;
                super::$name(&t.db).await;
                t.cleanup().await;
            }
            #[tokio::test]
            async fn postgres() {
                let t = $crate::common::TestDb::postgres().await;
                super::$name(&t.db).await;
                t.cleanup().await;
            }
        }
    )+};
}

/// The state `serve` would build over `t`, after the configured watchlist
/// has seeded the stored one and the simulator has written
/// `config.sim.history_days` of daily history for it.
pub async fn state_with_history(t: &TestDb, config: server::config::Config) -> server::state::AppState {
    server::storage::watchlist::seed(&t.db, &config.watchlist, true, 0).await.expect("watchlist seeded");
    let ingest = server::ingest::Ingest::new(t.db.clone(), server::cache::MarketCache::new(&config.cache));
    server::feed::backfill(&ingest, &config.watchlist, &config.sim, chrono::Utc::now())
        .await
        .expect("simulated history");
    server::state::AppState::new(config, t.db.clone(), tokio_util::sync::CancellationToken::new())
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A `finstage serve` process on a free loopback port, its log in a file;
/// killed when dropped. Its [`Probe`] (`served.get(..)`, ...) is reached through `Deref`.
pub struct Served {
    child: std::process::Child,
    probe: Probe,
}

/// Asks a served process over HTTP and reads its log; cheap to clone.
#[derive(Clone)]
pub struct Probe {
    pub port: u16,
    log: std::path::PathBuf,
    client: reqwest::Client,
}

impl Served {
    /// Starts `finstage serve` with `envs` (the log goes to `log`, appended)
    /// and waits until `/healthz` answers.
    pub async fn start(envs: &[(&str, String)], log: &std::path::Path) -> Self {
        let port = free_port();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_finstage"));
        cmd.arg("serve")
            .env_remove("DATABASE_URL")
            .env_remove("FINSTAGE_CONFIG")
            .env("FINSTAGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FINSTAGE_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(file);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn finstage serve");
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build().expect("client");
        let served = Self { child, probe: Probe { port, log: log.to_owned(), client } };
        served
            .wait_until("/healthz answers", std::time::Duration::from_secs(60), |s| async move {
                s.get("/healthz").await.is_some_and(|(status, _)| status == 200)
            })
            .await;
        served
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// `kill -9`: the process dies where it stands.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl std::ops::Deref for Served {
    type Target = Probe;

    fn deref(&self) -> &Probe {
        &self.probe
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Probe {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Status and body of `GET path`; `None` when no answer came within 3 s.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = self.client.get(self.url(path)).send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// Polls `check` every 50 ms until it holds; fails the test after `deadline`.
    pub async fn wait_until<F, Fut>(&self, what: &str, deadline: std::time::Duration, check: F)
    where
        F: Fn(Self) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let until = std::time::Instant::now() + deadline;
        while !check(self.clone()).await {
            assert!(
                std::time::Instant::now() < until,
                "timed out after {deadline:?} waiting until {what}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Everything the process logged so far (and earlier processes sharing the file).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One frame a WebSocket fuzzer sends: random bytes or text, JSON of the right
/// shape with wrong values, a subscribe request for hundreds of symbols, an
/// oversized request, a ping with a payload, or a request with extra fields.
pub fn fuzz_frame(rng: &mut impl rand::Rng) -> tokio_tungstenite::tungstenite::Message {
    use tokio_tungstenite::tungstenite::Message;
    match rng.random_range(0..8) {
        0 => Message::Binary((0..rng.random_range(0..512)).map(|_| rng.random::<u8>()).collect::<Vec<u8>>().into()),
        1 => Message::Text((0..rng.random_range(0..256)).map(|_| rng.random::<char>()).collect::<String>().into()),
        2 => Message::Text(
            format!(r#"{{"type":"subscribe","channel":"quotes","symbols":{}}}"#, rng.random::<u32>()).into(),
        ),
        3 => {
            let symbols: Vec<String> = (0..rng.random_range(0..300)).map(|i| format!("\"S{i}\"")).collect();
            Message::Text(
                format!(r#"{{"type":"subscribe","channel":"bars","symbols":[{}]}}"#, symbols.join(",")).into(),
            )
        }
        4 => Message::Text(r#"{"type":"unsubscribe","channel":"news","symbols":"*"}"#.into()),
        5 => Message::Text("x".repeat(rng.random_range(1..server::ws::MAX_REQUEST_BYTES * 2)).into()),
        6 => Message::Ping(vec![rng.random::<u8>(); rng.random_range(0..100)].into()),
        _ => Message::Text(r#"{"type":"ping","extra":[1,2,{"a":null}]}"#.into()),
    }
}

/// A password the policy accepts, for test users.
pub const PASSWORD: &str = "correct horse battery";

/// Adds the user `name` with `role` and returns a `write` token for them:
/// the `Authorization` header value (`Bearer fst_...`).
pub async fn token_for(db: &Db, name: &str, role: server::accounts::Role) -> String {
    let accounts = server::accounts::Accounts::new(db.clone());
    let cli = server::accounts::Actor::cli();
    if accounts.users().await.expect("users").iter().all(|u| u.name != name) {
        accounts.add_user(name, role, PASSWORD, &cli).await.expect("test user added");
    }
    let token = accounts
        .create_token(name, server::accounts::Scope::Write, "test", None, &cli)
        .await
        .expect("test token created");
    format!("Bearer {}", token.secret)
}

/// An admin's token header value (the user `admin`, created on first use).
pub async fn admin_token(db: &Db) -> String {
    token_for(db, "admin", server::accounts::Role::Admin).await
}

/// An admin token header for the database behind `state` (the user
/// `admin`, created on first use; a token per call, an insert).
pub async fn admin_header(state: &server::state::AppState) -> String {
    admin_token(&state.db).await
}

/// One request through the whole router as the database's admin (a bearer
/// token), unless the request carries its own `Authorization` or the
/// `x-test-anonymous` header.
pub async fn as_admin(
    state: &server::state::AppState,
    mut request: axum::http::Request<axum::body::Body>,
) -> axum::response::Response {
    use tower::ServiceExt as _;
    let headers = request.headers_mut();
    if headers.remove("x-test-anonymous").is_none() && !headers.contains_key(axum::http::header::AUTHORIZATION) {
        let token = admin_header(state).await;
        headers.insert(axum::http::header::AUTHORIZATION, token.parse().expect("a header value"));
    }
    server::http::router(state.clone()).oneshot(request).await.expect("the router answers")
}

/// Creates the database at `url` if needed, adds an admin, and returns a
/// token header value for them (for a `serve` process started on it).
pub async fn seed_admin(url: &str) -> String {
    let db = Db::connect(&DatabaseUrl::from(url)).await.expect("open the database");
    db.migrate().await.expect("migrate");
    let token = admin_token(&db).await;
    db.close().await;
    token
}

/// Opens a WebSocket to `url` with `authorization` as its `Authorization` header.
pub async fn ws_connect(
    url: &str,
    authorization: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", authorization.parse().expect("a header value"));
    tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
}

/// A client WebSocket.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
