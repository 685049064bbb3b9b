//! Live events over WebSocket: every change to a Mimei, as JSON text messages, and —
//! when the people service runs — social events (`message`, `receipt`,
//! `friend_changed`, `stream`) and org events (`{"kind":"org","org","change"}`).

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use crate::mimei::MimeiEvent;
use crate::people::OrgEvent;
use crate::social::SocialEvent;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// WebSocket of live events (`MimeiEvent` JSON messages such as
/// `{"kind":"files_changed","id":"…"}`; with the people service also
/// `{"kind":"message","peer","id"}`, `receipt`, `friend_changed`, `stream` and
/// `{"kind":"org","org","change"}`). Browsers pass the token as `?token=`.
/// A client too slow to keep up receives `{"kind":"lagged","missed":n}` and goes on.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("token" = Option<String>, Query, description = "API token (WebSocket clients that cannot set headers)")),
    responses((status = 101, description = "switching to WebSocket", body = MimeiEvent)))]
async fn events(State(s): State<ApiState>, ws: WebSocketUpgrade) -> Response {
    let rx = s.node.mimeis().subscribe();
    let people = s
        .node
        .people()
        .map(|p| (p.social().subscribe(), p.subscribe()));
    ws.on_upgrade(move |socket| forward(socket, rx, people))
}

/// The next event of `rx` as JSON text; never resolves if there is no `rx`.
async fn next<T: serde::Serialize + Clone>(
    rx: Option<&mut broadcast::Receiver<T>>,
) -> Result<String, ()> {
    let Some(rx) = rx else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(e) => Ok(serde_json::to_string(&e).unwrap_or_default()),
        Err(RecvError::Lagged(n)) => Ok(format!("{{\"kind\":\"lagged\",\"missed\":{n}}}")),
        Err(RecvError::Closed) => Err(()),
    }
}

async fn forward(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<MimeiEvent>,
    people: Option<(
        broadcast::Receiver<SocialEvent>,
        broadcast::Receiver<OrgEvent>,
    )>,
) {
    let (mut social, mut orgs) = match people {
        Some((s, o)) => (Some(s), Some(o)),
        None => (None, None),
    };
    loop {
        tokio::select! {
            ev = async {
                tokio::select! {
                    e = next(Some(&mut rx)) => e,
                    e = next(social.as_mut()) => e,
                    e = next(orgs.as_mut()) => e,
                }
            } => {
                let Ok(text) = ev else { return };
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
