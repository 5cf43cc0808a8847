//! Standard JavaScript clients (`tests/clients/`: the graphql-http audit, Apollo Client, a
//! browser through playwright-core), run with the machine's Node.js against a test server.

use std::path::PathBuf;

fn clients() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// What `node tests/clients/<script> <args>` printed last (one JSON line), or None, after
/// saying why, when Node.js or the packages are not installed (`npm ci` in tests/clients),
/// except under CI, where that is a failure.
pub async fn run(script: &str, args: &[&str]) -> Option<serde_json::Value> {
    let installed = clients().join("node_modules").is_dir();
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed || !node {
        assert!(std::env::var_os("CI").is_none(), "Node.js and tests/clients/node_modules are needed under CI");
        eprintln!("skipped: {script} needs Node.js and `npm ci` in tests/clients");
        return None;
    }
    let output = tokio::process::Command::new("node")
        .arg(clients().join(script))
        .args(args)
        .current_dir(clients())
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    Some(serde_json::from_str(last).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\n{stderr}")))
}
