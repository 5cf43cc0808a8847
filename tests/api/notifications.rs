//! The notification engine: nothing lost when SMTP is down or the server restarts, exactly-once
//! delivery with several workers, retries, dead deliveries, signed webhooks, templates.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::mail::SmtpSink;
use common::receiver::{Receiver, verifies as verify};
use common::{Backend, TestApp, TestDatabase, data, error_code, eventually};
use portal::app::Application;
use portal::db::{deliveries, delivery_attempts, outbox_events};
use portal::domain::clock::{Clock, SystemClock};
use portal::domain::companies::{ProvisionCompany, provision_company};
use portal::domain::{AttemptOutcome, DeliveryStatus};
use portal::notify::plugin::{Channel, Notifier, Outcome, Outgoing};
use portal::notify::registry::Registry;
use portal::notify::templates::Templates;
use portal::notify::worker::Worker;
use portal::notify::{EmailNotification, Notification, Template};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};

backend_tests!(
    webhooks_are_signed_per_the_standard,
    a_rejected_webhook_goes_dead_and_can_be_retried,
    a_failing_webhook_is_retried_with_backoff,
    webhooks_to_internal_addresses_are_refused,
    an_smtp_outage_loses_nothing,
    templates_are_listed_and_previewed,
    a_lease_held_by_a_dead_process_expires,
    a_plugin_of_our_own_carries_its_channel,
    a_claim_reads_its_batch_from_the_claimable_index,
);

/// The worker's claim walks `ix_deliveries_claimable` in due order and stops at its batch: no
/// scan of the backlog, no sort (the plan that took ~100 ms a claim with 180,000 waiting).
async fn a_claim_reads_its_batch_from_the_claimable_index(app: TestApp) {
    use portal::notify::{EmailNotification, Notification, Template};
    use sea_orm::{ConnectionTrait, QueryTrait, Statement};
    // A backlog due in a year (the running worker leaves it alone), claimed as of two years.
    let later = chrono::Utc::now() + chrono::Duration::days(365);
    let vars = json!({"givenName": "Ana"});
    let (mut events, mut deliveries) = (Vec::new(), Vec::new());
    for i in 0..20_000 {
        let to = portal::types::Email::parse(&format!("person{i}@backlog.example")).unwrap();
        let notification = Notification {
            company_id: None,
            event_type: portal::types::EventType::UserCreated,
            data: json!({}),
            email: Some(EmailNotification::new(&to, Template::Welcome, "en", vars.clone())),
        };
        let (event, delivery) = portal::notify::event_row(&notification, later).unwrap();
        events.push(event);
        deliveries.extend(delivery);
    }
    portal::db::bulk::insert(&app.db, events).await.unwrap();
    portal::db::bulk::insert(&app.db, deliveries).await.unwrap();
    let backend = app.db.get_database_backend();
    let analyze = if backend == sea_orm::DatabaseBackend::Postgres { "ANALYZE deliveries" } else { "ANALYZE" };
    app.db.execute_unprepared(analyze).await.unwrap();

    let claim = portal::notify::worker::claimable(backend, later + chrono::Duration::days(365), 32);
    let sql = claim.build(backend).to_string();
    let explain = match backend {
        sea_orm::DatabaseBackend::Postgres => format!("EXPLAIN {sql}"),
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = app.db.query_all_raw(Statement::from_string(backend, explain)).await.unwrap();
    let plan: Vec<String> = rows
        .iter()
        .map(|row| row.try_get::<String>("", "QUERY PLAN").or_else(|_| row.try_get::<String>("", "detail")).unwrap())
        .collect();
    let plan = plan.join("\n");
    eprintln!("claim plan ({backend:?}):\n{plan}");
    assert!(plan.contains("ix_deliveries_claimable"), "the claim uses the index:\n{plan}");
    for scan_or_sort in ["Sort", "Seq Scan", "TEMP B-TREE", "SCAN deliveries\n", "SCAN \"deliveries\""] {
        assert!(!plan.contains(scan_or_sort), "no {scan_or_sort} in the claim:\n{plan}");
    }
}

/// A notifier plugin is a type implementing `Notifier` for its channel and one registration:
/// this one, written here, takes the email channel over from the mailbox and records each
/// delivery it is handed (as a consumer that could see duplicates would).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Handed>>>);

struct Handed {
    delivery_id: portal::types::DeliveryId,
    recipient: String,
    subject: String,
}

#[async_trait::async_trait]
impl Notifier for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn channel(&self) -> Channel {
        Channel::Email
    }
    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        let subject = outgoing.email.as_ref().map(|e| e.subject.clone()).unwrap_or_default();
        let handed = Handed { delivery_id: outgoing.delivery_id, recipient: outgoing.recipient.clone(), subject };
        self.0.lock().unwrap().push(handed);
        Outcome::Delivered
    }
}

