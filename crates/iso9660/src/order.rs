//! The order of file records within a directory (ECMA-119 9.3), for both
//! trees: names compared first, then extensions, each padded on the right
//! with spaces, code unit by code unit.
//!
//! Version numbers are left out of the comparison because every file has
//! version 1 (primary tree) or none (Joliet tree).

use std::cmp::Ordering;

use crate::file_name::FileName;
use crate::short_name::ShortName;

/// Compares two sequences after padding the shorter with `pad`.
fn cmp_padded<T: Ord + Copy>(a: &[T], b: &[T], pad: T) -> Ordering {
    let len = a.len().max(b.len());
    let a = a.iter().copied().chain(std::iter::repeat(pad)).take(len);
    let b = b.iter().copied().chain(std::iter::repeat(pad)).take(len);
    a.cmp(b)
}

/// Splits at the last `.`, the separator between name and extension.
fn split_extension(name: &str) -> (&str, &str) {
    name.rsplit_once('.').unwrap_or((name, ""))
}

/// Orders primary-tree identifiers.
pub(crate) fn cmp_short(a: &ShortName, b: &ShortName) -> Ordering {
    cmp_padded(a.stem().as_bytes(), b.stem().as_bytes(), b' ')
        .then_with(|| cmp_padded(a.extension().as_bytes(), b.extension().as_bytes(), b' '))
}

/// Orders Joliet identifiers, comparing UCS-2 code units.
pub(crate) fn cmp_joliet(a: &FileName, b: &FileName) -> Ordering {
    let units = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
    let (a_stem, a_ext) = split_extension(a.as_str());
    let (b_stem, b_ext) = split_extension(b.as_str());
    cmp_padded(&units(a_stem), &units(b_stem), 0x0020)
        .then_with(|| cmp_padded(&units(a_ext), &units(b_ext), 0x0020))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_joliet(names: &[&str]) -> Vec<String> {
        let mut parsed: Vec<FileName> = names.iter().map(|n| FileName::parse(n).unwrap()).collect();
        parsed.sort_by(cmp_joliet);
        parsed.iter().map(|n| n.as_str().to_owned()).collect()
    }

    #[test]
    fn padding_with_space_sorts_prefix_first() {
        assert_eq!(cmp_padded(b"A", b"A_", b' '), Ordering::Less);
        assert_eq!(cmp_padded(b"A ", b"A", b' '), Ordering::Equal);
        assert_eq!(cmp_padded(b"B", b"AZ", b' '), Ordering::Greater);
    }

    #[test]
    fn joliet_names_compare_stem_before_extension() {
        assert_eq!(
            sorted_joliet(&["b.a", "a.z", "a-b.a", "a", "A.json", "a.json"]),
            ["A.json", "a", "a.json", "a.z", "a-b.a", "b.a"]
        );
    }

    #[test]
    fn joliet_names_compare_ucs2_units() {
        // U+00E9 sorts after every ASCII character.
        assert_eq!(sorted_joliet(&["é", "z", "Z"]), ["Z", "z", "é"]);
    }
}
