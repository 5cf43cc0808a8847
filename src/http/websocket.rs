//! `/graphql/ws`: subscriptions (and queries) over `graphql-transport-ws`, with the close
//! codes that protocol gives (github.com/enisdenjo/graphql-ws, PROTOCOL.md), which clients act
//! on (graphql-ws retries 1002 forever, but gives up on 4403):
//! - 4400 a message that is not the protocol's, 4401 `subscribe` before `connection_ack`,
//!   4403 a refused `connection_init` (with the reason), 4408 no `connection_init` in time,
//!   4409 a second `subscribe` with a running operation's id, 4429 a second `connection_init`.
//!
//! async-graphql runs the operations; the messages are checked here on their way to it (and
//! its answers watched on the way back, to know which operations are running). The legacy
//! `subscriptions-transport-ws` protocol passes through unchecked.
//!
//! The session token comes in the `connection_init` payload: `{"Authorization": "Bearer …"}`;
//! every operation re-checks it (`graphql::extensions::recheck_websocket_session`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::str::FromStr;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::{AppState, bearer_token, loaders, resolve};
use crate::graphql::RequestContext;
use crate::graphql::extensions::WebsocketSession;

/// Operations running at once on one socket, and the length of their ids.
const MAX_OPERATIONS: usize = 64;
const MAX_ID_BYTES: usize = 128;

pub async fn endpoint(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers.get_all("sec-websocket-protocol").iter().filter_map(|v| v.to_str().ok());
    let Some(protocol) = offered.flat_map(|v| v.split(',')).find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
    else {
        return (StatusCode::BAD_REQUEST, "Sec-WebSocket-Protocol must offer graphql-transport-ws").into_response();
    };
    // A message is a GraphQL request: it gets the same bound as a POST body.
    let limit = state.max_message_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve(socket, state, client, protocol))
}

