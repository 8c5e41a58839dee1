//! Path tables (ECMA-119 9.4) for a volume whose only directory is the
//! root: one ten-byte record, written once little-endian (type L) and once
//! big-endian (type M).
//!
//! Records for subdirectories are left out because the writer builds none.

/// Byte order of the numbers in a path table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    /// Type L path table (ECMA-119 7.3.1, 7.2.1).
    Little,
    /// Type M path table (ECMA-119 7.3.2, 7.2.2).
    Big,
}

/// Size in bytes of a path table holding only the root record: 8 fixed
/// bytes, the one-byte root identifier, and one padding byte.
pub(crate) const ROOT_ONLY_SIZE_BYTES: u32 = 10;

/// Encodes the path table of a volume whose root directory starts at
/// `root_sector`.
pub(crate) fn root_only(root_sector: u32, order: ByteOrder) -> Vec<u8> {
    let (sector, parent) = match order {
        ByteOrder::Little => (root_sector.to_le_bytes(), 1u16.to_le_bytes()),
        ByteOrder::Big => (root_sector.to_be_bytes(), 1u16.to_be_bytes()),
    };
    let mut out = Vec::with_capacity(10);
    out.push(1); // length of directory identifier
    out.push(0); // extended attribute record length
    out.extend_from_slice(&sector);
    out.extend_from_slice(&parent); // the root is its own parent, number 1
    out.push(0); // root identifier
    out.push(0); // padding to an even length
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_table() {
        assert_eq!(
            root_only(0x0102_0304, ByteOrder::Little),
            [1, 0, 4, 3, 2, 1, 1, 0, 0, 0]
        );
    }

    #[test]
    fn big_endian_table() {
        assert_eq!(
            root_only(0x0102_0304, ByteOrder::Big),
            [1, 0, 1, 2, 3, 4, 0, 1, 0, 0]
        );
    }

    #[test]
    fn size_constant_matches_encoding() {
        assert_eq!(
            root_only(23, ByteOrder::Little).len(),
            ROOT_ONLY_SIZE_BYTES as usize
        );
    }
}
