//! Test support: start the real application on 127.0.0.1, port 0, against a fresh database,
//! and talk to it as a client would (HTTP and the `graphql-transport-ws` websocket protocol).
//!
//! Every scenario runs on SQLite (a fresh file) and on PostgreSQL (a fresh database, created
//! and dropped) when `PORTAL_TEST_POSTGRES_URL` names a server, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`. Use `backend_tests!` to declare them.
#![allow(dead_code)]

pub mod browser;
pub mod mail;
pub mod node;
pub mod python;
pub mod receiver;
pub mod schema_walk;
pub mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use portal::app::Application;
use portal::config::Config;
use portal::domain::Services;
use portal::domain::clock::ManualClock;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const POSTGRES_VAR: &str = "PORTAL_TEST_POSTGRES_URL";
/// The platform operator every test app starts with.
pub const OPERATOR_EMAIL: &str = "operator@localhost";
pub const OPERATOR_PASSWORD: &str = "Platform-Keeper-42!";
pub const CREATE_ENDPOINT: &str = "mutation ($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret endpoint { id url events } } }";
/// The password `activate` sets.
pub const USER_PASSWORD: &str = "Fresh-Start-2026!";
/// The password `company_owner` sets.
pub const OWNER_PASSWORD: &str = "Harbour-Lights-2026!";

/// Declares, for each `async fn name(app: TestApp)`, the tests `name::sqlite` and
/// `name::postgres`. The PostgreSQL one is skipped (and says so) when `PORTAL_TEST_POSTGRES_URL`
/// is unset, except under CI, where a missing PostgreSQL is a failure.
#[macro_export]
macro_rules! backend_tests {
    // With settings on top of the test defaults: `backend_tests!(settings: [("PORTAL_X", "1")]; name)`.
    (settings: $settings:expr; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let backend = $crate::common::Backend::Sqlite;
                super::$name($crate::common::TestApp::spawn_with(backend, &$settings).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(portal_postgres_tests), ignore = "PORTAL_TEST_POSTGRES_URL is not set")]
            async fn postgres() {
                let Some(backend) = $crate::common::Backend::postgres() else { return };
                super::$name($crate::common::TestApp::spawn_with(backend, &$settings).await).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(portal_postgres_tests), ignore = "PORTAL_TEST_POSTGRES_URL is not set")]
            async fn postgres() {
                let Some(backend) = $crate::common::Backend::postgres() else { return };
                super::$name($crate::common::TestApp::spawn(backend).await).await
            }
        }
    )*};
}

/// For tests that build the application themselves: logs through the test harness, and the
/// TLS provider the application would install.
pub fn init() {
    portal::telemetry::init_for_tests();
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// Admin URL of a PostgreSQL server on which test databases are created.
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when configured; None (after saying why) when not.
    pub fn postgres() -> Option<Backend> {
        match std::env::var(POSTGRES_VAR) {
            Ok(url) if !url.trim().is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var_os("CI").is_some() => {
                panic!("{POSTGRES_VAR} must be set under CI: the suite runs on PostgreSQL too")
            }
            _ => {
                eprintln!("skipped: {POSTGRES_VAR} is not set, so the PostgreSQL variant does not run");
                None
            }
        }
    }
}

