//! The user's profile (S1): name, bio, avatar and devices, in a public Mimei of the
//! user's (`app_type = "leither/profile"`) so friends can read it from any node.

use serde::{Deserialize, Serialize};

use super::{MAX_NAME_LEN, Result, SocialError};
use crate::identity::{DeviceCert, Signed, UserId};
use crate::mimei::{MimeiError, MimeiId, MimeiPath, Mimeis, NewMimei, Rights, VersionRef};

/// `app_type` of profile Mimei.
pub const PROFILE_APP_TYPE: &str = "leither/profile";
/// The profile document inside the profile Mimei.
pub const PROFILE_FILE: &str = "profile.json";
/// Longest bio, in bytes.
pub const MAX_BIO_LEN: usize = 4096;
/// Largest avatar image, in bytes.
pub const MAX_AVATAR_BYTES: usize = 2 * 1024 * 1024;

/// What a user shows of themselves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Profile {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub bio: String,
    /// Path of the avatar image in the profile Mimei (e.g. `avatar.png`).
    #[serde(default)]
    pub avatar: Option<String>,
    /// The user's devices, each vouched for by the user key (N3).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub devices: Vec<Signed<DeviceCert>>,
}

/// The profile Mimei of `user`.
pub fn mimei_of(user: &UserId) -> MimeiId {
    MimeiId::derive(user, PROFILE_APP_TYPE, "", "profile")
}

pub(super) fn ensure(mimeis: &Mimeis, user: &UserId) -> Result<()> {
    let new = NewMimei {
        app_type: PROFILE_APP_TYPE.into(),
        ext: String::new(),
        mark: "profile".into(),
        rights: Some(Rights::public()),
    };
    mimeis.ensure(user, &new)?;
    Ok(())
}

/// Read `user`'s profile from this node (empty if it has none yet).
pub fn read(mimeis: &Mimeis, user: &UserId) -> Result<Profile> {
    let path = MimeiPath::parse(PROFILE_FILE)?;
    match mimeis.read_file(user, &mimei_of(user), VersionRef::Cur, &path) {
        Ok(r) => serde_json::from_slice(&r.read_all().map_err(MimeiError::from)?)
            .map_err(|e| SocialError::Mimei(MimeiError::Corrupt(format!("profile: {e}")))),
        Err(MimeiError::NoSuchPath(_)) => Ok(Profile::default()),
        Err(e) => Err(e.into()),
    }
}

/// Replace the profile of `user` (the owner), after checking its fields.
pub fn write(mimeis: &Mimeis, user: &UserId, profile: &Profile) -> Result<()> {
    if profile.name.len() > MAX_NAME_LEN || profile.name.chars().any(char::is_control) {
        return Err(SocialError::Invalid(format!(
            "name: at most {MAX_NAME_LEN} bytes, no control characters"
        )));
    }
    if profile.bio.len() > MAX_BIO_LEN {
        return Err(SocialError::Invalid(format!(
            "bio: at most {MAX_BIO_LEN} bytes"
        )));
    }
    if let Some(a) = &profile.avatar {
        MimeiPath::parse(a)?;
    }
    for d in &profile.devices {
        d.verify_device()
            .map_err(|e| SocialError::Invalid(format!("device certificate: {e}")))?;
        if UserId::from_public_key(d.signer()) != *user {
            return Err(SocialError::Invalid(
                "a device certificate of another user".into(),
            ));
        }
    }
    ensure(mimeis, user)?;
    let bytes =
        serde_json::to_vec_pretty(profile).map_err(|e| SocialError::Invalid(e.to_string()))?;
    mimeis.write_file(
        user,
        &mimei_of(user),
        &MimeiPath::parse(PROFILE_FILE)?,
        bytes.as_slice(),
    )?;
    Ok(())
}

/// Store an avatar image (`ext` like `png`) and point the profile at it.
pub fn set_avatar(mimeis: &Mimeis, user: &UserId, ext: &str, image: &[u8]) -> Result<Profile> {
    if image.len() > MAX_AVATAR_BYTES {
        return Err(SocialError::Invalid(format!(
            "avatar: at most {MAX_AVATAR_BYTES} bytes"
        )));
    }
    if !matches!(ext, "png" | "jpg" | "jpeg" | "webp" | "gif" | "svg") {
        return Err(SocialError::Invalid(
            "avatar: png, jpg, webp, gif or svg".into(),
        ));
    }
    let path = format!("avatar.{ext}");
    ensure(mimeis, user)?;
    mimeis.write_file(user, &mimei_of(user), &MimeiPath::parse(&path)?, image)?;
    let mut p = read(mimeis, user)?;
    p.avatar = Some(path);
    write(mimeis, user, &p)?;
    Ok(p)
}
