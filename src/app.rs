//! Putting the parts together: database, services, notification worker, schema, router,
//! listener; and running until told to stop, letting requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::config::Config;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::companies::{self, Bootstrap};
use crate::domain::passwords::Passwords;
use crate::domain::principal_cache::{self, PrincipalCache};
use crate::domain::rate_limit::AddressLimiter;
use crate::domain::services::{Services, Settings};
use crate::http::{self, AppState};
use crate::import::Imports;
use crate::notify::plugin::Notifier;
use crate::notify::registry::Registry;
use crate::notify::templates::Templates;
use crate::notify::worker::{RetryPolicy, Worker};
use crate::{db, graphql};

pub struct Application {
    config: Config,
    services: Services,
    imports: Imports,
    worker: Worker,
    listener: TcpListener,
    router: axum::Router,
}

/// The services and the outbox worker, without HTTP: what the server and the CLI commands share.
pub async fn services(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<(Services, Worker)> {
    services_with(config, clock, Vec::new()).await
}

/// `services`, with notifier plugins of the caller's that replace the built-in one of their
/// channel (a program embedding Portal, or a test).
pub async fn services_with(
    config: &Config,
    clock: Arc<dyn Clock>,
    plugins: Vec<Arc<dyn Notifier>>,
) -> anyhow::Result<(Services, Worker)> {
    // sqlx and lettre use ring while reqwest could pull another provider: pick one, once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let templates = Templates::load(config.templates_dir.as_deref())?;
    let mut db = db::connect(&config.database).await?;
    db::migrate(&db).await?;
    // Same pool; this handle (the notification worker's) is cloned before the counting
    // callback is set, so `statements` is what requests run, not the worker's polling.
    let worker_db = db.clone();
    let statements = Arc::new(db::statement_log::StatementLog::default());
    let log = statements.clone();
    // Embedded SQLite has no other process to hear from; PostgreSQL waits for its listener.
    let alone = db.get_database_backend() != sea_orm::DatabaseBackend::Postgres;
    let principals = Arc::new(PrincipalCache::new(alone));
    let observer = principals.clone();
    let callback = move |info: &sea_orm::metric::Info<'_>| {
        log.seen(info.statement);
        observer.observe(&info.statement.sql);
    };
    let mut reads = db::connect_readers(&config.database, &db).await?;
    reads.set_metric_callback(callback.clone());
    db.set_metric_callback(callback);
    let mut registry = Registry::from_config(config, worker_db.clone(), clock.clone())?;
    for plugin in plugins {
        registry.register(plugin);
    }
    registry.check()?;
    let services = Services {
        db: db.clone(),
        reads,
        clock: clock.clone(),
        passwords: Passwords::new(config.password_hashing)?,
        settings: Arc::new(Settings {
            public_url: config.public_url.clone(),
            sign_in_url: config.sign_in_url.clone(),
            session_ttl: chrono::Duration::from_std(config.session_ttl)?,
            webhook_allow_private: config.webhook_allow_private,
        }),
        statements,
        login_limiter: Arc::new(AddressLimiter::per_minute(config.login_attempts_per_minute)),
        outbox_wakeup: Arc::new(Notify::new()),
        background: Default::default(),
        principals,
    };
    let mut worker = Worker::new(worker_db, registry, Arc::new(templates), clock, services.outbox_wakeup.clone());
    worker.retry = RetryPolicy { backoff: config.retry_schedule.clone() };
    Ok((services, worker))
}

