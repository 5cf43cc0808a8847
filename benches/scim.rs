//! Provisioning through SCIM as an identity provider does it: `--users` POST /scim/v2/Users at
//! concurrency 8, then look-ups by `userName eq` (what Okta sends before each create) and a
//! listing by `name.familyName sw`, on SQLite and, when `PORTAL_TEST_POSTGRES_URL` names a
//! server, PostgreSQL. Prints requests per second and p99; asserts nothing.
//!
//! `cargo bench --bench scim [-- --users 10000 --requests 1000]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot go on should stop loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portal::app::Application;
use portal::config::Config;
use portal::db::users;
use portal::domain::api_keys::{NewApiKey, create};
use portal::domain::companies::{ProvisionCompany, SettingsChange, provision_company, update_settings};
use portal::domain::principal::{Actor, Principal, Reach};
use portal::domain::{Module, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

const CONCURRENCY: usize = 8;
const SURNAMES: [&str; 8] = ["García", "Pérez", "Núñez", "Gómez", "Díaz", "Martín", "Sánchez", "López"];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `requests` requests from `CONCURRENCY` clients, each expecting `status`: (req/s, p99).
async fn load(
    requests: usize,
    status: u16,
    make: impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> (f64, Duration) {
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (make, next) = (make.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        return latencies;
                    }
                    let t = Instant::now();
                    let response = make(n).send().await.unwrap();
                    let got = response.status().as_u16();
                    let body = response.text().await.unwrap();
                    assert_eq!(got, status, "{body}");
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    (requests as f64 / elapsed.as_secs_f64(), latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)])
}

fn report(label: &str, what: &str, (rps, p99): (f64, Duration)) {
    println!("[{label}] {what}: {rps:.0} req/s, p99 {:.1} ms", p99.as_secs_f64() * 1000.0);
}

async fn run(label: &str, database_url: String, people: usize, requests: usize) {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("PORTAL_DATABASE_URL", database_url),
        ("PORTAL_LISTEN", "127.0.0.1:0".into()),
        ("PORTAL_MAILBOX_DIR", dir.path().join("mailbox").display().to_string()),
        ("PORTAL_ARGON2_MEMORY_KIB", "64".into()),
        ("PORTAL_ARGON2_ITERATIONS", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = Application::build(Config::from_vars(&vars).unwrap()).await.unwrap();
    let services = app.services().clone();
    let input = ProvisionCompany {
        name: "Bench Co".into(),
        owner_email: "boss@bench.example".into(),
        owner_given_name: "Bo".into(),
        owner_surname: "Boss".into(),
        owner_locale: None,
    };
    let company = provision_company(&services, None, input).await.unwrap();
    let owner = users::Entity::find().filter(users::Column::Email.eq("boss@bench.example")).one(&services.db).await;
    let owner = owner.unwrap().unwrap();
    // The owner as a signed-in person (the benchmark skips the sign-in itself).
    let principal = Principal {
        actor: Actor::Person { user_id: owner.id, session_id: Uuid::now_v7() },
        company_id: Some(company.id),
        role: Role::Owner,
        modules: Module::all().collect(),
        must_change_password: false,
        reach: Reach::WholeCompany,
    };
    let settings = SettingsChange { scim_enabled: Some(true), ..SettingsChange::default() };
    update_settings(&services, &principal, settings).await.unwrap();
    let key = NewApiKey { name: "bench".into(), modules: vec![Module::UserManagement], expires_at: None };
    let (_, secret) = create(&services, &principal, key).await.unwrap();
    let base = format!("http://{}/scim/v2", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let manager = owner.id.to_string();

    let (c, b, s) = (client.clone(), base.clone(), secret.clone());
    let created = load(people, 201, move |n| {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": format!("person{n}@bench.example"),
            "externalId": format!("00u{n:08}"),
            "name": {"givenName": "Ana", "familyName": format!("{} {n}", SURNAMES[n % SURNAMES.len()])},
            "title": "Analyst",
            "active": true,
            "emails": [{"value": format!("person{n}@bench.example"), "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": manager}},
        });
        c.post(format!("{b}/Users")).bearer_auth(&s).header("content-type", "application/scim+json").body(body.to_string())
    })
    .await;
    report(label, &format!("POST /Users x{people} (concurrency {CONCURRENCY})"), created);

    let (c, b, s) = (client.clone(), base.clone(), secret.clone());
    let lookups = load(requests, 200, move |n| {
        let filter = format!("userName eq \"person{}@bench.example\"", (n * 7919) % people);
        c.get(url::Url::parse_with_params(&format!("{b}/Users"), [("filter", filter)]).unwrap()).bearer_auth(&s)
    })
    .await;
    report(label, &format!("GET /Users?filter=userName eq … ({people} users)"), lookups);

    let (c, b, s) = (client.clone(), base.clone(), secret.clone());
    let listing = load(requests, 200, move |n| {
        let filter = format!("name.familyName sw \"{}\"", SURNAMES[n % SURNAMES.len()]);
        let url = url::Url::parse_with_params(&format!("{b}/Users"), [("filter", filter), ("count", "100".into())]);
        c.get(url.unwrap()).bearer_auth(&s)
    })
    .await;
    report(label, "GET /Users?filter=name.familyName sw …&count=100", listing);
}

#[tokio::main]
async fn main() {
    let people = arg("--users", 10_000);
    let requests = arg("--requests", 1_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    run("SQLite", format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()), people, requests).await;
    match std::env::var("PORTAL_TEST_POSTGRES_URL") {
        Ok(admin) => {
            use sea_orm::ConnectionTrait;
            let name = format!("portal_bench_{}", Uuid::new_v4().simple());
            let server = sea_orm::Database::connect(admin.as_str()).await.unwrap();
            server.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            run("PostgreSQL", url.to_string(), people, requests).await;
            server.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        }
        Err(_) => println!("[PostgreSQL] skipped: set PORTAL_TEST_POSTGRES_URL to run it"),
    }
}
