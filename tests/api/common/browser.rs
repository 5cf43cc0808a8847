//! A real headless browser (Debian's `chromium`) for pages people open. Started with the flags
//! this machine needs (no sandbox as root, no background connections to the internet it does
//! not have) and a fresh profile.

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The page's DOM once its scripts have run (up to 10 s of virtual time); None, after saying
/// why, when no browser is installed, except under CI, where that is a failure.
pub async fn dump_dom(url: &str) -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        assert!(std::env::var_os("CI").is_none(), "{CHROMIUM} must be installed under CI (.ci/run installs it)");
        eprintln!("skipped: {CHROMIUM} is not installed (apt-get install chromium), so the page is not rendered");
        return None;
    }
    let url = url.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().expect("a profile folder");
        Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}
