//! Putting the parts together: database, schema, router, listener; and running until told to
//! stop, letting requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::{db, graphql};

pub struct Application {
    config: Config,
    db: DatabaseConnection,
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Connects, migrates and binds (port 0 picks a free port: see `local_addr`).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        // sqlx and lettre use ring while reqwest could pull another provider: pick one, once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = db::connect(&config.database).await?;
        db::migrate(&db).await?;
        let schema = graphql::build_schema(db.clone(), &config);
        let router = http::router(
            AppState {
                db: db.clone(),
                schema,
            },
            &config,
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (PORTAL_LISTEN)", config.listen))?;
        Ok(Application {
            config,
            db,
            listener,
            router,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until `shutdown` completes, then stops accepting, gives in-flight requests up to
    /// `PORTAL_SHUTDOWN_GRACE_SECONDS` to finish, and closes the database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            config,
            db,
            listener,
            router,
        } = self;
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
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
        db.close().await.context("closing the database pool")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
