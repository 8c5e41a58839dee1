//! Building an image: collecting files ([`ImageBuilder`]), laying out every
//! sector ([`ImageBuilder::build`]) and streaming the result ([`Image`]).
//!
//! The layout is fixed:
//!
//! | sectors | content |
//! |---|---|
//! | 0–15 | system area, zeros |
//! | 16 | Primary Volume Descriptor |
//! | 17 | Joliet Supplementary Volume Descriptor |
//! | 18 | Volume Descriptor Set Terminator |
//! | 19, 20 | primary path tables, type L then type M |
//! | 21, 22 | Joliet path tables, type L then type M |
//! | 23… | primary root directory, then Joliet root directory |
//! | … | file data, each file starting on a new sector |
//!
//! Both trees point at the same file data. Reading files from disk is left
//! to the caller, and so is choosing where the image goes.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};

use crate::descriptor::{self, Tree, VolumeDescriptor};
use crate::directory::{self, Entry, Extent};
use crate::fields::{self, SECTOR_SIZE, SECTOR_SIZE_U64};
use crate::file_name::FileName;
use crate::order;
use crate::path_table::{self, ByteOrder};
use crate::short_name::{self, ShortName};
use crate::timestamp::Timestamp;
use crate::volume_id::VolumeId;

mod error;

pub use error::{AddFileError, BuildError};

/// Sectors before the first volume descriptor (ECMA-119 6.2.1).
const SYSTEM_AREA_SECTORS: u64 = 16;

/// First sector after the descriptors (PVD, SVD, terminator).
const FIRST_PATH_TABLE_SECTOR: u64 = SYSTEM_AREA_SECTORS + 3;

/// Collects the files of an image and their shared metadata.
///
/// # Examples
///
/// ```
/// use iso9660::{FileName, ImageBuilder, Timestamp, VolumeId};
///
/// let mut builder = ImageBuilder::new(VolumeId::parse("STACKCFG")?)
///     .recorded_at(Timestamp::new(2025, 1, 2, 3, 4, 5)?);
/// builder.add_file(FileName::parse("config.json")?, br#"{"vms":[]}"#.as_slice())?;
/// builder.add_file(FileName::parse("hostname")?, "node-1\n")?;
/// let image = builder.build()?;
///
/// let mut bytes = Vec::new();
/// image.write_to(&mut bytes)?;
/// assert_eq!(bytes.len() as u64, image.size_bytes());
/// assert_eq!(&bytes[0x8001..0x8006], b"CD001");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Its `Debug` output shows file names and sizes but never contents, which
/// may hold credentials meant for the guest.
#[derive(Clone)]
pub struct ImageBuilder {
    volume_id: VolumeId,
    recorded_at: Timestamp,
    files: Vec<File>,
    /// Lower-cased name of each file, mapped to the name as given, to catch
    /// names that differ only in case.
    folded_names: HashMap<String, String>,
}

#[derive(Clone)]
struct File {
    name: FileName,
    contents: Vec<u8>,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("name", &self.name.as_str())
            .field("size_bytes", &self.contents.len())
            .finish()
    }
}

