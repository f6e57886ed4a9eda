//! The REST API against its own OpenAPI document: schemathesis (installed by
//! `scripts/setup --test` under `.tools/schemathesis`) generates requests for
//! every operation of `/api/v1/openapi.json`, valid and invalid, from a fixed
//! seed and a bounded number of examples, and runs all its checks on the
//! answers: no server error, every status, content type, header and body as
//! documented, invalid input refused and valid input accepted, and each
//! operation that declares a security scheme refusing a request without it.
//! A second run without credentials expects 401 from every protected
//! operation.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;

use std::path::Path;
use std::process::Command;

/// The narrowings of `--checks all`. `PUT /strategies/{name}` takes the
/// strategy's parameters as an object whose keys and ranges depend on the
/// strategy the path names, with rules between keys (`fast` below `slow`,
/// `oversold` below `overbought`): JSON Schema can express neither, so the
/// document says "an object" and the server answers 400 to parameters that do
/// not fit the strategy. There (and in the lab's requests below), and only
/// there, a schema-valid request may be refused with 400; every other check,
/// and every other operation, is as strict as `--checks all` makes it.
///
/// The lab's requests are the same case: a strategy's parameters are an
/// object checked against that strategy's metadata and rules, and `size` is
/// required only with some `sizing`; beyond that a valid request can name a
/// range without bars (422) or find enough sweeps running (429).
const CONFIG: &str = r#"
[[operations]]
include-operation-id = "put_strategy"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404"]

[[operations]]
include-operation-id = "run_backtest"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "422"]

[[operations]]
include-operation-id = "start_sweep"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "422", "429"]

[[operations]]
include-operation-id = "start_walk_forward"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "422", "429"]

[[operations]]
include-operation-id = "save_run"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-operation-id = "doc_login"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "429"]

[[operations]]
include-operation-id = "doc_setup"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "403"]
"#;

/// Without credentials every protected operation, valid input or not, must
/// answer 401 (the way in, `/api/v1/auth/*`, is public and left out).
const UNAUTHENTICATED: &str = r#"
[checks]
positive_data_acceptance.expected-statuses = ["401"]
negative_data_rejection.expected-statuses = ["401"]
"#;

/// Runs schemathesis against `schema` with `config` and `args`; its output,
/// after checking it passed and tested something.
async fn schemathesis(served: &common::Served, config: &str, args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let schemathesis = root.join(".tools/schemathesis/bin/schemathesis");
    assert!(schemathesis.exists(), "{} is missing: run scripts/setup --test", schemathesis.display());
    let dir = tempfile::tempdir().unwrap();
    let schema = served.url("/api/v1/openapi.json");
    let report = dir.path().join("report");
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let cwd = dir.path().to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .arg("--config-file")
            .arg(&config_file)
            .args(["run", &schema, "--seed", "20261207", "--generation-deterministic", "--workers", "1"])
            .args(["--no-color", "--request-timeout", "10", "--suppress-health-check", "all"])
            .args(&args)
            .arg("--report-dir")
            .arg(&report)
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(&cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        served.log()
    );
    // It ran every operation (a document it could not load would also exit 0 with nothing tested).
    assert!(stdout.contains("passed"), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_holds_to_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("finstage.db").display());
    // An admin's token: every operation is open to it. The document (and
    // `/metrics`) is read from loopback, which `auth.metrics_allow` lets in.
    let token = common::seed_admin(&url).await;
    let envs = [
        ("FINSTAGE_DATABASE_URL", url),
        ("FINSTAGE_WATCHLIST", "AAPL,MSFT,BTC-USD".to_owned()),
        ("FINSTAGE_SIM__HISTORY_DAYS", "400".to_owned()),
        // Thousands of requests a minute from one token: not what is tested here.
        ("FINSTAGE_AUTH__TOKEN_REQUESTS_PER_MINUTE", "1000000".to_owned()),
    ];
    let served = common::Served::start(&envs, &dir.path().join("serve.log")).await;
    // `--checks all` includes `ignored_auth`: each operation that declares a
    // security scheme is also sent without the token and must refuse it.
    let header = format!("Authorization: {token}");
    schemathesis(
        &served,
        CONFIG,
        &["--checks", "all", "--max-examples", "30", "--phases", "examples,coverage,fuzzing", "-H", &header],
    )
    .await;
    let stdout = schemathesis(
        &served,
        UNAUTHENTICATED,
        &[
            "--checks",
            "all",
            "--max-examples",
            "5",
            "--phases",
            "examples,coverage",
            "--exclude-path-regex",
            "^/api/v1/auth/",
        ],
    )
    .await;
    // Every selected operation answered nothing but 401.
    let number = |after: &str| -> usize {
        let at = stdout.find(after).unwrap_or_else(|| panic!("no {after:?} in\n{stdout}"));
        stdout[..at].split_whitespace().last().and_then(|n| n.parse().ok()).unwrap()
    };
    let selected = number("selected /");
    assert!(selected >= 20, "{stdout}");
    assert_eq!(number("operations returned only 401/403"), selected, "{stdout}");
}
