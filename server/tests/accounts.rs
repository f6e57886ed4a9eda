//! Accounts on both databases: users and roles, the last admin, the setup
//! link used once, tokens (scope, expiry, revocation, stored as digests),
//! sessions ending with a password reset or disabling, and the audit log.
//! The command line (`users`, `tokens`, `audit`) through the binary.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod common;

use std::time::Duration;

use server::accounts::{AccountError, Accounts, Actor, Role, Scope, Via};
use server::storage::Db;
use server::storage::accounts as store;

const GOOD: &str = "correct horse battery";

async fn users_roles_and_the_last_admin(db: &Db) {
    let accounts = Accounts::new(db.clone());
    let cli = Actor::cli();
    assert!(accounts.needs_setup().await.unwrap());
    let ann = accounts.add_user(" Ann ", Role::Admin, GOOD, &cli).await.unwrap();
    assert_eq!((ann.name.as_str(), ann.role, ann.active), ("ann", Role::Admin, true));
    assert!(!accounts.needs_setup().await.unwrap());

    // Refusals change nothing.
    assert!(matches!(accounts.add_user("ANN", Role::Viewer, GOOD, &cli).await, Err(AccountError::NameTaken(_))));
    assert!(matches!(
        accounts.add_user("bob", Role::Viewer, "password1", &cli).await,
        Err(AccountError::WeakPassword(_))
    ));
    assert!(matches!(accounts.add_user("b b", Role::Viewer, GOOD, &cli).await, Err(AccountError::BadName)));
    assert_eq!(accounts.users().await.unwrap().len(), 1);

    // The last active admin can be neither demoted nor disabled.
    assert!(matches!(accounts.set_role("ann", Role::Trader, &cli).await, Err(AccountError::LastAdmin(_))));
    assert!(matches!(accounts.set_disabled("ann", true, &cli).await, Err(AccountError::LastAdmin(_))));
    accounts.add_user("bob", Role::Trader, GOOD, &cli).await.unwrap();
    accounts.set_role("bob", Role::Admin, &cli).await.unwrap();
    accounts.set_disabled("ann", true, &cli).await.unwrap();
    assert!(matches!(accounts.set_disabled("bob", true, &cli).await, Err(AccountError::LastAdmin(_))));
    assert!(matches!(accounts.set_role("nobody", Role::Viewer, &cli).await, Err(AccountError::NoSuchUser(_))));

    // Logging in: only the right password of an active user.
    assert!(accounts.verify_login("ann", GOOD).await.unwrap().is_none(), "disabled");
    assert_eq!(accounts.verify_login("BOB", GOOD).await.unwrap().map(|u| u.name), Some("bob".into()));
    assert!(accounts.verify_login("bob", "correct horse batterY").await.unwrap().is_none());
    assert!(accounts.verify_login("nobody", GOOD).await.unwrap().is_none());

    // A new password: the old one stops working, the session hash changes.
    let before = accounts.user(ann.id).await.unwrap().unwrap().session_hash;
    accounts.set_disabled("ann", false, &cli).await.unwrap();
    accounts.reset_password("ann", "another good passphrase", &cli).await.unwrap();
    assert!(accounts.verify_login("ann", GOOD).await.unwrap().is_none());
    assert!(accounts.verify_login("ann", "another good passphrase").await.unwrap().is_some());
    assert_ne!(accounts.user(ann.id).await.unwrap().unwrap().session_hash, before);

    // Every change is in the audit log, newest first, by the command line.
    let log = store::list_audit(db, 100, None, None).await.unwrap();
    let actions: Vec<_> = log.iter().rev().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        ["users.add", "users.add", "users.set-role", "users.disable", "users.enable", "users.reset-password"]
    );
    assert!(log.iter().all(|r| r.actor == "cli" && r.via == "cli"));
    assert_eq!(log[0].target.as_deref(), Some("ann"));
}

async fn the_setup_link_works_once(db: &Db) {
    let accounts = Accounts::new(db.clone());
    let link = accounts.issue_setup_link().await.unwrap().expect("no user yet");
    assert!(accounts.setup_link_usable(&link).await.unwrap());
    assert!(!accounts.setup_link_usable("not-the-link").await.unwrap());
    // A weak password is refused and the link stays usable.
    assert!(matches!(
        accounts.complete_setup(&link, "root", "12345678", None).await,
        Err(AccountError::WeakPassword(_))
    ));
    assert!(matches!(accounts.complete_setup("guess", "root", GOOD, None).await, Err(AccountError::SetupLinkInvalid)));
    let admin = accounts.complete_setup(&link, "root", GOOD, Some("127.0.0.1".into())).await.unwrap();
    assert_eq!(admin.role, Role::Admin);
    // Used once: neither the same link nor a new one works now.
    assert!(matches!(accounts.complete_setup(&link, "eve", GOOD, None).await, Err(AccountError::SetupLinkInvalid)));
    assert!(!accounts.setup_link_usable(&link).await.unwrap());
    assert_eq!(accounts.issue_setup_link().await.unwrap(), None);
    assert_eq!(accounts.users().await.unwrap().len(), 1);
    let log = store::list_audit(db, 10, None, None).await.unwrap();
    assert_eq!((log[0].action.as_str(), log[0].via.as_str()), ("setup.first-admin", "setup"));
    assert_eq!(log[0].source.as_deref(), Some("127.0.0.1"));
}