impl fmt::Debug for ImageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageBuilder")
            .field("volume_id", &self.volume_id)
            .field("recorded_at", &self.recorded_at)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ImageBuilder {
    /// Most files one image may hold.
    ///
    /// A config image holds a handful; the cap guarantees that the numbered
    /// 8.3 names generated for clashing names (`CONFIG_1.JSO`) still fit in
    /// eight characters.
    pub const MAX_FILES: usize = 10_000;

    /// Largest file accepted, in bytes: the directory record's 32-bit data
    /// length, since multi-extent files are not written.
    pub const MAX_FILE_SIZE_BYTES: u64 = u32::MAX as u64;

    /// Largest image, in bytes: the descriptors' 32-bit volume space size,
    /// counted in 2048-byte sectors.
    pub const MAX_IMAGE_SIZE_BYTES: u64 = u32::MAX as u64 * SECTOR_SIZE_U64;

    /// Starts an empty image labelled `volume_id`, recorded at
    /// [`Timestamp::UNIX_EPOCH`].
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{ImageBuilder, VolumeId};
    ///
    /// let image = ImageBuilder::new(VolumeId::parse("EMPTY")?).build()?;
    /// assert_eq!(image.size_bytes(), 25 * 2048);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(volume_id: VolumeId) -> Self {
        Self {
            volume_id,
            recorded_at: Timestamp::UNIX_EPOCH,
            files: Vec::new(),
            folded_names: HashMap::new(),
        }
    }

    /// Sets the time recorded as the volume's creation and modification
    /// time and as every file's recording time.
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{ImageBuilder, Timestamp, VolumeId};
    ///
    /// let builder = ImageBuilder::new(VolumeId::parse("STACKCFG")?)
    ///     .recorded_at(Timestamp::from_unix_seconds(1_700_000_000)?);
    /// # let _ = builder;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn recorded_at(mut self, recorded_at: Timestamp) -> Self {
        self.recorded_at = recorded_at;
        self
    }

    /// Adds a file to the root directory.
    ///
    /// The order of calls does not affect the image: files are sorted by
    /// name when it is built.
    ///
    /// # Errors
    ///
    /// - [`AddFileError::DuplicateName`] if a file with the same name,
    ///   ignoring case, was already added. Linux mounts Joliet images
    ///   case-insensitively by default (`check=relaxed`), and so does
    ///   Windows, so such names would shadow each other.
    /// - [`AddFileError::FileTooLarge`] if `contents` is longer than
    ///   [`ImageBuilder::MAX_FILE_SIZE_BYTES`].
    /// - [`AddFileError::TooManyFiles`] if the image already holds
    ///   [`ImageBuilder::MAX_FILES`] files.
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{AddFileError, FileName, ImageBuilder, VolumeId};
    ///
    /// let mut builder = ImageBuilder::new(VolumeId::parse("STACKCFG")?);
    /// builder.add_file(FileName::parse("a.json")?, "{}")?;
    /// assert_eq!(
    ///     builder.add_file(FileName::parse("A.JSON")?, "{}"),
    ///     Err(AddFileError::DuplicateName {
    ///         name: "A.JSON".to_owned(),
    ///         existing: "a.json".to_owned(),
    ///     })
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_file(
        &mut self,
        name: FileName,
        contents: impl Into<Vec<u8>>,
    ) -> Result<(), AddFileError> {
        let folded = name.as_str().to_lowercase();
        if let Some(existing) = self.folded_names.get(&folded) {
            return Err(AddFileError::DuplicateName {
                name: name.as_str().to_owned(),
                existing: existing.clone(),
            });
        }
        if self.files.len() >= Self::MAX_FILES {
            return Err(AddFileError::TooManyFiles {
                name: name.as_str().to_owned(),
                max: Self::MAX_FILES,
            });
        }
        let contents = contents.into();
        check_file_size(&name, contents.len() as u64)?;
        self.folded_names.insert(folded, name.as_str().to_owned());
        self.files.push(File { name, contents });
        Ok(())
    }

    /// Lays out the image: assigns 8.3 names, sectors and directory records.
    ///
    /// # Errors
    ///
    /// Returns [`BuildError::ImageTooLarge`] if the image would exceed
    /// [`ImageBuilder::MAX_IMAGE_SIZE_BYTES`].
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{FileName, ImageBuilder, VolumeId};
    ///
    /// let mut builder = ImageBuilder::new(VolumeId::parse("STACKCFG")?);
    /// builder.add_file(FileName::parse("config.json")?, "{}")?;
    /// // 23 fixed sectors, one directory sector per tree, one data sector.
    /// assert_eq!(builder.build()?.size_bytes(), 26 * 2048);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Image, BuildError> {
        let Self {
            volume_id,
            recorded_at,
            mut files,
            folded_names: _,
        } = self;
        files.sort_by(|a, b| order::cmp_joliet(&a.name, &b.name));
        let joliet_ids: Vec<Vec<u8>> = files
            .iter()
            .map(|f| fields::ucs2_be(f.name.as_str()))
            .collect();
        let short_names = short_name::assign(files.iter().map(|f| &f.name));
        let short_ids: Vec<Vec<u8>> = short_names.iter().map(ShortName::identifier).collect();

        let file_sizes: Vec<u64> = files.iter().map(|f| f.contents.len() as u64).collect();
        let plan = SectorPlan::new(
            &file_sizes,
            directory::directory_size_bytes(short_ids.iter().map(Vec::len)),
            directory::directory_size_bytes(joliet_ids.iter().map(Vec::len)),
        )?;

        // Both directories list the same files, so `plan.files[i]` is the
        // data of `short_ids[i]` and `joliet_ids[i]` alike.
        let mut primary_order: Vec<usize> = (0..files.len()).collect();
        primary_order.sort_by(|&a, &b| order::cmp_short(&short_names[a], &short_names[b]));
        let primary_entries: Vec<Entry<'_>> = primary_order
            .iter()
            .map(|&i| Entry {
                identifier: &short_ids[i],
                extent: plan.files[i],
            })
            .collect();
        let joliet_entries: Vec<Entry<'_>> = joliet_ids
            .iter()
            .zip(&plan.files)
            .map(|(identifier, &extent)| Entry { identifier, extent })
            .collect();

        let head = encode_metadata(
            &volume_id,
            recorded_at,
            &plan,
            &primary_entries,
            &joliet_entries,
        );
        Ok(Image {
            head,
            data: files.into_iter().map(|f| f.contents).collect(),
            total_sectors: plan.total_sectors,
        })
    }
}

