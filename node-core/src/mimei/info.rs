//! Who a Mimei is: its stable ID, descriptive info and rights (SPEC M1, M7, M8).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::identity::UserId;

crate::define_id!(
    /// A Mimei's stable ID: derived from (author, app type, ext, mark), never from
    /// content, so it stays the same however the content changes (M1).
    MimeiId,
    32
);

impl MimeiId {
    /// The ID of the Mimei with these defining fields.
    pub fn derive(author: &UserId, app_type: &str, ext: &str, mark: &str) -> MimeiId {
        let mut h = blake3::Hasher::new_derive_key("leither 2026 mimei id v1");
        h.update(author.as_bytes());
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        for field in [app_type, ext, mark] {
            h.update(&(field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
        MimeiId::from_bytes(*h.finalize().as_bytes())
    }
}

/// Longest app type, ext or mark, in bytes.
pub const MAX_FIELD_LEN: usize = 256;

/// What a role may do with a Mimei (M7). The owner may do everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub backup: bool,
    pub publish: bool,
}

impl Perms {
    pub const NONE: Perms = Perms {
        read: false,
        write: false,
        backup: false,
        publish: false,
    };
    pub const READ: Perms = Perms {
        read: true,
        write: false,
        backup: false,
        publish: false,
    };
    pub const ALL: Perms = Perms {
        read: true,
        write: true,
        backup: true,
        publish: true,
    };

    pub fn allows(&self, perm: Perm) -> bool {
        match perm {
            Perm::Read => self.read,
            Perm::Write => self.write,
            Perm::Backup => self.backup,
            Perm::Publish => self.publish,
        }
    }
}

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Perm {
    Read,
    Write,
    Backup,
    Publish,
}

/// A user's role in a Mimei. The author is always the owner.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Guest,
    Member,
    Admin,
    Owner,
}

/// What members and guests may do; owners and admins may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rights {
    pub member: Perms,
    pub guest: Perms,
}

impl Default for Rights {
    /// Private by default: members read, write and back up; guests see nothing.
    fn default() -> Self {
        Rights {
            member: Perms {
                read: true,
                write: true,
                backup: true,
                publish: false,
            },
            guest: Perms::NONE,
        }
    }
}

impl Rights {
    /// Readable by anyone (published data, apps).
    pub fn public() -> Self {
        Rights {
            guest: Perms::READ,
            ..Rights::default()
        }
    }
}

/// A reference from one Mimei to another, with its count (M6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MimeiRef {
    pub mimei: MimeiId,
    pub count: u64,
}

/// Where a fork came from (M8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Origin {
    pub mimei: MimeiId,
    pub version: u64,
}

/// The descriptive record of a Mimei (M1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MimeiInfo {
    pub id: MimeiId,
    pub author: UserId,
    pub app_type: String,
    pub ext: String,
    pub mark: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created: u64,
    pub rights: Rights,
    /// Users other than the author with a role.
    pub members: BTreeMap<UserId, Role>,
    /// Set when this Mimei was forked from another.
    pub origin: Option<Origin>,
}

impl MimeiInfo {
    /// The role of `user` in this Mimei.
    pub fn role_of(&self, user: &UserId) -> Role {
        if *user == self.author {
            Role::Owner
        } else {
            self.members.get(user).copied().unwrap_or(Role::Guest)
        }
    }

    /// Whether `user` holds `perm`.
    pub fn allows(&self, user: &UserId, perm: Perm) -> bool {
        match self.role_of(user) {
            Role::Owner | Role::Admin => true,
            Role::Member => self.rights.member.allows(perm),
            Role::Guest => self.rights.guest.allows(perm),
        }
    }
}

/// The fields a caller chooses when creating a Mimei.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewMimei {
    #[serde(default)]
    pub app_type: String,
    #[serde(default)]
    pub ext: String,
    pub mark: String,
    #[serde(default)]
    pub rights: Option<Rights>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_stable_and_field_separated() {
        let a = UserId::from_bytes([1; 32]);
        assert_eq!(
            MimeiId::derive(&a, "notes", "", "x"),
            MimeiId::derive(&a, "notes", "", "x")
        );
        assert_ne!(
            MimeiId::derive(&a, "ab", "c", ""),
            MimeiId::derive(&a, "a", "bc", "")
        );
        assert_ne!(
            MimeiId::derive(&a, "n", "", "x"),
            MimeiId::derive(&UserId::from_bytes([2; 32]), "n", "", "x")
        );
    }

    #[test]
    fn roles_and_rights() {
        let owner = UserId::from_bytes([1; 32]);
        let member = UserId::from_bytes([2; 32]);
        let stranger = UserId::from_bytes([3; 32]);
        let mut info = MimeiInfo {
            id: MimeiId::derive(&owner, "", "", "m"),
            author: owner,
            app_type: String::new(),
            ext: String::new(),
            mark: "m".into(),
            created: 0,
            rights: Rights::default(),
            members: BTreeMap::from([(member, Role::Member)]),
            origin: None,
        };
        assert!(info.allows(&owner, Perm::Publish));
        assert!(info.allows(&member, Perm::Write));
        assert!(!info.allows(&member, Perm::Publish));
        assert!(!info.allows(&stranger, Perm::Read));
        info.rights = Rights::public();
        assert!(info.allows(&stranger, Perm::Read));
        assert!(!info.allows(&stranger, Perm::Write));
    }
}
