//! Organizations (SPEC O1–O4): create, apply, approve, roles, chat, published apps.
//! Like the social routes these need the user's keys (`503 keys_locked` otherwise).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppPath, AppQuery, mimei_id};
use super::net::net;
use super::social::{people, user_id};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::identity::UserId;
use crate::mimei::MimeiId;
use crate::org::{Application, ChatView, OrgError, OrgId, OrgRole, OrgView};
use crate::people::PeopleError;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(apply))
        .routes(routes!(info))
        .routes(routes!(lookup))
        .routes(routes!(invite))
        .routes(routes!(applications))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(set_member, remove_member))
        .routes(routes!(history, post))
        .routes(routes!(apps, set_apps))
}

fn org_id(s: &str) -> Result<OrgId, ApiError> {
    Ok(s.parse()?)
}

/// Every org this user belongs to or applied to.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", responses((status = 200, body = Vec<OrgView>)))]
async fn list(State(s): State<ApiState>) -> Result<Json<Vec<OrgView>>, ApiError> {
    let p = people(&s)?;
    blocking(move || Ok(Json(p.orgs().list().map_err(PeopleError::from)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct NewOrg {
    name: String,
    #[serde(default)]
    about: String,
}

/// Create an org: a new org key pair (its public key is the org ID); you are admin.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = NewOrg,
    responses((status = 201, body = OrgView), (status = 400, body = ErrorBody)))]
async fn create(
    State(s): State<ApiState>,
    AppJson(b): AppJson<NewOrg>,
) -> Result<(StatusCode, Json<OrgView>), ApiError> {
    let p = people(&s)?;
    blocking(move || Ok((StatusCode::CREATED, Json(p.create_org(&b.name, &b.about)?)))).await
}

/// One org as this user sees it (members, roles, apps; applications for admins).
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "orgs", params(("org" = OrgId, Path)),
    responses((status = 200, body = OrgView), (status = 404, body = ErrorBody, description = "unknown_org")))]
async fn info(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
) -> Result<Json<OrgView>, ApiError> {
    let p = people(&s)?;
    let org = org_id(&org)?;
    blocking(move || Ok(Json(p.orgs().view(&org).map_err(PeopleError::from)?))).await
}

/// An org invite.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgInviteView {
    /// `leither:org:…`: the org's charter and you as the member to apply through.
    pub invite: String,
    pub org: OrgId,
}

/// Make an invite others can apply with (members only).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/invite", tag = "orgs", params(("org" = OrgId, Path)),
    responses((status = 200, body = OrgInviteView), (status = 403, body = ErrorBody, description = "not_member")))]
