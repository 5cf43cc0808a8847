//! A small client of the `graphql-transport-ws` protocol, enough to test what clients do:
//! `connection_init` → `connection_ack`, then `subscribe` → `next`* → `complete` (or `error`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

/// How the server ended the connection.
#[derive(Debug)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason: String,
}

impl WsClient {
    pub async fn connect(url: &str, init_payload: Value) -> Result<WsClient, Closed> {
        let mut client = WsClient::open(url).await;
        client.send(json!({"type": "connection_init", "payload": init_payload})).await;
        match client.receive().await? {
            message if message["type"] == "connection_ack" => Ok(client),
            other => panic!("expected connection_ack, got {other}"),
        }
    }

    /// The socket after the handshake, before any protocol message.
    pub async fn open(url: &str) -> WsClient {
        let mut request = url.into_client_request().expect("websocket URL");
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("websocket handshake");
        assert_eq!(
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws"),
            "the server must speak graphql-transport-ws"
        );
        WsClient { socket, next_id: 1 }
    }

    /// Sends any message, even one the protocol does not allow.
    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::text(message.to_string())).await.expect("websocket send");
    }

    /// The next protocol message (answering pings on the way), or how the connection closed.
    pub async fn receive(&mut self) -> Result<Value, Closed> {
        loop {
            let frame =
                tokio::time::timeout(TIMEOUT, self.socket.next()).await.expect("no websocket message within 10 s");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).expect("JSON message");
                    if message["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Ok(message);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Err(Closed { code: None, reason: "connection lost".into() });
                }
            }
        }
    }

    /// Starts an operation; returns its id.
    pub async fn subscribe(&mut self, query: &str, variables: Value) -> String {
        let id = self.next_id.to_string();
        self.next_id += 1;
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})).await;
        id
    }

    /// The next `next` payload of operation `id`; None once it completed.
    pub async fn next_payload(&mut self, id: &str) -> Option<Value> {
        loop {
            let message = self.receive().await.expect("connection open");
            if message["id"] != id {
                continue;
            }
            match message["type"].as_str() {
                Some("next") => return Some(message["payload"].clone()),
                Some("complete") => return None,
                Some("error") => return Some(json!({"errors": message["payload"]})),
                _ => panic!("unexpected message {message}"),
            }
        }
    }

    /// Runs a query or mutation and returns its single result.
    pub async fn execute(&mut self, query: &str, variables: Value) -> Value {
        let id = self.subscribe(query, variables).await;
        self.next_payload(&id).await.expect("a result before complete")
    }
}
