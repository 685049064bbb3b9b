//! The recovery phrase: the user's identity written as 24 words (SPEC N3).
//!
//! The phrase encodes 32 bytes of entropy in BIP39 (English word list, 24 words, the last
//! word carrying an 8-bit checksum). The user's ed25519 signing key is
//! `blake3::derive_key(USER_KEY_CONTEXT, entropy)`.
//!
//! Invariants:
//! - The same phrase gives the same [`UserId`] on any machine, in any version of
//!   Leither: [`USER_KEY_CONTEXT`] and the derivation can never change (a change would
//!   give every user a new identity). A different derivation needs a new phrase format.
//! - We do *not* use the BIP39 seed (PBKDF2 over the words with a passphrase): the
//!   phrase is only an encoding of the entropy, and the derivation is one blake3 call
//!   with a context string of our own, so no other wallet derives the same key from it.
//! - The phrase is secret. It has no `Display`; [`RecoveryPhrase::show`] is the one
//!   explicit way to turn it into text, and errors name a word's position, never a word.

use std::fmt;

use bip39::{Language, Mnemonic};
use zeroize::{Zeroize, Zeroizing};

use super::error::{IdentityError, PhraseError};
use super::ids::UserId;
use super::keys::{Keypair, random_32};

/// The blake3 `derive_key` context that turns phrase entropy into the user signing key.
/// Fixed forever: changing it changes every user's identity.
pub const USER_KEY_CONTEXT: &str =
    "Leither 2026-11-24 user ed25519 signing key from recovery phrase entropy v1";

/// The blake3 `derive_key` context for organization keys (with the org's nonce).
/// Fixed forever.
pub const ORG_KEY_CONTEXT: &str =
    "Leither 2026-11-24 organization ed25519 key from creator entropy and nonce v1";

/// Number of words in a recovery phrase (256 bits of entropy + 8 checksum bits).
pub const PHRASE_WORDS: usize = 24;

/// A user's recovery phrase (held as its 32 bytes of entropy, wiped on drop).
pub struct RecoveryPhrase {
    entropy: Zeroizing<[u8; 32]>,
}

impl RecoveryPhrase {
    /// A new phrase from the operating system's random number generator: a new user.
    pub fn generate() -> Result<RecoveryPhrase, IdentityError> {
        Ok(RecoveryPhrase {
            entropy: random_32()?,
        })
    }

