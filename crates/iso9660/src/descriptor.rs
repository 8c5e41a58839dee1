//! Volume descriptors: the Primary Volume Descriptor (ECMA-119 8.4), the
//! Joliet Supplementary Volume Descriptor (ECMA-119 8.5 with the Joliet
//! escape sequence for UCS-2 level 3), and the set terminator (8.3).
//!
//! The optional identifiers (system, volume set, publisher, data preparer,
//! application, copyright/abstract/bibliographic files) are left blank,
//! boot records and optional path tables are left out, and the expiration
//! and effective dates are written as "not specified".

use crate::directory::{Extent, RecordKind, SELF_IDENTIFIER, push_record};
use crate::fields::{
    SECTOR_SIZE, TextEncoding, both_endian_u16, both_endian_u32, push_padded_text,
};
use crate::timestamp::{Timestamp, UNSET_DESCRIPTOR_DATE};
use crate::volume_id::VolumeId;

/// Standard identifier of every volume descriptor (ECMA-119 8.1.2).
const STANDARD_IDENTIFIER: &[u8; 5] = b"CD001";

/// Joliet escape sequence for UCS-2 level 3 (all of UCS-2, including
/// combining characters), recorded in the SVD's escape sequences field.
pub(crate) const JOLIET_LEVEL_3_ESCAPE: &[u8; 3] = b"%/E";

/// Which directory tree a descriptor describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tree {
    /// ISO 9660 level-1 names, described by the Primary Volume Descriptor.
    Primary,
    /// Joliet UCS-2 names, described by a Supplementary Volume Descriptor.
    Joliet,
}

impl Tree {
    fn type_code(self) -> u8 {
        match self {
            Self::Primary => 1,
            Self::Joliet => 2,
        }
    }

    fn encoding(self) -> TextEncoding {
        match self {
            Self::Primary => TextEncoding::Ascii,
            Self::Joliet => TextEncoding::Ucs2,
        }
    }
}

/// Everything that varies between the descriptors of one image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VolumeDescriptor<'a> {
    /// The tree described.
    pub(crate) tree: Tree,
    /// The volume label.
    pub(crate) volume_id: &'a VolumeId,
    /// Size of the whole image in logical blocks.
    pub(crate) volume_space_sectors: u32,
    /// Size in bytes of each of this tree's path tables.
    pub(crate) path_table_size_bytes: u32,
    /// First block of this tree's type L path table.
    pub(crate) l_path_table_sector: u32,
    /// First block of this tree's type M path table.
    pub(crate) m_path_table_sector: u32,
    /// This tree's root directory.
    pub(crate) root: Extent,
    /// Creation and modification time of the volume.
    pub(crate) recorded_at: Timestamp,
}

impl VolumeDescriptor<'_> {
    /// Encodes the descriptor as one sector.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let text = |out: &mut Vec<u8>, s: &str, width: usize| {
            push_padded_text(out, s, width, self.tree.encoding());
        };
        let mut out = Vec::with_capacity(SECTOR_SIZE);
        out.push(self.tree.type_code());
        out.extend_from_slice(STANDARD_IDENTIFIER);
        out.push(1); // descriptor version
        out.push(0); // PVD: unused; SVD: volume flags, none set
        text(&mut out, "", 32); // system identifier
        text(&mut out, self.volume_id.as_str(), 32);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&both_endian_u32(self.volume_space_sectors));
        let mut escapes = [0u8; 32];
        if self.tree == Tree::Joliet {
            escapes[..3].copy_from_slice(JOLIET_LEVEL_3_ESCAPE);
        }
        out.extend_from_slice(&escapes);
        out.extend_from_slice(&both_endian_u16(1)); // volume set size
        out.extend_from_slice(&both_endian_u16(1)); // volume sequence number
        out.extend_from_slice(&both_endian_u16(SECTOR_SIZE as u16)); // logical block size
        out.extend_from_slice(&both_endian_u32(self.path_table_size_bytes));
        out.extend_from_slice(&self.l_path_table_sector.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // optional type L path table: none
        out.extend_from_slice(&self.m_path_table_sector.to_be_bytes());
        out.extend_from_slice(&[0; 4]); // optional type M path table: none
        push_record(
            &mut out,
            SELF_IDENTIFIER,
            self.root,
            RecordKind::Directory,
            self.recorded_at,
        );
        text(&mut out, "", 128); // volume set identifier
        text(&mut out, "", 128); // publisher identifier
        text(&mut out, "", 128); // data preparer identifier
        text(&mut out, "", 128); // application identifier
        text(&mut out, "", 37); // copyright file identifier
        text(&mut out, "", 37); // abstract file identifier
        text(&mut out, "", 37); // bibliographic file identifier
        let recorded = self.recorded_at.descriptor_bytes();
        out.extend_from_slice(&recorded); // creation
        out.extend_from_slice(&recorded); // modification
        out.extend_from_slice(&UNSET_DESCRIPTOR_DATE); // expiration
        out.extend_from_slice(&UNSET_DESCRIPTOR_DATE); // effective
        out.push(1); // file structure version
        out.resize(SECTOR_SIZE, 0); // reserved, application use, reserved
        out
    }
}