async fn a_plugin_of_our_own_carries_its_channel(app: TestApp) {
    let recorder = Recorder::default();
    let plugins: Vec<Arc<dyn Notifier>> = vec![Arc::new(recorder.clone())];
    let app = TestApp::spawn_with_plugins(app.backend.clone(), &[], plugins).await;
    app.provision_company("Plugged", "owner@plugged.example").await;
    app.settle().await;
    let sent: Vec<(String, String)> =
        recorder.0.lock().unwrap().iter().map(|h| (h.recipient.clone(), h.subject.clone())).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "owner@plugged.example");
    assert!(sent[0].1.contains("Plugged"), "rendered before it reached the plugin: {sent:?}");
    assert!(common::mail::mailbox(&app.mailbox_dir).is_empty(), "the mailbox plugin no longer serves email");
    let recorded = "SELECT COUNT(*) AS n FROM delivery_attempts WHERE plugin = 'recorder' AND outcome = 'DELIVERED'";
    assert_eq!(app.count(recorded).await, 1, "the attempt names the plugin");
}

/// A delivery claimed by a process that died stays untouched until its lease runs out, then
/// another worker takes it.
async fn a_lease_held_by_a_dead_process_expires(app: TestApp) {
    let templates = Templates::load(None).unwrap();
    let to = portal::domain::Email::parse("leased@example.com").unwrap();
    let now = app.clock.now();
    let tx = app.db.begin().await.unwrap();
    let email = EmailNotification::new(&to, Template::Welcome, "en", templates.sample(Template::Welcome).clone());
    let notification = Notification {
        company_id: None,
        event_type: portal::types::EventType::UserCreated,
        data: json!({}),
        email: Some(email),
    };
    portal::notify::enqueue(&tx, now, notification).await.unwrap();
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::LeaseUntil, sea_orm::sea_query::Expr::value(now + chrono::Duration::minutes(2)))
        .col_expr(deliveries::Column::LeasedBy, sea_orm::sea_query::Expr::value("a-process-that-died"))
        .exec(&tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(app.worker.drain_once().await.unwrap(), 0, "a claim now takes nothing: the lease is respected");
    assert!(common::mail::mailbox(&app.mailbox_dir).is_empty(), "the lease is respected");
    app.clock.advance(chrono::Duration::minutes(2) + chrono::Duration::seconds(1));
    app.services.outbox_wakeup.notify_one();
    app.wait_for_email("leased@example.com").await;
}

use common::CREATE_ENDPOINT;
const DELIVERIES: &str = "query ($status: DeliveryStatus) { notificationDeliveries(first: 10, status: $status) {
    totalCount edges { node { id channel status attempts lastError nextAttemptAt attemptHistory { plugin outcome error } } } } }";

async fn send_test(app: &TestApp, token: &str, id: &str) -> String {
    let body =
        app.graphql_as(Some(token), "mutation ($id: ID!) { testWebhookEndpoint(id: $id) }", json!({"id": id})).await;
    data(&body)["testWebhookEndpoint"].as_str().unwrap().to_owned()
}