    /// Parse a phrase as a person typed it: case and spacing (spaces, tabs, newlines)
    /// do not matter; the words, their order and the checksum do.
    pub fn parse(text: &str) -> Result<RecoveryPhrase, IdentityError> {
        let normalized = Zeroizing::new(
            text.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let got = normalized.split(' ').filter(|w| !w.is_empty()).count();
        if got != PHRASE_WORDS {
            return Err(PhraseError::WordCount {
                expected: PHRASE_WORDS,
                got,
            }
            .into());
        }
        let mnemonic =
            Mnemonic::parse_in_normalized(Language::English, &normalized).map_err(|e| match e {
                bip39::Error::UnknownWord(index) => PhraseError::UnknownWord {
                    position: index + 1,
                },
                bip39::Error::BadWordCount(got) => PhraseError::WordCount {
                    expected: PHRASE_WORDS,
                    got,
                },
                // The only other failure for a 24-word English phrase.
                _ => PhraseError::Checksum,
            })?;
        let (mut bytes, len) = mnemonic.to_entropy_array();
        let mut entropy = Zeroizing::new([0u8; 32]);
        let ok = len == 32;
        if ok {
            entropy.copy_from_slice(&bytes[..32]);
        }
        bytes.zeroize();
        if !ok {
            return Err(PhraseError::WordCount {
                expected: PHRASE_WORDS,
                got,
            }
            .into());
        }
        Ok(RecoveryPhrase { entropy })
    }

    /// The phrase as text: 24 lowercase words separated by single spaces.
    ///
    /// This is the secret itself; show it to the user, never log it.
    pub fn show(&self) -> Zeroizing<String> {
        let mnemonic = self.mnemonic();
        let mut out = Zeroizing::new(String::with_capacity(PHRASE_WORDS * 9));
        for (i, word) in mnemonic.words().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    /// The 24 words in order (for a numbered grid in a UI). The strings are the
    /// entries of the public word list; which of them, in which order, is the secret.
    pub fn words(&self) -> Vec<&'static str> {
        self.mnemonic().words().collect()
    }

    /// The user's signing key.
    pub fn user_keypair(&self) -> Keypair {
        let secret = Zeroizing::new(blake3::derive_key(USER_KEY_CONTEXT, self.entropy.as_ref()));
        Keypair::from_secret(&secret)
    }

    /// The key of an organization this user created (O1), re-derivable from the phrase
    /// and the org's public `nonce`, so the creator's recovery restores it too.
    pub fn org_keypair(&self, nonce: &[u8; 16]) -> Keypair {
        let mut h = blake3::Hasher::new_derive_key(ORG_KEY_CONTEXT);
        h.update(self.entropy.as_ref());
        h.update(nonce);
        let secret = Zeroizing::new(*h.finalize().as_bytes());
        Keypair::from_secret(&secret)
    }

    /// The user's X25519 encryption key.
    pub fn encryption_key(&self) -> super::seal::EncryptionKey {
        super::seal::EncryptionKey::from_entropy(&self.entropy)
    }

    /// The user this phrase belongs to.
    pub fn user_id(&self) -> UserId {
        UserId::from_public_key(self.user_keypair().public_key())
    }

    /// Rebuild from stored entropy (the key store keeps the entropy, not the words).
    pub(crate) fn from_entropy(entropy: Zeroizing<[u8; 32]>) -> RecoveryPhrase {
        RecoveryPhrase { entropy }
    }

    /// The stored form.
    pub(crate) fn entropy(&self) -> &[u8; 32] {
        &self.entropy
    }

    fn mnemonic(&self) -> Mnemonic {
        match Mnemonic::from_entropy_in(Language::English, self.entropy.as_ref()) {
            Ok(m) => m,
            // 32 bytes is a valid BIP39 entropy length, so this cannot happen.
            Err(e) => unreachable!("32 bytes of entropy rejected by bip39: {e}"),
        }
    }
}

impl Clone for RecoveryPhrase {
    fn clone(&self) -> Self {
        RecoveryPhrase {
            entropy: Zeroizing::new(*self.entropy),
        }
    }
}

impl fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryPhrase(<24 words, hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The BIP39 test vector with entropy 0x00 * 32: "abandon" x 23 + "art".
    const ZERO_PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
        abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
        abandon abandon abandon abandon abandon art";

    #[test]
    fn same_phrase_same_user_and_the_derivation_is_pinned() {
        let p = RecoveryPhrase::parse(ZERO_PHRASE).unwrap();
        assert_eq!(p.entropy(), &[0u8; 32]);
        let again =
            RecoveryPhrase::parse(&ZERO_PHRASE.to_uppercase().replace(' ', "\n  ")).unwrap();
        assert_eq!(p.user_id(), again.user_id());
        // The user key is blake3::derive_key(context, entropy), nothing else.
        let secret = blake3::derive_key(USER_KEY_CONTEXT, &[0u8; 32]);
        assert_eq!(
            p.user_id(),
            UserId::from_public_key(Keypair::from_secret(&secret).public_key())
        );
        // Pinned: if this changes, every user's identity changes. Never update it.
        assert_eq!(
            p.user_id().to_string(),
            PINNED_ZERO_USER_ID,
            "the recovery phrase -> UserId derivation changed"
        );
    }

    const PINNED_ZERO_USER_ID: &str = "8c2cvfiag1fk5jcmq5n5cndard5rir2nk5s3ibejqa8ukcc3ih8g";

    #[test]
    fn generate_show_parse_round_trip() {
        let p = RecoveryPhrase::generate().unwrap();
        let text = p.show();
        assert_eq!(text.split(' ').count(), PHRASE_WORDS);
        assert_eq!(p.words().join(" "), *text);
        let back = RecoveryPhrase::parse(&text).unwrap();
        assert_eq!(back.entropy(), p.entropy());
        assert_eq!(back.user_id(), p.user_id());
        assert_ne!(RecoveryPhrase::generate().unwrap().user_id(), p.user_id());
    }

    #[test]
    fn rejects_wrong_count_unknown_word_and_bad_checksum() {
        let words: Vec<&str> = ZERO_PHRASE.split_whitespace().collect();

        let short = words[..12].join(" ");
        assert!(matches!(
            RecoveryPhrase::parse(&short),
            Err(IdentityError::Phrase(PhraseError::WordCount {
                expected: 24,
                got: 12
            }))
        ));
        assert!(matches!(
            RecoveryPhrase::parse(""),
            Err(IdentityError::Phrase(PhraseError::WordCount { got: 0, .. }))
        ));

        let mut typo = words.clone();
        typo[4] = "abandom";
        let err = RecoveryPhrase::parse(&typo.join(" ")).unwrap_err();
        assert!(matches!(
            err,
            IdentityError::Phrase(PhraseError::UnknownWord { position: 5 })
        ));
        assert!(
            !err.to_string().contains("abandom"),
            "errors must not echo secret words"
        );

        let mut swapped = words.clone();
        swapped[23] = "ability"; // a real word, wrong checksum
        assert!(matches!(
            RecoveryPhrase::parse(&swapped.join(" ")),
            Err(IdentityError::Phrase(PhraseError::Checksum))
        ));
    }

    #[test]
    fn debug_hides_the_words() {
        let p = RecoveryPhrase::parse(ZERO_PHRASE).unwrap();
        assert!(!format!("{p:?}").contains("abandon"));
    }
}