async fn serve(socket: WebSocket, state: AppState, client: SocketAddr, protocol: WebSocketProtocols) {
    let (mut sink, mut incoming) = socket.split();
    let (to_engine, engine_input) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let services = state.services.clone();
    let batch_window = state.batch_window;
    let engine = async_graphql::http::WebSocket::new(
        state.schema.clone(),
        futures_util::stream::unfold(engine_input, |mut input| async move { input.recv().await.map(|m| (m, input)) }),
        protocol,
    )
    .on_connection_init(move |payload| async move {
        let value = payload.get("Authorization").or_else(|| payload.get("authorization")).and_then(|v| v.as_str());
        let token = bearer_token(value)?;
        let principal = resolve(&services, token).await?;
        let mut data = Data::default();
        if let Some(token) = token {
            data.insert(WebsocketSession { token: token.to_owned(), client_address: Some(client.ip()) });
        }
        data.insert(RequestContext { principal, client_address: Some(client.ip()) });
        data.insert(loaders(&services, batch_window));
        Ok(data)
    });
    futures_util::pin_mut!(engine);
    let mut rules = Rules { checked: protocol == WebSocketProtocols::GraphQLWS, ..Rules::default() };
    // How long a client has to send `connection_init` after the upgrade.
    let init_deadline = tokio::time::sleep(state.websocket_init_timeout);
    tokio::pin!(init_deadline);
    loop {
        let outgoing = tokio::select! {
            // Read the client only while the engine has room for what it sends.
            frame = incoming.next(), if to_engine.capacity() > 0 => match frame {
                Some(Ok(Message::Text(text))) => rules.pass(text.as_bytes(), &to_engine),
                Some(Ok(Message::Binary(bytes))) => rules.pass(&bytes, &to_engine),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            message = engine.next() => match message {
                Some(WsMessage::Text(text)) => {
                    rules.answered(&text);
                    Some(Message::Text(text.into()))
                }
                Some(WsMessage::Close(code, reason)) => Some(rules.closing(code, reason)),
                None => break,
            },
            () = &mut init_deadline, if rules.checked && !rules.initialised => {
                Some(close(4408, "Connection initialisation timeout".into()))
            }
        };
        let Some(message) = outgoing else { continue };
        let last = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || last {
            break;
        }
    }
}

fn close(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// What the protocol allows next, from the messages seen both ways.
#[derive(Default)]
struct Rules {
    /// graphql-transport-ws (checked); the legacy protocol is passed through.
    checked: bool,
    initialised: bool,
    acknowledged: bool,
    running: HashSet<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<serde_json::Value>,
}

impl Rules {
    /// Hands a client message to the engine, or answers the close it deserves.
    fn pass(&mut self, message: &[u8], engine: &tokio::sync::mpsc::Sender<Vec<u8>>) -> Option<Message> {
        if self.checked
            && let Err((code, reason)) = self.check(message)
        {
            return Some(close(code, reason));
        }
        // Room was checked before reading, and this task is the only sender.
        engine.try_send(message.to_vec()).err().map(|_| close(1011, "Internal error".into()))
    }

    fn check(&mut self, message: &[u8]) -> Result<(), (u16, String)> {
        let invalid = || (4400, "Invalid message received".to_owned());
        let envelope: Envelope = serde_json::from_slice(message).map_err(|_| invalid())?;
        match envelope.kind.as_str() {
            "connection_init" if self.initialised => Err((4429, "Too many initialisation requests".into())),
            "connection_init" => {
                self.initialised = true;
                Ok(())
            }
            "subscribe" => {
                let id = envelope.id.filter(|id| !id.is_empty() && id.len() <= MAX_ID_BYTES).ok_or_else(invalid)?;
                if !envelope.payload.as_ref().is_some_and(serde_json::Value::is_object) {
                    return Err(invalid());
                }
                if !self.acknowledged {
                    return Err((4401, "Unauthorized".into()));
                }
                if self.running.contains(&id) {
                    return Err((4409, format!("Subscriber for {id} already exists")));
                }
                if self.running.len() >= MAX_OPERATIONS {
                    return Err((4429, format!("Too many operations at once (at most {MAX_OPERATIONS})")));
                }
                self.running.insert(id);
                Ok(())
            }
            "complete" => {
                let id = envelope.id.ok_or_else(invalid)?;
                self.running.remove(&id);
                Ok(())
            }
            "ping" | "pong" => Ok(()),
            _ => Err(invalid()),
        }
    }

    /// Follows the engine's answers: the acknowledgement, and operations that ended.
    fn answered(&mut self, text: &str) {
        // Only the type and id: a result's payload is skipped, not built.
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "type")]
            kind: String,
            id: Option<String>,
        }
        let Ok(envelope) = serde_json::from_str::<Answer>(text) else { return };
        match envelope.kind.as_str() {
            "connection_ack" => self.acknowledged = true,
            "complete" | "error" => {
                if let Some(id) = envelope.id {
                    self.running.remove(&id);
                }
            }
            _ => {}
        }
    }

    /// async-graphql closes a refused `connection_init` with 1002 (the protocol says 4403) and
    /// a `subscribe` before the acknowledgement with 1011 (4401).
    fn closing(&self, code: u16, reason: String) -> Message {
        match code {
            1002 if self.checked && !self.acknowledged => close(4403, reason),
            1002 if self.checked => close(4400, reason),
            1011 if self.checked && !self.acknowledged => close(4401, "Unauthorized".into()),
            _ => close(code, reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe(id: &str) -> Vec<u8> {
        serde_json::json!({"id": id, "type": "subscribe", "payload": {"query": "{ a }"}}).to_string().into_bytes()
    }

    #[test]
    fn a_running_id_cannot_be_reused_until_it_ends() {
        let mut rules = Rules { checked: true, ..Rules::default() };
        rules.check(br#"{"type":"connection_init"}"#).unwrap();
        rules.answered(r#"{"type":"connection_ack"}"#);
        rules.check(&subscribe("1")).unwrap();
        assert_eq!(rules.check(&subscribe("1")).unwrap_err(), (4409, "Subscriber for 1 already exists".into()));
        rules.answered(r#"{"type":"complete","id":"1"}"#);
        rules.check(&subscribe("1")).unwrap();
        rules.check(br#"{"type":"complete","id":"1"}"#).unwrap();
        rules.check(&subscribe("1")).unwrap();
    }

    #[test]
    fn operations_at_once_and_their_ids_are_bounded() {
        let mut rules = Rules { checked: true, initialised: true, acknowledged: true, ..Rules::default() };
        for id in 0..MAX_OPERATIONS {
            rules.check(&subscribe(&id.to_string())).unwrap();
        }
        assert_eq!(rules.check(&subscribe("one more")).unwrap_err().0, 4429);
        assert_eq!(rules.check(&subscribe(&"x".repeat(MAX_ID_BYTES + 1))).unwrap_err().0, 4400);
    }
}
