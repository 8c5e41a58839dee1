//! Released guest images: the release format, where releases are served from,
//! packaging a built image as a release, pulling one (with progress, resume and
//! streaming sha256), and the installed versions with their snapshots.
//!
//! It leaves booting an image to `start`: a pulled release is
//! installed as an ordinary `images/<version>/` directory with the same
//! manifest a local build writes.
//!
//! The format is documented for operators in `docs/releases.md`.

pub mod download;
pub mod error;
pub mod format;
#[cfg(test)]
mod fuzz;
pub mod install;
pub mod inventory;
pub mod package;
pub mod source;

pub use error::ReleaseError;

pub use crate::space::mib;

use std::fmt;

/// A release version: also a directory name under `images/` and a tag, so
/// only letters, digits, `.`, `_`, `-` and `+`, not starting with `.` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReleaseVersion(String);

/// The longest version accepted; tags and directory names stay short.
const MAX_VERSION_CHARS: usize = 64;

impl ReleaseVersion {
    /// Checks a version string.
    ///
    /// # Errors
    /// A message saying what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
        if text.is_empty() || text.len() > MAX_VERSION_CHARS {
            return Err(format!(
                "the version {text:?} must have 1 to {MAX_VERSION_CHARS} characters"
            ));
        }
        if text.starts_with(['.', '-']) || !text.chars().all(ok_char) || text == "active" {
            return Err(format!(
                "the version {text:?} may only hold letters, digits, '.', '_', '-' and '+', and may not start with '.' or '-'"
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The version text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_that_could_escape_the_images_directory_are_refused() {
        for bad in [
            "", "..", ".hidden", "-x", "a/b", "a\\b", "v 1", "active", "é",
        ] {
            assert!(ReleaseVersion::parse(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["0.1.0", "v0.2.0-rc.1", "local-742897cfacd2", "1.0+build5"] {
            assert_eq!(ReleaseVersion::parse(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn mib_has_one_decimal() {
        assert_eq!(mib(3 << 20), "3.0 MiB");
        assert_eq!(mib(1 << 19), "0.5 MiB");
    }
}