fn check_file_size(name: &FileName, size_bytes: u64) -> Result<(), AddFileError> {
    if size_bytes > ImageBuilder::MAX_FILE_SIZE_BYTES {
        return Err(AddFileError::FileTooLarge {
            name: name.as_str().to_owned(),
            size_bytes,
            max_bytes: ImageBuilder::MAX_FILE_SIZE_BYTES,
        });
    }
    Ok(())
}

/// Encodes every sector before the file data: system area, descriptors,
/// path tables and both root directories.
fn encode_metadata(
    volume_id: &VolumeId,
    recorded_at: Timestamp,
    plan: &SectorPlan,
    primary_entries: &[Entry<'_>],
    joliet_entries: &[Entry<'_>],
) -> Vec<u8> {
    let descriptor = |tree, tree_plan: &TreePlan| VolumeDescriptor {
        tree,
        volume_id,
        volume_space_sectors: plan.total_sectors,
        path_table_size_bytes: path_table::ROOT_ONLY_SIZE_BYTES,
        l_path_table_sector: tree_plan.l_path_table_sector,
        m_path_table_sector: tree_plan.m_path_table_sector,
        root: tree_plan.root,
        recorded_at,
    };
    let mut head = vec![0u8; SYSTEM_AREA_SECTORS as usize * SECTOR_SIZE];
    head.extend(descriptor(Tree::Primary, &plan.primary).encode());
    head.extend(descriptor(Tree::Joliet, &plan.joliet).encode());
    head.extend(descriptor::terminator());
    for tree_plan in [&plan.primary, &plan.joliet] {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            head.extend(path_table::root_only(tree_plan.root.sector, order));
            fields::pad_to_sector(&mut head);
        }
    }
    for (tree_plan, entries) in [
        (&plan.primary, primary_entries),
        (&plan.joliet, joliet_entries),
    ] {
        let root = tree_plan.root;
        head.extend(directory::encode_directory(
            root,
            root,
            entries,
            recorded_at,
        ));
    }
    head
}

/// Where one tree's path tables and root directory go.
#[derive(Debug, Clone, Copy)]
struct TreePlan {
    l_path_table_sector: u32,
    m_path_table_sector: u32,
    root: Extent,
}

/// Where everything goes, in sectors, before any bytes are encoded.
#[derive(Debug)]
struct SectorPlan {
    primary: TreePlan,
    joliet: TreePlan,
    /// One extent per file, in the order given.
    files: Vec<Extent>,
    total_sectors: u32,
}

impl SectorPlan {
    /// Plans the sectors of an image whose files have `file_sizes` bytes and
    /// whose root directories have the given sizes, in the order of the
    /// table in the module docs.
    fn new(
        file_sizes: &[u64],
        primary_dir_size_bytes: usize,
        joliet_dir_size_bytes: usize,
    ) -> Result<Self, BuildError> {
        let mut next = FIRST_PATH_TABLE_SECTOR;
        let mut allocate = |size_bytes: u64| {
            let sector = next;
            next += fields::sectors_for(size_bytes);
            (sector, size_bytes)
        };
        let path_table_size = u64::from(path_table::ROOT_ONLY_SIZE_BYTES);
        let path_tables = [(); 4].map(|()| allocate(path_table_size).0);
        let primary_root = allocate(primary_dir_size_bytes as u64);
        let joliet_root = allocate(joliet_dir_size_bytes as u64);
        // An empty file gets the next free sector and uses none, as
        // genisoimage does; readers never read a zero-length extent.
        let file_extents: Vec<(u64, u64)> = file_sizes.iter().map(|&size| allocate(size)).collect();

        // Every sector is below `next` and every size is a directory size or
        // a checked file size, so once `next` fits in 32 bits the rest does.
        let fits = |value: u64| {
            u32::try_from(value).map_err(|_| BuildError::ImageTooLarge {
                size_bytes: next.saturating_mul(SECTOR_SIZE_U64),
                max_bytes: ImageBuilder::MAX_IMAGE_SIZE_BYTES,
            })
        };
        let extent = |(sector, size_bytes): (u64, u64)| -> Result<Extent, BuildError> {
            Ok(Extent {
                sector: fits(sector)?,
                size_bytes: fits(size_bytes)?,
            })
        };
        let tree = |l: u64, m: u64, root| -> Result<TreePlan, BuildError> {
            Ok(TreePlan {
                l_path_table_sector: fits(l)?,
                m_path_table_sector: fits(m)?,
                root: extent(root)?,
            })
        };
        let [primary_l, primary_m, joliet_l, joliet_m] = path_tables;
        Ok(Self {
            total_sectors: fits(next)?,
            primary: tree(primary_l, primary_m, primary_root)?,
            joliet: tree(joliet_l, joliet_m, joliet_root)?,
            files: file_extents
                .into_iter()
                .map(extent)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A laid-out image, ready to be written any number of times.
///
/// Writing the same `Image`, or building one from the same files, volume id
/// and timestamp, always gives the same bytes. Like [`ImageBuilder`], its
/// `Debug` output leaves out file contents.
#[derive(Clone)]
pub struct Image {
    /// Every sector before the file data: system area, descriptors, path
    /// tables and both directories.
    head: Vec<u8>,
    /// File contents in data order (Joliet directory order).
    data: Vec<Vec<u8>>,
    total_sectors: u32,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("size_bytes", &self.size_bytes())
            .field("files", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl Image {
    /// Size of the image in bytes, always a whole number of sectors.
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{ImageBuilder, VolumeId};
    ///
    /// let image = ImageBuilder::new(VolumeId::parse("STACKCFG")?).build()?;
    /// assert_eq!(image.size_bytes() % 2048, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn size_bytes(&self) -> u64 {
        u64::from(self.total_sectors) * SECTOR_SIZE_U64
    }

    /// Writes the whole image to `out`, sequentially, without seeking.
    ///
    /// The writer issues a few large writes (all metadata at once, then each
    /// file and its padding), so `out` needs no extra buffering.
    ///
    /// # Errors
    ///
    /// Returns the first error `out` reports; the image may then be
    /// partially written.
    ///
    /// # Examples
    ///
    /// ```
    /// use iso9660::{FileName, ImageBuilder, VolumeId};
    ///
    /// let mut builder = ImageBuilder::new(VolumeId::parse("STACKCFG")?);
    /// builder.add_file(FileName::parse("config.json")?, "{}")?;
    /// let image = builder.build()?;
    /// let mut first = Vec::new();
    /// let mut second = Vec::new();
    /// image.write_to(&mut first)?;
    /// image.write_to(&mut second)?;
    /// assert_eq!(first, second);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_to<W: Write>(&self, mut out: W) -> io::Result<()> {
        out.write_all(&self.head)?;
        let zeros = [0u8; SECTOR_SIZE];
        for contents in &self.data {
            out.write_all(contents)?;
            let rem = contents.len() % SECTOR_SIZE;
            if rem != 0 {
                out.write_all(&zeros[rem..])?;
            }
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests;
