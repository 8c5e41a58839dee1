//! Directory records (ECMA-119 9.1) and the directory extents built from
//! them: the `.` and `..` records, then one record per file, packed so that
//! no record crosses a sector boundary (ECMA-119 6.8.1.1).
//!
//! Only a root directory is built; subdirectories, extended attribute
//! records, multi-extent files and Rock Ridge system use fields are left out.

use crate::fields::{SECTOR_SIZE, both_endian_u16, both_endian_u32};
use crate::timestamp::Timestamp;

/// File flag bit 1: the record describes a directory.
const FLAG_DIRECTORY: u8 = 0x02;

/// Identifier of the `.` record (ECMA-119 6.8.2.2).
pub(crate) const SELF_IDENTIFIER: &[u8] = &[0x00];

/// Identifier of the `..` record (ECMA-119 6.8.2.2).
const PARENT_IDENTIFIER: &[u8] = &[0x01];

/// Where a file's or directory's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    /// First logical block.
    pub(crate) sector: u32,
    /// Data length in bytes.
    pub(crate) size_bytes: u32,
}

/// Whether a record describes a file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// Length of a record with an identifier of `identifier_len` bytes: 33 fixed
/// bytes, the identifier, and a padding byte if that sum is odd.
pub(crate) fn record_len(identifier_len: usize) -> usize {
    let len = 33 + identifier_len;
    len + len % 2
}

/// Appends one directory record.
///
/// Identifiers come from `FileName` (at most 128 bytes as UCS-2) or
/// `ShortName` (at most 14 bytes), so the record length fits its one-byte
/// field.
pub(crate) fn push_record(
    out: &mut Vec<u8>,
    identifier: &[u8],
    extent: Extent,
    kind: RecordKind,
    recorded_at: Timestamp,
) {
    let flags = match kind {
        RecordKind::File => 0,
        RecordKind::Directory => FLAG_DIRECTORY,
    };
    out.push(record_len(identifier.len()) as u8);
    out.push(0); // extended attribute record length
    out.extend_from_slice(&both_endian_u32(extent.sector));
    out.extend_from_slice(&both_endian_u32(extent.size_bytes));
    out.extend_from_slice(&recorded_at.directory_record_bytes());
    out.push(flags);
    out.push(0); // file unit size: not interleaved
    out.push(0); // interleave gap size
    out.extend_from_slice(&both_endian_u16(1)); // volume sequence number
    out.push(identifier.len() as u8);
    out.extend_from_slice(identifier);
    if identifier.len().is_multiple_of(2) {
        out.push(0);
    }
}

/// Offset at which a record of `len` bytes starts when the previous record
/// ended at `offset`: the same offset, or the next sector if it would
/// otherwise cross a sector boundary.
fn record_start(offset: usize, len: usize) -> usize {
    let used = offset % SECTOR_SIZE;
    if used + len > SECTOR_SIZE {
        offset - used + SECTOR_SIZE
    } else {
        offset
    }
}

/// Size in bytes (whole sectors) of a directory holding `.`, `..` and one
/// record per identifier length, in order.
pub(crate) fn directory_size_bytes(identifier_lens: impl IntoIterator<Item = usize>) -> usize {
    let dots = [SELF_IDENTIFIER.len(), PARENT_IDENTIFIER.len()];
    let end = dots
        .into_iter()
        .chain(identifier_lens)
        .map(record_len)
        .fold(0, |offset, len| record_start(offset, len) + len);
    end.div_ceil(SECTOR_SIZE) * SECTOR_SIZE
}

/// One file record of a directory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    /// The file identifier as recorded.
    pub(crate) identifier: &'a [u8],
    /// The file's data.
    pub(crate) extent: Extent,
}

/// Encodes a whole directory extent, whose size is
/// [`directory_size_bytes`] of the same identifiers.
pub(crate) fn encode_directory(
    this: Extent,
    parent: Extent,
    entries: &[Entry<'_>],
    recorded_at: Timestamp,
) -> Vec<u8> {
    let dots = [
        (SELF_IDENTIFIER, this, RecordKind::Directory),
        (PARENT_IDENTIFIER, parent, RecordKind::Directory),
    ];
    let files = entries
        .iter()
        .map(|e| (e.identifier, e.extent, RecordKind::File));
    let mut out = Vec::new();
    for (identifier, extent, kind) in dots.into_iter().chain(files) {
        let start = record_start(out.len(), record_len(identifier.len()));
        out.resize(start, 0);
        push_record(&mut out, identifier, extent, kind, recorded_at);
    }
    crate::fields::pad_to_sector(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Timestamp = Timestamp::UNIX_EPOCH;

    #[test]
    fn root_record_layout() {
        let mut out = vec![];
        let extent = Extent {
            sector: 0x17,
            size_bytes: 0x800,
        };
        push_record(&mut out, SELF_IDENTIFIER, extent, RecordKind::Directory, AT);
        #[rustfmt::skip]
        let expected: [u8; 34] = [
            34, 0,
            0x17, 0, 0, 0, 0, 0, 0, 0x17,
            0, 0x08, 0, 0, 0, 0, 0x08, 0,
            70, 1, 1, 0, 0, 0, 0,
            0x02, 0, 0,
            1, 0, 0, 1,
            1, 0x00,
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn file_record_pads_to_even_length() {
        let extent = Extent {
            sector: 30,
            size_bytes: 5,
        };
        let mut even_id = vec![];
        push_record(&mut even_id, b"AB.C;1", extent, RecordKind::File, AT);
        assert_eq!(even_id.len(), 40);
        assert_eq!(even_id[0], 40);
        assert_eq!(even_id[25], 0, "file flags");
        assert_eq!(&even_id[32..39], b"\x06AB.C;1");
        assert_eq!(even_id[39], 0, "padding byte");

        let mut odd_id = vec![];
        push_record(&mut odd_id, b"A.C;1", extent, RecordKind::File, AT);
        assert_eq!(odd_id.len(), 38);
        assert_eq!(odd_id[0], 38);
    }

    #[test]
    fn records_never_cross_sector_boundaries() {
        // 64-character Joliet names: 33 + 128 + 1 = 162-byte records. The
        // dots take 68 bytes, so 12 records fit in the first sector
        // (68 + 12 * 162 = 2012) and the 13th starts the second sector.
        let id = vec![0x41; 128];
        let extent = Extent {
            sector: 40,
            size_bytes: 1,
        };
        let entries = vec![
            Entry {
                identifier: &id,
                extent
            };
            13
        ];
        let dir = encode_directory(extent, extent, &entries, AT);
        assert_eq!(dir.len(), 2 * SECTOR_SIZE);
        assert_eq!(directory_size_bytes(vec![128; 13]), dir.len());
        assert_eq!(dir[2012..SECTOR_SIZE], [0; 36]);
        assert_eq!(dir[SECTOR_SIZE], 162);
        assert_eq!(directory_size_bytes(vec![128; 12]), SECTOR_SIZE);
    }

    #[test]
    fn size_matches_encoding_for_many_lengths() {
        for count in [0, 1, 50, 200] {
            let ids: Vec<Vec<u8>> = (0..count).map(|i| vec![0x41; 1 + i % 128]).collect();
            let extent = Extent {
                sector: 1,
                size_bytes: 1,
            };
            let entries: Vec<Entry<'_>> = ids
                .iter()
                .map(|id| Entry {
                    identifier: id,
                    extent,
                })
                .collect();
            let dir = encode_directory(extent, extent, &entries, AT);
            assert_eq!(directory_size_bytes(ids.iter().map(Vec::len)), dir.len());
        }
    }
}
