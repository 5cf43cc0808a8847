//! The `portal` binary as an operator uses it: configuration errors, `schema`, `migrate`, and a
//! server that stops cleanly on SIGTERM.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestDatabase};

fn portal() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
    // Only what each test sets: no stray PORTAL_* from the developer's shell.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("PORTAL_")) {
        command.env_remove(key);
    }
    command.env("NO_COLOR", "1").env("RUST_LOG", "info");
    command
}

#[test]
fn the_schema_file_is_what_the_server_serves() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the repository root");
    assert!(
        committed == portal::graphql::sdl(),
        "schema.graphql is out of date: regenerate it with `cargo run -q -- schema > schema.graphql`"
    );
    let printed = portal().arg("schema").output().unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), committed);
}

#[test]
fn a_bad_setting_stops_the_server_with_one_line() {
    let output = portal().env("PORTAL_DATABASE_URL", "mysql://localhost/portal").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: PORTAL_DATABASE_URL: "), "{stderr}");
    assert!(stderr.contains("example: postgres://"), "{stderr}");
}

#[test]
fn help_explains_each_command() {
    let output = portal().arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for command in ["serve", "migrate", "schema"] {
        assert!(help.contains(command), "{help}");
    }
    let output = portal().args(["migrate", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for action in ["up", "down", "status"] {
        assert!(help.contains(action), "{help}");
    }
}

fn migrate(database_url: &str, args: &[&str]) -> String {
    let output = portal().env("PORTAL_DATABASE_URL", database_url).arg("migrate").args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

async fn migrate_up_down_status(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || {
        let statuses = |args: &[&str]| -> Vec<String> {
            migrate(&url, args).lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect()
        };
        let pending = statuses(&["status"]);
        assert!(pending.len() >= 2 && pending.iter().all(|s| s == "Pending"), "{pending:?}");
        assert!(statuses(&["up"]).iter().all(|s| s == "Applied"));
        let after_down = statuses(&["down"]);
        assert_eq!(after_down.last().unwrap(), "Pending", "down rolls back the latest one only");
        assert!(after_down[..after_down.len() - 1].iter().all(|s| s == "Applied"));
        assert!(statuses(&[]).iter().all(|s| s == "Applied"), "`migrate` alone means up");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn migrate_sqlite() {
    migrate_up_down_status(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(portal_postgres_tests), ignore = "PORTAL_TEST_POSTGRES_URL is not set")]
async fn migrate_postgres() {
    if let Some(backend) = Backend::postgres() {
        migrate_up_down_status(backend).await;
    }
}

#[test]
fn serve_creates_the_database_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        portal().current_dir(dir.path()).env("PORTAL_LISTEN", "127.0.0.1:0").stderr(Stdio::piped()).spawn().unwrap();
    // The default database URL is a file under ./data, created on first start.
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.split("Portal listening on http://").nth(1).map(|a| a.trim().to_owned()))
        .expect("the server logs where it listens");
    let address = address.split_whitespace().next().unwrap().to_owned();
    assert!(dir.path().join("data/portal.db").exists());

    let health = std::net::TcpStream::connect(&address).is_ok();
    assert!(health, "listening on {address}");

    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still running 20 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn provision_company_from_the_command_line_sends_the_welcome_email() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("portal.db").display());
    let mailbox = dir.path().join("mailbox");
    let run = |args: &[&str]| {
        portal()
            .env("PORTAL_DATABASE_URL", &database)
            .env("PORTAL_MAILBOX_DIR", &mailbox)
            .env("PORTAL_ARGON2_MEMORY_KIB", "64")
            .env("PORTAL_ARGON2_ITERATIONS", "1")
            .arg("provision-company")
            .args(args)
            .output()
            .unwrap()
    };
    let output = run(&[
        "--name",
        "Acme",
        "--owner-email",
        "Ana@Acme.example",
        "--owner-given-name",
        "Ana",
        "--owner-surname",
        "Pérez",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Company Acme created"));
    let emails = common::mail::mailbox(&mailbox);
    assert_eq!(emails.len(), 1, "the welcome email is sent before the command returns");
    let text = String::from_utf8_lossy(&emails[0]).to_string();
    assert!(text.contains("To: ana@acme.example") && text.contains("temporary password"), "{text}");

    // The same company again: a clear refusal, nothing sent.
    let output = run(&[
        "--name",
        "Acme",
        "--owner-email",
        "other@acme.example",
        "--owner-given-name",
        "O",
        "--owner-surname",
        "P",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("A company named Acme already exists"));
    assert_eq!(common::mail::mailbox(&mailbox).len(), 1);
}

/// What a newcomer gets wrong first, each named: a misspelt key or broken line in portal.toml,
/// a PostgreSQL that is not running or has no such database; a SQLite URL without `?mode=rwc`
/// simply works.
#[test]
fn configuration_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = |toml: Option<&str>, database: &str| {
        if let Some(toml) = toml {
            std::fs::write(dir.path().join("portal.toml"), toml).unwrap();
        }
        let output =
            portal().current_dir(dir.path()).env("PORTAL_DATABASE_URL", database).args(["migrate", "status"]).output();
        let output = output.unwrap();
        (output.status.code(), String::from_utf8(output.stderr).unwrap() + &String::from_utf8(output.stdout).unwrap())
    };
    let (code, said) = run(Some("listen = \"127.0.0.1:9\"\nlisen_port = 1\n"), "sqlite://a.db");
    assert_eq!(code, Some(2));
    assert!(said.contains("unknown key `lisen_port`"), "{said}");
    let (code, said) = run(Some("# first\nlisten = \n"), "sqlite://a.db");
    assert_eq!(code, Some(2));
    assert!(said.contains("not valid TOML at line 2"), "{said}");
    std::fs::remove_file(dir.path().join("portal.toml")).unwrap();

    let (code, said) = run(None, "sqlite://fresh.db");
    assert_eq!(code, Some(0), "{said}");
    assert!(dir.path().join("fresh.db").exists() && said.contains("Pending"), "{said}");

    // A port nobody listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, said) = run(None, &format!("postgres://postgres@127.0.0.1:{port}/portal"));
    assert_eq!(code, Some(1));
    assert!(said.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{port}")), "{said}");
    assert!(said.contains("refused") && !said.contains("pool timed out"), "{said}");

    let Some(Backend::Postgres(admin)) = Backend::postgres() else { return };
    let missing = url::Url::parse(&admin).unwrap().join("/portal_no_such_database").unwrap();
    let (code, said) = run(None, missing.as_str());
    assert_eq!(code, Some(1));
    assert!(said.contains("\"portal_no_such_database\" does not exist") && said.contains("createdb"), "{said}");
}

/// The start-up lines name where the server really is (`PORTAL_LISTEN` without
/// `PORTAL_PUBLIC_URL`), and a busy port does not use up the one-time operator password.
#[test]
fn start_up_names_the_real_address_and_a_busy_port_keeps_the_first_password() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_address = busy.local_addr().unwrap().to_string();
    let output = portal().current_dir(dir.path()).env("PORTAL_LISTEN", &busy_address).output().unwrap();
    let said = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success() && said.contains("cannot listen on"), "{said}");
    assert!(!said.contains("Temporary password"), "the password was made and lost: {said}");
    drop(busy);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = portal()
        .current_dir(dir.path())
        .env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(server.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.contains("GraphiQL:"))
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    let said = lines.join("\n");
    assert!(said.contains("Temporary password"), "the operator is made once the port is ours: {said}");
    assert!(said.contains(&format!("Sign in at http://127.0.0.1:{port}/graphql")), "{said}");
    assert!(said.contains(&format!("Portal listening on http://127.0.0.1:{port}")), "{said}");
}

#[test]
fn the_schema_can_be_piped_into_head() {
    let mut child = portal().arg("schema").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with("type ") || first.starts_with("\"\"\""), "{first}");
    assert!(output.status.success() && !String::from_utf8_lossy(&output.stderr).contains("panicked"));
}
