//! Finding the config file: the names Stack Auth's CLI looks for, in its
//! order, and the checks it makes on a path given with `--config-file`.
//!
//! The rules follow the Hexclave (formerly Stack Auth) CLI:
//! - `CONFIG_FILE_CANDIDATES` in the CLI's `deploy` command lists the
//!   names, and the first one that is a regular file in the directory wins. Only that directory is searched; parents are not.
//! - `resolveConfigFilePathOption` in the CLI's `lib/config-file-path.ts`
//!   resolves an explicit path against the working directory, refuses a
//!   missing path ("Config file not found") and a directory ("must point to a
//!   config file, but got a directory") instead of searching inside it.
//!
//! It leaves out reading the file: that is [`crate::parse()`]'s job.

use std::io;
use std::path::{Path, PathBuf};

/// The file names looked for, in order of preference: the Hexclave names
/// first, then the legacy Stack Auth names, TypeScript before JavaScript.
pub const CANDIDATES: [&str; 4] = [
    "hexclave.config.ts",
    "hexclave.config.js",
    "stack.config.ts",
    "stack.config.js",
];

/// Why no config file could be found or used.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// None of [`CANDIDATES`] is a file in the directory searched.
    #[error(
        "no config file in {}: looked for {}\nhint: create hexclave.config.ts there, or pass the config file's path (--config-file)",
        dir.display(),
        CANDIDATES.join(", ")
    )]
    NotFound {
        /// The directory that was searched.
        dir: PathBuf,
    },
    /// The path given explicitly does not exist.
    #[error(
        "config file not found: {}\nhint: check the path; relative paths are taken from the current directory",
        path.display()
    )]
    Missing {
        /// The absolute path that was looked at.
        path: PathBuf,
    },
    /// The path given explicitly is a directory.
    #[error(
        "the config file path is a directory, not a file: {}\nhint: pass the config file itself, e.g. {}",
        path.display(),
        suggestion.display()
    )]
    IsDirectory {
        /// The directory that was given.
        path: PathBuf,
        /// The file to pass instead: the config file found in that directory,
        /// or `hexclave.config.ts` in it when there is none.
        suggestion: PathBuf,
    },
    /// The path given explicitly is neither a file nor a directory (a socket,
    /// a FIFO, a device).
    #[error(
        "the config file path is not a regular file: {}\nhint: pass the path of a .ts or .js file",
        path.display()
    )]
    NotAFile {
        /// The path that was given.
        path: PathBuf,
    },
    /// The file system refused a look-up (permissions, a broken link, ...).
    #[error("could not look at {}\nhint: check that the path and its directories are readable", path.display())]
    Io {
        /// The path being looked at.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
}

/// Finds the config file in `dir`: the first of [`CANDIDATES`] that is a
/// regular file (a symbolic link to one counts).
///
/// The result is absolute and canonical (symbolic links resolved).
///
/// # Errors
///
/// [`DiscoverError::NotFound`] when none of the names is a file there, and
/// [`DiscoverError::Io`] when a name cannot be looked at for another reason
/// than not existing.
pub fn discover(dir: &Path) -> Result<PathBuf, DiscoverError> {
    let dir = absolute(dir)?;
    match find_candidate(&dir)? {
        Some(found) => canonical(&found),
        None => Err(DiscoverError::NotFound { dir }),
    }
}

/// The config file to use: `explicit` when given (taken relative to `cwd`
/// when relative), otherwise the one [`discover()`] finds in `cwd`.
///
/// An explicit directory is refused rather than searched, as the Stack Auth
/// CLI does; the error names the file that would have been found in it. The
/// result is absolute and canonical.
///
/// # Errors
///
/// [`DiscoverError::Missing`], [`DiscoverError::IsDirectory`] or
/// [`DiscoverError::NotAFile`] for an explicit path that can't be used, the
/// errors of [`discover()`] otherwise, and [`DiscoverError::Io`] when the file
/// system refuses a look-up.
pub fn resolve(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, DiscoverError> {
    let Some(explicit) = explicit else {
        return discover(cwd);
    };
    let path = absolute(&cwd.join(explicit))?;
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(DiscoverError::Missing { path });
        }
        Err(source) => return Err(DiscoverError::Io { path, source }),
    };
    if metadata.is_dir() {
        let suggestion = find_candidate(&path)
            .ok()
            .flatten()
            .unwrap_or_else(|| path.join(CANDIDATES[0]));
        return Err(DiscoverError::IsDirectory { path, suggestion });
    }
    if !metadata.is_file() {
        return Err(DiscoverError::NotAFile { path });
    }
    canonical(&path)
}

/// The first candidate in `dir` that is a regular file, if any.
fn find_candidate(dir: &Path) -> Result<Option<PathBuf>, DiscoverError> {
    for name in CANDIDATES {
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => return Ok(Some(path)),
            Ok(_) => {}
            // Not-a-directory: `dir` itself is a file, so nothing is in it.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(source) => return Err(DiscoverError::Io { path, source }),
        }
    }
    Ok(None)
}