impl Application {
    /// Connects, migrates, creates the first operator if there is none, and binds (port 0
    /// picks a free port: see `local_addr`).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// With a clock of the caller's: tests move time forward instead of sleeping.
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        Application::build_with(config, clock, Vec::new()).await
    }

    /// With a clock and notifier plugins of the caller's (see `services_with`).
    pub async fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        plugins: Vec<Arc<dyn Notifier>>,
    ) -> anyhow::Result<Application> {
        let (services, worker) = services_with(&config, clock, plugins).await?;
        // Bound before the operator is made: a busy port must not use up the one-time password.
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (PORTAL_LISTEN)", config.listen))?;
        let password = config.bootstrap_operator_password.as_ref().map(ExposeSecret::expose_secret);
        match companies::bootstrap_operator(&services, &config.bootstrap_operator, password).await? {
            Bootstrap::AlreadyThere => {}
            Bootstrap::Created { email } => tracing::info!(%email, "created the platform operator"),
            Bootstrap::CreatedWithTemporaryPassword { email, password } => {
                // Printed once, on purpose outside the log filter: nobody can read it later.
                eprintln!(
                    "\nPlatform operator created: {email}\nTemporary password (shown only now; you will be asked to change it): {password}\nSign in at {}\n",
                    config.sign_in_url
                );
            }
        }
        let imports = Imports::new(services.clone(), worker.clone());
        let schema = graphql::build_schema(imports.clone(), worker.templates.clone(), &config);
        let prejudged = graphql::build_prejudged(imports.clone(), worker.templates.clone(), &config);
        let router = http::router(
            AppState {
                services: services.clone(),
                imports: imports.clone(),
                schema,
                prejudged,
                limits: crate::graphql::limits::QueryLimits::with_depth(config.graphql_max_depth),
                persisted: http::PersistedQueries::default(),
                documents: http::ParsedDocuments::default(),
                max_message_bytes: config.max_body_bytes,
                websocket_init_timeout: config.websocket_init_timeout,
                batch_window: config.batch_window,
            },
            &config,
        );
        Ok(Application { config, services, imports, worker, listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        #[allow(clippy::expect_used, reason = "a bound listener has an address")]
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// This process's import runtime (running jobs, progress).
    pub fn imports(&self) -> &Imports {
        &self.imports
    }

    /// A handle on the outbox worker that `run_until` will start: tests drain the outbox with
    /// it on demand (`drain_once`), so that what was not sent is a fact rather than a timing.
    pub fn worker(&self) -> Worker {
        self.worker.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, gives in-flight requests up to
    /// `PORTAL_SHUTDOWN_GRACE_SECONDS` to finish, lets the outbox worker finish its batch, and
    /// closes the database pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { config, services, imports, worker, listener, router } = self;
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(worker.run(stopping_rx.clone()));
        // Other processes' import progress, for this one's subscribers (PostgreSQL only).
        let progress_relay = imports.progress.relay(&services.db);
        // Imports whose process died resume here (at start-up, then every 30 s).
        let import_sweep = tokio::spawn(crate::import::runner::keep_resuming(imports.clone()));
        let attempt_purge = tokio::spawn(crate::domain::attempts::keep_purging(services.clone()));
        // SQLite's write-ahead log copied into the file beside the writer, not by it.
        let checkpoints = tokio::spawn(crate::db::checkpoints::keep_checkpointing(config.database.clone()));
        // Other processes' changes to sessions and permissions (PostgreSQL only).
        let principal_listener = (services.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres)
            .then(|| tokio::spawn(principal_cache::listen(services.db.clone(), services.principals.clone())));
        let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing requests in flight");
                let _ = stopping_tx.send(true);
            });
        // Long-lived connections (websockets) would hold a graceful shutdown forever.
        let grace = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(config.shutdown_grace).await;
        };
        tokio::select! {
            result = server => result.context("server error")?,
            () = grace => tracing::warn!("grace period over: closing the remaining connections"),
        }
        // A request's unfinished work (a reset link being written) completes before the pool closes.
        services.background.close();
        if tokio::time::timeout(std::time::Duration::from_secs(5), services.background.wait()).await.is_err() {
            tracing::warn!("background work still running at shutdown");
        }
        let _ = worker.await;
        import_sweep.abort();
        attempt_purge.abort();
        checkpoints.abort();
        if let Some(listener) = principal_listener {
            listener.abort();
        }
        if let Some(relay) = progress_relay {
            relay.abort(); // it holds a connection the pool would wait for
        }
        // An import still writing holds a connection: it is not waited for. Its transaction dies
        // with the process and the job resumes, from its stored file, on the next start.
        match tokio::time::timeout(std::time::Duration::from_secs(5), services.db.close()).await {
            Ok(closed) => closed.context("closing the database pool")?,
            Err(_) => tracing::warn!("an import was still running: it resumes when a server starts again"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal that arrives while the server is still starting up is
/// not lost (nor does it kill the process).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
