//! Me, friends, direct messages and the stream (SPEC S1–S4), over the people service.
//!
//! These routes need the user's keys (to sign and open messages): a node started with
//! `leither run` has them; otherwise they answer `503 keys_locked`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppPath, AppQuery};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::identity::{NodeId, UserId};
use crate::mimei::{MimeiError, MimeiId, MimeiPath, VersionRef};
use crate::net::records::ProfileRecord;
use crate::org::OrgError;
use crate::people::{ConversationView, People, PeopleError};
use crate::social::{Friend, MessageId, SocialError, StoredMessage, StreamItem, Unread, profile};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_profile, put_profile))
        .routes(routes!(get_avatar, put_avatar))
        .routes(routes!(devices))
        .routes(routes!(friends, add_friend))
        .routes(routes!(remove_friend))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(block))
        .routes(routes!(invite))
        .routes(routes!(find_people))
        .routes(routes!(public_profile))
        .routes(routes!(conversations))
        .routes(routes!(messages, send_message))
        .routes(routes!(mark_read))
        .routes(routes!(stream))
        .routes(routes!(stream_read))
}

/// The people service, or `keys_locked` if this node runs without the user's keys.
pub(super) fn people(s: &ApiState) -> Result<People, ApiError> {
    s.node.people().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "keys_locked",
            "friends, messages and orgs need the user's keys: start the node with `leither run`",
        )
    })
}

pub(super) fn user_id(s: &str) -> Result<UserId, ApiError> {
    Ok(s.parse()?)
}

impl From<PeopleError> for ApiError {
    fn from(e: PeopleError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        let (status, code) = match e {
            PeopleError::Social(s) => match s {
                SocialError::NotAFriend(_) => (S::FORBIDDEN, "not_friend"),
                SocialError::Blocked(_) => (S::FORBIDDEN, "blocked"),
                SocialError::NoRequest(_) => (S::NOT_FOUND, "no_request"),
                SocialError::Yourself => (S::BAD_REQUEST, "yourself"),
                SocialError::Invalid(_) => (S::BAD_REQUEST, "invalid_argument"),
                SocialError::Rejected(_) => (S::UNPROCESSABLE_ENTITY, "rejected"),
                SocialError::Identity(_) => (S::INTERNAL_SERVER_ERROR, "identity_error"),
                SocialError::Mimei(m) => return m.into(),
            },
            PeopleError::Org(o) => match o {
                OrgError::Unknown(_) => (S::NOT_FOUND, "unknown_org"),
                OrgError::NotAdmin(_) | OrgError::NotCreator(_) => (S::FORBIDDEN, "forbidden"),
                OrgError::NotMember(_) => (S::FORBIDDEN, "not_member"),
                OrgError::NoApplication(_) => (S::NOT_FOUND, "no_application"),
                OrgError::Rejected(_) => (S::UNPROCESSABLE_ENTITY, "rejected"),
                OrgError::Invalid(_) => (S::BAD_REQUEST, "invalid_argument"),
                OrgError::Identity(_) => (S::INTERNAL_SERVER_ERROR, "identity_error"),
                OrgError::Mimei(m) => return m.into(),
            },
            PeopleError::Invalid(_) => (S::BAD_REQUEST, "invalid_argument"),
            PeopleError::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "too_large"),
            PeopleError::Rejected(_) => (S::UNPROCESSABLE_ENTITY, "rejected"),
            PeopleError::UnknownUser(_) => (S::NOT_FOUND, "unknown_user"),
            PeopleError::NoKey { .. } => (S::CONFLICT, "no_chat_key"),

            PeopleError::Mimei(m) => return m.into(),
            PeopleError::Identity(_) => (S::INTERNAL_SERVER_ERROR, "identity_error"),
        };
        ApiError::new(status, code, msg)
    }
}

/// One of the user's devices, vouched for by the user key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    pub node: NodeId,
    pub name: String,
    /// Seconds since the epoch.
    pub created: u64,
}

/// The user's profile as others see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    pub user: UserId,
    pub name: String,
    pub bio: String,
    /// Path of the avatar in the profile Mimei, if any.
    pub avatar: Option<String>,
    /// The public Mimei holding `profile.json` and the avatar.
    pub mimei: MimeiId,
    pub devices: Vec<DeviceView>,
}

fn profile_view(p: &People) -> Result<ProfileView, ApiError> {
    let me = p.me();
    let prof = p.social().profile().map_err(PeopleError::from)?;
    Ok(ProfileView {
        user: me,
        name: prof.name,
        bio: prof.bio,
        avatar: prof.avatar,
        mimei: profile::mimei_of(&me),
        devices: prof
            .devices
            .iter()
            .filter_map(|d| d.verify_device().ok())
            .map(|(_, c)| DeviceView {
                node: c.node,
                name: c.name,
                created: c.created,
            })
            .collect(),
    })
}