async fn webhooks_are_signed_per_the_standard(app: TestApp) {
    let token = app.company_owner("Hooks Inc", "owner@hooks.example").await;
    let receiver = Receiver::start().await;
    let (id, secret) = app.webhook_endpoint(&token, &receiver.url(), &["user.created", "import.completed"]).await;
    assert!(secret.starts_with("whsec_"));

    let message_id = send_test(&app, &token, &id).await;
    let request = receiver.nth(1).await;
    assert!(verify(&secret, &request), "an independent implementation accepts the signature");
    assert_eq!(request.headers["webhook-id"], message_id.as_str());
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["endpointId"], id.as_str());
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let mut tampered = request.clone();
    tampered.body = axum::body::Bytes::from(request.body.iter().rev().copied().collect::<Vec<u8>>());
    assert!(!verify(&secret, &tampered), "a changed body fails verification");

    // Rotation: both secrets sign for a while.
    let body = app
        .graphql_as(
            Some(&token),
            "mutation ($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }",
            json!({"id": id}),
        )
        .await;
    let new_secret = data(&body)["rotateWebhookSecret"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    send_test(&app, &token, &id).await;
    let request = receiver.nth(2).await;
    assert_eq!(request.headers["webhook-signature"].to_str().unwrap().split(' ').count(), 2);
    assert!(verify(&new_secret, &request) && verify(&secret, &request));

    let body = app.graphql_as(Some(&token), "{ webhookEndpoints { id events } }", json!({})).await;
    assert_eq!(data(&body)["webhookEndpoints"], json!([{"id": id, "events": ["import.completed", "user.created"]}]));
    // Another company cannot see or touch it.
    let other = app.company_owner("Other Co", "owner@other.example").await;
    let body = app.graphql_as(Some(&other), "{ webhookEndpoints { id } }", json!({})).await;
    assert_eq!(data(&body)["webhookEndpoints"], json!([]));
    let body =
        app.graphql_as(Some(&other), "mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({"id": id})).await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body =
        app.graphql_as(Some(&token), "mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({"id": id})).await;
    assert_eq!(data(&body)["deleteWebhookEndpoint"], true);
}

/// Waits until the company's only webhook delivery has `status`.
async fn wait_for_status(app: &TestApp, token: &str, status: &str) -> Value {
    eventually(&format!("a {status} webhook delivery"), async || {
        let body = app.graphql_as(Some(token), DELIVERIES, json!({"status": status})).await;
        let edges = data(&body)["notificationDeliveries"]["edges"].as_array().unwrap().clone();
        edges.into_iter().find(|e| e["node"]["channel"] == "webhook").map(|edge| edge["node"].clone())
    })
    .await
}

async fn a_rejected_webhook_goes_dead_and_can_be_retried(app: TestApp) {
    let token = app.company_owner("Dead Letters", "owner@dead.example").await;
    let receiver = Receiver::start().await;
    receiver.answer_with(400);
    let (id, _) = app.webhook_endpoint(&token, &receiver.url(), &["user.created"]).await;
    let message_id = send_test(&app, &token, &id).await;
    let dead = wait_for_status(&app, &token, "DEAD").await;
    assert_eq!(dead["attempts"], 1, "a 4xx is permanent: no retry");
    assert_eq!(dead["attemptHistory"][0]["outcome"], "PERMANENT");
    assert!(dead["lastError"].as_str().unwrap().contains("400"));

    receiver.answer_with(204);
    let body = app
        .graphql_as(
            Some(&token),
            "mutation ($id: ID!) { retryDelivery(id: $id) { status } }",
            json!({"id": dead["id"]}),
        )
        .await;
    assert_eq!(data(&body)["retryDelivery"]["status"], "PENDING");
    let delivered = wait_for_status(&app, &token, "DELIVERED").await;
    assert_eq!(delivered["attemptHistory"].as_array().unwrap().len(), 2, "the history keeps the first attempt");
    let ids: Vec<String> =
        receiver.requests().iter().map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert_eq!(ids, [message_id.clone(), message_id], "the same event keeps its id across attempts");

    let body = app
        .graphql_as(
            Some(&token),
            "mutation ($id: ID!) { retryDelivery(id: $id) { status } }",
            json!({"id": dead["id"]}),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "nothing to retry once delivered");
}

async fn a_failing_webhook_is_retried_with_backoff(app: TestApp) {
    let token = app.company_owner("Flaky", "owner@flaky.example").await;
    let receiver = Receiver::start().await;
    receiver.answer_with(503);
    let (id, _) = app.webhook_endpoint(&token, &receiver.url(), &["user.created"]).await;
    send_test(&app, &token, &id).await;
    let failed = wait_for_status(&app, &token, "FAILED").await;
    assert_eq!(failed["attemptHistory"][0]["outcome"], "TRANSIENT");
    let next: chrono::DateTime<chrono::Utc> = failed["nextAttemptAt"].as_str().unwrap().parse().unwrap();
    let wait = next - app.clock.now();
    assert!(wait > chrono::Duration::seconds(3) && wait <= chrono::Duration::seconds(6), "about 5 s: {wait}");

    receiver.answer_with(200);
    app.clock.advance(chrono::Duration::seconds(7));
    app.services.outbox_wakeup.notify_one();
    let delivered = wait_for_status(&app, &token, "DELIVERED").await;
    assert_eq!(delivered["attempts"], 2);
    assert_eq!(receiver.requests().len(), 2);
}

async fn webhooks_to_internal_addresses_are_refused(app: TestApp) {
    let strict = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_WEBHOOK_ALLOW_PRIVATE", "false")]).await;
    let token = strict.company_owner("Careful", "owner@careful.example").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
        "ftp://example.com/x",
    ] {
        let input = json!({"url": url, "events": ["user.created"]});
        let body = strict.graphql_as(Some(&token), CREATE_ENDPOINT, json!({"input": input})).await;
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{url}");
        assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "url", "{url}");
    }
    // The listed event types are what an endpoint may subscribe to; a reset link's event, which
    // would hand a way into an account to a third party, is not among them.
    let owner = app.company_owner("Typos", "owner@typos.example").await;
    let listed =
        data(&app.graphql_as(Some(&owner), "{ webhookEventTypes }", json!({})).await)["webhookEventTypes"].clone();
    let listed: Vec<String> = serde_json::from_value(listed).unwrap();
    assert!(
        listed.contains(&"import.progress".to_owned()) && listed.contains(&"user.created".to_owned()),
        "{listed:?}"
    );
    assert!(!listed.contains(&"user.password_reset_requested".to_owned()), "{listed:?}");
    let input = json!({"url": "http://127.0.0.1:9/hook", "events": listed});
    data(&app.graphql_as(Some(&owner), CREATE_ENDPOINT, json!({"input": input})).await);
    let input = json!({"url": "http://127.0.0.1:9/hook", "events": ["user.created", "no.such.event", "user.password_reset_requested"]});
    let body = app.graphql_as(Some(&owner), CREATE_ENDPOINT, json!({"input": input})).await;
    let fields: Vec<&Value> =
        body["errors"][0]["extensions"]["fields"].as_array().unwrap().iter().map(|f| &f["field"]).collect();
    assert_eq!(fields, [&json!("events[1]"), &json!("events[2]")], "{body}");
}

