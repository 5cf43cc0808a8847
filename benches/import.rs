//! Importing a generated CSV of valid users (1,000,000 rows, about 100 MB, by default) through
//! the import pipeline, against the database's own bulk path loading the same rows into an
//! empty database of the same schema: PostgreSQL `COPY`, SQLite one prepared `INSERT` reused
//! in one transaction (rusqlite). Prints, per backend: the bound, the import (validation and write), their ratio,
//! the validation's share of the bound, the peak memory of the import, how many progress
//! states reached a subscriber while it ran, and what a client saw meanwhile: the server runs
//! beside the import, asked `{ viewer { id } }` every 100 ms and a sign-in (a write) every
//! second, with their p50/p99/max and failures. PostgreSQL runs when `PORTAL_TEST_POSTGRES_URL`
//! names a server.
//!
//! `cargo bench --bench import [-- --rows 1000000 --welcome --postgres-only|--sqlite-only]`
//! Each phase runs in a child process of its own (`--phase bound|import --backend sqlite|postgres
//! --csv FILE`), so that the import's peak memory is measured alone.
//! (`--welcome` also sends a welcome email per user to the mailbox, as an import does by default.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark that cannot go on should stop loudly

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portal::config::Config;
use portal::db::users;
use portal::domain::clock::SystemClock;
use portal::domain::companies::{ProvisionCompany, provision_company};
use portal::domain::{ImportStatus, Services};
use portal::import::Imports;
use portal::import::Options;
use portal::import::job;
use portal::import::parse::rows;
use portal::import::validate::check_row;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Iterable, Value};
use uuid::Uuid;

const GIVEN: [&str; 10] = ["Ana", "José", "María", "Luis", "Carmen", "Jorge", "Lucía", "Pedro", "Sofía", "Diego"];
const SURNAMES: [&str; 10] =
    ["García", "Pérez", "Núñez", "Gómez", "Díaz", "Martín", "Sánchez", "López", "Rodríguez", "Fernández"];
