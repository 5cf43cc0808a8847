//! Configuration from `PORTAL_*` environment variables, optionally mirrored by a `portal.toml`
//! (keys are the variable names without the prefix, lower-cased: `database_url = "…"`); the
//! environment wins. Everything is parsed here, at start-up, so a bad value stops the server
//! with one line naming the variable, the problem and an example, instead of failing later.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::types::Email;

#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseUrl,
    pub listen: SocketAddr,
    /// Where people reach this server (links in emails); by default `http://` + the listen
    /// address, so a changed `PORTAL_LISTEN` needs nothing else on one machine.
    pub public_url: url::Url,
    /// The "Sign in" of emails and of the password pages: the company's portal front end, by
    /// default this server's GraphiQL.
    pub sign_in_url: url::Url,
    /// May carry the SMTP password: kept out of `Debug` output and logs.
    pub smtp_url: Option<SecretString>,
    pub mailbox_dir: PathBuf,
    pub mail_from: lettre::message::Mailbox,
    pub templates_dir: Option<PathBuf>,
    pub bootstrap_operator: Email,
    pub bootstrap_operator_password: Option<SecretString>,
    /// Origins allowed to call the API from a browser; empty means same-origin only.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    pub max_body_bytes: usize,
    /// Largest CSV upload.
    pub import_max_bytes: usize,
    pub graphql_max_depth: usize,
    pub graphql_max_complexity: usize,
    pub password_hashing: PasswordHashing,
    /// How long in-flight requests get to finish after SIGTERM / Ctrl-C.
    pub shutdown_grace: Duration,
    pub session_ttl: Duration,
    /// Waits between delivery attempts; after the last, a delivery is dead.
    pub retry_schedule: Vec<Duration>,
    /// Allow webhook endpoints on loopback, private and link-local addresses (tests, intranets).
    pub webhook_allow_private: bool,
    /// Login attempts allowed per client address and minute.
    pub login_attempts_per_minute: std::num::NonZeroU32,
    /// How long a request body may go without sending a byte before it is abandoned.
    pub body_idle_timeout: Duration,
    /// How long a websocket may stay open without `connection_init` (then closed with 4408).
    pub websocket_init_timeout: Duration,
    /// How long a DataLoader collects keys before it queries (`PORTAL_GRAPHQL_BATCH_WINDOW_MS`).
    pub batch_window: Duration,
}

/// argon2id cost. Production keeps the OWASP defaults; tests lower them through the
/// environment to keep the suite fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        PasswordHashing { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `path` is the database file (None for `sqlite::memory:`); its folder is created on start.
    Sqlite {
        url: String,
        path: Option<PathBuf>,
    },
    Postgres {
        url: String,
    },
}

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        match self {
            DatabaseUrl::Sqlite { url, .. } | DatabaseUrl::Postgres { url } => url,
        }
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.as_str()) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("****"));
                url.to_string()
            }
            _ => self.as_str().to_owned(),
        }
    }
}

/// Shows the URL without its password: a `Config` in a log or a panic message gives none away.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A bad setting: `PORTAL_X: problem (example: good value)`, on one line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem} (example: {example})")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
    pub example: &'static str,
}

const PREFIX: &str = "PORTAL_";

