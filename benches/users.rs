//! Listing, searching and dashboards over the users of one company (100,000 then 1,000,000 by
//! default) through GraphQL, each case next to its ceiling: the very statements Portal ran for
//! it (recorded with their values) run again by a plain axum handler on the pool GraphQL
//! queries read through (`Services::reads`). On SQLite and, when `PORTAL_TEST_POSTGRES_URL`
//! names a server, PostgreSQL. Prints requests per second and p99 at concurrency 32, the
//! statements per request, and PostgreSQL's plans for the searches. Nothing is asserted.
//!
//! `cargo bench --bench users [-- --users 100000,1000000 --requests 1000 --only <case number> --database sqlite|postgres]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark that cannot go on should stop loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use portal::app::Application;
use portal::config::Config;
use portal::db::{
    environments, project_members, project_models, projects, service_subscriptions, subscription_members, users,
};
use portal::domain::companies::{ProvisionCompany, provision_company};
use portal::domain::users::{NewUser, search_term};
use portal::domain::{Email, MemberStatus, Role, SubscriptionRole, SubscriptionStatus, UserStatus};
use portal::types::CompanyId;
use portal::types::enums::EnvironmentKind;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, IntoActiveModel,
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

/// The ceiling: the very statements Portal ran for a case (recorded from the statement log,
/// with their values), run again by a plain handler on the same pool, rows fetched and counted;
/// no GraphQL, no session, no model decoding.
#[derive(Clone)]
struct Plain {
    db: DatabaseConnection,
    cases: Arc<Vec<Vec<Statement>>>,
}

async fn plain_case(State(plain): State<Plain>, Path(case): Path<usize>) -> Json<Value> {
    let mut rows = 0;
    for statement in &plain.cases[case] {
        rows += plain.db.query_all_raw(statement.clone()).await.unwrap().len();
    }
    Json(json!({"data": {"rows": rows}}))
}

/// Users `from..to` of the company (one in ten inactive), managers among the first 200.
async fn seed_users(db: &DatabaseConnection, company_id: CompanyId, owner: &users::Model, from: usize, to: usize) {
    let now = chrono::Utc::now();
    let manager = |n: usize| {
        if n < 200 { owner.email.clone() } else { Email::parse(&format!("user{}@bench.example", n % 200)).unwrap() }
    };
    for chunk in (from..to).collect::<Vec<_>>().chunks(1000) {
        let rows: Vec<users::ActiveModel> = chunk
            .iter()
            .map(|&n| {
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
                user.country = Set(Some("ES".into()));
                user.manager_email = Set(Some(manager(n)));
                user
            })
            .collect();
        users::Entity::insert_many(rows).exec(db).await.unwrap();
    }
}

