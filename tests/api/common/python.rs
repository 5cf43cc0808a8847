//! Python clients (`tests/clients/scim/`: python-scim's scim2-tester), run from the virtual
//! environment `.ci/run` makes (`tests/clients/scim/.venv`, from its requirements.txt).

use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/scim")
}

/// What `python tests/clients/scim/<script> <args>` printed last (one JSON line), or None,
/// after saying why, when the virtual environment is missing, except under CI, where that is a
/// failure.
pub async fn run(script: &str, args: &[&str]) -> Option<serde_json::Value> {
    let python = dir().join(".venv/bin/python");
    if !python.is_file() {
        assert!(std::env::var_os("CI").is_none(), "tests/clients/scim/.venv is needed under CI (.ci/run makes it)");
        eprintln!(
            "skipped: {script} needs `python3 -m venv tests/clients/scim/.venv && tests/clients/scim/.venv/bin/pip install -r tests/clients/scim/requirements.txt`"
        );
        return None;
    }
    let output = tokio::process::Command::new(python)
        .arg(dir().join(script))
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    Some(serde_json::from_str(last).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\n{stderr}")))
}