async fn an_smtp_outage_loses_nothing(app: TestApp) {
    // A port nobody listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_SMTP_URL", &smtp_url)]).await;
    let operator = app.operator_token().await;
    let input = json!({"name": "Outage", "ownerEmail": "owner@outage.example", "ownerGivenName": "Óscar", "ownerSurname": "Núñez", "ownerLocale": "es"});
    let body = app
        .graphql_as(
            Some(&operator),
            "mutation ($input: ProvisionCompanyInput!) { provisionCompany(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    data(&body);

    // The attempt fails and is recorded; the email waits.
    let delivery = eventually("a failed attempt recorded", async || {
        let found = deliveries::Entity::find().one(&app.db).await.unwrap().unwrap();
        (found.status == DeliveryStatus::Failed).then_some(found)
    })
    .await;
    assert_eq!(delivery.attempts, 1);
    assert!(delivery.last_error.as_deref().unwrap().starts_with("SMTP"), "{:?}", delivery.last_error);

    // SMTP comes back; the retry delivers it, once.
    let smtp = SmtpSink::start_on(port);
    app.clock.advance(chrono::Duration::seconds(7));
    app.services.outbox_wakeup.notify_one();
    let received = smtp.wait_for("owner@outage.example").await;
    let email = received.parsed();
    assert_eq!(email.subject(), Some("Bienvenido al portal de clientes de Outage, Óscar"));
    let raw = String::from_utf8_lossy(&received.raw).to_string();
    assert!(
        raw.contains("Subject: Bienvenido al portal de clientes de Outage, =?utf-8?b?"),
        "a non-ASCII subject is encoded (RFC 2047): {raw}"
    );
    // The email is out before the delivery is recorded: wait for the record.
    let delivery = eventually("the delivery is recorded", async || {
        let found = deliveries::Entity::find_by_id(delivery.id).one(&app.db).await.unwrap().unwrap();
        (found.status == DeliveryStatus::Delivered).then_some(found)
    })
    .await;
    app.settle().await;
    assert_eq!(smtp.count_to("owner@outage.example"), 1, "no duplicate");
    assert_eq!(delivery.attempts, 2);
    let outcomes: Vec<AttemptOutcome> = delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::DeliveryId.eq(delivery.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.contains(&AttemptOutcome::Transient) && outcomes.contains(&AttemptOutcome::Delivered));
    // The temporary password does not stay in the outbox once delivered.
    let event = outbox_events::Entity::find_by_id(delivery.event_id).one(&app.db).await.unwrap().unwrap();
    assert!(!event.payload.to_string().contains("temporaryPassword"), "{}", event.payload);
    assert_eq!(event.payload["email"]["vars"], json!({"erased": "delivered"}), "only the variables are erased");
    assert_eq!(event.payload["email"]["to"], "owner@outage.example");
}

async fn templates_are_listed_and_previewed(app: TestApp) {
    let body = app.graphql("{ emailTemplates { name } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let token = app.company_owner("Templates", "owner@templates.example").await;
    let body =
        app.graphql_as(Some(&token), "{ emailTemplates { name locales variables { name sample } } }", json!({})).await;
    let templates = data(&body)["emailTemplates"].as_array().unwrap().clone();
    let names: Vec<&str> = templates.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["welcome", "reset-password", "invitation", "support-ticket-confirmation"]);
    assert!(templates.iter().all(|t| t["locales"] == json!(["en", "es"])));
    assert!(templates[0]["variables"].as_array().unwrap().iter().any(|v| v["name"] == "temporaryPassword"));

    let preview = "query ($t: String!, $l: String) { previewEmail(template: $t, locale: $l) { subject html text } }";
    let body = app.graphql_as(Some(&token), preview, json!({"t": "reset-password", "l": "es"})).await;
    assert_eq!(data(&body)["previewEmail"]["subject"], "Restablezca su contraseña del portal de clientes");
    let body = app.graphql_as(Some(&token), preview, json!({"t": "invitation"})).await;
    assert!(data(&body)["previewEmail"]["html"].as_str().unwrap().contains("<li>REPORTS</li>"));
    let body = app.graphql_as(Some(&token), preview, json!({"t": "newsletter"})).await;
    assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "template");
}

