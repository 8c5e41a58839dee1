//! A small writer for ISO 9660 images with Joliet names, with no
//! dependencies. The stack emulator uses it to hand a guest its runtime
//! configuration: a handful of small files in the root directory of an
//! image labelled `STACKCFG`, which the Linux guest mounts with its
//! `iso9660` driver and finds by label with `blkid`.
//!
//! An image has a Primary Volume Descriptor with level-1 (8.3, upper case)
//! names generated from the Joliet names, a Joliet Supplementary Volume
//! Descriptor (UCS-2 level 3) with the names as given, path tables of both
//! byte orders for both trees, and one copy of each file's data shared by
//! both trees. Identifiers are validated when parsed ([`VolumeId`],
//! [`FileName`]), so a built [`Image`] is valid by construction. Output is
//! deterministic: the recorded time is passed in ([`Timestamp`]) or fixed at
//! the Unix epoch, so the same inputs always give the same bytes.
//!
//! Left out: subdirectories, Rock Ridge (permissions, symlinks, long POSIX
//! names), El Torito boot records, UDF, multi-extent files (over 4 GiB),
//! reading or appending to existing images, and any I/O beyond
//! [`std::io::Write`].
//!
//! # Examples
//!
//! ```
//! use iso9660::{FileName, ImageBuilder, VolumeId};
//!
//! let mut builder = ImageBuilder::new(VolumeId::parse("STACKCFG")?);
//! builder.add_file(FileName::parse("config.json")?, br#"{"vms":[]}"#.as_slice())?;
//! let image = builder.build()?;
//!
//! let mut bytes = Vec::new();
//! image.write_to(&mut bytes)?;
//! assert_eq!(bytes.len() as u64, image.size_bytes());
//! // The Primary Volume Descriptor starts at sector 16.
//! assert_eq!(&bytes[16 * 2048..16 * 2048 + 6], b"\x01CD001");
//! assert_eq!(&bytes[16 * 2048 + 40..16 * 2048 + 48], b"STACKCFG");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod descriptor;
mod directory;
mod fields;
mod file_name;
mod image;
mod order;
mod path_table;
mod short_name;
mod timestamp;
mod volume_id;

pub use file_name::{FileName, FileNameError};
pub use image::{AddFileError, BuildError, Image, ImageBuilder};
pub use timestamp::{Timestamp, TimestampError};
pub use volume_id::{VolumeId, VolumeIdError};