/// This user's profile (S1).
#[utoipa::path(get, path = "/api/v1/social/profile", tag = "social",
    responses((status = 200, body = ProfileView), (status = 503, body = ErrorBody, description = "keys_locked")))]
async fn get_profile(State(s): State<ApiState>) -> Result<Json<ProfileView>, ApiError> {
    let p = people(&s)?;
    blocking(move || Ok(Json(profile_view(&p)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct ProfileEdit {
    /// Display name (at most 128 bytes); unchanged if absent.
    name: Option<String>,
    /// Bio (at most 4096 bytes); unchanged if absent.
    bio: Option<String>,
}

/// Change the display name and/or bio.
#[utoipa::path(put, path = "/api/v1/social/profile", tag = "social", request_body = ProfileEdit,
    responses((status = 200, body = ProfileView), (status = 400, body = ErrorBody)))]
async fn put_profile(
    State(s): State<ApiState>,
    AppJson(edit): AppJson<ProfileEdit>,
) -> Result<Json<ProfileView>, ApiError> {
    let p = people(&s)?;
    blocking(move || {
        let cur = p.social().profile().map_err(PeopleError::from)?;
        p.social()
            .set_profile(
                edit.name.as_deref().unwrap_or(&cur.name),
                edit.bio.as_deref().unwrap_or(&cur.bio),
            )
            .map_err(PeopleError::from)?;
        Ok(Json(profile_view(&p)?))
    })
    .await
}

/// The avatar image.
#[utoipa::path(get, path = "/api/v1/social/profile/avatar", tag = "social",
    responses((status = 200, description = "the image", content_type = "application/octet-stream"),
    (status = 404, body = ErrorBody, description = "no_avatar")))]
async fn get_avatar(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let p = people(&s)?;
    let m = s.node.mimeis().clone();
    blocking(move || {
        let me = p.me();
        let Some(path) = p.social().profile().map_err(PeopleError::from)?.avatar else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no_avatar",
                "no avatar set",
            ));
        };
        let bytes = m
            .read_file(
                &me,
                &profile::mimei_of(&me),
                VersionRef::Cur,
                &MimeiPath::parse(&path)?,
            )?
            .read_all()
            .map_err(MimeiError::from)?;
        let ct = mime_guess::from_path(&path).first_or_octet_stream();
        Ok(([(header::CONTENT_TYPE, ct.to_string())], bytes).into_response())
    })
    .await
}

/// Set the avatar: the body is the image, `Content-Type` one of image/png, image/jpeg,
/// image/webp, image/gif, image/svg+xml (at most 2 MiB).
#[utoipa::path(put, path = "/api/v1/social/profile/avatar", tag = "social",
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = ProfileView), (status = 400, body = ErrorBody)))]
async fn put_avatar(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ProfileView>, ApiError> {
    let p = people(&s)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ext = match ct {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        other => {
            return Err(ApiError::bad_request(format!(
                "avatar Content-Type must be image/png, image/jpeg, image/webp, image/gif or image/svg+xml, not {other:?}"
            )));
        }
    };
    blocking(move || {
        p.social()
            .set_avatar(ext, &body)
            .map_err(PeopleError::from)?;
        Ok(Json(profile_view(&p)?))
    })
    .await
}

/// The user's devices (each vouched for by the user key, listed in the profile).
#[utoipa::path(get, path = "/api/v1/social/devices", tag = "social",
    responses((status = 200, body = Vec<DeviceView>)))]
async fn devices(State(s): State<ApiState>) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let p = people(&s)?;
    blocking(move || Ok(Json(profile_view(&p)?.devices))).await
}

/// Everyone in the relationship chain: friends, pending requests both ways, blocked.
#[utoipa::path(get, path = "/api/v1/social/friends", tag = "social",
    responses((status = 200, body = Vec<Friend>)))]
async fn friends(State(s): State<ApiState>) -> Result<Json<Vec<Friend>>, ApiError> {
    let p = people(&s)?;
    blocking(move || Ok(Json(p.social().friends().map_err(PeopleError::from)?))).await
}

#[derive(Debug, Deserialize, IntoParams)]
struct NameQuery {
    /// A display name (compared trimmed, in any case).
    name: String,
}

/// People whose display name is `name`, found on the network (their signed public
/// profiles). Names are not unique: pick by user ID when several come back.
#[utoipa::path(get, path = "/api/v1/social/people", tag = "social", params(NameQuery),
    responses((status = 200, body = Vec<ProfileRecord>), (status = 503, body = ErrorBody, description = "the network is not running")))]