/// What a subscriptions dashboard shows: 10 subscriptions of 100 members each, each with 3
/// projects of 2 environments, 2 models and 10 members (members among the first 1,000 users).
async fn seed_subscriptions(db: &DatabaseConnection, company_id: CompanyId, owner: &users::Model) {
    let now = chrono::Utc::now();
    let people: Vec<users::Model> = users::Entity::find()
        .filter(users::Column::CompanyId.eq(company_id))
        .filter(users::Column::Role.eq(Role::User))
        .order_by_asc(users::Column::Id)
        .limit(1000)
        .all(db)
        .await
        .unwrap();
    for s in 0..10 {
        let subscription = service_subscriptions::ActiveModel {
            id: Set(portal::types::SubscriptionId::new()),
            company_id: Set(company_id),
            product: Set(format!("Product {s}")),
            plan: Set("Enterprise".into()),
            owner_id: Set(owner.id),
            status: Set(SubscriptionStatus::Active),
            created_at: Set(now),
            updated_at: Set(now),
            sub_account_id: Set(None),
        }
        .insert(db)
        .await
        .unwrap();
        let members = people[s * 100..(s + 1) * 100].iter().map(|user| subscription_members::ActiveModel {
            id: Set(portal::types::MemberId::new()),
            subscription_id: Set(subscription.id),
            user_id: Set(user.id),
            role: Set(SubscriptionRole::User),
            status: Set(MemberStatus::Active),
            created_at: Set(now),
            updated_at: Set(now),
        });
        subscription_members::Entity::insert_many(members).exec(db).await.unwrap();
        for p in 0..3 {
            let project = projects::ActiveModel {
                id: Set(portal::types::ProjectId::new()),
                company_id: Set(company_id),
                subscription_id: Set(subscription.id),
                name: Set(format!("Project {s}.{p}")),
                owner_id: Set(owner.id),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await
            .unwrap();
            for (kind, name) in [(EnvironmentKind::Test, "test"), (EnvironmentKind::Production, "production")] {
                environments::ActiveModel {
                    id: Set(portal::types::EnvironmentId::new()),
                    project_id: Set(project.id),
                    kind: Set(kind),
                    name: Set(name.into()),
                    created_at: Set(now),
                }
                .insert(db)
                .await
                .unwrap();
            }
            for m in 0..2 {
                project_models::ActiveModel {
                    id: Set(portal::types::ModelId::new()),
                    project_id: Set(project.id),
                    name: Set(format!("Model {m}")),
                    owner_id: Set(owner.id),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(db)
                .await
                .unwrap();
            }
            let members =
                people[s * 100 + p * 10..s * 100 + p * 10 + 10].iter().map(|user| project_members::ActiveModel {
                    id: Set(portal::types::ProjectMemberId::new()),
                    project_id: Set(project.id),
                    user_id: Set(user.id),
                    created_at: Set(now),
                });
            project_members::Entity::insert_many(members).exec(db).await.unwrap();
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
                    let body = response.bytes().await.unwrap();
                    assert_no_errors(&body);
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

/// Fails loudly on an answer that is not JSON or has GraphQL errors. Like wrk, the load
/// generator does not build the answer in memory: parsing every answer into a
/// `serde_json::Value` cost the client (which shares the two cores with the server) a tenth of
/// the machine on a dashboard's answer of thousands of values, against nothing for the
/// ceiling's short answer. Skipping values with `IgnoredAny` still reads all of the JSON.
fn assert_no_errors(body: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Answer {
        errors: Option<Value>,
        #[allow(dead_code)] // read to check that it is JSON, never looked at
        data: Option<serde::de::IgnoredAny>,
    }
    let answer: Answer = serde_json::from_slice(body).unwrap();
    assert!(answer.errors.is_none(), "{}", String::from_utf8_lossy(body));
}

/// The cases: (name, GraphQL query).
const CASES: [(&str, &str); 8] = [
    ("users(first: 50) { email }", "{ users(first: 50) { edges { node { email } } } }"),
    ("the same with totalCount", "{ users(first: 50) { totalCount edges { node { email } } } }"),
    (
        "dashboard page (totalCount, 9 fields, manager)",
        "{ users(first: 50) { totalCount edges { node { id email givenName surname jobTitle status role country createdAt manager { email } } } } }",
    ),
    ("last 50 (backwards)", "{ users(last: 50) { edges { node { email } } } }"),
    ("search \"garcia\" (1 in 25)", "{ users(first: 50, filter: {search: \"garcia\"}) { edges { node { email } } } }"),
    ("search \"jose perez\"", "{ users(first: 50, filter: {search: \"jose perez\"}) { edges { node { email } } } }"),
    (
        "search \"user4242@\" (rare)",
        "{ users(first: 50, filter: {search: \"user4242@\"}) { edges { node { email } } } }",
    ),
    (
        "serviceSubscriptions dashboard",
        "{ serviceSubscriptions { product members { user { email } } projects { name environments { name } models { name } members { user { email } } } } }",
    ),
];

struct Bench {
    label: &'static str,
    services: portal::domain::Services,
    company: CompanyId,
    owner: users::Model,
    graphql: String,
    token: String,
    client: reqwest::Client,
    seeded: usize,
}

impl Bench {
    async fn start(label: &'static str, database_url: String) -> Bench {
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
            name: "Bench".into(),
            owner_email: "boss@bench.example".into(),
            owner_given_name: "Big".into(),
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
        let graphql = format!("http://{}/graphql", app.local_addr());
        tokio::spawn(async move {
            let _dir = dir;
            app.run_until(std::future::pending()).await
        });
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
        Bench { label, services, company: company.id, owner, graphql, token, client, seeded: 0 }
    }

    async fn grow_to(&mut self, users: usize) {
        let seeding = Instant::now();
        seed_users(&self.services.db, self.company, &self.owner, self.seeded, users).await;
        if self.seeded == 0 {
            seed_subscriptions(&self.services.db, self.company, &self.owner).await;
        }
        self.seeded = users;
        // Planner statistics and the visibility map, as autovacuum keeps them in production.
        let maintenance = match self.services.db.get_database_backend() {
            DatabaseBackend::Postgres => "VACUUM ANALYZE",
            _ => "ANALYZE",
        };
        self.services.db.execute_unprepared(maintenance).await.unwrap();
        println!("[{}] seeded {users} users in {:.1} s", self.label, seeding.elapsed().as_secs_f64());
    }

    async fn graphql(&self, query: &str) -> Value {
        let response = self.client.post(&self.graphql).bearer_auth(&self.token).json(&json!({"query": query}));
        let body: Value = response.send().await.unwrap().json().await.unwrap();
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body
    }

    /// Every case through GraphQL and through the plain handler of its statements.
    async fn measure(&self, requests: usize) {
        let mut recorded = Vec::new();
        for (_, query) in CASES {
            self.graphql(query).await; // resolves and caches the session
            self.services.statements.record();
            self.graphql(query).await;
            recorded.push(self.services.statements.take_statements());
        }
        let statements: Vec<usize> = recorded.iter().map(Vec::len).collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain_url = format!("http://{}/case", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/case/{case}", get(plain_case))
            .with_state(Plain { db: self.services.reads.clone(), cases: Arc::new(recorded) });
        let plain_server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        println!(
            "[{}, {} users] 32 connections; ceiling = the same statements from a plain handler",
            self.label, self.seeded
        );
        println!("    {:<48} {:>5} {:>16} {:>16} {:>6}", "case", "stmts", "Portal req/s p99", "SQL req/s p99", "ratio");
        let only = std::env::args().skip_while(|a| a != "--only").nth(1).and_then(|n| n.parse::<usize>().ok());
        for (case, (name, query)) in CASES.iter().enumerate().filter(|(case, _)| only.is_none_or(|only| only == *case))
        {
            let (c, t, g, q) = (self.client.clone(), self.token.clone(), self.graphql.clone(), query.to_string());
            let (portal_rps, portal_p99) =
                load(requests, move |_| c.post(&g).bearer_auth(&t).json(&json!({"query": q}))).await;
            let (c, u) = (self.client.clone(), format!("{plain_url}/{case}"));
            let (plain_rps, plain_p99) = load(requests, move |_| c.get(&u)).await;
            println!(
                "    {name:<48} {:>5} {portal_rps:>7.0} {:>6.1}ms {plain_rps:>7.0} {:>6.1}ms {:>5.2}x",
                statements[case],
                portal_p99.as_secs_f64() * 1000.0,
                plain_p99.as_secs_f64() * 1000.0,
                portal_rps / plain_rps
            );
        }
        plain_server.abort();
        if self.services.db.get_database_backend() == DatabaseBackend::Postgres {
            self.explain().await;
        }
    }

    /// PostgreSQL's plans for the searches, as Portal sends them.
    async fn explain(&self) {
        for search in ["garcia", "jose perez", "user4242@"] {
            let mut sql = format!(
                "EXPLAIN SELECT id, email FROM users WHERE company_id = '{}' AND status <> 'ANONYMIZED'",
                self.company
            );
            for word in search_term(search).split_whitespace() {
                sql.push_str(&format!(" AND search_key LIKE '%{word}%' ESCAPE '\\'"));
            }
            sql.push_str(" ORDER BY sort_key, id LIMIT 51");
            let plan =
                self.services.db.query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await.unwrap();
            println!("    plan of the search {search:?}:");
            for row in plan {
                let line: String = row.try_get_by_index(0).unwrap();
                println!("        {line}");
            }
        }
    }
}

async fn run(label: &'static str, database_url: String, sizes: &[usize], requests: usize) {
    let mut bench = Bench::start(label, database_url).await;
    for &size in sizes {
        bench.grow_to(size).await;
        bench.measure(requests).await;
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip_while(|a| a != "--users")
        .nth(1)
        .unwrap_or_else(|| "100000,1000000".into())
        .split(',')
        .map(|n| n.parse().expect("--users 100000,1000000"))
        .collect();
    let requests = arg("--requests", 1_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `--database sqlite` or `--database postgres` runs one of them (e.g. under a profiler).
    let database = std::env::args().skip_while(|a| a != "--database").nth(1);
    let dir = tempfile::tempdir().unwrap();
    if database.as_deref().is_none_or(|d| d == "sqlite") {
        run("SQLite", format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()), &sizes, requests).await;
    }

    match std::env::var("PORTAL_TEST_POSTGRES_URL") {
        _ if database.as_deref().is_some_and(|d| d != "postgres") => {}
        Ok(admin) => {
            let name = format!("portal_bench_{}", Uuid::new_v4().simple());
            let server = sea_orm::Database::connect(admin.as_str()).await.unwrap();
            server.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            run("PostgreSQL", url.to_string(), &sizes, requests).await;
            server.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        }
        Err(_) => println!("[PostgreSQL] skipped: set PORTAL_TEST_POSTGRES_URL to run it"),
    }
}
