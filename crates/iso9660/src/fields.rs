//! Byte encodings of the ECMA-119 field types the writer emits: numbers
//! recorded in one or both byte orders, and fixed-width text fields padded
//! with spaces in either a-/d-characters (primary tree) or UCS-2 big-endian
//! (Joliet tree).
//!
//! It knows nothing about where a field sits; the descriptor, path table and
//! directory modules own the layouts.

/// Bytes in one logical sector (and one logical block; the writer uses the
/// same size for both, as every CD-ROM image does).
pub(crate) const SECTOR_SIZE: usize = 2048;

/// [`SECTOR_SIZE`] as a `u64`, for sector arithmetic on image offsets.
pub(crate) const SECTOR_SIZE_U64: u64 = 2048;

/// ECMA-119 7.2.3: a 16-bit number recorded little-endian, then big-endian.
pub(crate) fn both_endian_u16(value: u16) -> [u8; 4] {
    let [lo, hi] = value.to_le_bytes();
    [lo, hi, hi, lo]
}

/// ECMA-119 7.3.3: a 32-bit number recorded little-endian, then big-endian.
pub(crate) fn both_endian_u32(value: u32) -> [u8; 8] {
    let [b0, b1, b2, b3] = value.to_le_bytes();
    [b0, b1, b2, b3, b3, b2, b1, b0]
}

/// How a volume descriptor records its text fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextEncoding {
    /// One byte per character, padded with `0x20` (primary descriptor).
    Ascii,
    /// UCS-2 big-endian, padded with U+0020 (Joliet descriptor).
    Ucs2,
}

/// Appends `text` padded with spaces to exactly `width` bytes.
///
/// Callers pass text that fits (identifiers are length-checked when parsed);
/// anything longer is cut at `width` rather than overflowing the field. A
/// UCS-2 field of odd width ends in one `0x00` byte, because a space cannot
/// be split in half.
pub(crate) fn push_padded_text(
    out: &mut Vec<u8>,
    text: &str,
    width: usize,
    encoding: TextEncoding,
) {
    let start = out.len();
    match encoding {
        TextEncoding::Ascii => {
            out.extend(text.bytes().take(width));
            out.resize(start + width, b' ');
        }
        TextEncoding::Ucs2 => {
            let units = text.encode_utf16().chain(std::iter::repeat(0x0020));
            for unit in units.take(width / 2) {
                out.extend_from_slice(&unit.to_be_bytes());
            }
            out.resize(start + width, 0);
        }
    }
}

/// Encodes `text` as UCS-2 big-endian with no padding (Joliet identifiers).
pub(crate) fn ucs2_be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Appends zero bytes until `out.len()` is a multiple of [`SECTOR_SIZE`].
pub(crate) fn pad_to_sector(out: &mut Vec<u8>) {
    let rem = out.len() % SECTOR_SIZE;
    if rem != 0 {
        out.resize(out.len() + (SECTOR_SIZE - rem), 0);
    }
}

/// Number of sectors needed to hold `size_bytes` bytes.
pub(crate) fn sectors_for(size_bytes: u64) -> u64 {
    size_bytes.div_ceil(SECTOR_SIZE_U64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_endian_u16_is_le_then_be() {
        assert_eq!(both_endian_u16(0x1234), [0x34, 0x12, 0x12, 0x34]);
    }

    #[test]
    fn both_endian_u32_is_le_then_be() {
        assert_eq!(
            both_endian_u32(0x0102_0304),
            [0x04, 0x03, 0x02, 0x01, 0x01, 0x02, 0x03, 0x04]
        );
    }

    #[test]
    fn ascii_text_is_space_padded() {
        let mut out = vec![];
        push_padded_text(&mut out, "AB", 5, TextEncoding::Ascii);
        assert_eq!(out, b"AB   ");
    }

    #[test]
    fn ucs2_text_is_space_padded_and_odd_width_ends_in_zero() {
        let mut out = vec![];
        push_padded_text(&mut out, "A", 7, TextEncoding::Ucs2);
        assert_eq!(out, [0, b'A', 0, b' ', 0, b' ', 0]);
    }

    #[test]
    fn text_longer_than_field_is_cut() {
        let mut out = vec![];
        push_padded_text(&mut out, "ABCDEF", 4, TextEncoding::Ascii);
        assert_eq!(out, b"ABCD");
        let mut out = vec![];
        push_padded_text(&mut out, "ABCDEF", 4, TextEncoding::Ucs2);
        assert_eq!(out, [0, b'A', 0, b'B']);
    }

    #[test]
    fn pad_to_sector_rounds_up_only_partial_sectors() {
        let mut out = vec![1; 10];
        pad_to_sector(&mut out);
        assert_eq!(out.len(), SECTOR_SIZE);
        pad_to_sector(&mut out);
        assert_eq!(out.len(), SECTOR_SIZE);
        assert_eq!(sectors_for(0), 0);
        assert_eq!(sectors_for(1), 1);
        assert_eq!(sectors_for(2048), 1);
        assert_eq!(sectors_for(2049), 2);
    }
}