impl Config {
    /// From the process environment and `portal.toml` (or the file named by `PORTAL_CONFIG`).
    pub fn from_env() -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with(PREFIX)).collect();
        let file = env.get("PORTAL_CONFIG").cloned();
        let from_file = read_toml(file.as_deref())?;
        let mut vars = from_file.clone();
        vars.extend(env);
        let (config, asked) = Config::from_vars_asked(&vars)?;
        // A misspelt key would otherwise be ignored without a word.
        if let Some(unknown) = from_file.keys().find(|key| !asked.contains(*key)) {
            let key = unknown.trim_start_matches(PREFIX).to_lowercase();
            let path = file.as_deref().unwrap_or("portal.toml");
            return Err(file_error(format!(
                "`{path}` has an unknown key `{key}` (the keys are the PORTAL_* variables without the prefix, in lower case, such as `listen` or `database_url`)"
            )));
        }
        Ok(config)
    }

    /// From explicit `PORTAL_*` variables; unset ones take their defaults.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        Config::from_vars_asked(vars).map(|(config, _)| config)
    }

    /// The configuration, and the names of the variables it looked at.
    fn from_vars_asked(vars: &HashMap<String, String>) -> Result<(Config, HashSet<String>), ConfigError> {
        let v = Vars { vars, asked: RefCell::default() };
        let config = Config::read(&v)?;
        Ok((config, v.asked.into_inner()))
    }

    fn read(v: &Vars) -> Result<Config, ConfigError> {
        let listen: SocketAddr = v.parse("LISTEN", "127.0.0.1:8080", "0.0.0.0:8080", |s| {
            s.parse().map_err(|_| "is not an address:port".to_owned())
        })?;
        let public_url = match v.parse_optional("PUBLIC_URL", "https://portal.example.com", parse_http_url)? {
            Some(url) => url,
            None => url_of(listen),
        };
        let sign_in_url = match v.parse_optional("SIGN_IN_URL", "https://portal.example.com/sign-in", parse_http_url)? {
            Some(url) => url,
            None => public_url.join("graphql").unwrap_or_else(|_| public_url.clone()),
        };
        Ok(Config {
            database: v.parse(
                "DATABASE_URL",
                "sqlite://data/portal.db?mode=rwc",
                "postgres://portal@127.0.0.1:5432/portal",
                parse_database_url,
            )?,
            listen,
            public_url,
            sign_in_url,
            smtp_url: v
                .parse_optional(&v.plugin("SMTP", "URL"), "smtp://user:pass@smtp.example.com:587", parse_smtp_url)?
                .map(|url| SecretString::from(url.to_string())),
            mailbox_dir: PathBuf::from(v.get(&v.plugin("MAILBOX", "DIR")).unwrap_or("data/mailbox")),
            mail_from: v.parse("MAIL_FROM", "Portal <no-reply@localhost>", "Portal <no-reply@example.com>", |s| {
                s.parse().map_err(|_| "is not a mailbox (name and address)".to_owned())
            })?,
            templates_dir: v.parse_optional("TEMPLATES_DIR", "/etc/portal/email-templates", |s| {
                let path = PathBuf::from(s);
                if path.is_dir() { Ok(path) } else { Err(format!("`{s}` is not a directory")) }
            })?,
            bootstrap_operator: v.parse("BOOTSTRAP_OPERATOR", "operator@localhost", "ops@example.com", |s| {
                Email::parse(s).map_err(|e| format!("`{s}` {e}"))
            })?,
            bootstrap_operator_password: v.get("BOOTSTRAP_OPERATOR_PASSWORD").map(SecretString::from),
            cors_origins: v.parse(
                "CORS_ORIGINS",
                "",
                "https://dashboard.example.com,https://admin.example.com",
                parse_origins,
            )?,
            max_body_bytes: v.parse("MAX_BODY_BYTES", "2097152", "2097152", positive)?,
            import_max_bytes: v.parse("IMPORT_MAX_BYTES", "209715200", "209715200", positive)?,
            graphql_max_depth: v.parse("GRAPHQL_MAX_DEPTH", "10", "10", positive)?,
            graphql_max_complexity: v.parse("GRAPHQL_MAX_COMPLEXITY", "1000", "1000", positive)?,
            password_hashing: PasswordHashing {
                memory_kib: v.parse("ARGON2_MEMORY_KIB", "19456", "19456", |s| at_least(s, 8))?,
                iterations: v.parse("ARGON2_ITERATIONS", "2", "2", |s| at_least(s, 1))?,
                parallelism: v.parse("ARGON2_PARALLELISM", "1", "1", |s| at_least(s, 1))?,
            },
            session_ttl: Duration::from_secs(3600 * v.parse("SESSION_HOURS", "12", "12", positive::<u64>)?),
            retry_schedule: v.parse(
                "NOTIFY_RETRY_SCHEDULE",
                "5s,30s,2m,10m,1h,6h",
                "5s,30s,2m,10m,1h,6h",
                parse_schedule,
            )?,
            webhook_allow_private: v.parse(&v.plugin("WEBHOOK", "ALLOW_PRIVATE"), "false", "false", parse_bool)?,
            login_attempts_per_minute: v.parse("LOGIN_ATTEMPTS_PER_MINUTE", "20", "20", |s| {
                s.parse().map_err(|_| format!("`{s}` is not a positive whole number"))
            })?,
            shutdown_grace: Duration::from_secs(v.parse("SHUTDOWN_GRACE_SECONDS", "30", "30", positive)?),
            body_idle_timeout: Duration::from_secs(v.parse("BODY_IDLE_TIMEOUT_SECONDS", "30", "30", positive)?),
            websocket_init_timeout: Duration::from_secs(v.parse(
                "WEBSOCKET_INIT_TIMEOUT_SECONDS",
                "10",
                "10",
                positive,
            )?),
            batch_window: Duration::from_millis(v.parse("GRAPHQL_BATCH_WINDOW_MS", "1", "1", |s| {
                s.parse::<u64>()
                    .ok()
                    .filter(|ms| *ms <= 1000)
                    .ok_or_else(|| format!("`{s}` is not a number of milliseconds up to 1000"))
            })?),
        })
    }
}

struct Vars<'a> {
    vars: &'a HashMap<String, String>,
    /// Every name looked up, set or not (so a file's unknown keys can be told apart).
    asked: RefCell<HashSet<String>>,
}