async fn tokens_scope_expire_and_revoke(db: &Db) {
    let accounts = Accounts::new(db.clone());
    let cli = Actor::cli();
    accounts.add_user("ann", Role::Admin, GOOD, &cli).await.unwrap();
    accounts.add_user("tom", Role::Trader, GOOD, &cli).await.unwrap();
    let write = accounts.create_token("tom", Scope::Write, "script", None, &cli).await.unwrap();
    let read = accounts.create_token("tom", Scope::Read, "", Some(Duration::from_secs(3600)), &cli).await.unwrap();
    let brief = accounts.create_token("tom", Scope::Write, "", Some(Duration::from_millis(1)), &cli).await.unwrap();

    let (_, principal) = accounts.principal_for_token(&write.secret).await.unwrap().unwrap();
    assert_eq!((principal.name.as_str(), principal.role, principal.via), ("tom", Role::Trader, Via::Token));
    let (_, principal) = accounts.principal_for_token(&read.secret).await.unwrap().unwrap();
    assert_eq!(principal.role, Role::Viewer, "a read token reads only");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(accounts.principal_for_token(&brief.secret).await.unwrap().is_none(), "expired");
    assert!(accounts.principal_for_token("fst_guess").await.unwrap().is_none());

    // Stored as digests, never as the token; last use recorded.
    let rows = accounts.tokens(Some("tom")).await.unwrap();
    assert_eq!(rows.len(), 3);
    let row = rows.iter().find(|t| t.id == write.id).unwrap();
    assert!(write.secret.starts_with(&row.prefix) && row.prefix.len() < 10);
    assert!(row.last_used_at.is_some());
    let dump = format!("{:?}", store::list_tokens(db, None).await.unwrap());
    assert!(!dump.contains(&write.secret[8..]));

    // Revoked: refused at once; the epoch moves for live connections.
    let epoch = store::auth_epoch(db).await.unwrap();
    accounts.revoke_token(write.id, None, &cli).await.unwrap();
    assert!(accounts.principal_for_token(&write.secret).await.unwrap().is_none());
    assert!(!accounts.token_alive(write.id).await.unwrap());
    assert!(store::auth_epoch(db).await.unwrap() > epoch);
    assert!(matches!(accounts.revoke_token(write.id, None, &cli).await, Err(AccountError::NoSuchToken(_))));

    // Another user's token cannot be revoked through an owner check.
    let ann = accounts.users().await.unwrap().into_iter().find(|u| u.name == "ann").unwrap();
    assert!(matches!(accounts.revoke_token(read.id, Some(ann.id), &cli).await, Err(AccountError::NoSuchToken(_))));
    // Disabling the user stops their tokens.
    accounts.set_disabled("tom", true, &cli).await.unwrap();
    assert!(accounts.principal_for_token(&read.secret).await.unwrap().is_none());
}

async fn sessions_end_with_their_user(db: &Db) {
    use tower_sessions::SessionStore as _;
    use tower_sessions::session::{Id, Record};
    let accounts = Accounts::new(db.clone());
    let cli = Actor::cli();
    let ann = accounts.add_user("ann", Role::Trader, GOOD, &cli).await.unwrap();
    let sessions = server::accounts::sessions::DbStore::new(db.clone());
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let mut data = std::collections::HashMap::new();
    data.insert(server::accounts::sessions::LOGIN_KEY.to_owned(), serde_json::json!({"user_id": ann.id}));
    let mut record = Record { id: Id::default(), data, expiry_date: expiry };
    sessions.create(&mut record).await.unwrap();
    let loaded = sessions.load(&record.id).await.unwrap().expect("stored");
    assert_eq!(loaded.data, record.data);
    assert_eq!(loaded.expiry_date.unix_timestamp(), expiry.unix_timestamp());
    // The id is not stored, only its digest.
    let stored: Vec<String> = match db {
        Db::Sqlite { reader, .. } => {
            sqlx::query_scalar("SELECT id_hash FROM sessions").fetch_all(reader).await.unwrap()
        }
        Db::Postgres(pool) => sqlx::query_scalar("SELECT id_hash FROM sessions").fetch_all(pool).await.unwrap(),
    };
    assert_eq!(stored, [server::accounts::tokens::digest(&record.id.to_string())]);

    // An expired session is not loaded.
    let mut old = Record {
        id: Id::default(),
        data: std::collections::HashMap::new(),
        expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    };
    sessions.create(&mut old).await.unwrap();
    assert!(sessions.load(&old.id).await.unwrap().is_none());

    // A password reset ends the user's sessions.
    accounts.reset_password("ann", "another good passphrase", &cli).await.unwrap();
    assert!(sessions.load(&record.id).await.unwrap().is_none());
    sessions.save(&record).await.unwrap();
    accounts.add_user("root", Role::Admin, GOOD, &cli).await.unwrap();
    accounts.set_disabled("ann", true, &cli).await.unwrap();
    assert!(sessions.load(&record.id).await.unwrap().is_none(), "disabling ends sessions");
    sessions.save(&record).await.unwrap();
    sessions.delete(&record.id).await.unwrap();
    assert!(sessions.load(&record.id).await.unwrap().is_none(), "logout");
}

