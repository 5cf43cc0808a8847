//! Login throughput against the machine's own argon2 bound, and whether the runtime stays
//! responsive during a login storm.
//!
//! `cargo bench --bench login [-- --logins 320 --concurrency 32]`
//!
//! 1. Raw argon2id verifications per second with the production (OWASP) parameters, one thread
//!    per core: the most logins per second this machine could ever do.
//! 2. A storm of `--concurrency` clients logging in over HTTP until `--logins` are done:
//!    logins per second (and its share of the bound), p50/p99 latency.
//! 3. Meanwhile a client asks `{ viewer { email } }` every 20 ms: its p99 shows whether hashing
//!    blocks the async runtime (it runs on the blocking pool, so it should not).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark that cannot go on should stop loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use portal::app::Application;
use portal::config::Config;
use serde_json::{Value, json};

const PASSWORD: &str = "Bench-Keeper-2026!";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Verifications per second with every core busy, straight on OS threads.
fn raw_argon2_rate(cores: usize, per_thread: usize) -> f64 {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let hash = argon2.hash_password(PASSWORD.as_bytes()).unwrap().to_string();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                let parsed = PasswordHash::new(&hash).unwrap();
                for _ in 0..per_thread {
                    Argon2::default().verify_password(PASSWORD.as_bytes(), &parsed).unwrap();
                }
            });
        }
    });
    (cores * per_thread) as f64 / started.elapsed().as_secs_f64()
}

async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = client.post(url).json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::main]
async fn main() {
    let logins = arg("--logins", 320);
    let concurrency = arg("--concurrency", 32);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let _ = rustls::crypto::ring::default_provider().install_default();

    println!("cores: {cores}; argon2id m=19456 KiB, t=2, p=1 (production defaults)");
    let bound = raw_argon2_rate(cores, 24);
    println!("raw argon2id verifications: {bound:.1}/s (the bound for logins)");

    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("PORTAL_DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display())),
        ("PORTAL_LISTEN", "127.0.0.1:0".into()),
        ("PORTAL_MAILBOX_DIR", dir.path().join("mailbox").display().to_string()),
        ("PORTAL_BOOTSTRAP_OPERATOR", "storm@example.com".into()),
        ("PORTAL_BOOTSTRAP_OPERATOR_PASSWORD", PASSWORD.into()),
        ("PORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "1000000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = Application::build(Config::from_vars(&vars).unwrap()).await.unwrap();
    let url = format!("http://{}/graphql", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let login = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let credentials = json!({"e": "storm@example.com", "p": PASSWORD});
    let token = post(&client, &url, None, login, credentials.clone()).await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let viewer = {
        let (client, url, done) = (client.clone(), url.clone(), done.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let body = post(&client, &url, Some(&token), "{ viewer { email } }", json!({})).await;
                latencies.push(started.elapsed());
                assert!(body["data"]["viewer"]["email"].is_string(), "{body}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            latencies
        })
    };

    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(logins));
    let started = Instant::now();
    let clients: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, credentials, remaining) =
                (client.clone(), url.clone(), credentials.clone(), remaining.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while remaining
                    .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                        n.checked_sub(1)
                    })
                    .is_ok()
                {
                    let started = Instant::now();
                    let body = post(&client, &url, None, login, credentials.clone()).await;
                    assert!(body["data"]["login"]["token"].is_string(), "{body}");
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut viewer_latencies = viewer.await.unwrap();
    latencies.sort();
    viewer_latencies.sort();

    let rate = logins as f64 / elapsed.as_secs_f64();
    println!(
        "logins: {logins} at concurrency {concurrency} in {:.2} s: {rate:.1}/s = {:.0}% of the argon2 bound",
        elapsed.as_secs_f64(),
        100.0 * rate / bound
    );
    println!("login latency: p50 {}, p99 {}", ms(percentile(&latencies, 0.5)), ms(percentile(&latencies, 0.99)));
    println!(
        "viewer during the storm ({} requests): p50 {}, p99 {}, max {}",
        viewer_latencies.len(),
        ms(percentile(&viewer_latencies, 0.5)),
        ms(percentile(&viewer_latencies, 0.99)),
        ms(*viewer_latencies.last().unwrap())
    );
}
