//! Notification engine figures: templates rendered per second on one core, and how fast the
//! outbox drains to a local SMTP server.
//!
//! `cargo bench --bench notify [-- --renders 50000 --emails 2000 --mailbox 1 --drain 0]`, on
//! PostgreSQL with `BENCH_DATABASE_URL` set to an empty database.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark that cannot go on should stop loudly

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::StreamExt;
use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};
use portal::config::Config;
use portal::domain::Email;
use portal::domain::clock::SystemClock;
use portal::notify::registry::Registry;
use portal::notify::templates::Templates;
use portal::notify::worker::Worker;
use portal::notify::{EmailNotification, Notification, Template};
use sea_orm::TransactionTrait;
use serde_json::json;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Clone)]
struct CountingSink(Arc<AtomicUsize>);

impl Handler for CountingSink {
    fn data_end(&mut self) -> Response {
        self.0.fetch_add(1, Ordering::Relaxed);
        response::OK
    }
}

#[tokio::main]
async fn main() {
    let renders = arg("--renders", 50_000);
    let emails = arg("--emails", 2_000);
    let _ = rustls::crypto::ring::default_provider().install_default();

    // 1. Rendering, one thread.
    let templates = Arc::new(Templates::load(None).unwrap());
    let vars = templates.sample(Template::Welcome).clone();
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..renders {
        let email = templates.render(Template::Welcome, "es", &vars).unwrap();
        bytes += email.html.len() + email.text.len();
    }
    let rate = renders as f64 / started.elapsed().as_secs_f64();
    println!(
        "rendering: {renders} welcome emails (subject, HTML, text) on one core: {rate:.0}/s ({} KiB)",
        bytes / 1024
    );

    // 2. Draining the outbox to a local SMTP server.
    let received = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = CountingSink(received.clone());
    std::thread::spawn(move || {
        let mut server = Server::new(sink);
        server.with_tcp_listener(listener).with_num_threads(8);
        let _ = server.serve();
    });
    let dir = tempfile::tempdir().unwrap();
    // `--mailbox 1` drains to .eml files instead, to tell the database's share from SMTP's.
    let transport = if arg("--mailbox", 0) == 1 {
        ("PORTAL_MAILBOX_DIR", dir.path().join("mailbox").display().to_string())
    } else {
        let external = std::env::var("BENCH_SMTP_URL").ok();
        ("PORTAL_SMTP_URL", external.unwrap_or(format!("smtp://127.0.0.1:{port}")))
    };
    // BENCH_DATABASE_URL: an empty PostgreSQL database instead of a fresh SQLite file.
    let database = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()));
    let vars_map = [("PORTAL_DATABASE_URL", database), transport].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let config = Config::from_vars(&vars_map).unwrap();
    let db = portal::db::connect(&config.database).await.unwrap();
    portal::db::migrate(&db).await.unwrap();
    let to = Email::parse("reader@example.com").unwrap();
    let tx = db.begin().await.unwrap();
    for n in 0..emails {
        let email = EmailNotification::new(&to, Template::Welcome, "en", vars.clone());
        let notification = Notification {
            company_id: None,
            event_type: portal::types::EventType::UserCreated,
            data: json!({"n": n}),
            email: Some(email),
        };
        portal::notify::enqueue(&tx, chrono::Utc::now(), notification).await.unwrap();
    }
    tx.commit().await.unwrap();
    portal::notify::refresh_statistics(&db).await.unwrap(); // as an import does after its write

    // What one claim's selection costs with the whole backlog waiting (it should not grow with it).
    let backend = db.get_database_backend();
    let claims = 50;
    let started = Instant::now();
    for _ in 0..claims {
        let batch = portal::notify::worker::claimable(backend, chrono::Utc::now(), 32).all(&db).await.unwrap();
        assert_eq!(batch.len(), 32.min(emails));
    }
    println!(
        "claim: the next 32 of {emails} waiting deliveries in {:.2} ms ({backend:?})",
        started.elapsed().as_secs_f64() * 1000.0 / claims as f64
    );

    if arg("--drain", 1) == 0 {
        return; // `--drain 0`: the claim figure alone, for large backlogs
    }
    let clock = Arc::new(SystemClock);
    let registry = Registry::from_config(&config, db.clone(), clock.clone()).unwrap();
    // The bound of a drain to the mailbox: the plugin alone writing the same emails, pre-rendered,
    // as many at once as the worker hands it (no database at all).
    let raw_rate = if arg("--mailbox", 0) == 1 {
        let plugin = registry.for_channel(portal::types::enums::Channel::Email).unwrap().clone();
        let rendered = templates.render(Template::Welcome, "en", &vars).unwrap();
        let outgoing = |n: usize| portal::notify::plugin::Outgoing {
            delivery_id: portal::types::DeliveryId::new(),
            event_id: portal::types::EventId::new(),
            event_type: "user.created".into(),
            occurred_at: chrono::Utc::now(),
            channel: portal::types::enums::Channel::Email,
            recipient: to.to_string(),
            data: json!({"n": n}),
            email: Some(rendered.clone()),
        };
        // As many as the drain writes, into a directory as empty as the drain's: a directory
        // of 200,000 files costs ext4 more per file than one of 20,000 (an earlier bound of
        // 20,000 files made the drain look 2.7x slower when the directory was the difference).
        let count = emails;
        let started = Instant::now();
        let outcomes: Vec<_> = futures_util::stream::iter(0..count)
            .map(|n| {
                let plugin = plugin.clone();
                let message = outgoing(n);
                async move { plugin.deliver(&message).await }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        assert!(outcomes.iter().all(|o| *o == portal::notify::plugin::Outcome::Delivered));
        let rate = count as f64 / started.elapsed().as_secs_f64();
        let mailbox = dir.path().join("mailbox");
        std::fs::remove_dir_all(&mailbox).unwrap();
        std::fs::create_dir_all(&mailbox).unwrap();
        println!("mailbox plugin alone: {count} rendered emails written, 8 at a time: {rate:.0}/s (the drain's bound)");
        Some(rate)
    } else {
        None
    };
    let worker = Worker::new(db, registry, templates, clock, Arc::new(tokio::sync::Notify::new()));
    let started = Instant::now();
    // Steady from first to last: the rate of the first and of the last tenth of the drain. As
    // the worker drains (`Worker::drain_until_empty`): `lanes` batches in flight at once.
    let sent = AtomicUsize::new(0);
    let marks = std::sync::Mutex::new((None, None));
    let lane = async || {
        loop {
            let round = worker.drain_once().await.unwrap();
            if round == 0 {
                break;
            }
            let sent = sent.fetch_add(round, Ordering::Relaxed) + round;
            let mut marks = marks.lock().unwrap();
            if marks.0.is_none() && sent * 10 >= emails {
                marks.0 = Some((sent, started.elapsed()));
            }
            if marks.1.is_none() && sent * 10 >= emails * 9 {
                marks.1 = Some((sent, started.elapsed()));
            }
        }
    };
    futures_util::future::join_all((0..worker.lanes).map(|_| lane())).await;
    let sent = sent.load(Ordering::Relaxed);
    let (first_tenth, last_tenth_from) = marks.into_inner().unwrap();
    let elapsed = started.elapsed();
    if let (Some((first, at)), Some((from, since))) = (first_tenth, last_tenth_from) {
        let last_rate = (sent - from) as f64 / (elapsed - since).as_secs_f64().max(1e-9);
        println!(
            "outbox drain rate: first tenth {:.0}/s, last tenth {last_rate:.0}/s",
            first as f64 / at.as_secs_f64()
        );
    }
    if arg("--mailbox", 0) == 0 && std::env::var("BENCH_SMTP_URL").is_err() {
        assert_eq!(received.load(Ordering::Relaxed), emails, "every email reached the SMTP server");
    }
    let rate = emails as f64 / elapsed.as_secs_f64();
    println!(
        "outbox drain: {emails} emails rendered and sent ({}; {backend:?} outbox) in {:.2} s: {rate:.0}/s{}",
        if arg("--mailbox", 0) == 1 { "to the mailbox" } else { "over SMTP" },
        elapsed.as_secs_f64(),
        raw_rate.map(|raw| format!(" = the plugin alone / {:.2}", raw / rate)).unwrap_or_default()
    );
}
