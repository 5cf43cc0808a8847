//! One switch for the test suite: the `::postgres` variants of the integration tests run when
//! `PORTAL_TEST_POSTGRES_URL` is set (or under CI, where a missing URL then fails them), and
//! are reported as ignored, with the reason, when it is not: a "passed" never hides a test that
//! did nothing.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(portal_postgres_tests)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PORTAL_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CI");
    let url_set = std::env::var("PORTAL_TEST_POSTGRES_URL").is_ok_and(|url| !url.trim().is_empty());
    if url_set || std::env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=portal_postgres_tests");
    }
}
