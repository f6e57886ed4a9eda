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

/// The state `serve` would build over `t`, after the simulator has written
/// `config.sim.history_days` of daily history for the watchlist.
pub async fn state_with_history(t: &TestDb, config: server::config::Config) -> server::state::AppState {
    let ingest = server::ingest::Ingest::new(t.db.clone(), server::cache::MarketCache::new(&config.cache));
    server::feed::backfill(&ingest, &config.watchlist, &config.sim, chrono::Utc::now())
        .await
        .expect("simulated history");
    server::state::AppState::new(config, t.db.clone(), tokio_util::sync::CancellationToken::new())
}
