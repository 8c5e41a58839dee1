//! File names as the Joliet tree records them, validated when parsed.
//!
//! It does not cover the 8.3 names of the primary tree; those are derived
//! from these names when the image is built (see `short_name`).

use std::fmt;
use std::str::FromStr;

/// Characters the Joliet specification reserves in file identifiers.
const RESERVED: [char; 10] = ['/', '\\', ':', '*', '?', '"', ';', '<', '>', '|'];

/// A Joliet file name: 1 to [`FileName::MAX_LEN`] characters from the Basic
/// Multilingual Plane, without control characters, without the reserved
/// characters `/ \ : * ? " ; < > |`, and not ending in `.`.
///
/// This is the name a Linux guest sees when it mounts the image with Joliet
/// support (the default). Any `FileName` value is valid by construction.
///
/// # Examples
///
/// ```
/// use iso9660::{FileName, FileNameError};
///
/// let name = FileName::parse("config.json")?;
/// assert_eq!(name.as_str(), "config.json");
/// assert!(matches!(
///     FileName::parse("a:b"),
///     Err(FileNameError::ReservedChar { ch: ':', .. })
/// ));
/// # Ok::<(), FileNameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName(String);

impl FileName {
    /// Longest accepted name, in UCS-2 characters (the Joliet limit).
    pub const MAX_LEN: usize = 64;

