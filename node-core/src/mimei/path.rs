//! Paths inside a Mimei's file tree.
//!
//! A path is a list of names joined by `/`, always relative to the Mimei's root. Names
//! are checked here once, so no other code sees `..`, `.`, empty names, NUL, `\` or an
//! absolute path: a path can never step outside its Mimei (or, on export, outside the
//! target directory).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::MimeiError;

/// Longest name of one file or directory, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest whole path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// A validated relative path; the empty path is the root.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MimeiPath(Vec<String>);

impl MimeiPath {
    /// The root directory.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parse a `/`-separated relative path. A trailing `/` is allowed; `""` is the root.
    pub fn parse(s: &str) -> Result<Self, MimeiError> {
        let bad = |why: &str| MimeiError::InvalidPath {
            path: s.escape_debug().to_string(),
            why: why.into(),
        };
        if s.len() > MAX_PATH_LEN {
            return Err(bad("path too long"));
        }
        if s.starts_with('/') {
            return Err(bad(
                "absolute paths are not allowed; paths are relative to the Mimei root",
            ));
        }
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        if trimmed.is_empty() {
            return Ok(Self::root());
        }
        let mut names = Vec::new();
        for name in trimmed.split('/') {
            Self::check_name(name).map_err(|why| bad(&why))?;
            names.push(name.to_string());
        }
        Ok(Self(names))
    }

    fn check_name(name: &str) -> Result<(), String> {
        match name {
            "" => Err("empty name (`//`)".into()),
            "." | ".." => Err(format!("`{name}` is not allowed")),
            _ if name.len() > MAX_NAME_LEN => Err("name too long".into()),
            _ if name.contains('\0') => Err("NUL in name".into()),
            _ if name.contains('\\') => Err("`\\` in name".into()),
            _ if name.chars().any(char::is_control) => Err("control character in name".into()),
            _ => Ok(()),
        }
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The last name, if not the root.
    pub fn file_name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    pub fn parent(&self) -> Option<MimeiPath> {
        (!self.0.is_empty()).then(|| Self(self.0[..self.0.len() - 1].to_vec()))
    }

    pub fn join(&self, name: &str) -> Result<MimeiPath, MimeiError> {
        let mut p = self.clone();
        for part in MimeiPath::parse(name)?.0 {
            p.0.push(part);
        }
        Ok(p)
    }

    /// The first `n` names (the ancestor at depth `n`).
    pub fn truncated(&self, n: usize) -> MimeiPath {
        Self(self.0[..n.min(self.0.len())].to_vec())
    }

    /// Whether `self` is `other` or inside it.
    pub fn starts_with(&self, other: &MimeiPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// `self` with the leading `base` removed (`None` if not inside `base`).
    pub fn strip_prefix(&self, base: &MimeiPath) -> Option<MimeiPath> {
        self.0
            .strip_prefix(base.0.as_slice())
            .map(|rest| Self(rest.to_vec()))
    }

    /// Sort key for the `cur` index: names joined by NUL, so a directory's contents are
    /// contiguous and come right after it.
    pub(crate) fn key_bytes(&self) -> Vec<u8> {
        self.0.join("\0").into_bytes()
    }

    pub(crate) fn from_key_bytes(bytes: &[u8]) -> Result<Self, MimeiError> {
        let s = std::str::from_utf8(bytes)
            .map_err(|_| MimeiError::Corrupt("path key is not UTF-8".into()))?;
        Ok(Self(s.split('\0').map(str::to_string).collect()))
    }
}

impl fmt::Display for MimeiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

impl fmt::Debug for MimeiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MimeiPath({self})")
    }
}

impl std::str::FromStr for MimeiPath {
    type Err = MimeiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

crate::string_schema!(MimeiPath, "a `/`-separated path relative to the Mimei root");

impl Serialize for MimeiPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MimeiPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        assert_eq!(MimeiPath::parse("a/b.txt").unwrap().to_string(), "a/b.txt");
        assert_eq!(MimeiPath::parse("dir/").unwrap().to_string(), "dir");
        assert!(MimeiPath::parse("").unwrap().is_root());
        assert_eq!(MimeiPath::parse("数据/文件 1.md").unwrap().names().len(), 2);
    }

    #[test]
    fn rejects_traversal_and_tricks() {
        for bad in [
            "..",
            "a/../b",
            "/etc/passwd",
            "a//b",
            "./a",
            "a/\0b",
            "a\\..\\b",
            "a/\nb",
        ] {
            assert!(
                matches!(MimeiPath::parse(bad), Err(MimeiError::InvalidPath { .. })),
                "{bad:?} must be refused"
            );
        }
        assert!(MimeiPath::parse(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(MimeiPath::parse(&"a/".repeat(MAX_PATH_LEN)).is_err());
    }

    #[test]
    fn key_order_keeps_directory_contents_together() {
        let mut keys: Vec<_> = ["a/b", "a-c/x", "a/b/x", "a/c"]
            .iter()
            .map(|p| MimeiPath::parse(p).unwrap().key_bytes())
            .collect();
        keys.sort();
        let back: Vec<_> = keys
            .iter()
            .map(|k| MimeiPath::from_key_bytes(k).unwrap().to_string())
            .collect();
        assert_eq!(back, ["a/b", "a/b/x", "a/c", "a-c/x"]);
    }
}
