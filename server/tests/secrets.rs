//! Secrets stay secret: a server run that goes through every kind of secret
//! (the setup link's token, passwords right and wrong, a session cookie, API
//! tokens live and revoked, the Telegram bot's token) logs at debug level,
//! and no line of its log, no answer of its API and nothing on `/metrics`
//! holds any of them.
#![allow(clippy::unwrap_used, reason = "tests should fail loudly at the failing line")]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "a secret passphrase 91";
const WRONG: &str = "a wrong passphrase 17";
const BOT_TOKEN: &str = "424242:AAbotsecretTOKENvalue";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_an_answer_or_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("secrets.db").display());
    let log_path = dir.path().join("serve.log");
    let port = common::free_port();
    let envs = [
        ("FINSTAGE_DATABASE_URL", url.clone()),
        ("FINSTAGE_LISTEN", format!("127.0.0.1:{port}")),
        ("FINSTAGE_LOG", "debug".to_owned()),
        ("FINSTAGE_WATCHLIST", "AAPL".to_owned()),
        ("FINSTAGE_SIM__HISTORY_DAYS", "20".to_owned()),
        ("FINSTAGE_TELEGRAM__TOKEN", BOT_TOKEN.to_owned()),
        // Nothing listens there: the poller fails, and says so in the log.
        ("FINSTAGE_TELEGRAM__API_URL", "http://127.0.0.1:9".to_owned()),
    ];
    let mut serve = Command::new(env!("CARGO_BIN_EXE_finstage"));
    serve
        .arg("serve")
        .env_remove("FINSTAGE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap());
    for (k, v) in &envs {
        serve.env(k, v);
    }
    let mut child = serve.spawn().unwrap();
    // The setup link is printed on standard output, for the operator.
    let stdout = child.stdout.take().unwrap();
    let link = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.split_whitespace().find(|w| w.contains("/setup?token=")).map(str::to_owned))
    })
    .await
    .unwrap()
    .expect("serve prints a setup link");
    let setup_token = link.split("token=").nth(1).unwrap().to_owned();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut answers = String::new();

    // The setup page (it holds the token in its form, for the holder of the
    // link: not counted as an answer), the link used with a weak password,
    // then for real.
    assert_eq!(http.get(&link).send().await.unwrap().status(), 200);
    let setup = |password: &str| {
        serde_json::json!({"token": setup_token, "username": "root", "password": password}).to_string()
    };
    for password in ["password1", PASSWORD] {
        let answer = http
            .post(format!("{base}/api/v1/auth/setup"))
            .header("content-type", "application/json")
            .body(setup(password))
            .send()
            .await
            .unwrap();
        answers += &format!("{:?}", answer.headers());
        answers += &answer.text().await.unwrap();
    }

    // Logins: wrong, then right; the session's cookie used.
    let login = |password: &str| {
        http.post(format!("{base}/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(serde_json::json!({"username": "root", "password": password}).to_string())
            .send()
    };
    answers += &login(WRONG).await.unwrap().text().await.unwrap();
    let logged_in = login(PASSWORD).await.unwrap();
    let cookie = logged_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session_id = cookie.split('=').nth(1).unwrap().to_owned();
    answers += &logged_in.text().await.unwrap();
    for path in ["/", "/api/v1/auth/me", "/settings"] {
        answers +=
            &http.get(format!("{base}{path}")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    }

    // Tokens from the command line: one used, one revoked and then tried.
    let cli = |args: &[&str], stdin: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_finstage"));
        command.args(args).env("FINSTAGE_DATABASE_URL", &url).env("FINSTAGE_LOG", "debug");
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (_, cli_log) = cli(&["users", "add", "ann", "--role", "trader"], &format!("{PASSWORD}\n"));
    let mut logs = cli_log;
    let (out, cli_log) = cli(&["tokens", "create", "--user", "ann", "--scope", "write"], "");
    logs += &cli_log;
    let live = out.lines().find(|l| l.starts_with("fst_")).unwrap().to_owned();
    let (out, cli_log) = cli(&["tokens", "create", "--user", "ann"], "");
    logs += &cli_log;
    let revoked = out.lines().find(|l| l.starts_with("fst_")).unwrap().to_owned();
    logs += &cli(&["tokens", "revoke", "2"], "").1;
    logs += &cli(&["users", "reset-password", "ann"], &format!("{WRONG}\n")).1;
    for token in [&live, &revoked] {
        for path in ["/api/v1/symbols", "/api/v1/auth/me", "/api/v1/lab/runs"] {
            let answer = http.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
            answers += &answer.text().await.unwrap();
        }
    }
    answers += &cli(&["audit", "--json"], "").0;
    answers += &http.get(format!("{base}/api/v1/audit")).bearer_auth(&live).send().await.unwrap().text().await.unwrap();
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("finstage_"), "{metrics}");
    answers += &metrics;
    // Let the Telegram poller fail at least once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;

    logs += &std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.lines().count() > 50, "a debug log was written:\n{logs}");
    assert!(logs.contains("telegram"), "the bot ran (and failed) in this run");
    let secrets = [
        ("the setup token", setup_token.as_str()),
        ("the password", PASSWORD),
        ("a wrong password", WRONG),
        ("the session id", session_id.as_str()),
        ("a live token", live.as_str()),
        ("a revoked token", revoked.as_str()),
        ("the bot token's secret part", &BOT_TOKEN[7..]),
    ];
    for (what, secret) in secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!("{what} is in the log: {line}");
        }
        if let Some(at) = answers.find(secret) {
            panic!("{what} is in an answer: …{}…", &answers[at.saturating_sub(80)..(at + 80).min(answers.len())]);
        }
    }
}