    /// Parses a file name.
    ///
    /// # Errors
    ///
    /// - [`FileNameError::Empty`] if `name` is empty.
    /// - [`FileNameError::ControlChar`] if `name` holds a control character.
    /// - [`FileNameError::ReservedChar`] if `name` holds one of
    ///   `/ \ : * ? " ; < > |`.
    /// - [`FileNameError::OutsideBmp`] if `name` holds a character that
    ///   UCS-2 cannot encode (anything above U+FFFF, such as emoji).
    /// - [`FileNameError::TooLong`] if `name` has more than
    ///   [`FileName::MAX_LEN`] characters.
    /// - [`FileNameError::TrailingDot`] if `name` ends in `.` (this includes
    ///   `.` and `..`).
    ///
    /// Character errors report the first offending character.
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{FileName, FileNameError};
    ///
    /// assert_eq!(FileName::parse("Grüße.txt")?.as_str(), "Grüße.txt");
    /// assert_eq!(
    ///     FileName::parse(".."),
    ///     Err(FileNameError::TrailingDot { name: "..".to_owned() })
    /// );
    /// # Ok::<(), FileNameError>(())
    /// ```
    pub fn parse(name: &str) -> Result<Self, FileNameError> {
        if name.is_empty() {
            return Err(FileNameError::Empty);
        }
        for ch in name.chars() {
            let owned = || name.to_owned();
            if ch.is_control() {
                return Err(FileNameError::ControlChar { name: owned(), ch });
            }
            if RESERVED.contains(&ch) {
                return Err(FileNameError::ReservedChar { name: owned(), ch });
            }
            if ch.len_utf16() != 1 {
                return Err(FileNameError::OutsideBmp { name: owned(), ch });
            }
        }
        // Every character is one UCS-2 unit now, so this counts characters.
        let len = name.chars().count();
        if len > Self::MAX_LEN {
            return Err(FileNameError::TooLong {
                name: name.to_owned(),
                len,
                max: Self::MAX_LEN,
            });
        }
        if name.ends_with('.') {
            return Err(FileNameError::TrailingDot {
                name: name.to_owned(),
            });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name text.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = iso9660::FileName::parse("meta-data")?;
    /// assert_eq!(name.as_str(), "meta-data");
    /// # Ok::<(), iso9660::FileNameError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for FileName {
    type Err = FileNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a string is not a valid [`FileName`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileNameError {
    /// The name is empty.
    Empty,
    /// The name has more characters than Joliet allows.
    TooLong {
        /// The rejected name.
        name: String,
        /// Its length in UCS-2 characters.
        len: usize,
        /// The most characters accepted.
        max: usize,
    },
    /// The name holds a character Joliet reserves.
    ReservedChar {
        /// The rejected name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The name holds a control character.
    ControlChar {
        /// The rejected name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The name holds a character that UCS-2 cannot encode.
    OutsideBmp {
        /// The rejected name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The name ends in `.`, which Linux strips from Joliet names.
    TrailingDot {
        /// The rejected name.
        name: String,
    },
}

impl fmt::Display for FileNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("file name is empty"),
            Self::TooLong { name, len, max } => write!(
                f,
                "file name {name:?} is {len} characters long, but Joliet allows at most {max}"
            ),
            Self::ReservedChar { name, ch } => write!(
                f,
                "file name {name:?} contains {ch:?}, which Joliet reserves; avoid / \\ : * ? \" ; < > |"
            ),
            Self::ControlChar { name, ch } => write!(
                f,
                "file name {name:?} contains the control character {ch:?}"
            ),
            Self::OutsideBmp { name, ch } => write!(
                f,
                "file name {name:?} contains {ch:?}, which is above U+FFFF and cannot be written as UCS-2"
            ),
            Self::TrailingDot { name } => write!(
                f,
                "file name {name:?} ends in '.', which Linux drops from Joliet names; remove the trailing dot"
            ),
        }
    }
}

impl std::error::Error for FileNameError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "config.json",
            "meta-data",
            "user data.txt",
            ".hidden",
            "Grüße.txt",
            "日本語.txt",
            "a.b.c",
            "~tilde~",
        ] {
            assert_eq!(FileName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!("x.json".parse::<FileName>().unwrap().to_string(), "x.json");
    }

    #[test]
    fn accepts_exactly_max_len_characters_counted_as_ucs2() {
        let ascii = "a".repeat(64);
        assert_eq!(FileName::parse(&ascii).unwrap().as_ref(), ascii);
        // 64 two-byte UTF-8 characters are still 64 UCS-2 characters.
        let wide = "é".repeat(64);
        assert_eq!(FileName::parse(&wide).unwrap().as_ref(), wide);
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(FileName::parse(""), Err(FileNameError::Empty));
    }

    #[test]
    fn rejects_too_long() {
        let long = "é".repeat(65);
        assert_eq!(
            FileName::parse(&long),
            Err(FileNameError::TooLong {
                name: long.clone(),
                len: 65,
                max: 64
            })
        );
    }

    #[test]
    fn rejects_each_reserved_character() {
        for ch in ['/', '\\', ':', '*', '?', '"', ';', '<', '>', '|'] {
            let n = format!("a{ch}b");
            assert_eq!(
                FileName::parse(&n),
                Err(FileNameError::ReservedChar {
                    name: n.clone(),
                    ch
                }),
                "{n}"
            );
        }
    }

    #[test]
    fn rejects_control_characters() {
        for ch in ['\0', '\n', '\t', '\u{1f}', '\u{7f}', '\u{85}'] {
            let n = format!("a{ch}b");
            assert_eq!(
                FileName::parse(&n),
                Err(FileNameError::ControlChar {
                    name: n.clone(),
                    ch
                }),
                "{n:?}"
            );
        }
    }

    #[test]
    fn rejects_characters_outside_the_bmp() {
        assert_eq!(
            FileName::parse("cat-🐈.txt"),
            Err(FileNameError::OutsideBmp {
                name: name("cat-🐈.txt"),
                ch: '🐈'
            })
        );
    }

    #[test]
    fn rejects_trailing_dot_including_dot_names() {
        for n in [".", "..", "config.", "a.."] {
            assert_eq!(
                FileName::parse(n),
                Err(FileNameError::TrailingDot { name: name(n) }),
                "{n}"
            );
        }
    }

    #[test]
    fn reports_first_offending_character() {
        assert_eq!(
            FileName::parse("a*\n"),
            Err(FileNameError::ReservedChar {
                name: name("a*\n"),
                ch: '*'
            })
        );
    }

    #[test]
    fn error_messages_are_exact() {
        let cases = [
            (FileNameError::Empty, "file name is empty"),
            (
                FileName::parse(&"a".repeat(65)).unwrap_err(),
                &format!(
                    "file name \"{}\" is 65 characters long, but Joliet allows at most 64",
                    "a".repeat(65)
                ),
            ),
            (
                FileName::parse("a|b").unwrap_err(),
                "file name \"a|b\" contains '|', which Joliet reserves; avoid / \\ : * ? \" ; < > |",
            ),
            (
                FileName::parse("a\tb").unwrap_err(),
                "file name \"a\\tb\" contains the control character '\\t'",
            ),
            (
                FileName::parse("🐈").unwrap_err(),
                "file name \"🐈\" contains '🐈', which is above U+FFFF and cannot be written as UCS-2",
            ),
            (
                FileName::parse("x.").unwrap_err(),
                "file name \"x.\" ends in '.', which Linux drops from Joliet names; remove the trailing dot",
            ),
        ];
        for (err, message) in cases {
            assert_eq!(err.to_string(), message);
        }
    }
}
