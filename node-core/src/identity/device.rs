//! Device certificates: proof that a node belongs to a user (SPEC N3).
//!
//! A user runs several devices; each has its own node key, so losing one device never
//! exposes the others. The user key signs `(node public key, created time, device
//! name)`; anyone who has the certificate and the user's ID can check that the node
//! speaks for that user. A certificate names no user inside the payload: the signer of
//! the envelope *is* the user.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::IdentityError;
use super::ids::{AsPublicKey, NodeId, UserId};
use super::keys::Keypair;
use super::signed::{Domain, Signed, SignedRecord};

/// Longest device name, in bytes (UTF-8).
pub const MAX_DEVICE_NAME_BYTES: usize = 64;

/// The statement "node `node` is my device, called `name`, since `created`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCert {
    /// The device's node key.
    pub node: NodeId,
    /// When the certificate was issued, in seconds since the Unix epoch.
    pub created: u64,
    /// A name the user recognises ("laptop", "phone").
    pub name: String,
}

impl SignedRecord for DeviceCert {
    const DOMAIN: Domain = Domain::DEVICE_CERT;
}

impl DeviceCert {
    /// Sign a certificate for `node` with the user key, dated now.
    pub fn issue(
        user: &Keypair,
        node: NodeId,
        name: &str,
    ) -> Result<Signed<DeviceCert>, IdentityError> {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let cert = DeviceCert {
            node,
            created,
            name: valid_device_name(name)?.to_owned(),
        };
        Signed::sign(user, &cert)
    }
}

impl Signed<DeviceCert> {
    /// The user who signed, if the certificate verifies.
    pub fn user(&self) -> UserId {
        UserId::from_public_key(self.signer())
    }

    /// Check the certificate on its own: signature, and a sane device name. Returns
    /// the signing user and the certificate.
    pub fn verify_device(&self) -> Result<(UserId, DeviceCert), IdentityError> {
        let cert = self.verify()?;
        valid_device_name(&cert.name)?;
        Ok((self.user(), cert))
    }

    /// Check that `node` is a device of `user`: the proof N3 asks for.
    pub fn verify_for(&self, user: &UserId, node: &NodeId) -> Result<DeviceCert, IdentityError> {
        let cert = self.verify_signed_by(&user.public_key())?;
        valid_device_name(&cert.name)?;
        if cert.node != *node {
            return Err(IdentityError::DeviceCertWrongNode {
                expected: *node,
                found: cert.node,
            });
        }
        Ok(cert)
    }
}

/// A device name is shown in UIs and terminals of other users' nodes: keep it short,
/// non-empty and free of control characters (no terminal escape tricks).
pub(crate) fn valid_device_name(name: &str) -> Result<&str, IdentityError> {
    if name.trim().is_empty() {
        return Err(IdentityError::InvalidDeviceName("it is empty"));
    }
    if name.len() > MAX_DEVICE_NAME_BYTES {
        return Err(IdentityError::InvalidDeviceName(
            "it is longer than 64 bytes",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(IdentityError::InvalidDeviceName(
            "it contains control characters",
        ));
    }
    Ok(name)
}

/// A default name for this device: its host name, else `"leither node"`.
pub fn default_device_name() -> String {
    let from_env = ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .next();
    let from_file = || std::fs::read_to_string("/etc/hostname").ok();
    from_env
        .or_else(from_file)
        .map(|n| {
            n.trim()
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
        })
        .map(|n| {
            let mut end = n.len().min(MAX_DEVICE_NAME_BYTES);
            while !n.is_char_boundary(end) {
                end -= 1;
            }
            n[..end].trim().to_owned()
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "leither node".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Keypair, Keypair, Signed<DeviceCert>) {
        let user = Keypair::generate().unwrap();
        let node = Keypair::generate().unwrap();
        let cert =
            DeviceCert::issue(&user, NodeId::from_public_key(node.public_key()), "laptop").unwrap();
        (user, node, cert)
    }

    #[test]
    fn cert_proves_node_belongs_to_user() {
        let (user, node, cert) = setup();
        let user_id = UserId::from_public_key(user.public_key());
        let node_id = NodeId::from_public_key(node.public_key());
        let c = cert.verify_for(&user_id, &node_id).unwrap();
        assert_eq!(c.name, "laptop");
        assert!(c.created > 1_700_000_000);
        let (who, c2) = cert.verify_device().unwrap();
        assert_eq!(who, user_id);
        assert_eq!(c2, c);
        // Survives the wire.
        let back = Signed::<DeviceCert>::from_bytes(&cert.to_bytes()).unwrap();
        back.verify_for(&user_id, &node_id).unwrap();
    }

    #[test]
    fn cert_for_another_user_or_node_is_rejected() {
        let (user, _node, cert) = setup();
        let stranger = UserId::from_public_key(Keypair::generate().unwrap().public_key());
        let other_node = NodeId::from_public_key(Keypair::generate().unwrap().public_key());
        let (_, c) = cert.verify_device().unwrap();
        assert!(matches!(
            cert.verify_for(&stranger, &c.node),
            Err(IdentityError::WrongSigner { .. })
        ));
        let user_id = UserId::from_public_key(user.public_key());
        assert!(matches!(
            cert.verify_for(&user_id, &other_node),
            Err(IdentityError::DeviceCertWrongNode { .. })
        ));
        // The node key itself cannot vouch for itself as the user.
        let self_signed = DeviceCert::issue(&_node, c.node, "laptop").unwrap();
        assert!(self_signed.verify_for(&user_id, &c.node).is_err());
    }

    #[test]
    fn device_names_are_checked() {
        let user = Keypair::generate().unwrap();
        let node = NodeId::from_public_key(Keypair::generate().unwrap().public_key());
        for bad in ["", "   ", "evil\u{1b}[2J", &"x".repeat(65)] {
            assert!(
                matches!(
                    DeviceCert::issue(&user, node, bad),
                    Err(IdentityError::InvalidDeviceName(_))
                ),
                "{bad:?}"
            );
        }
        assert!(DeviceCert::issue(&user, node, "Ana's phone ☎").is_ok());
        // A peer could sign a bad name with its own code: verification rejects it too.
        let hostile = Signed::sign(
            &user,
            &DeviceCert {
                node,
                created: 1,
                name: "\u{7}".into(),
            },
        )
        .unwrap();
        assert!(matches!(
            hostile.verify_device(),
            Err(IdentityError::InvalidDeviceName(_))
        ));
        assert!(!default_device_name().is_empty());
        assert!(valid_device_name(&default_device_name()).is_ok());
    }
}
