//! Identifier newtypes: projects, event uuids, event digests and log sequence numbers.

use std::fmt;

/// A project name: 1–64 characters of `[a-z0-9_-]`, starting with a letter or digit.
///
/// Projects become directory names on disk, so the alphabet is deliberately narrow.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Project(String);

/// Why a string is not a valid [`Project`] name.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProjectError {
    /// The name is empty or longer than 64 bytes.
    #[error("project name must be 1 to 64 characters, got {0}")]
    Length(usize),
    /// The name contains a character outside `[a-z0-9_-]` or starts with `-` or `_`.
    #[error(
        "project name {0:?} may only contain a-z, 0-9, '-' and '_', and must start with a letter or digit"
    )]
    Alphabet(String),
}

impl Project {
    /// Validates and wraps a project name.
    ///
    /// # Errors
    /// [`ProjectError`] when the name is empty, too long or uses characters outside `[a-z0-9_-]`.
    pub fn new(name: &str) -> Result<Project, ProjectError> {
        if name.is_empty() || name.len() > 64 {
            return Err(ProjectError::Length(name.len()));
        }
        let ok_char =
            |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_';
        let first = name.as_bytes()[0];
        if !name.bytes().all(ok_char) || first == b'-' || first == b'_' {
            return Err(ProjectError::Alphabet(name.to_string()));
        }
        Ok(Project(name.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 128-bit event id, written as lowercase hyphenated hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Uuid(pub [u8; 16]);

/// Why a string is not a hyphenated hex UUID.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a hyphenated hex uuid: {0:?}")]
pub struct UuidError(pub String);

impl Uuid {
    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in either case.
    ///
    /// # Errors
    /// [`UuidError`] for any other shape.
    pub fn parse(text: &str) -> Result<Uuid, UuidError> {
        let bytes = text.as_bytes();
        let bad = || UuidError(text.chars().take(64).collect());
        if bytes.len() != 36 {
            return Err(bad());
        }
        if bytes[8] != b'-' || bytes[13] != b'-' || bytes[18] != b'-' || bytes[23] != b'-' {
            return Err(bad());
        }
        /// Where the two hex digits of each byte sit in the hyphenated text.
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut out = [0u8; 16];
        let mut invalid = 0u8;
        for (o, &i) in out.iter_mut().zip(AT.iter()) {
            let (hi, lo) = (HEX[usize::from(bytes[i])], HEX[usize::from(bytes[i + 1])]);
            invalid |= (hi | lo) & 0x10;
            *o = (hi << 4) | (lo & 0x0f);
        }
        if invalid != 0 {
            return Err(bad());
        }
        Ok(Uuid(out))
    }

    /// The 16 bytes as a big-endian integer, for fast hashing and sorting.
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

/// Hex digit values; 0x10 marks a byte that is not a hex digit.
const HEX: [u8; 256] = {
    let mut t = [0x10u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The SHA-256 event digest of events.md §8: a content hash that excludes ingest metadata.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Adds `other` to `self` modulo 2²⁵⁶, both read as big-endian integers.
    ///
    /// The data fingerprint sums digests so that it does not depend on the order events were read in.
    pub fn add_mod(&mut self, other: &Digest) {
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(self.0[i]) + u16::from(other.0[i]) + carry;
            self.0[i] = s as u8;
            carry = s >> 8;
        }
    }
}

/// A WAL log sequence number: the position of a record in the append order, starting at 1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trips_and_lowercases() {
        let u = Uuid::parse("0190A6B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B").unwrap();
        assert_eq!(u.to_string(), "0190a6b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b");
        assert!(Uuid::parse("0190a6b27c3d7e4f8a1b2c3d4e5f6a7b").is_err());
        assert!(Uuid::parse("0190a6b2-7c3d-7e4f-8a1b-2c3d4e5f6a7g").is_err());
    }

    #[test]
    fn every_byte_of_every_digit_is_checked() {
        let good = "0190a6b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b";
        for at in 0..good.len() {
            for b in 0..=127u8 {
                let mut text = good.as_bytes().to_vec();
                text[at] = b;
                let text = String::from_utf8(text).unwrap();
                let valid = if matches!(at, 8 | 13 | 18 | 23) {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                };
                assert_eq!(Uuid::parse(&text).is_ok(), valid, "{text:?}");
                if valid {
                    assert_eq!(Uuid::parse(&text).unwrap().to_string(), text.to_lowercase());
                }
            }
        }
    }

    #[test]
    fn project_names_are_narrow() {
        assert!(Project::new("chat-app_2").is_ok());
        assert_eq!(Project::new(""), Err(ProjectError::Length(0)));
        assert!(Project::new("Chat").is_err());
        assert!(Project::new("-x").is_err());
        assert!(Project::new("a/b").is_err());
    }

    #[test]
    fn digest_sum_is_order_independent_and_wraps() {
        let a = Digest([0xff; 32]);
        let mut b = Digest::default();
        b.0[31] = 2;
        let mut x = a;
        x.add_mod(&b);
        let mut y = b;
        y.add_mod(&a);
        assert_eq!(x, y);
        let mut want = [0u8; 32];
        want[31] = 1;
        assert_eq!(x.0, want);
    }
}