on_both_backends!(
    users_roles_and_the_last_admin,
    the_setup_link_works_once,
    tokens_scope_expire_and_revoke,
    sessions_end_with_their_user
);

/// Runs the binary with `args` against `url`, `stdin` as standard input.
fn finstage(url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_finstage"))
        .args(args)
        .env("FINSTAGE_DATABASE_URL", url)
        .env("FINSTAGE_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run finstage");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn the_command_line_manages_users_tokens_and_prints_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    let pass = format!("{GOOD}\n");

    let (ok, out, _) = finstage(&url, &["users", "add", "Ann", "--role", "admin"], &pass);
    assert!(ok && out.contains("user ann added as admin"), "{out}");
    let (ok, _, err) = finstage(&url, &["users", "add", "bob", "--role", "trader"], "password\n");
    assert!(!ok && err.contains("most common"), "{err}");
    let (ok, _, err) = finstage(&url, &["users", "add", "bob", "--role", "root"], &pass);
    assert!(!ok && err.contains("unknown role"), "{err}");
    let (ok, _, _) = finstage(&url, &["users", "add", "bob", "--role", "trader"], &pass);
    assert!(ok);
    let (ok, out, _) = finstage(&url, &["users", "list"], "");
    assert!(ok && out.contains("ann") && out.contains("trader"), "{out}");
    assert!(!out.contains("argon2"), "hashes are never printed: {out}");

    let (ok, out, _) =
        finstage(&url, &["tokens", "create", "--user", "bob", "--scope", "write", "--expires", "90d"], "");
    assert!(ok, "{out}");
    let secret = out.lines().find(|l| l.starts_with("fst_")).expect("the token, once").to_owned();
    let (ok, _, err) = finstage(&url, &["tokens", "create", "--user", "bob", "--expires", "soon"], "");
    assert!(!ok && err.contains("not a lifetime"), "{err}");
    let (ok, out, _) = finstage(&url, &["tokens", "list"], "");
    assert!(ok && out.contains("#1") && out.contains("write") && out.contains("never used"), "{out}");
    assert!(!out.contains(&secret), "a listed token shows only its prefix");
    let (ok, out, _) = finstage(&url, &["tokens", "revoke", "1"], "");
    assert!(ok && out.contains("revoked"), "{out}");
    let (ok, _, err) = finstage(&url, &["tokens", "revoke", "1"], "");
    assert!(!ok && err.contains("no live token"), "{err}");

    let (ok, _, err) = finstage(&url, &["users", "disable", "ann"], "");
    assert!(!ok && err.contains("last active admin"), "{err}");
    let (ok, _, _) = finstage(&url, &["users", "reset-password", "bob"], "yet another passphrase\n");
    assert!(ok);
    let (ok, _, _) = finstage(&url, &["users", "set-role", "bob", "viewer"], "");
    assert!(ok);

    let (ok, out, _) = finstage(&url, &["audit", "--json"], "");
    assert!(ok, "{out}");
    let actions: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["users.set-role", "users.reset-password", "tokens.revoke", "tokens.create", "users.add", "users.add"]
    );
    assert!(!out.contains(&secret) && !out.contains(GOOD), "no secret in the audit log");

    // Other changes from the command line are audited too.
    let (ok, _, _) = finstage(&url, &["symbols", "add", "ZZZ"], "");
    assert!(ok);
    let (ok, _, _) = finstage(&url, &["symbols", "remove", "ZZZ"], "");
    assert!(ok);
    let (_, out, _) = finstage(&url, &["audit", "--limit", "2", "--user", "cli"], "");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("symbols.remove") && lines[0].contains("ZZZ"), "{out}");
    assert!(lines[1].contains("symbols.add"), "{out}");
}