async fn invite(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
) -> Result<Json<OrgInviteView>, ApiError> {
    let p = people(&s)?;
    let org = org_id(&org)?;
    blocking(move || {
        Ok(Json(OrgInviteView {
            invite: p.org_invite(&org)?,
            org,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct ApplyBody {
    /// An org invite (`leither:org:…`), or
    invite: Option<String>,
    /// the org's ID (its charter must be known here) and
    org: Option<String>,
    /// the member to apply through (default: the one in the invite).
    via: Option<String>,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
struct Applied {
    org: OrgId,
}

/// Apply to join an org through one of its members, who passes the application to the
/// admins. Sent when the network can reach that member; kept and retried until then.
#[utoipa::path(post, path = "/api/v1/orgs/apply", tag = "orgs", request_body = ApplyBody,
    responses((status = 202, body = Applied), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "unknown_org")))]
async fn apply(
    State(s): State<ApiState>,
    AppJson(b): AppJson<ApplyBody>,
) -> Result<(StatusCode, Json<Applied>), ApiError> {
    let p = people(&s)?;
    let org = b.org.as_deref().map(org_id).transpose()?;
    let via = b.via.as_deref().map(user_id).transpose()?;
    // By ID alone, an org this node does not know: find it on the DHT, apply to its
    // admins.
    if let (None, Some(id), None) = (&b.invite, org, via) {
        let p2 = p.clone();
        let known = blocking(move || {
            Ok(p2
                .orgs()
                .charter_record(&id)
                .map_err(PeopleError::from)?
                .is_some())
        })
        .await?;
        if !known {
            let found = net(&s)?.find_org(&id).await?;
            let charter = found.record.charter;
            return blocking(move || {
                let org = p.apply_found(&id, &charter, &b.note)?;
                Ok((StatusCode::ACCEPTED, Json(Applied { org })))
            })
            .await;
        }
    }
    blocking(move || {
        let org = p.apply(b.invite.as_deref(), org, via, &b.note)?;
        Ok((StatusCode::ACCEPTED, Json(Applied { org })))
    })
    .await
}

/// An org found by its ID on the network: its public records (charter, info, members),
/// as published by its members and verified here.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FoundOrg {
    pub org: OrgId,
    pub name: String,
    pub about: String,
    pub creator: UserId,
    pub admins: Vec<UserId>,
    /// Empty when the org's list is too long to publish (~400+ members): apply to its
    /// admins all the same.
    pub members: Vec<crate::org::Member>,
    pub apps: Vec<crate::mimei::MimeiId>,
}

/// Find an org by its ID alone on the DHT (no invite needed).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/lookup", tag = "orgs", params(("org" = OrgId, Path)),
    responses((status = 200, body = FoundOrg), (status = 404, body = ErrorBody, description = "not_found"),
        (status = 503, body = ErrorBody, description = "the network is not running")))]
async fn lookup(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
) -> Result<Json<FoundOrg>, ApiError> {
    let org = org_id(&org)?;
    let o = net(&s)?.find_org(&org).await?;
    Ok(Json(FoundOrg {
        org,
        name: o.charter.name,
        about: o.info.about,
        creator: o.charter.creator,
        admins: o.charter.admins,
        members: o.members.map(|m| m.members).unwrap_or_default(),
        apps: o.info.apps,
    }))
}

fn admin_view(p: &crate::people::People, org: &OrgId) -> Result<OrgView, ApiError> {
    let v = p.orgs().view(org).map_err(PeopleError::from)?;
    if !v.admins.contains(&p.me()) {
        return Err(PeopleError::from(OrgError::NotAdmin(*org)).into());
    }
    Ok(v)
}

/// Applications waiting for an admin (admins only).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/applications", tag = "orgs", params(("org" = OrgId, Path)),
    responses((status = 200, body = Vec<Application>), (status = 403, body = ErrorBody, description = "forbidden")))]
async fn applications(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
) -> Result<Json<Vec<Application>>, ApiError> {
    let p = people(&s)?;
    let org = org_id(&org)?;
    blocking(move || Ok(Json(admin_view(&p, &org)?.applications))).await
}

/// Approve an application: the applicant becomes a member (admins only).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/applications/{user}/approve", tag = "orgs",
    params(("org" = OrgId, Path), ("user" = UserId, Path)),
    responses((status = 200, body = OrgView), (status = 404, body = ErrorBody, description = "no_application")))]
async fn approve(
    State(s): State<ApiState>,
    AppPath((org, user)): AppPath<(String, String)>,
) -> Result<Json<OrgView>, ApiError> {
    let p = people(&s)?;
    let (org, user) = (org_id(&org)?, user_id(&user)?);
    blocking(move || {
        let v = admin_view(&p, &org)?;
        if !v.applications.iter().any(|a| a.user == user) {
            return Err(PeopleError::from(OrgError::NoApplication(user)).into());
        }
        Ok(Json(p.set_member(&org, &user, Some(OrgRole::Member))?))
    })
    .await
}

/// Turn an application down (admins only).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/applications/{user}/reject", tag = "orgs",
    params(("org" = OrgId, Path), ("user" = UserId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody, description = "no_application")))]
