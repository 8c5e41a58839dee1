//! The volume identifier (the label `blkid` reports), validated when parsed.
//!
//! It does not cover the other descriptor identifiers (publisher, preparer
//! and so on), which the writer leaves blank.

use std::fmt;
use std::str::FromStr;

/// A volume identifier: 1 to [`VolumeId::MAX_LEN`] ISO 9660 d-characters
/// (`A`–`Z`, `0`–`9`, `_`).
///
/// The same text goes into the primary descriptor and, as UCS-2, into the
/// Joliet descriptor, so readers of either tree see the same label. Any
/// `VolumeId` value is valid by construction.
///
/// # Examples
///
/// ```
/// use iso9660::{VolumeId, VolumeIdError};
///
/// let id = VolumeId::parse("STACKCFG")?;
/// assert_eq!(id.as_str(), "STACKCFG");
/// assert!(matches!(
///     VolumeId::parse("stackcfg"),
///     Err(VolumeIdError::InvalidChar { ch: 's', .. })
/// ));
/// # Ok::<(), VolumeIdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolumeId(String);

impl VolumeId {
    /// Longest accepted identifier, in characters.
    ///
    /// ECMA-119 allows 32 d-characters in the primary descriptor, but the
    /// Joliet descriptor's 32-byte field holds only 16 UCS-2 characters, and
    /// `blkid` prefers the Joliet label when both are present. Capping at 16
    /// keeps the two labels identical.
    pub const MAX_LEN: usize = 16;

    /// Parses a volume identifier.
    ///
    /// # Errors
    ///
    /// - [`VolumeIdError::Empty`] if `id` is empty.
    /// - [`VolumeIdError::InvalidChar`] if `id` holds anything other than
    ///   `A`–`Z`, `0`–`9` and `_` (lower case letters included: d-characters
    ///   are upper case only).
    /// - [`VolumeIdError::TooLong`] if `id` has more than
    ///   [`VolumeId::MAX_LEN`] characters.
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{VolumeId, VolumeIdError};
    ///
    /// assert_eq!(VolumeId::parse("CIDATA_2")?.as_str(), "CIDATA_2");
    /// assert_eq!(VolumeId::parse(""), Err(VolumeIdError::Empty));
    /// # Ok::<(), VolumeIdError>(())
    /// ```
    pub fn parse(id: &str) -> Result<Self, VolumeIdError> {
        if id.is_empty() {
            return Err(VolumeIdError::Empty);
        }
        if let Some(ch) = id.chars().find(|&ch| !is_d_character(ch)) {
            return Err(VolumeIdError::InvalidChar {
                id: id.to_owned(),
                ch,
            });
        }
        // Only ASCII is left, so bytes and characters agree.
        if id.len() > Self::MAX_LEN {
            return Err(VolumeIdError::TooLong {
                id: id.to_owned(),
                len: id.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(id.to_owned()))
    }

    /// The identifier text.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = iso9660::VolumeId::parse("STACKCFG")?;
    /// assert_eq!(id.as_str(), "STACKCFG");
    /// # Ok::<(), iso9660::VolumeIdError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ECMA-119 7.4.1: d-characters are upper case Latin letters, digits and `_`.
pub(crate) fn is_d_character(ch: char) -> bool {
    ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_'
}

impl AsRef<str> for VolumeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for VolumeId {
    type Err = VolumeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a string is not a valid [`VolumeId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeIdError {
    /// The identifier is empty.
    Empty,
    /// The identifier has more characters than both descriptors can hold.
    TooLong {
        /// The rejected identifier.
        id: String,
        /// Its length in characters.
        len: usize,
        /// The most characters accepted.
        max: usize,
    },
    /// The identifier holds a character that is not a d-character.
    InvalidChar {
        /// The rejected identifier.
        id: String,
        /// The first offending character.
        ch: char,
    },
}

impl fmt::Display for VolumeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "volume id is empty; use 1 to {} characters from A-Z, 0-9 and _",
                VolumeId::MAX_LEN
            ),
            Self::TooLong { id, len, max } => write!(
                f,
                "volume id {id:?} is {len} characters long, but the Joliet descriptor holds at most {max}"
            ),
            Self::InvalidChar { id, ch } => write!(
                f,
                "volume id {id:?} contains {ch:?}, which ISO 9660 does not allow; use only A-Z, 0-9 and _"
            ),
        }
    }
}

impl std::error::Error for VolumeIdError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_d_characters_up_to_max_len() {
        assert_eq!(VolumeId::parse("STACKCFG").unwrap().as_str(), "STACKCFG");
        assert_eq!(VolumeId::parse("A").unwrap().as_str(), "A");
        let longest = "A_34567890123456";
        assert_eq!(VolumeId::parse(longest).unwrap().as_ref(), longest);
        assert_eq!("X1".parse::<VolumeId>().unwrap().to_string(), "X1");
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(VolumeId::parse(""), Err(VolumeIdError::Empty));
    }

    #[test]
    fn rejects_too_long() {
        assert_eq!(
            VolumeId::parse("A234567890123456X"),
            Err(VolumeIdError::TooLong {
                id: "A234567890123456X".to_owned(),
                len: 17,
                max: 16,
            })
        );
    }

    #[test]
    fn rejects_non_d_characters() {
        for (id, ch) in [
            ("stackcfg", 's'),
            ("STACK CFG", ' '),
            ("STACK-CFG", '-'),
            ("STACK.CFG", '.'),
            ("ÄBC", 'Ä'),
        ] {
            assert_eq!(
                VolumeId::parse(id),
                Err(VolumeIdError::InvalidChar {
                    id: id.to_owned(),
                    ch
                }),
                "{id}"
            );
        }
    }

    #[test]
    fn invalid_char_wins_over_length_for_non_ascii() {
        // 16 'Ä' are 32 bytes; the character error is the useful one.
        let id = "Ä".repeat(16);
        assert!(matches!(
            VolumeId::parse(&id),
            Err(VolumeIdError::InvalidChar { ch: 'Ä', .. })
        ));
    }

    #[test]
    fn error_messages_are_exact() {
        assert_eq!(
            VolumeIdError::Empty.to_string(),
            "volume id is empty; use 1 to 16 characters from A-Z, 0-9 and _"
        );
        assert_eq!(
            VolumeId::parse("cfg").unwrap_err().to_string(),
            "volume id \"cfg\" contains 'c', which ISO 9660 does not allow; use only A-Z, 0-9 and _"
        );
        assert_eq!(
            VolumeId::parse("A234567890123456X")
                .unwrap_err()
                .to_string(),
            "volume id \"A234567890123456X\" is 17 characters long, but the Joliet descriptor holds at most 16"
        );
    }
}
