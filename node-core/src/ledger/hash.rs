//! Node hashing and path arithmetic.
//!
//! Why this layout: a leaf hashes `0x00 ‖ account ‖ balance ‖ nonce ‖ frozen` (45 bytes, one
//! blake3 block) and an inner node hashes `0x01 ‖ depth ‖ prefix ‖ left hash ‖ left sum ‖
//! right hash ‖ right sum` (102 bytes, two blocks). The tag byte keeps a leaf from ever being
//! read as an inner node (and the reverse); the sums inside make every digest a commitment to
//! the total below it (Merkle sum tree, L1/L5); the depth and masked prefix bind each inner
//! node to its place in the 160-bit key space, so a compressed path cannot be moved. All
//! hashes are blake3 keyed with a key derived from a ledger-specific context, which separates
//! them from every other blake3 use in Leither. Integers are little-endian.

use std::sync::OnceLock;

use super::{AccountState, Balance};

/// Bits in an account path.
pub const KEY_BITS: u8 = 160;
/// Bytes in an account path.
pub const KEY_BYTES: usize = 20;

const LEAF_TAG: u8 = 0x00;
const INNER_TAG: u8 = 0x01;
const CONTEXT: &str = "leither 2025 ledger sparse merkle sum tree node v1";

fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| blake3::derive_key(CONTEXT, b""))
}

/// The digest of a leaf: the account and its whole state.
pub fn leaf_hash(account: &[u8; KEY_BYTES], state: &AccountState) -> [u8; 32] {
    let mut buf = [0u8; 1 + KEY_BYTES + 24];
    buf[0] = LEAF_TAG;
    buf[1..21].copy_from_slice(account);
    buf[21..29].copy_from_slice(&state.balance.to_le_bytes());
    buf[29..37].copy_from_slice(&state.nonce.to_le_bytes());
    buf[37..45].copy_from_slice(&state.frozen.to_le_bytes());
    *blake3::keyed_hash(key(), &buf).as_bytes()
}

/// The digest of an inner node at `depth` whose subtree shares `prefix` (already masked to
/// `depth` bits), with its children's digests and sums.
pub fn inner_hash(
    depth: u8,
    prefix: &[u8; KEY_BYTES],
    left: (&[u8; 32], Balance),
    right: (&[u8; 32], Balance),
) -> [u8; 32] {
    let mut buf = [0u8; 2 + KEY_BYTES + 2 * 40];
    buf[0] = INNER_TAG;
    buf[1] = depth;
    buf[2..22].copy_from_slice(prefix);
    buf[22..54].copy_from_slice(left.0);
    buf[54..62].copy_from_slice(&left.1.to_le_bytes());
    buf[62..94].copy_from_slice(right.0);
    buf[94..102].copy_from_slice(&right.1.to_le_bytes());
    *blake3::keyed_hash(key(), &buf).as_bytes()
}

/// Bit `i` of a path (bit 0 is the most significant bit of byte 0): `false` = left.
#[inline]
pub fn bit(path: &[u8; KEY_BYTES], i: u8) -> bool {
    let i = i as usize;
    (path[i / 8] >> (7 - i % 8)) & 1 == 1
}

/// `path` with every bit at index `>= depth` cleared.
#[inline]
pub fn mask(path: &[u8; KEY_BYTES], depth: u8) -> [u8; KEY_BYTES] {
    let mut out = [0u8; KEY_BYTES];
    let full = (depth / 8) as usize;
    out[..full].copy_from_slice(&path[..full]);
    let rem = depth % 8;
    if rem != 0 {
        out[full] = path[full] & (0xffu8 << (8 - rem));
    }
    out
}

/// Number of leading bits `a` and `b` share (160 when equal).
#[inline]
pub fn common_prefix_len(a: &[u8; KEY_BYTES], b: &[u8; KEY_BYTES]) -> u8 {
    for i in 0..KEY_BYTES {
        let x = a[i] ^ b[i];
        if x != 0 {
            return (i * 8) as u8 + x.leading_zeros() as u8;
        }
    }
    KEY_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_masks_and_prefixes() {
        let mut a = [0u8; 20];
        a[0] = 0b1010_0000;
        assert!(bit(&a, 0) && !bit(&a, 1) && bit(&a, 2));
        assert_eq!(mask(&[0xff; 20], 12)[..3], [0xff, 0xf0, 0]);
        assert_eq!(mask(&[0xff; 20], 160), [0xff; 20]);
        assert_eq!(mask(&[0xff; 20], 0), [0; 20]);
        let mut b = a;
        assert_eq!(common_prefix_len(&a, &b), 160);
        b[19] ^= 1;
        assert_eq!(common_prefix_len(&a, &b), 159);
        b[0] ^= 0b0100_0000;
        assert_eq!(common_prefix_len(&a, &b), 1);
    }

    #[test]
    fn leaf_and_inner_domains_differ_and_commit_to_every_field() {
        let s = AccountState {
            balance: 5,
            nonce: 1,
            frozen: 2,
        };
        let id = [3u8; 20];
        let base = leaf_hash(&id, &s);
        assert_ne!(base, leaf_hash(&id, &AccountState { balance: 6, ..s }));
        assert_ne!(base, leaf_hash(&id, &AccountState { nonce: 2, ..s }));
        assert_ne!(base, leaf_hash(&id, &AccountState { frozen: 1, ..s }));
        assert_ne!(base, leaf_hash(&[4u8; 20], &s));
        let h = [9u8; 32];
        let inner = inner_hash(3, &mask(&id, 3), (&h, 1), (&h, 2));
        assert_ne!(
            inner,
            inner_hash(3, &mask(&id, 3), (&h, 1), (&h, 3)),
            "sum is committed"
        );
        assert_ne!(
            inner,
            inner_hash(4, &mask(&id, 4), (&h, 1), (&h, 2)),
            "depth is committed"
        );
        assert_ne!(
            inner,
            inner_hash(3, &mask(&[0xff; 20], 3), (&h, 1), (&h, 2))
        );
        assert_ne!(inner, base);
    }
}
