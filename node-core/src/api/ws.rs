//! Live events over WebSocket: every change to a Mimei, as JSON text messages.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use crate::mimei::MimeiEvent;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// WebSocket of live events (`MimeiEvent` JSON messages such as
/// `{"kind":"files_changed","id":"…"}`). Browsers pass the token as `?token=`.
/// A client too slow to keep up receives `{"kind":"lagged","missed":n}` and goes on.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("token" = Option<String>, Query, description = "API token (WebSocket clients that cannot set headers)")),
    responses((status = 101, description = "switching to WebSocket", body = MimeiEvent)))]
async fn events(State(s): State<ApiState>, ws: WebSocketUpgrade) -> Response {
    let rx = s.node.mimeis().subscribe();
    ws.on_upgrade(move |socket| forward(socket, rx))
}

async fn forward(mut socket: WebSocket, mut rx: tokio::sync::broadcast::Receiver<MimeiEvent>) {
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let text = match ev {
                    Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
                    Err(RecvError::Lagged(n)) => format!("{{\"kind\":\"lagged\",\"missed\":{n}}}"),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