impl Vars<'_> {
    /// A notifier plugin's setting: `NOTIFY_<PLUGIN>_<SETTING>`, or the older `<PLUGIN>_<SETTING>`
    /// (`SMTP_URL`) when only that is set. Errors name the variable that was set.
    fn plugin(&self, plugin: &str, setting: &str) -> String {
        let current = format!("NOTIFY_{plugin}_{setting}");
        let older = format!("{plugin}_{setting}");
        if self.get(&current).is_none() && self.get(&older).is_some() { older } else { current }
    }

    /// The value, if set and not blank.
    fn get(&self, name: &str) -> Option<&str> {
        let name = format!("{PREFIX}{name}");
        let value = self.vars.get(&name).map(|s| s.trim()).filter(|s| !s.is_empty());
        self.asked.borrow_mut().insert(name);
        value
    }

    fn parse<T>(
        &self,
        name: &str,
        default: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self.get(name).unwrap_or(default);
        parse(value).map_err(|problem| ConfigError { variable: format!("{PREFIX}{name}"), problem, example })
    }

    fn parse_optional<T>(
        &self,
        name: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => parse(value).map(Some).map_err(|problem| ConfigError {
                variable: format!("{PREFIX}{name}"),
                problem,
                example,
            }),
        }
    }
}

fn read_toml(path: Option<&str>) -> Result<HashMap<String, String>, ConfigError> {
    let explicit = path.is_some();
    let path = path.unwrap_or("portal.toml");
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(_) if !explicit => return Ok(HashMap::new()),
        Err(e) => return Err(file_error(format!("cannot read `{path}`: {e}"))),
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let at = line.map(|line| format!(" at line {line}")).unwrap_or_default();
        file_error(format!("`{path}` is not valid TOML{at}: {}", e.message()))
    })?;
    table
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(file_error(format!("`{key}` must be a string or a number, not {}", other.type_str())));
                }
            };
            Ok((format!("{PREFIX}{}", key.to_uppercase()), value))
        })
        .collect()
}

fn file_error(problem: String) -> ConfigError {
    ConfigError { variable: "PORTAL_CONFIG".into(), problem, example: "portal.toml" }
}

