//! The command line: `tradebot [serve]`, `migrate`, `admin grant|revoke EMAIL`,
//! `keys generate|rotate`, `prune`.

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
    /// Grant or revoke the operator role (the /admin pages) of an account.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Delete sent mail older than MAIL_RETENTION_DAYS and audit events older
    /// than AUDIT_RETENTION_DAYS (serving instances do it hourly), then exit.
    Prune,
    /// Manage the encryption keys that seal stored exchange keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Make the account with this email an operator.
    Grant { email: String },
    /// Take the operator role away from the account with this email.
    Revoke { email: String },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Print a new random key line (`kid:base64key`) to put first in ENCRYPTION_KEYS.
    Generate {
        /// The key id; by default `k` and the current date and time.
        #[arg(long)]
        kid: Option<String>,
    },
    /// Re-seal every stored value under the active (first) key, in batches;
    /// safe to interrupt and run again, and to run while instances serve.
    Rotate {
        /// Rows per transaction.
        #[arg(long, default_value_t = crate::vault::rotation::DEFAULT_BATCH)]
        batch: i64,
    },
}

/// Runs the command; the error, if any, is printed by `main` with a non-zero exit.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Generating a key needs no configuration (it is how one starts).
    if let Some(Command::Keys { action: KeysAction::Generate { kid } }) = &cli.command {
        let kid = kid.clone().unwrap_or_else(crate::vault::keyring::dated_kid);
        crate::vault::keyring::validate_kid(&kid)?;
        println!("{}", crate::vault::keyring::new_key_line(&kid));
        return Ok(());
    }
    let settings = Settings::from_process_env().map_err(|e| anyhow::anyhow!("configuration error: {e}"))?;
    let _log_writer = crate::telemetry::init(settings.is_production());
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
        Command::Admin { action } => set_operator_role(&settings, action).await?,
        Command::Prune => prune(&settings).await?,
        Command::Keys { action: KeysAction::Generate { .. } } => unreachable!("handled before configuration"),
        Command::Keys { action: KeysAction::Rotate { batch } } => rotate_keys(&settings, batch.max(1)).await?,
    }
    Ok(())
}

async fn set_operator_role(settings: &Settings, action: AdminAction) -> anyhow::Result<()> {
    let (email, admin) = match action {
        AdminAction::Grant { email } => (email, true),
        AdminAction::Revoke { email } => (email, false),
    };
    let pool = crate::db::build_pool(&settings.database_url, 1);
    migrate(&settings.database_url, &pool).await?;
    let shown = email.trim().to_lowercase();
    let changed = actix_web::web::block(move || {
        let mut conn = pool.get()?;
        anyhow::Ok(crate::admin::roles::set_admin(&mut conn, &email, admin)?)
    })
    .await??;
    match (admin, changed) {
        (true, true) => println!("{shown} is now an operator"),
        (true, false) => println!("{shown} was already an operator"),
        (false, true) => println!("{shown} is no longer an operator"),
        (false, false) => println!("{shown} was not an operator"),
    }
    Ok(())
}

async fn prune(settings: &Settings) -> anyhow::Result<()> {
    let pool = crate::db::build_pool(&settings.database_url, 1);
    migrate(&settings.database_url, &pool).await?;
    let retention = settings.retention.clone();
    let pruned = actix_web::web::block(move || {
        let mut conn = pool.get()?;
        anyhow::Ok(crate::retention::prune(&mut conn, &retention, crate::clock::now(), crate::retention::BATCH)?)
    })
    .await??;
    println!("{} mail(s) and {} audit event(s) pruned", pruned.mails, pruned.events);
    Ok(())
}

async fn rotate_keys(settings: &Settings, batch: i64) -> anyhow::Result<()> {
    let pool = crate::db::build_pool(&settings.database_url, 1);
    migrate(&settings.database_url, &pool).await?;
    let keyring = settings.encryption_keys.clone();
    let report = actix_web::web::block(move || {
        let mut conn = pool.get()?;
        crate::vault::rotation::rotate_all(&mut conn, &keyring, batch)
    })
    .await??;
    println!(
        "{} value pair(s) re-sealed under `{}`, {} already current",
        report.resealed,
        settings.encryption_keys.active_kid(),
        report.current
    );
    if !report.failed.is_empty() {
        for failure in &report.failed {
            eprintln!("{} row {}: {}", failure.table, failure.id, failure.reason);
        }
        anyhow::bail!(
            "{} row(s) could not be re-sealed; put their key back in ENCRYPTION_KEYS and run again",
            report.failed.len()
        );
    }
    Ok(())
}