/// What was queued by a process that stopped before sending is sent by the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_delivers_what_was_queued() {
    common::init();
    for backend in [Some(Backend::Sqlite), Backend::postgres()].into_iter().flatten() {
        let database = TestDatabase::create(&backend).await;
        let mailbox = tempfile::tempdir().unwrap();
        let config = common::test_config(&database.url, mailbox.path());

        // First process: queues the welcome email, never runs its worker.
        let first = Application::build(config.clone()).await.unwrap();
        let input = ProvisionCompany {
            name: "Restart Ltd".into(),
            owner_email: "owner@restart.example".into(),
            owner_given_name: "Rita".into(),
            owner_surname: "Restart".into(),
            owner_locale: None,
        };
        provision_company(first.services(), None, input).await.unwrap();
        first.services().db.clone().close().await.unwrap();
        drop(first);
        assert!(common::mail::mailbox(mailbox.path()).is_empty());

        // Second process: delivers it.
        let second = Application::build(config).await.unwrap();
        let db = second.services().db.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(second.run_until(async move {
            let _ = stopped.await;
        }));
        let sent = async || (!common::mail::mailbox(mailbox.path()).is_empty()).then_some(());
        eventually(&format!("{backend:?}: the queued email is sent"), sent).await;
        // The file is written before the delivery is recorded: wait for the record too.
        let delivered = deliveries::Entity::find().filter(deliveries::Column::Status.eq(DeliveryStatus::Delivered));
        let recorded = async || (delivered.clone().count(&db).await.unwrap() == 1).then_some(());
        eventually(&format!("{backend:?}: the delivery is recorded"), recorded).await;
        assert_eq!(common::mail::mailbox(mailbox.path()).len(), 1, "sent once");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}

