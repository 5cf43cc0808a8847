//! The `portal` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use portal::app::{Application, shutdown_signal};
use portal::config::Config;
use portal::domain::DomainError;
use portal::domain::clock::SystemClock;
use portal::domain::companies::{self, ProvisionCompany};
use portal::import::terminal::Request as ImportRequest;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "portal", version, about = "Portal: the GraphQL backend of a B2B customer portal")]
#[command(after_help = "Configuration comes from PORTAL_* environment variables (see README.md).")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: migrate the database, then serve GraphQL on PORTAL_LISTEN (the default command)
    Serve,
    /// Apply, roll back or list the database migrations (embedded in this binary)
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the GraphQL schema (SDL) that the server serves
    Schema,
    /// Create a company and its owner; the owner gets a welcome email with a temporary password
    ProvisionCompany {
        /// The company's name (unique)
        #[arg(long)]
        name: String,
        /// The owner's email: they sign in with it
        #[arg(long)]
        owner_email: String,
        #[arg(long)]
        owner_given_name: String,
        #[arg(long)]
        owner_surname: String,
        /// Language of the owner's emails (en, es)
        #[arg(long)]
        owner_locale: Option<String>,
    },
    /// Import users from a CSV file into a company, with a progress bar; the error log, if
    /// any, is written next to the file (users.csv → users.errors.csv)
    Import {
        /// The company's id
        #[arg(long)]
        company: portal::types::CompanyId,
        /// The CSV file (the template's columns; `,` or `;`; UTF-8)
        file: std::path::PathBuf,
        /// Validate only: nothing is written
        #[arg(long)]
        dry_run: bool,
        /// Create the users without sending them welcome emails
        #[arg(long)]
        no_welcome_emails: bool,
    },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply every pending migration (the default)
    Up,
    /// Roll back the most recent migrations
    Down {
        /// How many migrations to roll back
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List the migrations and whether each is applied
    Status,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        // `portal schema | head` closes the pipe early: that is not an error (print! would panic).
        use std::io::Write;
        let _ = std::io::stdout().lock().write_all(portal::graphql::sdl().as_bytes());
        return ExitCode::SUCCESS;
    }
    if matches!(cli.command, Some(Command::Import { .. })) {
        portal::telemetry::init_quiet();
    } else {
        portal::telemetry::init();
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate { action } => migrate(config, action.unwrap_or(MigrateAction::Up)).await,
        Command::Schema => unreachable!("handled above"),
        Command::ProvisionCompany { name, owner_email, owner_given_name, owner_surname, owner_locale } => {
            let input = ProvisionCompany { name, owner_email, owner_given_name, owner_surname, owner_locale };
            provision_company(config, input).await
        }
        Command::Import { company, file, dry_run, no_welcome_emails } => {
            let request = ImportRequest { company_id: company, file, dry_run, send_welcome_emails: !no_welcome_emails };
            match import(config, request).await {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(error) => Err(error),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let public_url = config.public_url.clone();
    let database = config.database.redacted();
    let app = Application::build(config).await?;
    tracing::info!(database, "Portal listening on http://{}", app.local_addr());
    // PORTAL_PUBLIC_URL (by default the listen address) is what links and this line name.
    tracing::info!("GraphiQL: {}  ·  landing page: {}", public_url.join("graphql")?, public_url);
    app.run_until(shutdown).await
}

async fn provision_company(config: Config, input: ProvisionCompany) -> anyhow::Result<()> {
    let (services, worker) = portal::app::services(&config, Arc::new(SystemClock)).await?;
    let company = match companies::provision_company(&services, None, input).await {
        Ok(company) => company,
        Err(DomainError::Validation(fields)) => {
            let problems: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            anyhow::bail!("{}", problems.join("; "))
        }
        Err(error) => return Err(error.into()),
    };
    println!("Company {} created (id {}).", company.name, company.id);
    // Send the welcome email now rather than waiting for a running server's worker.
    worker.drain_once().await?;
    println!("The welcome email with the temporary password is on its way to the owner.");
    Ok(())
}

async fn import(config: Config, request: ImportRequest) -> anyhow::Result<bool> {
    let (services, worker) = portal::app::services(&config, Arc::new(SystemClock)).await?;
    portal::import::terminal::run(&portal::import::Imports::new(services, worker), request).await
}

async fn migrate(config: Config, action: MigrateAction) -> anyhow::Result<()> {
    let db = portal::db::connect(&config.database).await?;
    match action {
        MigrateAction::Up => Migrator::up(&db, None).await?,
        MigrateAction::Down { steps } => Migrator::down(&db, Some(steps)).await?,
        MigrateAction::Status => {}
    }
    for migration in Migrator::get_migration_with_status(&db).await? {
        println!("{:?}\t{}", migration.status(), migration.name());
    }
    Ok(())
}