async fn find_people(
    State(s): State<ApiState>,
    AppQuery(q): AppQuery<NameQuery>,
) -> Result<Json<Vec<ProfileRecord>>, ApiError> {
    if q.name.trim().is_empty() {
        return Err(ApiError::bad_request("give a name"));
    }
    Ok(Json(super::net::net(&s)?.find_people(&q.name).await?))
}

/// Someone's public profile as published on the network.
#[utoipa::path(get, path = "/api/v1/social/people/{user}", tag = "social",
    params(("user" = UserId, Path)),
    responses((status = 200, body = ProfileRecord), (status = 404, body = ErrorBody, description = "not_found")))]
async fn public_profile(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
) -> Result<Json<ProfileRecord>, ApiError> {
    let user = user_id(&user)?;
    Ok(Json(super::net::net(&s)?.find_profile(&user).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
struct FriendRequestBody {
    /// The user ID to ask, or
    user: Option<String>,
    /// an invite string (`leither:friend:…`, from `POST /api/v1/social/invite`), or
    invite: Option<String>,
    /// a display name: found on the network; refused (`409 ambiguous`) unless exactly
    /// one person carries it.
    name: Option<String>,
    #[serde(default)]
    note: String,
}

/// Ask someone to be friends (by user ID, invite or display name). If they already
/// asked, this accepts. Sent when the network can reach them; kept and retried until
/// then.
#[utoipa::path(post, path = "/api/v1/social/friends", tag = "social", request_body = FriendRequestBody,
    responses((status = 201, body = Friend), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "blocked")))]
async fn add_friend(
    State(s): State<ApiState>,
    AppJson(b): AppJson<FriendRequestBody>,
) -> Result<(StatusCode, Json<Friend>), ApiError> {
    let p = people(&s)?;
    let to = match (&b.user, &b.invite, &b.name) {
        (Some(u), None, None) => user_id(u)?,
        (None, Some(i), None) => People::parse_invite(i)?.user,
        (None, None, Some(n)) => {
            let found = super::net::net(&s)?.find_people(n).await?;
            match found.as_slice() {
                [one] => one.user,
                [] => {
                    return Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        format!("nobody called {n:?} found on the network"),
                    ));
                }
                many => {
                    let ids: Vec<String> = many.iter().map(|p| p.user.to_string()).collect();
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "ambiguous",
                        format!(
                            "{} people are called {n:?}; ask by user ID: {}",
                            many.len(),
                            ids.join(", ")
                        ),
                    ));
                }
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `user`, `invite` or `name`",
            ));
        }
    };
    blocking(move || Ok((StatusCode::CREATED, Json(p.request_friend(&to, &b.note)?)))).await
}

/// Remove a friend or a pending request (also undoes a block).
#[utoipa::path(delete, path = "/api/v1/social/friends/{user}", tag = "social",
    params(("user" = UserId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody, description = "unknown_user")))]
async fn remove_friend(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let p = people(&s)?;
    let u = user_id(&user)?;
    blocking(move || {
        p.remove_friend(&u)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Accept a friend request.
#[utoipa::path(post, path = "/api/v1/social/friends/{user}/accept", tag = "social",
    params(("user" = UserId, Path)),
    responses((status = 200, body = Friend), (status = 404, body = ErrorBody, description = "no_request")))]
async fn accept(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
) -> Result<Json<Option<Friend>>, ApiError> {
    let p = people(&s)?;
    let u = user_id(&user)?;
    blocking(move || Ok(Json(p.answer(&u, true)?))).await
}

/// Decline a friend request.
#[utoipa::path(post, path = "/api/v1/social/friends/{user}/decline", tag = "social",
    params(("user" = UserId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody, description = "no_request")))]
async fn decline(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let p = people(&s)?;
    let u = user_id(&user)?;
    blocking(move || {
        p.answer(&u, false)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Block a user: their requests and messages are dropped from now on.
#[utoipa::path(post, path = "/api/v1/social/friends/{user}/block", tag = "social",
    params(("user" = UserId, Path)), responses((status = 200, body = Friend)))]
async fn block(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
) -> Result<Json<Friend>, ApiError> {
    let p = people(&s)?;
    let u = user_id(&user)?;
    blocking(move || Ok(Json(p.block(&u)?))).await
}

/// A friend invite.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InviteView {
    /// `leither:friend:…`: share as a link or QR code; `POST /api/v1/social/friends`
    /// with `{"invite": …}` on the other side.
    pub invite: String,
    pub user: UserId,
}

/// Make a signed friend invite (link / QR payload).
#[utoipa::path(post, path = "/api/v1/social/invite", tag = "social",
    responses((status = 200, body = InviteView)))]