/// Two workers with their own connection pools (two server processes) share one PostgreSQL
/// outbox: 500 emails, each delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(portal_postgres_tests), ignore = "PORTAL_TEST_POSTGRES_URL is not set")]
async fn two_workers_on_postgres_deliver_each_email_once() {
    common::init();
    let Some(backend) = Backend::postgres() else { return };
    let database = TestDatabase::create(&backend).await;
    let mailbox = tempfile::tempdir().unwrap();
    let config = common::test_config(&database.url, mailbox.path());
    let templates = Arc::new(Templates::load(None).unwrap());
    let sample = templates.sample(Template::Welcome).clone();

    let first = portal::db::connect(&config.database).await.unwrap();
    portal::db::migrate(&first).await.unwrap();
    let tx = first.begin().await.unwrap();
    let to = portal::domain::Email::parse("many@example.com").unwrap();
    for i in 0..500 {
        let notification = Notification {
            company_id: None,
            event_type: portal::types::EventType::UserCreated,
            data: json!({"n": i}),
            email: Some(EmailNotification::new(&to, Template::Welcome, "en", sample.clone())),
        };
        portal::notify::enqueue(&tx, chrono::Utc::now(), notification).await.unwrap();
    }
    tx.commit().await.unwrap();

    let recorder = Recorder::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for _ in 0..2 {
        let db = portal::db::connect(&config.database).await.unwrap();
        let mut registry = Registry::default();
        registry.register(Arc::new(recorder.clone()));
        let mut worker =
            Worker::new(db, registry, templates.clone(), Arc::new(SystemClock), Arc::new(tokio::sync::Notify::new()));
        worker.batch_size = 16;
        workers.push(tokio::spawn(worker.run(stopped.clone())));
    }
    let delivered = deliveries::Entity::find().filter(deliveries::Column::Status.eq(DeliveryStatus::Delivered));
    let all_delivered = async || (delivered.clone().count(&first).await.unwrap() == 500).then_some(());
    common::eventually_within(60, "500 of 500 delivered", all_delivered).await;
    stop.send(true).unwrap();
    for worker in workers {
        worker.await.unwrap();
    }
    let mut counts = HashMap::new();
    for handed in recorder.0.lock().unwrap().iter() {
        *counts.entry(handed.delivery_id).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 500);
    assert!(counts.values().all(|n| *n == 1), "a delivery was handed over twice");
    assert_eq!(delivery_attempts::Entity::find().count(&first).await.unwrap(), 500);
}