/// A database made for one test, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>, // (admin url, database name)
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("portal.db").display());
                TestDatabase { url, _dir: Some(dir), postgres: None }
            }
            Backend::Postgres(admin_url) => {
                let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str()).await.expect("connect to PostgreSQL admin URL");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(admin_url).expect("valid PostgreSQL URL");
                url.set_path(&name);
                TestDatabase { url: url.to_string(), _dir: None, postgres: Some((admin_url.clone(), name)) }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// The application's own pool, for checks that look at the database directly.
    pub db: DatabaseConnection,
    pub services: Services,
    /// The application's import runtime (running jobs, progress).
    pub imports: portal::import::Imports,
    /// The application's clock: `clock.advance(…)` instead of sleeping.
    pub clock: Arc<ManualClock>,
    pub backend: Backend,
    pub mailbox_dir: std::path::PathBuf,
    /// What `PORTAL_DATABASE_URL` the application was given (a second process can share it).
    pub database_url: String,
    /// A handle on the application's outbox worker, to drain the outbox on demand.
    pub worker: portal::notify::worker::Worker,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _work_dir: tempfile::TempDir,
    // Last: dropped after the server is gone.
    _database: TestDatabase,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, &[]).await
    }

    /// With extra `PORTAL_*` settings on top of the test defaults.
    pub async fn spawn_with(backend: Backend, settings: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_with_plugins(backend, settings, Vec::new()).await
    }

    /// With notifier plugins that replace the built-in one of their channel.
    pub async fn spawn_with_plugins(
        backend: Backend,
        settings: &[(&str, &str)],
        plugins: Vec<Arc<dyn portal::notify::plugin::Notifier>>,
    ) -> TestApp {
        portal::telemetry::init_for_tests();
        let database = TestDatabase::create(&backend).await;
        let work_dir = tempfile::tempdir().expect("temp dir");
        let mailbox_dir = work_dir.path().join("mailbox");
        let mut vars: HashMap<String, String> = [
            ("PORTAL_DATABASE_URL", database.url.as_str()),
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            // The links in emails name a fixed address; the tests replace it with their server's.
            ("PORTAL_PUBLIC_URL", "http://127.0.0.1:8080"),
            ("PORTAL_MAILBOX_DIR", mailbox_dir.to_str().unwrap()),
            // Cheap hashing keeps the suite fast; production keeps the OWASP defaults.
            ("PORTAL_ARGON2_MEMORY_KIB", "64"),
            ("PORTAL_ARGON2_ITERATIONS", "1"),
            ("PORTAL_SHUTDOWN_GRACE_SECONDS", "2"),
            ("PORTAL_BOOTSTRAP_OPERATOR_PASSWORD", OPERATOR_PASSWORD),
            // Webhook receivers in tests listen on 127.0.0.1.
            ("PORTAL_WEBHOOK_ALLOW_PRIVATE", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_vars(&vars).expect("test configuration is valid");
        let clock = Arc::new(ManualClock::default());
        let app = Application::build_with(config, clock.clone(), plugins).await.expect("application starts");
        let addr = app.local_addr();
        let services = app.services().clone();
        let worker = app.worker();
        let imports = app.imports().clone();
        let db = services.db.clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stop.await;
        }));
        TestApp {
            addr,
            http: reqwest::Client::new(),
            db,
            services,
            imports,
            clock,
            backend,
            mailbox_dir,
            database_url: database.url.clone(),
            worker,
            shutdown: Some(shutdown),
            server: Some(server),
            _work_dir: work_dir,
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST /graphql anonymously; returns the whole response body (`data`, `errors`).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(None, query, variables).await
    }

    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(self.url("/graphql")).json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /graphql");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("a JSON body")
    }

    /// Signs in; panics unless it works. Returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = self
            .graphql(
                "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                json!({"e": email, "p": password}),
            )
            .await;
        data(&body)["login"]["token"].as_str().expect("a token").to_owned()
    }

    pub async fn operator_token(&self) -> String {
        self.login(OPERATOR_EMAIL, OPERATOR_PASSWORD).await
    }

    /// An operator provisions `company` with `owner` (named Olive Owner); the company's id.
    pub async fn provision_company(&self, company: &str, owner: &str) -> String {
        let operator = self.operator_token().await;
        let input = json!({"name": company, "ownerEmail": owner, "ownerGivenName": "Olive", "ownerSurname": "Owner"});
        let body = self
            .graphql_as(
                Some(&operator),
                "mutation ($input: ProvisionCompanyInput!) { provisionCompany(input: $input) { id } }",
                json!({"input": input}),
            )
            .await;
        data(&body)["provisionCompany"]["id"].as_str().unwrap().to_owned()
    }

    /// Provisions `company` with `owner` (mailbox transport) and signs the owner in with the
    /// emailed temporary password; returns the session (which may only change the password)
    /// and that password.
    pub async fn provisioned_owner(&self, company: &str, owner: &str) -> (String, String) {
        self.provision_company(company, owner).await;
        let text = self.wait_for_email(owner).await.body_text(0).unwrap().into_owned();
        let temporary = mail::value_after(&text, "Your temporary password is:");
        (self.login(owner, &temporary).await, temporary)
    }

    /// `provisioned_owner`, then sets `OWNER_PASSWORD`; returns the session token.
    pub async fn company_owner(&self, company: &str, owner: &str) -> String {
        let (token, temporary) = self.provisioned_owner(company, owner).await;
        self.change_password(&token, &temporary, OWNER_PASSWORD).await;
        token
    }

    async fn change_password(&self, token: &str, current: &str, new: &str) {
        let body = self
            .graphql_as(
                Some(token),
                "mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
                json!({"c": current, "n": new}),
            )
            .await;
        data(&body);
    }

    /// A platform support agent (`agent@platform.example`), signed in with a password of their own.
    pub async fn support_agent(&self) -> String {
        let operator = self.operator_token().await;
        let input =
            json!({"email": "agent@platform.example", "givenName": "Ada", "surname": "Agent", "role": "SUPPORT_AGENT"});
        let body = self
            .graphql_as(
                Some(&operator),
                "mutation ($input: CreateStaffUserInput!) { createStaffUser(input: $input) { role } }",
                json!({"input": input}),
            )
            .await;
        assert_eq!(data(&body)["createStaffUser"]["role"], "SUPPORT_AGENT");
        let text = self.wait_for_email("agent@platform.example").await.body_text(0).unwrap().into_owned();
        let temporary = mail::value_after(&text, "Your temporary password is:");
        let token = self.login("agent@platform.example", &temporary).await;
        self.change_password(&token, &temporary, "Helpful-Lantern-2026").await;
        token
    }

    /// `SELECT COUNT(*) AS n …` on the application's database.
    pub async fn count(&self, sql: &str) -> i64 {
        let statement = sea_orm::Statement::from_string(self.db.get_database_backend(), sql);
        let row = self.db.query_one_raw(statement).await.expect("the count runs").expect("a count row");
        row.try_get::<i64>("", "n").expect("an integer `n`")
    }

    /// Follows the welcome email's link to set `USER_PASSWORD`, then signs in; returns the token.
    pub async fn activate(&self, email: &str) -> String {
        let text = self.wait_for_email(email).await.body_text(0).unwrap().into_owned();
        let url = mail::link(&text, "http://127.0.0.1:8080/set-password?token=");
        let token = url.split("token=").nth(1).unwrap();
        let body = self
            .graphql(
                "mutation ($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }",
                json!({"t": token, "p": USER_PASSWORD}),
            )
            .await;
        data(&body);
        self.login(email, USER_PASSWORD).await
    }

    /// The latest email to `recipient` in the mailbox directory, waiting up to 15 s for one.
    pub async fn wait_for_email(&self, recipient: &str) -> mail_parser::Message<'static> {
        eventually(&format!("an email to {recipient}"), async || {
            mail::mailbox(&self.mailbox_dir).into_iter().rev().find_map(|raw| {
                let message = mail_parser::MessageParser::default().parse(&raw).unwrap().into_owned();
                (message.to().and_then(|to| to.first()).and_then(|a| a.address()) == Some(recipient)).then_some(message)
            })
        })
        .await
    }

    /// Lets the application finish what it started: the work requests left running (a reset
    /// link being written), then every due notification, delivered. After it, an email that is
    /// not in the mailbox was never going to be sent; no sleep decides that.
    pub async fn settle(&self) {
        let background = &self.services.background;
        background.close();
        background.wait().await;
        background.reopen();
        while self.worker.drain_once().await.expect("the outbox drains") > 0 {}
        // Deliveries the application's own worker holds are still due until it records them.
        eventually("the outbox worker records what it holds", async || {
            (self.due_deliveries().await == 0).then_some(())
        })
        .await;
    }

    /// Deliveries waiting for an attempt now (by the application's clock).
    pub async fn due_deliveries(&self) -> u64 {
        use portal::db::deliveries::{Column, Entity};
        use portal::domain::DeliveryStatus;
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let now = portal::domain::clock::Clock::now(&*self.clock);
        Entity::find()
            .filter(Column::Status.is_in([DeliveryStatus::Pending, DeliveryStatus::Failed]))
            .filter(Column::NextAttemptAt.lte(now))
            .count(&self.db)
            .await
            .expect("deliveries count")
    }

    /// Deliveries queued for `recipient` (an address or a webhook URL), whatever their state.
    pub async fn deliveries_to(&self, recipient: &str) -> u64 {
        use portal::db::deliveries::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        Entity::find().filter(Column::Recipient.eq(recipient)).count(&self.db).await.expect("deliveries count")
    }

    /// Subscribes `url` to `events` for the caller's company; returns the endpoint's id and
    /// its signing secret.
    pub async fn webhook_endpoint(&self, token: &str, url: &str, events: &[&str]) -> (String, String) {
        let input = json!({"url": url, "events": events, "description": "tests"});
        let body = self.graphql_as(Some(token), CREATE_ENDPOINT, json!({"input": input})).await;
        let created = &data(&body)["createWebhookEndpoint"];
        (created["endpoint"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
    }

    /// A websocket client that has completed `connection_init` with `init_payload`.
    pub async fn ws(&self, init_payload: Value) -> Result<ws::WsClient, ws::Closed> {
        ws::WsClient::connect(&format!("ws://{}/graphql/ws", self.addr), init_payload).await
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql/ws", self.addr)
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Polls `probe` until it answers `Some`, and returns that; fails the test, naming `what`,
/// after 20 s. For the waits on another task's progress that remain (an email arriving); never
/// to decide that something did not happen (see `TestApp::settle`).
pub async fn eventually<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_within(20, what, probe).await
}

/// `eventually` for the few waits that are long by nature (hundreds of deliveries).
pub async fn eventually_within<T>(seconds: u64, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "not within {seconds} s: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The `extensions.code` of the first error, panicking with the body when there is none.
/// The fields a VALIDATION_FAILED error names, in order.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields in {body}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("expected an error, got {body}"))
}

/// `data`, panicking with the body when there are errors.
pub fn data(body: &Value) -> &Value {
    assert!(body.get("errors").is_none_or(Value::is_null), "unexpected errors: {body}");
    &body["data"]
}

/// A server's configuration for tests (cheap argon2, a mailbox folder, the operator's known
/// password), on `database_url`.
pub fn test_config(database_url: &str, mailbox: &std::path::Path) -> portal::config::Config {
    let vars = [
        ("PORTAL_DATABASE_URL", database_url),
        ("PORTAL_LISTEN", "127.0.0.1:0"),
        // The links in emails name a fixed address; the tests replace it with their server's.
        ("PORTAL_PUBLIC_URL", "http://127.0.0.1:8080"),
        ("PORTAL_MAILBOX_DIR", mailbox.to_str().unwrap()),
        ("PORTAL_ARGON2_MEMORY_KIB", "64"),
        ("PORTAL_ARGON2_ITERATIONS", "1"),
        ("PORTAL_BOOTSTRAP_OPERATOR_PASSWORD", OPERATOR_PASSWORD),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    portal::config::Config::from_vars(&vars).unwrap()
}
