//! Logging, to stderr (stdout stays for command output such as `portal schema`).
//! `RUST_LOG` filters (default: info for Portal, warnings for the libraries);
//! `PORTAL_LOG_FORMAT=json` writes one JSON object a line for log collectors.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub fn init() {
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    install(std::io::stderr, colours, "info");
}

/// For commands that draw on the terminal themselves (`portal import`'s progress bar): only
/// warnings and errors, unless RUST_LOG asks for more.
pub fn init_quiet() {
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    install(std::io::stderr, colours, "warn");
}

/// For tests: log lines go through the test harness's capture, shown only on failure.
pub fn init_for_tests() {
    install(tracing_subscriber::fmt::TestWriter::new, false, "info");
}

fn install<W>(writer: W, colours: bool, level: &str)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn,sea_orm=warn,sea_orm_migration=warn")));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(colours).with_writer(writer);
    let result = if std::env::var("PORTAL_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests start several apps in one process): keep the first.
    let _ = result;
}
