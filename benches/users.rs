//! Listing and searching 100,000 users of one company through GraphQL, against a plain axum
//! handler in the same binary running the equivalent SQL (the ceiling), on SQLite and, when
//! `PORTAL_TEST_POSTGRES_URL` names a server, PostgreSQL. Prints requests per second and p99 at
//! concurrency 32, and PostgreSQL's plan for the search.
//!
//! `cargo bench --bench users [-- --users 100000 --requests 1000]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark that cannot go on should stop loudly

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use portal::app::Application;
use portal::config::Config;
use portal::db::{service_subscriptions, subscription_members, users};
use portal::domain::companies::{ProvisionCompany, provision_company};
use portal::domain::users::{NewUser, search_term};
use portal::domain::{Email, MemberStatus, Role, SubscriptionRole, SubscriptionStatus, UserStatus};
use sea_orm::sea_query::{ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use serde_json::{Value, json};
use uuid::Uuid;

const GIVEN: [&str; 20] = [
    "Ana", "José", "María", "Luis", "Carmen", "Jorge", "Lucía", "Pedro", "Sofía", "Diego", "Elena", "Pablo", "Marta",
    "Andrés", "Laura", "Tomás", "Julia", "Raúl", "Irene", "Óscar",
];
const SURNAMES: [&str; 25] = [
    "García",
    "Pérez",
    "Núñez",
    "Gómez",
    "Díaz",
    "Martín",
    "Sánchez",
    "López",
    "Rodríguez",
    "Fernández",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Navarro",
    "Torres",
    "Domínguez",
    "Vázquez",
    "Ramos",
    "Gil",
    "Ramírez",
    "Serrano",
    "Blanco",
    "Molina",
    "Morales",
    "Ortega",
];
const PASSWORD: &str = "Bench-Keeper-2026!";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Clone)]
struct Plain {
    db: DatabaseConnection,
    company_id: portal::types::CompanyId,
}

/// What `users(first: 50) { … manager subscriptions }` needs, as direct queries: the ceiling.
async fn plain_users(State(plain): State<Plain>, Query(params): Query<HashMap<String, String>>) -> Json<Value> {
    let mut query = users::Entity::find()
        .filter(users::Column::CompanyId.eq(plain.company_id))
        .filter(users::Column::Status.ne(UserStatus::Anonymized));
    for word in params.get("q").map(|q| search_term(q)).unwrap_or_default().split_whitespace() {
        query = query
            .filter(sea_orm::sea_query::Expr::col(users::Column::SearchKey).like(LikeExpr::new(format!("%{word}%"))));
    }
    let total = query.clone().count(&plain.db).await.unwrap();
    let page = query
        .order_by_asc(users::Column::SortKey)
        .order_by_asc(users::Column::Id)
        .limit(51)
        .all(&plain.db)
        .await
        .unwrap();
    let emails: Vec<portal::domain::Email> = page.iter().filter_map(|u| u.manager_email.clone()).collect();
    // The same shape as the DataLoader's query (`company_id IN (…)`), which lets SQLite pick the
    // email index instead of walking the company's rows.
    let managers: HashMap<portal::domain::Email, users::Model> = users::Entity::find()
        .filter(users::Column::CompanyId.is_in([plain.company_id]))
        .filter(users::Column::Email.is_in(emails))
        .all(&plain.db)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.email.clone(), u))
        .collect();
    let memberships = subscription_members::Entity::find()
        .filter(subscription_members::Column::UserId.is_in(page.iter().map(|u| u.id)))
        .all(&plain.db)
        .await
        .unwrap();
    let subscriptions: HashMap<portal::types::SubscriptionId, service_subscriptions::Model> =
        service_subscriptions::Entity::find()
            .filter(service_subscriptions::Column::Id.is_in(memberships.iter().map(|m| m.subscription_id)))
            .all(&plain.db)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
    let nodes: Vec<Value> = page
        .iter()
        .take(50)
        .map(|u| {
            let manager = u.manager_email.as_ref().and_then(|e| managers.get(e)).map(|m| json!({"email": m.email}));
            let subs: Vec<Value> = memberships
                .iter()
                .filter(|m| m.user_id == u.id)
                .map(|m| json!({"role": m.role, "subscription": {"product": subscriptions[&m.subscription_id].product}}))
                .collect();
            json!({"id": u.id, "email": u.email, "givenName": u.given_name, "surname": u.surname, "manager": manager, "subscriptions": subs})
        })
        .collect();
    Json(json!({"totalCount": total, "nodes": nodes}))
}

