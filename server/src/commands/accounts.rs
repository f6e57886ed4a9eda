//! `finstage users`, `finstage tokens` and `finstage audit`: accounts from
//! the command line, for whoever can run the binary against the database
//! (the machine's operator). Changes are audited as made by `cli`.

use std::io::{BufRead as _, IsTerminal as _, Write};

use anyhow::Context as _;

use super::{open, open_existing};
use crate::accounts::{Accounts, Actor};
use crate::cli::{TokensAction, UsersAction};
use crate::config::Config;
use crate::storage::accounts as store;

/// Reads a new password: twice at a prompt when standard input is a
/// terminal, else the first line of standard input (for scripts:
/// `printf '%s\n' "$PASSWORD" | finstage users add ann`).
fn read_password(what: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("{what}: ")).context("reading the password")?;
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        anyhow::ensure!(first == again, "the two passwords differ; nothing changed");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!password.is_empty(), "no password on standard input; nothing changed");
        Ok(password)
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// `finstage users ...`.
///
/// # Errors
/// A refused change (bad name, weak password, unknown user, last admin) or
/// a database failure; nothing changes then.
pub async fn users(config: &Config, action: UsersAction, out: &mut impl Write) -> anyhow::Result<()> {
    let db =
        if matches!(action, UsersAction::Add { .. }) { open(config).await? } else { open_existing(config).await? };
    let accounts = Accounts::new(db.clone());
    let by = Actor::cli();
    let result = async {
        match action {
            UsersAction::Add { name, role } => {
                let password = read_password("password")?;
                let user = accounts.add_user(&name, role, &password, &by).await?;
                writeln!(out, "user {} added as {}", user.name, user.role)?;
            }
            UsersAction::List => {
                let users = accounts.users().await?;
                if users.is_empty() {
                    writeln!(out, "no users yet: `finstage serve` prints a setup link, or add one with `finstage users add NAME --role admin`")?;
                }
                for user in users {
                    let state = if user.active { "active" } else { "disabled" };
                    writeln!(out, "{:<24} {:<7} {:<9} since {}", user.name, user.role, state, time(user.created_at))?;
                }
            }
            UsersAction::SetRole { name, role } => {
                accounts.set_role(&name, role, &by).await?;
                writeln!(out, "{} is now {role}; their sessions have ended", crate::accounts::fold_name(&name))?;
            }
            UsersAction::Disable { name } => {
                accounts.set_disabled(&name, true, &by).await?;
                writeln!(out, "{} disabled; their sessions, connections and tokens stop now", crate::accounts::fold_name(&name))?;
            }
            UsersAction::Enable { name } => {
                accounts.set_disabled(&name, false, &by).await?;
                writeln!(out, "{} enabled", crate::accounts::fold_name(&name))?;
            }
            UsersAction::ResetPassword { name } => {
                let password = read_password("new password")?;
                accounts.reset_password(&name, &password, &by).await?;
                writeln!(out, "password of {} changed; their sessions have ended", crate::accounts::fold_name(&name))?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `finstage tokens ...`.
///
/// # Errors
/// An unknown user or token, or a database failure.
pub async fn tokens(config: &Config, action: TokensAction, out: &mut impl Write) -> anyhow::Result<()> {
    let db = open_existing(config).await?;
    let accounts = Accounts::new(db.clone());
    let by = Actor::cli();
    let result = async {
        match action {
            TokensAction::Create { user, scope, expires, name } => {
                let token = accounts.create_token(&user, scope, &name, expires, &by).await?;
                writeln!(
                    out,
                    "token #{} for {} ({}); it is shown only this once:",
                    token.id,
                    crate::accounts::fold_name(&user),
                    scope.as_str()
                )?;
                writeln!(out, "{}", token.secret)?;
            }
            TokensAction::List { user } => {
                let tokens = accounts.tokens(user.as_deref()).await?;
                if tokens.is_empty() {
                    writeln!(out, "no tokens")?;
                }
                for t in tokens {
                    let state = match (t.revoked_at, t.expires_at) {
                        (Some(at), _) => format!("revoked {}", time(at)),
                        (None, Some(at)) if at <= chrono::Utc::now().timestamp_millis() => {
                            format!("expired {}", time(at))
                        }
                        (None, Some(at)) => format!("expires {}", time(at)),
                        (None, None) => "no expiry".into(),
                    };
                    let used = t.last_used_at.map_or_else(|| "never used".into(), |at| format!("used {}", time(at)));
                    writeln!(
                        out,
                        "#{:<5} {:<16} {:<5} {}…  {:<20} {state}, {used}",
                        t.id, t.user_name, t.scope, t.prefix, t.name
                    )?;
                }
            }
            TokensAction::Revoke { id } => {
                accounts.revoke_token(id, None, &by).await?;
                writeln!(out, "token #{id} revoked")?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `finstage audit`.
///
/// # Errors
/// A database failure.
pub async fn audit(
    config: &Config,
    limit: usize,
    user: Option<&str>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = open_existing(config).await?;
    let rows = store::list_audit(&db, limit, None, user).await;
    db.close().await;
    for row in rows? {
        if json {
            writeln!(out, "{}", serde_json::to_string(&row)?)?;
        } else {
            let target = row.target.as_deref().unwrap_or("");
            let status = row.status.map(|s| s.to_string()).unwrap_or_default();
            let source = row.source.as_deref().unwrap_or("");
            writeln!(
                out,
                "{}  {:<16} {:<9} {:<40} {target:<24} {status:<3} {source}",
                time(row.at),
                row.actor,
                row.via,
                row.action
            )?;
        }
    }
    Ok(())
}
