//! The one signed envelope for every signed record (GUIDE pattern 5).
//!
//! A [`Signed<T>`] carries: a version byte, the domain tag of the record kind, the
//! signer's public key, the payload (the canonical postcard encoding of `T`) and an
//! ed25519 signature over
//!
//! ```text
//! version (1 byte) || tag length (1 byte) || tag (UTF-8) || payload
//! ```
//!
//! Invariants:
//! - **Domain separation.** Every record kind has its own [`Domain`] tag, and the tag is
//!   signed, so a signature on a device certificate can never be replayed as, say, a
//!   routing record. Tags are `leither/<record-kind>/v<N>` and must be unique across
//!   the code base; a record's meaning changes → a new tag. The leading version byte
//!   (0x01) also keeps these messages apart from the handshake signatures libp2p makes
//!   with the same node key (those start with ASCII text or a length varint).
//! - **Verify first.** [`Signed::verify`] checks version, tag, size and signature before
//!   a single byte of the payload is decoded; an unverified payload is never parsed.
//! - **One encoding.** The payload must be exactly the postcard encoding of the value it
//!   decodes to (checked by re-encoding), so one record has one byte form and one
//!   signature covers exactly one meaning. Record types must therefore encode
//!   deterministically: no `HashMap` (use `BTreeMap`), no floats.
//! - **Bounded.** A payload is at most [`MAX_PAYLOAD_BYTES`] and an encoded envelope at
//!   most [`MAX_ENVELOPE_BYTES`]; bigger things belong in a Mimei, referenced by digest.
//!
//! On the wire an envelope is postcard (`to_bytes`/`from_bytes`); in JSON (the API) the
//! signer and signature use the one ID encoding and the payload is base32hex too.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::IdentityError;
use super::ids::{AsPublicKey, PublicKey, Signature};
use super::keys::{Keypair, verify};

/// The envelope format this code writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;

/// Largest payload (encoded record) an envelope may carry: 60 KiB.
///
/// Signed records are small (certificates, DHT records, names, messages, membership
/// entries); 60 KiB leaves room for a long message while keeping a DHT value and a
/// decode of untrusted bytes cheap.
pub const MAX_PAYLOAD_BYTES: usize = 60 * 1024;

/// Largest encoded envelope [`Signed::from_bytes`] accepts: 64 KiB.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// Longest domain tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;

/// The domain-separation tag of one kind of signed record.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Domain(&'static str);

impl Domain {
    /// Device certificate: a user vouches that a node is one of its devices (N3).
    pub const DEVICE_CERT: Domain = Domain::new("leither/device-cert/v1");

    /// A tag. Used in `const` items, where a malformed tag is a compile error: it must
    /// start with `leither/`, be at most [`MAX_TAG_BYTES`] bytes and be printable ASCII
    /// without spaces.
    pub const fn new(tag: &'static str) -> Domain {
        let bytes = tag.as_bytes();
        let prefix = b"leither/";
        assert!(bytes.len() > prefix.len() && bytes.len() <= MAX_TAG_BYTES);
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                bytes[i].is_ascii_graphic(),
                "domain tags are printable ASCII without spaces"
            );
            if i < prefix.len() {
                assert!(bytes[i] == prefix[i], "domain tags start with \"leither/\"");
            }
            i += 1;
        }
        Domain(tag)
    }

    /// The tag text.
    pub const fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({})", self.0)
    }
}

/// A record kind that travels in a [`Signed`] envelope.
pub trait SignedRecord: Serialize + DeserializeOwned {
    /// Its domain tag (unique per record kind, see the module docs).
    const DOMAIN: Domain;
}

/// A record of type `T`, signed by one key. See the module docs for the format.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Signed<T> {
    version: u8,
    tag: String,
    signer: PublicKey,
    #[serde(with = "payload_serde")]
    payload: Vec<u8>,
    signature: Signature,
    #[serde(skip)]
    record: PhantomData<fn() -> T>,
}