const COUNTRIES: [&str; 4] = ["CO", "Spain", "MX", "Argentina"];
const OWNER: &str = "boss@bench.example";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What Excel writes: BOM, `;`, CRLF. Row i reports to row i / 10 (the first to the owner).
fn generate(path: &Path, count: usize) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(
        "\u{feff}Given Name;Surname;Email address;Job title;Manager's email address;Country;Is Active\r\n".as_bytes(),
    )
    .unwrap();
    for i in 0..count {
        let manager = if i == 0 { OWNER.to_owned() } else { format!("user{}@bench.example", i / 10) };
        writeln!(
            out,
            "{};{};user{i}@bench.example;\"Analyst; level {}\";{manager};{};{}\r",
            GIVEN[i % 10],
            SURNAMES[(i / 10) % 10],
            i % 5,
            COUNTRIES[i % 4],
            u8::from(i % 7 != 0)
        )
        .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// The owner's password, for the probes' sign-ins.
const PASSWORD: &str = "Bench-Password-2026";

fn config(database_url: &str, dir: &Path) -> Config {
    let vars = [
        ("PORTAL_DATABASE_URL", database_url.to_owned()),
        ("PORTAL_MAILBOX_DIR", dir.join("mailbox").display().to_string()),
        ("PORTAL_IMPORT_MAX_BYTES", (1u64 << 30).to_string()),
        ("PORTAL_LISTEN", "127.0.0.1:0".to_owned()),
        // A sign-in a second is what is probed, not argon2 (which would take a core from the import).
        ("PORTAL_ARGON2_MEMORY_KIB", "64".to_owned()),
        ("PORTAL_ARGON2_ITERATIONS", "1".to_owned()),
        ("PORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Config::from_vars(&vars).unwrap()
}

async fn company(services: &Services) -> portal::types::CompanyId {
    let input = ProvisionCompany {
        name: "Bench Co".into(),
        owner_email: OWNER.into(),
        owner_given_name: "Bo".into(),
        owner_surname: "Boss".into(),
        owner_locale: None,
    };
    provision_company(services, None, input).await.unwrap().id
}

/// The rows as `users` stores them, one line each, tab-separated, `\N` for NULL (PostgreSQL's
/// COPY text format), made before the clock starts: the bound pays for loading only.
fn users_tsv(csv: &Path, tsv: &Path, company_id: portal::types::CompanyId) {
    let now = chrono::Utc::now();
    let mut out = BufWriter::new(std::fs::File::create(tsv).unwrap());
    for row in rows(std::fs::File::open(csv).unwrap()).unwrap() {
        let person = check_row(&row.unwrap()).unwrap().person;
        let user = person.new_user(company_id, now);
        let fields: Vec<String> = users::Column::iter()
            .map(|column| match user.get(column).into_value().unwrap() {
                Value::String(Some(s)) => s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n"),
                Value::Uuid(Some(u)) => u.to_string(),
                Value::Bool(Some(b)) => u8::from(b).to_string(),
                Value::Int(Some(i)) => i.to_string(),
                Value::ChronoDateTimeUtc(Some(at)) => at.to_rfc3339(),
                _ => "\\N".to_owned(),
            })
            .collect();
        writeln!(out, "{}", fields.join("\t")).unwrap();
    }
    out.flush().unwrap();
}

fn column_list() -> String {
    users::Column::iter().map(|c| format!("\"{}\"", sea_orm::IdenStatic::as_str(&c))).collect::<Vec<_>>().join(", ")
}

/// The time a bulk load took, and its rows per second in its first and last tenth.
struct Load {
    seconds: f64,
    first_tenth: f64,
    last_tenth: f64,
}

impl Load {
    /// From the moments the load passed each tenth of its `rows` (`marks[0]` its start).
    fn of(rows: usize, marks: &[Instant]) -> Load {
        let tenth = rows as f64 / 10.0;
        let seconds = (marks[10] - marks[0]).as_secs_f64();
        let first_tenth = tenth / (marks[1] - marks[0]).as_secs_f64();
        let last_tenth = tenth / (marks[10] - marks[9]).as_secs_f64();
        Load { seconds, first_tenth, last_tenth }
    }
}

/// COPY of the file's lines, a tenth a statement in one transaction (each `finish` waits for
/// the server to have loaded its tenth, so the marks follow the load).
async fn copy_bound(db: &sea_orm::DatabaseConnection, tsv: &Path) -> Load {
    let lines: Vec<String> =
        std::io::BufReader::new(std::fs::File::open(tsv).unwrap()).lines().map(Result::unwrap).collect();
    let tenths: Vec<Vec<u8>> = lines
        .chunks(lines.len().div_ceil(10))
        .map(|chunk| chunk.iter().flat_map(|l| l.bytes().chain(std::iter::once(b'\n'))).collect())
        .collect();
    let pool = db.get_postgres_connection_pool();
    let mut marks = vec![Instant::now()];
    let mut tx = pool.begin().await.unwrap();
    for tenth in &tenths {
        let mut copy = tx.copy_in_raw(&format!("COPY users ({}) FROM STDIN", column_list())).await.unwrap();
        copy.send(tenth.as_slice()).await.unwrap();
        copy.finish().await.unwrap();
        marks.push(Instant::now());
    }
    tx.commit().await.unwrap();
    *marks.last_mut().unwrap() = Instant::now();
    Load::of(lines.len(), &marks)
}

/// SQLite's fastest path: one prepared statement, reused inside one transaction, through
/// rusqlite (sqlx's SQLite driver passes each statement through a worker thread, about 50 µs a
/// call, which is its cost rather than SQLite's). The statement inserts `ROWS_PER_STATEMENT`
/// rows: with one row a statement, FTS5 (the users' search index) flushes its pending terms at
/// every statement, which made the one-row bound 2.5x slower than the import.
fn prepared_insert_bound(database: &Path, tsv: &Path) -> Load {
    use rusqlite::types::Value as Sql;
    const ROWS_PER_STATEMENT: usize = 1_000;
    let columns: Vec<users::Column> = users::Column::iter().collect();
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    let sql =
        |rows: usize| format!("INSERT INTO users ({}) VALUES {}", column_list(), vec![row.as_str(); rows].join(", "));
    let lines: Vec<String> =
        std::io::BufReader::new(std::fs::File::open(tsv).unwrap()).lines().map(Result::unwrap).collect();
    // As sqlx stores them: ids as 16-byte blobs, the rest as the text of the TSV.
    let values = |line: &str| -> Vec<Sql> {
        line.split('\t')
            .zip(&columns)
            .map(|(field, column)| match (field, column) {
                ("\\N", _) => Sql::Null,
                (id, users::Column::Id | users::Column::CompanyId) => {
                    Sql::Blob(id.parse::<Uuid>().unwrap().as_bytes().to_vec())
                }
                (value, _) => Sql::Text(value.to_owned()),
            })
            .collect()
    };
    let started = Instant::now();
    let mut connection = rusqlite::Connection::open(database).unwrap();
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    // The pragmas Portal's writer runs with (`db::connect`), with twice its page cache: the
    // bound may be faster than anything Portal can be, never slower.
    connection.pragma_update(None, "synchronous", "NORMAL").unwrap();
    connection.pragma_update(None, "cache_size", -65_536).unwrap();
    let tx = connection.transaction().unwrap();
    let mut marks = vec![started];
    let tenth = lines.len().div_ceil(10).div_ceil(ROWS_PER_STATEMENT);
    {
        let mut full = tx.prepare(&sql(ROWS_PER_STATEMENT)).unwrap();
        for (i, chunk) in lines.chunks(ROWS_PER_STATEMENT).enumerate() {
            if i > 0 && i % tenth == 0 {
                marks.push(Instant::now());
            }
            let params = chunk.iter().flat_map(|line| values(line));
            if chunk.len() == ROWS_PER_STATEMENT {
                full.execute(rusqlite::params_from_iter(params)).unwrap();
            } else {
                tx.execute(&sql(chunk.len()), rusqlite::params_from_iter(params)).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    marks.push(Instant::now());
    Load::of(lines.len(), &marks)
}

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Rows per second of a write in its first and last tenth, from the progress states it sent
/// (each `(when, rows written)`; the first at the write's start, the last at its end).
fn tenths(written: &[(Instant, i32)], total: i32) -> (f64, f64) {
    let (Some(start), Some(end)) = (written.first(), written.last()) else { return (0.0, 0.0) };
    let first = written.iter().find(|w| w.1 as f64 >= total as f64 / 10.0).unwrap_or(end);
    let last = written.iter().find(|w| w.1 as f64 >= total as f64 * 0.9).unwrap_or(start);
    let rate = |rows: i32, from: Instant, to: Instant| rows as f64 / (to - from).as_secs_f64().max(1e-9);
    (rate(first.1 - start.1, start.0, first.0), rate(end.1 - last.1, last.0, end.0))
}

struct Measured {
    first_tenth: f64,
    last_tenth: f64,
    validation: Duration,
    total: Duration,
    /// From COMPLETED until every welcome email is sent and recorded (`import::welcome`).
    welcomes: Duration,
    states_while_running: usize,
    peak_mib: f64,
    status: ImportStatus,
    created: i32,
}

async fn import(imports: &Imports, company_id: portal::types::CompanyId, csv: &Path, welcome: bool) -> Measured {
    let mut progress = imports.progress.subscribe();
    let started = Instant::now();
    let file = tokio::fs::File::open(csv).await.unwrap();
    let options = Options {
        file_name: Some("bench.csv".into()),
        dry_run: false,
        send_welcome_emails: welcome,
        sub_account_ids: vec![],
    };
    let job = job::start(imports, company_id, None, options, file).await.unwrap();
    let (mut validation, mut states) = (None, 0);
    // (when, rows written) while importing: the write's rate in its first and last tenth.
    let mut written: Vec<(Instant, i32)> = Vec::new();
    let last = loop {
        let state = match progress.recv().await {
            Ok(state) if state.job_id == job.id => state,
            _ => continue,
        };
        if state.status != ImportStatus::Validating && validation.is_none() {
            validation = Some(started.elapsed());
        }
        if state.status == ImportStatus::Importing || state.is_final() {
            written.push((Instant::now(), state.created_count));
        }
        if state.is_final() {
            break state;
        }
        states += 1;
    };
    let total = started.elapsed();
    let (first_tenth, last_tenth) = tenths(&written, last.created_count);
    let pending = async || {
        use sea_orm::EntityTrait;
        let row = portal::db::import_jobs::Entity::find_by_id(job.id).one(&imports.services.db).await.unwrap();
        row.is_some_and(|job| job.welcomes_pending)
    };
    while welcome && pending().await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Measured {
        first_tenth,
        last_tenth,
        validation: validation.unwrap_or_default(),
        total,
        welcomes: started.elapsed() - total,
        states_while_running: states,
        peak_mib: peak_memory_mib(),
        status: last.status,
        created: last.created_count,
    }
}

/// What a client saw of the server while the import ran.
#[derive(Default)]
struct Probed {
    viewer: Series,
    login: Series,
}

/// One kind of request: how long each answer took, and how many failed.
#[derive(Default)]
struct Series {
    times: Vec<Duration>,
    failures: usize,
}

impl Series {
    /// Sends `request`: an answer counts when it has no errors and a value at `path` in `data`;
    /// anything else (an error answer, a transport error, no answer in time) is a failure.
    async fn time(&mut self, request: reqwest::RequestBuilder, path: &str) {
        let started = Instant::now();
        let body = match request.send().await {
            Ok(response) => response.json::<serde_json::Value>().await.ok(),
            Err(_) => None,
        };
        let answered = body.is_some_and(|b| {
            b.get("errors").is_none() && !b["data"].pointer(path).unwrap_or(&serde_json::Value::Null).is_null()
        });
        if answered {
            self.times.push(started.elapsed());
        } else {
            self.failures += 1;
        }
    }

    /// `{name}_n=… {name}_failed=… {name}_p50=… {name}_p99=… {name}_max=…` (milliseconds).
    fn figures(&mut self, name: &str) -> String {
        self.times.sort();
        let quantile = |q: f64| {
            let Some(last) = self.times.len().checked_sub(1) else { return 0.0 };
            let at = ((self.times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(last);
            self.times[at].as_secs_f64() * 1000.0
        };
        format!(
            "{name}_n={} {name}_failed={} {name}_p50={:.1} {name}_p99={:.1} {name}_max={:.1}",
            self.times.len(),
            self.failures,
            quantile(0.5),
            quantile(0.99),
            quantile(1.0)
        )
    }
}

const LOGIN: &str = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";

/// Asks the server `{ viewer { id } }` every 100 ms and signs in every second until `stop`;
/// each request gets 10 s.
async fn probe(graphql: String, token: String, stop: tokio::sync::watch::Receiver<bool>) -> Probed {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut probed = Probed::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tick.tick().await;
        if *stop.borrow() {
            break;
        }
        let viewer = serde_json::json!({"query": "{ viewer { id } }"});
        probed.viewer.time(client.post(&graphql).bearer_auth(&token).json(&viewer), "/viewer/id").await;
        if round % 10 == 0 {
            let login = serde_json::json!({"query": LOGIN, "variables": {"e": OWNER, "p": PASSWORD}});
            probed.login.time(client.post(&graphql).json(&login), "/login/token").await;
        }
    }
    probed
}

/// Gives the owner a password and signs in: the probes' token.
async fn sign_in(services: &Services, graphql: &str) -> String {
    use sea_orm::{ColumnTrait, QueryFilter};
    let owner = users::find().filter(users::Column::Email.eq(OWNER)).one(&services.db).await.unwrap().unwrap();
    let hash = services.passwords.hash(PASSWORD).await.unwrap();
    portal::db::user_passwords::set(&services.db, owner.id, Some(hash)).await.unwrap();
    let mut active: users::ActiveModel = owner.into();
    active.must_change_password = sea_orm::Set(false);
    active.update(&services.db).await.unwrap();
    let body: serde_json::Value = reqwest::Client::new()
        .post(graphql)
        .json(&serde_json::json!({"query": LOGIN, "variables": {"e": OWNER, "p": PASSWORD}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["login"]["token"].as_str().unwrap().to_owned()
}

/// A database made for one phase: a SQLite file, or a PostgreSQL database dropped afterwards.
struct Database {
    url: String,
    postgres: Option<(sea_orm::DatabaseConnection, String)>,
    _dir: tempfile::TempDir,
}

impl Database {
    async fn create(backend: &str) -> Database {
        let dir = tempfile::tempdir().unwrap();
        if backend == "sqlite" {
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
            return Database { url, postgres: None, _dir: dir };
        }
        let admin = std::env::var("PORTAL_TEST_POSTGRES_URL").unwrap();
        let server = sea_orm::Database::connect(admin.as_str()).await.unwrap();
        let name = format!("portal_bench_{}", Uuid::new_v4().simple());
        server.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        Database { url: url.to_string(), postgres: Some((server, name)), _dir: dir }
    }

    async fn drop(self) {
        if let Some((server, name)) = self.postgres {
            server.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        }
    }
}

/// What validation's passes over the file cost without any database: the counting pass, and
/// the parse with each row's checks (validation runs both, on a thread of its own).
fn parse_alone(csv: &Path) -> (f64, f64) {
    let started = Instant::now();
    rows(std::fs::File::open(csv).unwrap()).unwrap().count_rows().unwrap();
    let counting = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let valid = rows(std::fs::File::open(csv).unwrap()).unwrap().filter(|row| check_row(row.as_ref().unwrap()).is_ok());
    assert!(valid.count() > 0);
    (counting, started.elapsed().as_secs_f64())
}

/// One phase in this process (the parent runs each in a child, so that each peak memory
/// figure is that phase's own): prints its figures as `key=value` on stdout.
async fn phase(name: &str, backend: &str, csv: &Path, welcome: bool) {
    let database = Database::create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    if name == "bound" {
        let (services, _) =
            portal::app::services(&config(&database.url, dir.path()), Arc::new(SystemClock)).await.unwrap();
        let company_id = company(&services).await;
        let tsv = dir.path().join("users.tsv");
        users_tsv(csv, &tsv, company_id);
        let bound = match services.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let bound = copy_bound(&services.db, &tsv).await;
                services.db.close().await.unwrap();
                bound
            }
            _ => {
                services.db.close().await.unwrap(); // rusqlite writes the file alone
                prepared_insert_bound(&database._dir.path().join("bench.db"), &tsv)
            }
        };
        println!("seconds={} first_tenth={} last_tenth={}", bound.seconds, bound.first_tenth, bound.last_tenth);
        return database.drop().await;
    }
    // The import runs in the server's process, as it does when a client uploads the file.
    let app = portal::app::Application::build(config(&database.url, dir.path())).await.unwrap();
    let (services, imports) = (app.services().clone(), app.imports().clone());
    let graphql = format!("http://{}/graphql", app.local_addr());
    let server = tokio::spawn(app.run_until(std::future::pending()));
    let company_id = company(&services).await;
    let token = sign_in(&services, &graphql).await;
    let before_mib = peak_memory_mib(); // the server, up and answering, before the import
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let probing = tokio::spawn(probe(graphql, token, stopped));
    let measured = import(&imports, company_id, csv, welcome).await;
    stop.send(true).unwrap();
    let mut probed = probing.await.unwrap();
    let mailbox_alone =
        if welcome { mailbox_alone(&services, measured.created as usize, dir.path()).await } else { 0.0 };
    println!(
        "seconds={} first_tenth={} last_tenth={} welcomes={} validation={} states={} peak_mib={} before_mib={} status={:?} created={} mailbox_alone={mailbox_alone} {} {}",
        measured.total.as_secs_f64(),
        measured.first_tenth,
        measured.last_tenth,
        measured.welcomes.as_secs_f64(),
        measured.validation.as_secs_f64(),
        measured.states_while_running,
        measured.peak_mib,
        before_mib,
        measured.status,
        measured.created,
        probed.viewer.figures("viewer"),
        probed.login.figures("login"),
    );
    server.abort();
    services.db.close().await.unwrap();
    database.drop().await;
}

/// The welcome pass's bound: the mailbox plugin alone writing as many pre-rendered welcome
/// emails, 8 at a time as the pass hands them over, into a directory as empty as the pass's was
/// (ext4 pays more per file in a directory of 200,000), with no database: emails per second.
async fn mailbox_alone(services: &Services, count: usize, dir: &Path) -> f64 {
    use futures_util::StreamExt;
    use portal::notify::plugin::{Outcome, Outgoing};
    use portal::notify::{Template, templates::Templates};
    use portal::types::enums::Channel;
    let config = config("sqlite::memory:", &dir.join("alone"));
    let registry =
        portal::notify::registry::Registry::from_config(&config, services.db.clone(), services.clock.clone());
    let plugin = registry.unwrap().for_channel(Channel::Email).unwrap().clone();
    let templates = Templates::load(None).unwrap();
    let rendered = templates.render(Template::Welcome, "en", templates.sample(Template::Welcome)).unwrap();
    let started = Instant::now();
    let outcomes: Vec<Outcome> = futures_util::stream::iter(0..count)
        .map(|n| {
            let (plugin, email) = (plugin.clone(), rendered.clone());
            async move {
                let outgoing = Outgoing {
                    delivery_id: portal::types::DeliveryId::new(),
                    event_id: portal::types::EventId::new(),
                    event_type: "user.created".into(),
                    occurred_at: chrono::Utc::now(),
                    channel: Channel::Email,
                    recipient: format!("user{n}@example.com"),
                    data: serde_json::json!({}),
                    email: Some(email),
                };
                plugin.deliver(&outgoing).await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(outcomes.iter().all(|outcome| *outcome == Outcome::Delivered));
    count as f64 / started.elapsed().as_secs_f64()
}

fn run_phase(name: &str, backend: &str, csv: &Path, welcome: bool) -> std::collections::HashMap<String, String> {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--phase", name, "--backend", backend, "--csv", csv.to_str().unwrap()]);
    if welcome {
        command.arg("--welcome");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{name} on {backend}: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = stdout.lines().last().unwrap_or_default().to_owned();
    line.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn report(label: &str, backend: &str, csv: &Path, welcome: bool) {
    let bound = run_phase("bound", backend, csv, welcome);
    let import = run_phase("import", backend, csv, welcome);
    let number = |map: &std::collections::HashMap<String, String>, key: &str| -> f64 { map[key].parse().unwrap() };
    let bound_seconds = number(&bound, "seconds");
    let (seconds, validation) = (number(&import, "seconds"), number(&import, "validation"));
    let bound_name = if backend == "postgres" { "COPY" } else { "one prepared INSERT of 1,000 rows, one transaction" };
    println!("[{label}] bound ({bound_name}): {bound_seconds:.1} s");
    println!(
        "[{label}] import{}: {}, {} users in {seconds:.1} s ({:.0} rows/s) = {:.2}x the bound; validation {validation:.1} s = {:.2} of the bound",
        if welcome { " with welcome emails" } else { "" },
        import["status"],
        import["created"],
        number(&import, "created") / seconds,
        seconds / bound_seconds,
        validation / bound_seconds,
    );
    if welcome {
        let welcomes = number(&import, "welcomes");
        println!(
            "[{label}] then every welcome email in the mailbox {welcomes:.1} s later ({:.0} emails/s, sent by the import's process, recorded in batches beside other writes; the mailbox plugin alone, same count, same process: {:.0}/s = {:.2}x): import and emails {:.1} s = {:.2}x the users-only bound",
            number(&import, "created") / welcomes,
            number(&import, "mailbox_alone"),
            number(&import, "mailbox_alone") / (number(&import, "created") / welcomes),
            seconds + welcomes,
            (seconds + welcomes) / bound_seconds,
        );
    }
    let steady =
        |map: &std::collections::HashMap<String, String>| number(map, "last_tenth") / number(map, "first_tenth");
    println!(
        "[{label}] rows/s in the first and last tenth: bound {:.0} and {:.0} ({:.2}); the import's write {:.0} and {:.0} ({:.2}) = {:.2}x the bound's own ratio",
        number(&bound, "first_tenth"),
        number(&bound, "last_tenth"),
        steady(&bound),
        number(&import, "first_tenth"),
        number(&import, "last_tenth"),
        steady(&import),
        steady(&import) / steady(&bound),
    );
    println!(
        "[{label}] peak memory of the process: {:.0} MiB, of which {:.0} MiB before the import (the server up and answering); progress states received while running: {}",
        number(&import, "peak_mib"),
        number(&import, "before_mib"),
        import["states"]
    );
    println!(
        "[{label}] meanwhile `{{ viewer {{ id }} }}` every 100 ms: {} answered, {} failed, p50 {} ms, p99 {} ms, max {} ms; a sign-in every second: {} signed in, {} failed, p50 {} ms, p99 {} ms, max {} ms",
        import["viewer_n"],
        import["viewer_failed"],
        import["viewer_p50"],
        import["viewer_p99"],
        import["viewer_max"],
        import["login_n"],
        import["login_failed"],
        import["login_p50"],
        import["login_p99"],
        import["login_max"],
    );
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main]
async fn main() {
    let welcome = std::env::args().any(|a| a == "--welcome");
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let (Some(name), Some(backend), Some(csv)) = (text_arg("--phase"), text_arg("--backend"), text_arg("--csv")) {
        return phase(&name, &backend, Path::new(&csv), welcome).await;
    }
    let count = arg("--rows", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("users.csv");
    let size = generate(&csv, count);
    println!("{count} rows, {:.0} MB", size as f64 / 1e6);
    let (counting, checking) = parse_alone(&csv);
    println!(
        "reading the file alone, in this process: counting its rows {counting:.1} s, parsing and checking each row {checking:.1} s"
    );
    if !std::env::args().any(|a| a == "--postgres-only") {
        report("SQLite", "sqlite", &csv, welcome);
    }
    match std::env::var("PORTAL_TEST_POSTGRES_URL") {
        _ if std::env::args().any(|a| a == "--sqlite-only") => {}
        Ok(_) => report("PostgreSQL", "postgres", &csv, welcome),
        Err(_) => println!("[PostgreSQL] skipped: set PORTAL_TEST_POSTGRES_URL to run it"),
    }
}