async fn seed(db: &DatabaseConnection, company_id: portal::types::CompanyId, owner: &users::Model, count: usize) {
    let now = chrono::Utc::now();
    let subscription = service_subscriptions::ActiveModel {
        id: Set(portal::types::SubscriptionId::new()),
        company_id: Set(company_id),
        product: Set("Automation Service".into()),
        plan: Set("Enterprise".into()),
        owner_id: Set(owner.id),
        status: Set(SubscriptionStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    let mut managers: Vec<portal::domain::Email> = vec![owner.email.clone()];
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut rows = Vec::new();
        let mut members = Vec::new();
        for &n in chunk {
            let email = Email::parse(&format!("user{n}@bench.example")).unwrap();
            let (given, surname) = (GIVEN[n % GIVEN.len()], SURNAMES[(n / GIVEN.len()) % SURNAMES.len()]);
            let mut user = NewUser {
                email: &email,
                company_id: Some(company_id),
                role: Role::User,
                status: if n % 10 == 0 { UserStatus::Inactive } else { UserStatus::Active },
                given_name: Some(given.into()),
                surname: Some(format!("{surname} {}", n % 97)),
                locale: portal::types::Locale::default(),
            }
            .into_active_model(now);
            user.job_title = Set(Some("Analyst".into()));
            user.manager_email = Set(Some(managers[n % managers.len()].clone()));
            let id = portal::types::UserId::new();
            user.id = Set(id);
            if n % 3 == 0 {
                members.push(subscription_members::ActiveModel {
                    id: Set(portal::types::MemberId::new()),
                    subscription_id: Set(subscription.id),
                    user_id: Set(id),
                    role: Set(SubscriptionRole::User),
                    status: Set(MemberStatus::Active),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
            rows.push(user);
        }
        if managers.len() < 200 {
            managers.extend(chunk.iter().take(20).map(|n| Email::parse(&format!("user{n}@bench.example")).unwrap()));
        }
        users::Entity::insert_many(rows).exec(db).await.unwrap();
        if !members.is_empty() {
            subscription_members::Entity::insert_many(members).exec(db).await.unwrap();
        }
    }
}

/// `requests` requests from 32 concurrent clients: (requests per second, p99).
async fn load(
    requests: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> (f64, Duration) {
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..32)
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
                    assert!(response.status().is_success());
                    let body: Value = response.json().await.unwrap();
                    assert!(body.get("errors").is_none(), "{body}");
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

async fn run(label: &str, database_url: String, user_count: usize, requests: usize) {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("PORTAL_DATABASE_URL", database_url),
        ("PORTAL_LISTEN", "127.0.0.1:0".into()),
        ("PORTAL_MAILBOX_DIR", dir.path().join("mailbox").display().to_string()),
        ("PORTAL_ARGON2_MEMORY_KIB", "64".into()),
        ("PORTAL_ARGON2_ITERATIONS", "1".into()),
        ("PORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "100000".into()),
        ("PORTAL_GRAPHQL_MAX_COMPLEXITY", "5000".into()),
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
    let owner = users::Entity::find()
        .filter(users::Column::Email.eq("boss@bench.example"))
        .one(&services.db)
        .await
        .unwrap()
        .unwrap();
    let hash = services.passwords.hash(PASSWORD).await.unwrap();
    portal::db::user_passwords::set(&services.db, owner.id, Some(hash)).await.unwrap();
    let mut active = owner.clone().into_active_model();
    active.must_change_password = Set(false);
    active.update(&services.db).await.unwrap();
    let seeding = Instant::now();
    seed(&services.db, company.id, &owner, user_count).await;
    // Planner statistics, as a production database would have them.
    services.db.execute_unprepared("ANALYZE").await.unwrap();
    println!("[{label}] seeded {user_count} users in {:.1} s", seeding.elapsed().as_secs_f64());

    let graphql = format!("http://{}/graphql", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let plain_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_url = format!("http://{}/users", plain_listener.local_addr().unwrap());
    let router = Router::new()
        .route("/users", get(plain_users))
        .with_state(Plain { db: services.db.clone(), company_id: company.id });
    tokio::spawn(async move { axum::serve(plain_listener, router).await.unwrap() });

    let client = reqwest::Client::new();
    let login = client
        .post(&graphql)
        .json(&json!({"query": "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                      "variables": {"e": "boss@bench.example", "p": PASSWORD}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let token = login["data"]["login"]["token"].as_str().unwrap().to_owned();
    let list = "query ($filter: UserFilter) { users(first: 50, filter: $filter) { totalCount edges { node { id email givenName surname
        manager { email } subscriptions { role subscription { product } } } } } }";

    for (name, search) in [("users(first: 50)", None), ("users(filter: {search})", Some("perez 4"))] {
        let (c, t, g, l) = (client.clone(), token.clone(), graphql.clone(), list.to_owned());
        let filter = search.map(|s| json!({"search": s}));
        let (gql_rps, gql_p99) = load(requests, move |_| {
            c.post(&g).bearer_auth(&t).json(&json!({"query": l, "variables": {"filter": filter}}))
        })
        .await;
        let (c, u) = (client.clone(), plain_url.clone());
        let (plain_rps, plain_p99) = load(requests, move |_| match search {
            Some(q) => c.get(format!("{u}?q={}", q.replace(' ', "%20"))),
            None => c.get(&u),
        })
        .await;
        println!(
            "[{label}] {name}: GraphQL {gql_rps:.0} req/s (p99 {:.1} ms); plain axum {plain_rps:.0} req/s (p99 {:.1} ms); GraphQL = {:.0}% of the ceiling",
            gql_p99.as_secs_f64() * 1000.0,
            plain_p99.as_secs_f64() * 1000.0,
            100.0 * gql_rps / plain_rps
        );
    }

    if services.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let plan = services
            .db
            .query_all_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                format!(
                    "EXPLAIN SELECT * FROM users WHERE company_id = '{}' AND status <> 'ANONYMIZED' \
                     AND search_key LIKE '%perez%' AND search_key LIKE '%4%' ORDER BY sort_key, id LIMIT 51",
                    company.id
                ),
            ))
            .await
            .unwrap();
        println!("[{label}] plan of the search:");
        for row in plan {
            let line: String = row.try_get_by_index(0).unwrap();
            println!("    {line}");
        }
    }
}

#[tokio::main]
async fn main() {
    let users = arg("--users", 100_000);
    let requests = arg("--requests", 1_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    run("SQLite", format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()), users, requests).await;

    match std::env::var("PORTAL_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let name = format!("portal_bench_{}", Uuid::new_v4().simple());
            let server = sea_orm::Database::connect(admin.as_str()).await.unwrap();
            server.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            run("PostgreSQL", url.to_string(), users, requests).await;
            server.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        }
        Err(_) => println!("[PostgreSQL] skipped: set PORTAL_TEST_POSTGRES_URL to run it"),
    }
}