impl<T: SignedRecord> Signed<T> {
    /// Sign `record` with `keypair` under `T`'s domain.
    pub fn sign(keypair: &Keypair, record: &T) -> Result<Signed<T>, IdentityError> {
        let payload =
            postcard::to_allocvec(record).map_err(|e| IdentityError::Encode(e.to_string()))?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(IdentityError::EnvelopeTooLarge {
                size: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let tag = T::DOMAIN.as_str();
        let signature = keypair.sign(&signing_input(ENVELOPE_VERSION, tag, &payload));
        Ok(Signed {
            version: ENVELOPE_VERSION,
            tag: tag.to_owned(),
            signer: keypair.public_key(),
            payload,
            signature,
            record: PhantomData,
        })
    }

    /// Check the envelope and return the record. Version, tag, size and signature are
    /// checked before the payload is decoded.
    pub fn verify(&self) -> Result<T, IdentityError> {
        let domain = T::DOMAIN.as_str();
        if self.version != ENVELOPE_VERSION {
            return Err(IdentityError::UnsupportedEnvelopeVersion {
                found: self.version,
                supported: ENVELOPE_VERSION,
            });
        }
        if self.tag != domain {
            return Err(IdentityError::WrongDomain {
                expected: domain,
                found: self.tag.chars().take(MAX_TAG_BYTES).collect(),
            });
        }
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(IdentityError::EnvelopeTooLarge {
                size: self.payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        verify(
            &self.signer,
            &signing_input(self.version, &self.tag, &self.payload),
            &self.signature,
        )?;
        // Only now, with the signature good, is the payload parsed.
        let (record, rest) = postcard::take_from_bytes::<T>(&self.payload).map_err(|e| {
            IdentityError::MalformedPayload {
                domain,
                reason: e.to_string(),
            }
        })?;
        if !rest.is_empty() {
            return Err(IdentityError::NonCanonicalPayload { domain });
        }
        match postcard::to_allocvec(&record) {
            Ok(again) if again == self.payload => Ok(record),
            _ => Err(IdentityError::NonCanonicalPayload { domain }),
        }
    }

    /// [`verify`](Self::verify), and also require a particular signer.
    pub fn verify_signed_by(&self, expected: &impl AsPublicKey) -> Result<T, IdentityError> {
        let expected = expected.public_key();
        if self.signer != expected {
            return Err(IdentityError::WrongSigner {
                expected,
                found: self.signer,
            });
        }
        self.verify()
    }

    /// Decode an envelope from its wire form. This checks the shape only (size limit,
    /// no trailing bytes); call [`verify`](Self::verify) before trusting it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signed<T>, IdentityError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(IdentityError::EnvelopeTooLarge {
                size: bytes.len(),
                max: MAX_ENVELOPE_BYTES,
            });
        }
        let (envelope, rest) = postcard::take_from_bytes::<Signed<T>>(bytes)
            .map_err(|e| IdentityError::MalformedEnvelope(e.to_string()))?;
        if !rest.is_empty() {
            return Err(IdentityError::MalformedEnvelope(format!(
                "{} unexpected bytes after the envelope",
                rest.len()
            )));
        }
        Ok(envelope)
    }
}

impl<T> Signed<T> {
    /// The wire form (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        match postcard::to_allocvec(self) {
            Ok(bytes) => bytes,
            // Only integers, byte strings and a string are written, into a growable
            // buffer: postcard has no failure mode left for them.
            Err(e) => unreachable!("postcard failed to encode an envelope: {e}"),
        }
    }

    /// Who signed (not yet checked: call `verify` first).
    pub fn signer(&self) -> PublicKey {
        self.signer
    }

    /// The domain tag as carried (not yet checked).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The envelope version as carried.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The signed payload bytes (canonical postcard of the record once verified).
    pub fn payload_bytes(&self) -> &[u8] {
        &self.payload
    }
}

/// The exact bytes the signature covers.
fn signing_input(version: u8, tag: &str, payload: &[u8]) -> Vec<u8> {
    let tag = tag.as_bytes();
    let mut input = Vec::with_capacity(2 + tag.len() + payload.len());
    input.push(version);
    // Tags longer than 255 bytes are refused by `verify` before this is used for
    // checking; truncation here would only make such a tag fail the signature.
    input.push(u8::try_from(tag.len()).unwrap_or(u8::MAX));
    input.extend_from_slice(tag);
    input.extend_from_slice(payload);
    input
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Signed {
            version: self.version,
            tag: self.tag.clone(),
            signer: self.signer,
            payload: self.payload.clone(),
            signature: self.signature,
            record: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.tag == other.tag
            && self.signer == other.signer
            && self.payload == other.payload
            && self.signature == other.signature
    }
}

impl<T> Eq for Signed<T> {}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("version", &self.version)
            .field("tag", &self.tag)
            .field("signer", &self.signer)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// Payload bytes: raw bytes in binary formats, base32hex text in JSON.
