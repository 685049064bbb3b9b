//! The one text encoding of every binary identifier in Leither.
//!
//! IDs are shown as lowercase base32hex without padding (RFC 4648 §7, the DNSSEC
//! alphabet `0-9a-v`). It is case-insensitive on input and a 32-byte ID is 52
//! characters, which fits in one DNS label (≤ 63): app origins are
//! `<app-id>.localhost`, so this matters.
//!
//! [`define_id!`](crate::define_id) makes a fixed-size newtype with `Display`/`FromStr`/serde in that
//! encoding, so raw byte arrays never cross a module boundary (GUIDE pattern 3).

use data_encoding::BASE32_DNSSEC;

/// Encode bytes as lowercase base32hex, no padding.
pub fn encode(bytes: &[u8]) -> String {
    BASE32_DNSSEC.encode(bytes)
}

/// Why a string is not a valid ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("not base32hex: {0}")]
    Encoding(String),
    #[error("wrong length: expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
}

/// Decode a base32hex string into exactly `N` bytes.
pub fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], IdParseError> {
    let bytes = BASE32_DNSSEC
        .decode(s.trim().to_ascii_lowercase().as_bytes())
        .map_err(|e| IdParseError::Encoding(e.to_string()))?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| IdParseError::Length { expected: N, got })
}

/// OpenAPI schema of a type that is a string on the wire (IDs, paths, version names).
#[macro_export]
macro_rules! string_schema {
    ($name:ident, $desc:expr) => {
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .description(Some($desc))
                    .into()
            }
        }
        impl ::utoipa::ToSchema for $name {}
    };
}

/// Bytes read from a binary serde format (used by [`define_id!`](crate::define_id)).
#[doc(hidden)]
pub struct RawBytes(pub Vec<u8>);

impl<'de> serde::Deserialize<'de> for RawBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<RawBytes, E> {
                Ok(RawBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<RawBytes, E> {
                Ok(RawBytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<RawBytes, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(64));
                while let Some(b) = a.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(RawBytes(out))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// Define a fixed-size identifier newtype with one text encoding.
///
/// ```text
/// define_id!(/// Doc comment.
///     MimeiId, 32);
/// ```
#[macro_export]
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length of the identifier in bytes.
            pub const LEN: usize = $len;

            /// Wrap raw bytes (only for code that produced or verified them).
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Parse from a byte slice of exactly the right length.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, $crate::encoding::IdParseError> {
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| {
                    $crate::encoding::IdParseError::Length { expected: $len, got: bytes.len() }
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&$crate::encoding::encode(&self.0))
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        $crate::string_schema!($name, concat!(stringify!($name), ": ", $len, " bytes as lowercase base32hex without padding"));

        impl ::std::str::FromStr for $name {
            type Err = $crate::encoding::IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::encoding::decode_fixed::<$len>(s).map(Self)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = <::std::borrow::Cow<'de, str>>::deserialize(d)?;
                    s.parse().map_err(::serde::de::Error::custom)
                } else {
                    let b = <$crate::encoding::RawBytes>::deserialize(d)?;
                    Self::from_slice(&b.0).map_err(::serde::de::Error::custom)
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    define_id!(
        /// A test ID.
        TestId, 32
    );

    #[test]
    fn round_trips_and_fits_a_dns_label() {
        let id = TestId::from_bytes([7u8; 32]);
        let s = id.to_string();
        assert_eq!(s.len(), 52);
        assert_eq!(TestId::LEN, 32);
        assert_eq!(id.as_bytes(), &[7u8; 32]);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_eq!(s.parse::<TestId>().unwrap(), id);
        assert_eq!(s.to_ascii_uppercase().parse::<TestId>().unwrap(), id);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            "xyz!".parse::<TestId>(),
            Err(IdParseError::Encoding(_))
        ));
        assert!(matches!(
            encode(&[1, 2, 3]).parse::<TestId>(),
            Err(IdParseError::Length {
                expected: 32,
                got: 3
            })
        ));
    }

    #[test]
    fn serde_json_and_postcard() {
        let id = TestId::from_bytes([9u8; 32]);
        let j = serde_json::to_string(&id).unwrap();
        assert_eq!(j, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<TestId>(&j).unwrap(), id);
        let p = postcard::to_allocvec(&id).unwrap();
        assert_eq!(p.len(), 33);
        assert_eq!(postcard::from_bytes::<TestId>(&p).unwrap(), id);
    }
}