/// Encodes the Volume Descriptor Set Terminator (ECMA-119 8.3).
pub(crate) fn terminator() -> Vec<u8> {
    let mut out = Vec::with_capacity(SECTOR_SIZE);
    out.push(255);
    out.extend_from_slice(STANDARD_IDENTIFIER);
    out.push(1);
    out.resize(SECTOR_SIZE, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(tree: Tree, volume_id: &VolumeId) -> Vec<u8> {
        VolumeDescriptor {
            tree,
            volume_id,
            volume_space_sectors: 0x0001_0203,
            path_table_size_bytes: 10,
            l_path_table_sector: 19,
            m_path_table_sector: 20,
            root: Extent {
                sector: 23,
                size_bytes: 2048,
            },
            recorded_at: Timestamp::new(2024, 5, 6, 7, 8, 9).unwrap(),
        }
        .encode()
    }

    #[test]
    fn primary_descriptor_fields_sit_at_ecma_119_offsets() {
        let id = VolumeId::parse("STACKCFG").unwrap();
        let d = descriptor(Tree::Primary, &id);
        assert_eq!(d.len(), 2048);
        assert_eq!(&d[0..7], b"\x01CD001\x01");
        assert_eq!(d[7], 0);
        assert_eq!(&d[8..40], [b' '; 32]);
        assert_eq!(&d[40..72], b"STACKCFG                        ");
        assert_eq!(&d[72..80], [0; 8]);
        assert_eq!(&d[80..88], [3, 2, 1, 0, 0, 1, 2, 3]);
        assert_eq!(&d[88..120], [0; 32]);
        assert_eq!(&d[120..124], [1, 0, 0, 1]);
        assert_eq!(&d[124..128], [1, 0, 0, 1]);
        assert_eq!(&d[128..132], [0, 8, 8, 0]);
        assert_eq!(&d[132..140], [10, 0, 0, 0, 0, 0, 0, 10]);
        assert_eq!(&d[140..144], [19, 0, 0, 0]);
        assert_eq!(&d[144..148], [0; 4]);
        assert_eq!(&d[148..152], [0, 0, 0, 20]);
        assert_eq!(&d[152..156], [0; 4]);
        // Root directory record.
        assert_eq!(d[156], 34);
        assert_eq!(&d[158..166], [23, 0, 0, 0, 0, 0, 0, 23]);
        assert_eq!(&d[166..174], [0, 8, 0, 0, 0, 0, 8, 0]);
        assert_eq!(&d[174..181], [124, 5, 6, 7, 8, 9, 0]);
        assert_eq!(d[181], 2);
        assert_eq!(&d[188..190], [1, 0]);
        assert!(d[190..813].iter().all(|&b| b == b' '));
        assert_eq!(&d[813..830], b"2024050607080900\0");
        assert_eq!(&d[830..847], b"2024050607080900\0");
        assert_eq!(&d[847..864], b"0000000000000000\0");
        assert_eq!(&d[864..881], b"0000000000000000\0");
        assert_eq!(d[881], 1);
        assert!(d[882..].iter().all(|&b| b == 0));
    }

    #[test]
    fn joliet_descriptor_uses_ucs2_and_level_3_escape() {
        let id = VolumeId::parse("STACKCFG").unwrap();
        let d = descriptor(Tree::Joliet, &id);
        assert_eq!(d.len(), 2048);
        assert_eq!(&d[0..7], b"\x02CD001\x01");
        assert_eq!(&d[8..40], [0, b' '].repeat(16));
        let mut label: Vec<u8> = "STACKCFG".bytes().flat_map(|b| [0, b]).collect();
        label.extend([0, b' '].repeat(8));
        assert_eq!(&d[40..72], label);
        assert_eq!(&d[88..91], b"%/E");
        assert_eq!(&d[91..120], [0; 29]);
        assert_eq!(&d[80..88], [3, 2, 1, 0, 0, 1, 2, 3]);
        assert_eq!(d[156], 34);
        assert_eq!(&d[190..318], [0, b' '].repeat(64));
        // 37-byte fields: 18 UCS-2 spaces and a zero byte.
        let mut file_id = [0, b' '].repeat(18);
        file_id.push(0);
        assert_eq!(&d[702..739], file_id);
        assert_eq!(&d[813..830], b"2024050607080900\0");
        assert_eq!(d[881], 1);
    }

    #[test]
    fn terminator_layout() {
        let t = terminator();
        assert_eq!(t.len(), 2048);
        assert_eq!(&t[0..7], b"\xffCD001\x01");
        assert!(t[7..].iter().all(|&b| b == 0));
    }
}
