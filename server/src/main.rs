//! The `finstage` binary: parse the command line and the configuration, set up
//! logging, run the command. Exit codes: 0 done, 1 failed, 2 bad configuration.

use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};
use server::config::{Config, LogFormat};
use server::storage::Db;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("finstage: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("finstage: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => server::serve::run(config).await,
            Command::Migrate => migrate(&config).await,
            Command::Indicators { csv, ind } => {
                Ok(server::analysis::indicators(&csv, &ind, &mut std::io::stdout().lock())?)
            }
            Command::Backtest(args) => Ok(server::analysis::backtest(&args, &mut std::io::stdout().lock())?),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finstage: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    db.close().await;
    println!("migrations applied to {}", config.database_url);
    Ok(())
}

fn init_logging(config: &Config) {
    // `Config` validated the filter already; fall back to `info` regardless.
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