async fn invite(State(s): State<ApiState>) -> Result<Json<InviteView>, ApiError> {
    let p = people(&s)?;
    blocking(move || {
        Ok(Json(InviteView {
            invite: p.invite()?,
            user: p.me(),
        }))
    })
    .await
}

/// Conversations, newest first, with unread counts.
#[utoipa::path(get, path = "/api/v1/social/conversations", tag = "social",
    responses((status = 200, body = Vec<ConversationView>)))]
async fn conversations(State(s): State<ApiState>) -> Result<Json<Vec<ConversationView>>, ApiError> {
    let p = people(&s)?;
    blocking(move || Ok(Json(p.conversations()?))).await
}

#[derive(Debug, Deserialize, IntoParams)]
struct Page {
    /// Only messages older than this time (ms since the epoch); page back with the
    /// oldest `time` received.
    before: Option<u64>,
    /// At most this many (default 50, at most 500).
    limit: Option<usize>,
}

fn limit(l: Option<usize>) -> Result<usize, ApiError> {
    match l.unwrap_or(50) {
        0 => Err(ApiError::bad_request("limit must be at least 1")),
        n => Ok(n.min(500)),
    }
}

/// One conversation, oldest first (the newest `limit` before `before`).
#[utoipa::path(get, path = "/api/v1/social/conversations/{user}/messages", tag = "social",
    params(("user" = UserId, Path), Page),
    responses((status = 200, body = Vec<StoredMessage>), (status = 404, body = ErrorBody, description = "unknown_user")))]
async fn messages(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
    AppQuery(page): AppQuery<Page>,
) -> Result<Json<Vec<StoredMessage>>, ApiError> {
    let p = people(&s)?;
    let u = user_id(&user)?;
    let n = limit(page.limit)?;
    blocking(move || Ok(Json(p.conversation(&u, page.before, n)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct TextBody {
    text: String,
}

/// Send a direct message to a friend: sealed to them, delivered when the network can
/// reach them (kept in the outbox and retried until their receipt arrives).
#[utoipa::path(post, path = "/api/v1/social/conversations/{user}/messages", tag = "social",
    params(("user" = UserId, Path)), request_body = TextBody,
    responses((status = 201, body = StoredMessage), (status = 403, body = ErrorBody, description = "not_friend"),
    (status = 413, body = ErrorBody, description = "too_large")))]
async fn send_message(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
    AppJson(b): AppJson<TextBody>,
) -> Result<(StatusCode, Json<StoredMessage>), ApiError> {
    let p = people(&s)?;
    let u = user_id(&user)?;
    blocking(move || Ok((StatusCode::CREATED, Json(p.send_message(&u, &b.text)?)))).await
}

/// Mark a conversation read (sends a read receipt to the friend).
#[utoipa::path(post, path = "/api/v1/social/conversations/{user}/read", tag = "social",
    params(("user" = UserId, Path)), responses((status = 204)))]
async fn mark_read(
    State(s): State<ApiState>,
    AppPath(user): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let p = people(&s)?;
    let u = user_id(&user)?;
    blocking(move || {
        p.mark_read(&u)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Everything addressed to the user, newest first, with unread counts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamView {
    pub items: Vec<StreamItem>,
    pub unread: Unread,
}

#[derive(Debug, Deserialize, IntoParams)]
struct StreamQuery {
    /// At most this many items (default 50, at most 500).
    limit: Option<usize>,
}

/// The message stream (S3, S4): DMs, friend requests, org events, notifications.
#[utoipa::path(get, path = "/api/v1/social/stream", tag = "social", params(StreamQuery),
    responses((status = 200, body = StreamView)))]
async fn stream(
    State(s): State<ApiState>,
    AppQuery(q): AppQuery<StreamQuery>,
) -> Result<Json<StreamView>, ApiError> {
    let p = people(&s)?;
    let n = limit(q.limit)?;
    blocking(move || {
        let social = p.social();
        Ok(Json(StreamView {
            items: social.stream(n).map_err(PeopleError::from)?,
            unread: social.unread().map_err(PeopleError::from)?,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct ReadBody {
    /// Items to mark read; all if empty or absent.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    ids: Vec<MessageId>,
}

/// Mark stream items read.
#[utoipa::path(post, path = "/api/v1/social/stream/read", tag = "social", request_body = ReadBody,
    responses((status = 204)))]
async fn stream_read(
    State(s): State<ApiState>,
    AppJson(b): AppJson<ReadBody>,
) -> Result<StatusCode, ApiError> {
    let p = people(&s)?;
    blocking(move || {
        p.social()
            .mark_stream_read(&b.ids)
            .map_err(PeopleError::from)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
