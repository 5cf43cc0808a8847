//! Email as a recipient sees it: a real SMTP server (mailin-embedded) on a free port that keeps
//! what it receives, the mailbox directory's `.eml` files, and a MIME parser (mail-parser).

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};

/// One email as received: the envelope and the raw message.
#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.raw).expect("a MIME message")
    }
}

#[derive(Clone, Default)]
struct Collector {
    messages: Arc<Mutex<Vec<Received>>>,
    current: Option<Received>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received { from: from.to_owned(), to: to.to_vec(), raw: Vec::new() });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.current {
            current.raw.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(done) = self.current.take() {
            self.messages.lock().unwrap().push(done);
        }
        response::OK
    }

    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }
}

/// An SMTP server for one test; it runs until the test process ends.
pub struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(0)
    }

    /// On a given port (an SMTP server coming back where the application expects it).
    pub fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Collector::default();
        let messages = collector.messages.clone();
        // `serve` blocks and is not Send-friendly: a thread of its own.
        std::thread::spawn(move || {
            let mut server = Server::new(collector);
            server.with_name("sink.test").with_tcp_listener(listener);
            let _ = server.serve();
        });
        SmtpSink { addr, messages }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits (up to 15 s) until an email to `recipient` arrived, and returns the latest one.
    pub async fn wait_for(&self, recipient: &str) -> Received {
        super::eventually(&format!("an email to {recipient}"), async || {
            self.received().into_iter().rev().find(|m| m.to.iter().any(|t| t == recipient))
        })
        .await
    }

    pub fn count_to(&self, recipient: &str) -> usize {
        self.received().iter().filter(|m| m.to.iter().any(|t| t == recipient)).count()
    }
}

/// The `.eml` files in a mailbox directory, parsed, oldest first.
pub fn mailbox(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> =
        entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "eml")).map(|e| e.path()).collect();
    files.sort();
    files.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The text after `label` on its line, e.g. the temporary password in a welcome email.
pub fn value_after(text: &str, label: &str) -> String {
    let start = text.find(label).unwrap_or_else(|| panic!("`{label}` not in:\n{text}")) + label.len();
    text[start..].lines().next().unwrap().trim().to_owned()
}

/// The first URL starting with `prefix` in `text`.
pub fn link(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}
