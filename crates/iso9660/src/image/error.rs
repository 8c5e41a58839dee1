//! The errors of building an image: adding a file and laying out the image.
//! Writing can only fail with the writer's own `std::io::Error`.

use std::fmt;

/// Why a file could not be added to an [`ImageBuilder`](crate::ImageBuilder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddFileError {
    /// A file with the same name, ignoring case, was already added.
    DuplicateName {
        /// The rejected name.
        name: String,
        /// The name already in the image.
        existing: String,
    },
    /// The contents are longer than one extent can describe.
    FileTooLarge {
        /// The file's name.
        name: String,
        /// Its size.
        size_bytes: u64,
        /// The largest size accepted.
        max_bytes: u64,
    },
    /// The image already holds the most files allowed.
    TooManyFiles {
        /// The rejected file's name.
        name: String,
        /// The most files allowed.
        max: usize,
    },
}

impl fmt::Display for AddFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateName { name, existing } if name == existing => {
                write!(f, "the image already has a file named {name:?}")
            }
            Self::DuplicateName { name, existing } => write!(
                f,
                "file name {name:?} differs from {existing:?} only in case, and Linux and Windows \
                 look up Joliet names ignoring case; rename one of them"
            ),
            Self::FileTooLarge {
                name,
                size_bytes,
                max_bytes,
            } => write!(
                f,
                "file {name:?} is {size_bytes} bytes, but ISO 9660 files without multiple extents \
                 hold at most {max_bytes} bytes"
            ),
            Self::TooManyFiles { name, max } => write!(
                f,
                "cannot add {name:?}: the image already holds the maximum of {max} files"
            ),
        }
    }
}

impl std::error::Error for AddFileError {}

/// Why an [`ImageBuilder`](crate::ImageBuilder) could not be laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The image would have more sectors than the descriptors can count.
    ImageTooLarge {
        /// The size the image would have.
        size_bytes: u64,
        /// The largest size an image can have.
        max_bytes: u64,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ImageTooLarge {
                size_bytes,
                max_bytes,
            } => write!(
                f,
                "the image would be {size_bytes} bytes, but ISO 9660 volumes hold at most \
                 {max_bytes} bytes"
            ),
        }
    }
}

impl std::error::Error for BuildError {}