fn absolute(path: &Path) -> Result<PathBuf, DiscoverError> {
    std::path::absolute(path).map_err(|source| DiscoverError::Io {
        path: path.to_owned(),
        source,
    })
}

fn canonical(path: &Path) -> Result<PathBuf, DiscoverError> {
    std::fs::canonicalize(path).map_err(|source| DiscoverError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::tests::TempDir;

    #[test]
    fn discover_prefers_hexclave_ts_then_js_then_stack() {
        let dir = TempDir::new("discover-order");
        std::fs::write(dir.path().join("stack.config.js"), "").unwrap();
        assert!(discover(dir.path()).unwrap().ends_with("stack.config.js"));
        std::fs::write(dir.path().join("stack.config.ts"), "").unwrap();
        assert!(discover(dir.path()).unwrap().ends_with("stack.config.ts"));
        std::fs::write(dir.path().join("hexclave.config.js"), "").unwrap();
        assert!(
            discover(dir.path())
                .unwrap()
                .ends_with("hexclave.config.js")
        );
        std::fs::write(dir.path().join("hexclave.config.ts"), "").unwrap();
        let found = discover(dir.path()).unwrap();
        assert_eq!(
            found,
            dir.path()
                .canonicalize()
                .unwrap()
                .join("hexclave.config.ts")
        );
    }

    #[test]
    fn discover_skips_a_directory_with_a_candidate_name() {
        let dir = TempDir::new("discover-dir-candidate");
        std::fs::create_dir(dir.path().join("hexclave.config.ts")).unwrap();
        std::fs::write(dir.path().join("stack.config.ts"), "").unwrap();
        assert!(discover(dir.path()).unwrap().ends_with("stack.config.ts"));
    }

    #[test]
    fn discover_does_not_look_at_other_extensions_or_parents() {
        let dir = TempDir::new("discover-none");
        std::fs::write(dir.path().join("hexclave.config.mts"), "").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let error = discover(&dir.path().join("sub")).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, DiscoverError::NotFound { .. }));
        assert_eq!(
            message,
            format!(
                "no config file in {}: looked for hexclave.config.ts, hexclave.config.js, stack.config.ts, stack.config.js\n\
                 hint: create hexclave.config.ts there, or pass the config file's path (--config-file)",
                dir.path().join("sub").display()
            )
        );
        assert!(matches!(
            discover(dir.path()),
            Err(DiscoverError::NotFound { .. })
        ));
    }

    #[test]
    fn resolve_without_explicit_discovers_in_cwd() {
        let dir = TempDir::new("resolve-discover");
        std::fs::write(dir.path().join("stack.config.ts"), "").unwrap();
        let found = resolve(None, dir.path()).unwrap();
        assert!(found.is_absolute());
        assert!(found.ends_with("stack.config.ts"));
    }

    #[test]
    fn resolve_takes_relative_paths_from_cwd_and_canonicalizes() {
        let dir = TempDir::new("resolve-relative");
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/my.config.ts"), "").unwrap();
        let found = resolve(Some(Path::new("./app/../app/my.config.ts")), dir.path()).unwrap();
        assert_eq!(
            found,
            dir.path().canonicalize().unwrap().join("app/my.config.ts")
        );
    }

    #[test]
    fn resolve_refuses_a_missing_path_naming_it_absolutely() {
        let dir = TempDir::new("resolve-missing");
        let error = resolve(Some(Path::new("nope.config.ts")), dir.path()).unwrap_err();
        let expected = dir.path().join("nope.config.ts");
        assert!(matches!(&error, DiscoverError::Missing { path } if *path == expected));
        assert_eq!(
            error.to_string(),
            format!(
                "config file not found: {}\nhint: check the path; relative paths are taken from the current directory",
                expected.display()
            )
        );
    }

    #[test]
    fn resolve_refuses_a_directory_and_suggests_the_file_in_it() {
        let dir = TempDir::new("resolve-directory");
        std::fs::write(dir.path().join("stack.config.ts"), "").unwrap();
        let error = resolve(Some(dir.path()), Path::new("/")).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, DiscoverError::IsDirectory { .. }));
        assert_eq!(
            message,
            format!(
                "the config file path is a directory, not a file: {}\nhint: pass the config file itself, e.g. {}",
                dir.path().display(),
                dir.path().join("stack.config.ts").display()
            )
        );

        let empty = TempDir::new("resolve-empty-directory");
        let error = resolve(Some(empty.path()), Path::new("/")).unwrap_err();
        assert!(error.to_string().ends_with(&format!(
            "e.g. {}",
            empty.path().join("hexclave.config.ts").display()
        )));
    }

    #[cfg(unix)]
    #[test]
    fn resolve_refuses_something_that_is_not_a_file() {
        let error = resolve(Some(Path::new("/dev/null")), Path::new("/")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the config file path is not a regular file: /dev/null\nhint: pass the path of a .ts or .js file"
        );
    }
}