mod payload_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&crate::encoding::encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            data_encoding::BASE32_DNSSEC
                .decode(text.trim().to_ascii_lowercase().as_bytes())
                .map_err(serde::de::Error::custom)
        } else {
            Ok(crate::encoding::RawBytes::deserialize(d)?.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
        n: u32,
    }
    impl SignedRecord for Note {
        const DOMAIN: Domain = Domain::new("leither/test-note/v1");
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct OtherNote {
        text: String,
        n: u32,
    }
    impl SignedRecord for OtherNote {
        const DOMAIN: Domain = Domain::new("leither/test-other/v1");
    }

    fn note() -> Note {
        Note {
            text: "hi".into(),
            n: 7,
        }
    }

    #[test]
    fn sign_verify_round_trip_wire_and_json() {
        let kp = Keypair::generate().unwrap();
        let s = Signed::sign(&kp, &note()).unwrap();
        assert_eq!(s.verify().unwrap(), note());
        assert_eq!(s.verify_signed_by(&kp.public_key()).unwrap(), note());
        assert_eq!(s.signer(), kp.public_key());
        assert_eq!(s.tag(), "leither/test-note/v1");

        let wire = s.to_bytes();
        let back = Signed::<Note>::from_bytes(&wire).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.verify().unwrap(), note());

        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(&kp.public_key().to_string()), "{json}");
        let back: Signed<Note> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.verify().unwrap(), note());
    }

    #[test]
    fn tampered_payload_signature_signer_are_rejected() {
        let kp = Keypair::generate().unwrap();
        let s = Signed::sign(&kp, &note()).unwrap();

        let mut t = s.clone();
        t.payload[1] ^= 1;
        assert!(matches!(t.verify(), Err(IdentityError::BadSignature)));

        let mut t = s.clone();
        let mut sig = *t.signature.as_bytes();
        sig[10] ^= 0x40;
        t.signature = Signature::from_bytes(sig);
        assert!(matches!(t.verify(), Err(IdentityError::BadSignature)));

        let other = Keypair::generate().unwrap();
        let mut t = s.clone();
        t.signer = other.public_key();
        assert!(matches!(t.verify(), Err(IdentityError::BadSignature)));
        assert!(matches!(
            s.verify_signed_by(&other.public_key()),
            Err(IdentityError::WrongSigner { .. })
        ));
    }

    #[test]
    fn wrong_tag_and_version_are_rejected_before_the_signature() {
        let kp = Keypair::generate().unwrap();
        let s = Signed::sign(&kp, &note()).unwrap();

        // Same bytes, read as another record kind: the domain differs.
        let as_other = Signed::<OtherNote>::from_bytes(&s.to_bytes()).unwrap();
        assert!(matches!(
            as_other.verify(),
            Err(IdentityError::WrongDomain {
                expected: "leither/test-other/v1",
                ..
            })
        ));

        // Relabelling the tag breaks it too (and the signature would not match either).
        let mut t = s.clone();
        t.tag = "leither/test-other/v1".into();
        assert!(matches!(t.verify(), Err(IdentityError::WrongDomain { .. })));

        let mut t = s.clone();
        t.version = 2;
        assert!(matches!(
            t.verify(),
            Err(IdentityError::UnsupportedEnvelopeVersion {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn a_signature_under_one_domain_does_not_verify_under_another() {
        // Forge: take a valid Note signature and present it as an OtherNote with the
        // OtherNote tag. The payload bytes are identical, only the tag differs.
        let kp = Keypair::generate().unwrap();
        let s = Signed::sign(&kp, &note()).unwrap();
        let forged = Signed::<OtherNote> {
            version: s.version,
            tag: OtherNote::DOMAIN.as_str().into(),
            signer: s.signer,
            payload: s.payload.clone(),
            signature: s.signature,
            record: PhantomData,
        };
        assert!(matches!(forged.verify(), Err(IdentityError::BadSignature)));
    }

    #[test]
    fn truncated_trailing_and_oversized_bytes_are_rejected() {
        let kp = Keypair::generate().unwrap();
        let wire = Signed::sign(&kp, &note()).unwrap().to_bytes();
        for cut in [0, 1, 5, wire.len() / 2, wire.len() - 1] {
            assert!(
                matches!(
                    Signed::<Note>::from_bytes(&wire[..cut]),
                    Err(IdentityError::MalformedEnvelope(_))
                ),
                "cut at {cut}"
            );
        }
        let mut long = wire.clone();
        long.push(0);
        assert!(matches!(
            Signed::<Note>::from_bytes(&long),
            Err(IdentityError::MalformedEnvelope(_))
        ));
        let huge = vec![0u8; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            Signed::<Note>::from_bytes(&huge),
            Err(IdentityError::EnvelopeTooLarge { .. })
        ));
        let big = Note {
            text: "x".repeat(MAX_PAYLOAD_BYTES),
            n: 0,
        };
        assert!(matches!(
            Signed::sign(&kp, &big),
            Err(IdentityError::EnvelopeTooLarge { .. })
        ));
    }

    #[test]
    fn payload_that_is_signed_but_not_canonical_is_rejected() {
        // A signer (buggy or hostile) signs bytes with trailing garbage after a valid
        // record: the signature is good, but the bytes are not the record's one encoding.
        let kp = Keypair::generate().unwrap();
        let mut payload = postcard::to_allocvec(&note()).unwrap();
        payload.push(0xff);
        let tag = Note::DOMAIN.as_str();
        let signature = kp.sign(&signing_input(ENVELOPE_VERSION, tag, &payload));
        let s = Signed::<Note> {
            version: ENVELOPE_VERSION,
            tag: tag.into(),
            signer: kp.public_key(),
            payload,
            signature,
            record: PhantomData,
        };
        assert!(matches!(
            s.verify(),
            Err(IdentityError::NonCanonicalPayload { .. })
        ));

        // A signed payload that does not decode at all.
        let payload = vec![0xff; 3];
        let signature = kp.sign(&signing_input(ENVELOPE_VERSION, tag, &payload));
        let s = Signed::<Note> {
            version: ENVELOPE_VERSION,
            tag: tag.into(),
            signer: kp.public_key(),
            payload,
            signature,
            record: PhantomData,
        };
        assert!(matches!(
            s.verify(),
            Err(IdentityError::MalformedPayload { .. })
        ));
    }
}