fn parse_database_url(s: &str) -> Result<DatabaseUrl, String> {
    if let Some(rest) = s.strip_prefix("sqlite:") {
        let rest = rest.trim_start_matches("//");
        let file = rest.split('?').next().unwrap_or_default();
        if file.is_empty() {
            return Err("names no database file".into());
        }
        let path = (file != ":memory:").then(|| PathBuf::from(file));
        // Without a mode, sqlx opens an existing file only: a fresh machine has none yet.
        let query = rest.split_once('?').map(|(_, q)| q).unwrap_or("");
        let url = if query.split('&').any(|p| p.starts_with("mode=")) {
            s.to_owned()
        } else if query.is_empty() {
            format!("{}?mode=rwc", s.trim_end_matches('?'))
        } else {
            format!("{s}&mode=rwc")
        };
        return Ok(DatabaseUrl::Sqlite { url, path });
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        let url = url::Url::parse(s).map_err(|e| format!("is not a valid URL ({e})"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("names no host".into());
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err("names no database".into());
        }
        return Ok(DatabaseUrl::Postgres { url: s.to_owned() });
    }
    Err(format!("`{s}` is neither sqlite:… nor postgres://…"))
}

/// `http://` + the listen address, with a wildcard address replaced by loopback (a browser
/// cannot open 0.0.0.0).
fn url_of(listen: SocketAddr) -> url::Url {
    let host = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    #[allow(clippy::expect_used, reason = "an IP address and a port always make a URL")]
    url::Url::parse(&format!("http://{host}:{}", listen.port())).expect("an address makes a URL")
}

fn parse_http_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{s}` is not an http(s) URL"));
    }
    Ok(url)
}

fn parse_smtp_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none() {
        return Err("must be smtp://host:port or smtps://host:port".into());
    }
    Ok(url)
}

fn parse_origins(s: &str) -> Result<Vec<axum::http::HeaderValue>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let url = parse_http_url(origin)?;
            if url.path() != "/" || url.query().is_some() {
                return Err(format!("`{origin}` is not an origin (scheme://host[:port], no path)"));
            }
            axum::http::HeaderValue::from_str(origin.trim_end_matches('/'))
                .map_err(|_| format!("`{origin}` is not a valid header value"))
        })
        .collect()
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("`{s}` is not a positive whole number")),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not true or false")),
    }
}

/// `5s,30s,2m,1h`: one or more durations with a unit (s, m, h).
fn parse_schedule(s: &str) -> Result<Vec<Duration>, String> {
    s.split(',')
        .map(|item| {
            let item = item.trim();
            let (number, unit) = item.split_at(item.len().saturating_sub(1));
            let seconds = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => return Err(format!("`{item}` has no unit (s, m or h)")),
            };
            number
                .parse::<u64>()
                .map(|n| Duration::from_secs(n * seconds))
                .map_err(|_| format!("`{item}` is not a duration"))
        })
        .collect()
}

fn at_least(s: &str, min: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least {min}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn defaults_are_the_embedded_sqlite_setup() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.database,
            DatabaseUrl::Sqlite { url: "sqlite://data/portal.db?mode=rwc".into(), path: Some("data/portal.db".into()) }
        );
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.bootstrap_operator.as_str(), "operator@localhost");
        assert_eq!(c.password_hashing, PasswordHashing::default());
        assert!(c.smtp_url.is_none() && c.cors_origins.is_empty());
        let minutes = |m: u64| Duration::from_secs(60 * m);
        assert_eq!(
            c.retry_schedule,
            [Duration::from_secs(5), Duration::from_secs(30), minutes(2), minutes(10), minutes(60), minutes(360)]
        );
        assert!(!c.webhook_allow_private);
    }

    #[test]
    fn a_bad_value_names_the_variable_and_gives_an_example() {
        let err = config(&[("PORTAL_DATABASE_URL", "mysql://x/y")]).unwrap_err();
        assert_eq!(err.variable, "PORTAL_DATABASE_URL");
        let line = err.to_string();
        assert!(line.contains("neither sqlite") && line.contains("example: postgres://"), "{line}");
        assert!(!line.contains('\n'));

        for (var, value) in [
            ("PORTAL_LISTEN", "localhost"),
            ("PORTAL_PUBLIC_URL", "ftp://x"),
            ("PORTAL_SMTP_URL", "http://mail"),
            ("PORTAL_BOOTSTRAP_OPERATOR", "not-an-email"),
            ("PORTAL_CORS_ORIGINS", "https://ok.example.com,https://x.example.com/path"),
            ("PORTAL_GRAPHQL_MAX_DEPTH", "0"),
            ("PORTAL_ARGON2_MEMORY_KIB", "lots"),
            ("PORTAL_DATABASE_URL", "postgres:///nohost"),
            ("PORTAL_TEMPLATES_DIR", "/does/not/exist"),
            ("PORTAL_NOTIFY_RETRY_SCHEDULE", "5s,soon"),
            ("PORTAL_WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ] {
            assert_eq!(config(&[(var, value)]).unwrap_err().variable, var, "{var}={value}");
        }
    }

    #[test]
    fn plugin_settings_take_their_notify_names_and_the_older_ones() {
        let dir = |vars: &[(&str, &str)]| config(vars).unwrap().mailbox_dir;
        assert_eq!(dir(&[("PORTAL_NOTIFY_MAILBOX_DIR", "/a")]), PathBuf::from("/a"));
        assert_eq!(dir(&[("PORTAL_MAILBOX_DIR", "/b")]), PathBuf::from("/b"));
        // Both set: the plugin's own name wins.
        assert_eq!(dir(&[("PORTAL_NOTIFY_MAILBOX_DIR", "/a"), ("PORTAL_MAILBOX_DIR", "/b")]), PathBuf::from("/a"));
        for var in ["PORTAL_NOTIFY_WEBHOOK_ALLOW_PRIVATE", "PORTAL_WEBHOOK_ALLOW_PRIVATE"] {
            assert!(config(&[(var, "true")]).unwrap().webhook_allow_private, "{var}");
            assert_eq!(config(&[(var, "maybe")]).unwrap_err().variable, var, "the error names what was set");
        }
        for var in ["PORTAL_NOTIFY_SMTP_URL", "PORTAL_SMTP_URL"] {
            assert!(config(&[(var, "smtp://mail.example.com:25")]).unwrap().smtp_url.is_some(), "{var}");
            assert_eq!(config(&[(var, "http://mail")]).unwrap_err().variable, var);
        }
    }

    #[test]
    fn postgres_passwords_are_redacted_in_logs() {
        let c = config(&[("PORTAL_DATABASE_URL", "postgres://portal:s3cret@db:5432/portal")]).unwrap();
        assert_eq!(c.database.redacted(), "postgres://portal:****@db:5432/portal");
    }

    #[test]
    fn no_secret_shows_in_debug_output() {
        let c = config(&[
            ("PORTAL_DATABASE_URL", "postgres://portal:db-s3cret@db:5432/portal"),
            ("PORTAL_SMTP_URL", "smtp://mailer:smtp-s3cret@mail.example.com:587"),
            ("PORTAL_BOOTSTRAP_OPERATOR_PASSWORD", "Operator-S3cret-2026"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        for secret in ["db-s3cret", "smtp-s3cret", "Operator-S3cret-2026"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