async fn reject(
    State(s): State<ApiState>,
    AppPath((org, user)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let p = people(&s)?;
    let (org, user) = (org_id(&org)?, user_id(&user)?);
    blocking(move || {
        p.reject(&org, &user)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct RoleBody {
    role: OrgRole,
}

/// Promote or demote a member (admins; making or unmaking an admin: the creator).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{user}", tag = "orgs",
    params(("org" = OrgId, Path), ("user" = UserId, Path)), request_body = RoleBody,
    responses((status = 200, body = OrgView), (status = 403, body = ErrorBody, description = "forbidden")))]
async fn set_member(
    State(s): State<ApiState>,
    AppPath((org, user)): AppPath<(String, String)>,
    AppJson(b): AppJson<RoleBody>,
) -> Result<Json<OrgView>, ApiError> {
    let p = people(&s)?;
    let (org, user) = (org_id(&org)?, user_id(&user)?);
    blocking(move || Ok(Json(p.set_member(&org, &user, Some(b.role))?))).await
}

/// Remove a member (admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "orgs",
    params(("org" = OrgId, Path), ("user" = UserId, Path)),
    responses((status = 200, body = OrgView), (status = 403, body = ErrorBody, description = "forbidden")))]
async fn remove_member(
    State(s): State<ApiState>,
    AppPath((org, user)): AppPath<(String, String)>,
) -> Result<Json<OrgView>, ApiError> {
    let p = people(&s)?;
    let (org, user) = (org_id(&org)?, user_id(&user)?);
    blocking(move || Ok(Json(p.set_member(&org, &user, None)?))).await
}

#[derive(Debug, Deserialize, IntoParams)]
struct Page {
    /// Only messages older than this time (ms); page back with the oldest `time` seen.
    before: Option<u64>,
    /// At most this many (default 50, at most 500).
    limit: Option<usize>,
}

/// Chat history, oldest first (members only).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/chat", tag = "orgs", params(("org" = OrgId, Path), Page),
    responses((status = 200, body = Vec<ChatView>), (status = 403, body = ErrorBody, description = "not_member")))]
async fn history(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
    AppQuery(page): AppQuery<Page>,
) -> Result<Json<Vec<ChatView>>, ApiError> {
    let p = people(&s)?;
    let org = org_id(&org)?;
    let n = match page.limit.unwrap_or(50) {
        0 => return Err(ApiError::bad_request("limit must be at least 1")),
        n => n.min(500),
    };
    blocking(move || Ok(Json(p.history(&org, page.before, n)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct ChatBody {
    text: String,
}

/// Post to the org's chat (members only); published on the org's topic.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/chat", tag = "orgs", params(("org" = OrgId, Path)),
    request_body = ChatBody,
    responses((status = 201, body = ChatView), (status = 403, body = ErrorBody, description = "not_member"),
    (status = 413, body = ErrorBody, description = "too_large")))]
async fn post(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
    AppJson(b): AppJson<ChatBody>,
) -> Result<(StatusCode, Json<ChatView>), ApiError> {
    let p = people(&s)?;
    let org = org_id(&org)?;
    blocking(move || Ok((StatusCode::CREATED, Json(p.chat(&org, &b.text)?)))).await
}

/// The org's published apps (O4).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/apps", tag = "orgs", params(("org" = OrgId, Path)),
    responses((status = 200, body = Vec<MimeiId>)))]
async fn apps(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
) -> Result<Json<Vec<MimeiId>>, ApiError> {
    let p = people(&s)?;
    let org = org_id(&org)?;
    blocking(move || Ok(Json(p.orgs().view(&org).map_err(PeopleError::from)?.apps))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct AppsBody {
    /// Mimei IDs of the apps.
    apps: Vec<String>,
}

/// Replace the published apps list (admins).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/apps", tag = "orgs", params(("org" = OrgId, Path)),
    request_body = AppsBody,
    responses((status = 200, body = OrgView), (status = 403, body = ErrorBody, description = "forbidden")))]
async fn set_apps(
    State(s): State<ApiState>,
    AppPath(org): AppPath<String>,
    AppJson(b): AppJson<AppsBody>,
) -> Result<Json<OrgView>, ApiError> {
    let p = people(&s)?;
    let org = org_id(&org)?;
    let apps = b
        .apps
        .iter()
        .map(|a| mimei_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    blocking(move || Ok(Json(p.set_apps(&org, apps)?))).await
}
