//! A webhook consumer for tests: an HTTP server on a free port that keeps every request and
//! answers with the status the test sets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

#[derive(Clone, Debug)]
pub struct Request {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Shared::default();
        shared.status.store(200, Ordering::SeqCst);
        let app = axum::Router::new()
            .route(
                "/hook",
                post(|State(shared): State<Shared>, headers: HeaderMap, body: Bytes| async move {
                    shared.requests.lock().unwrap().push(Request { headers, body });
                    StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap()
                }),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn answer_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits (up to 15 s) for the `n`th request.
    pub async fn nth(&self, n: usize) -> Request {
        super::eventually(&format!("request #{n}"), async || self.requests().get(n - 1).cloned()).await
    }
}

/// Whether `request` carries a valid Standard Webhooks signature for `secret`, checked by an
/// independent implementation (the `standardwebhooks` crate), as a consumer would.
pub fn verifies(secret: &str, request: &Request) -> bool {
    standardwebhooks::Webhook::new(secret).unwrap().verify(&request.body, &request.headers).is_ok()
}
