//! The command line: `tradebot [serve]`, `tradebot migrate`.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{Application, migrate};

#[derive(Parser)]
#[command(
    name = "tradebot",
    version,
    about = "TradeBot accounts: sign-up, login and a sealed vault for exchange API keys"
)]
#[command(after_help = "Configuration comes from environment variables and a .env file; see README.md.")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and the JSON API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
}

/// Runs the command; the error, if any, is printed by `main` with a non-zero exit.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_process_env().map_err(|e| anyhow::anyhow!("configuration error: {e}"))?;
    crate::telemetry::init(settings.is_production());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let pool = crate::db::build_pool(&settings.database_url, 1);
            let applied = migrate(&settings.database_url, &pool).await?;
            println!("{applied} migration(s) applied");
        }
    }
    Ok(())
}
