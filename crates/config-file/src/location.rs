//! Turning oxc's byte offsets into the `line:column` people and editors use.

/// A 1-based line and column in a source text.
///
/// Lines are counted by `\n` (so `\r\n` files count right); the column counts
/// characters (Unicode scalar values), not bytes, the way editors do when
/// they open `path:line:column`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl Location {
    /// Where byte `offset` of `source` is. An offset past the end, or inside
    /// a character, is clamped back to the last character boundary before it.
    pub(crate) fn of(source: &str, offset: u32) -> Self {
        let mut end = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(source.len());
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        let before = &source[..end];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let line = before.bytes().filter(|byte| *byte == b'\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        Self {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn counts_lines_and_characters_from_one() {
        let source = "ab\r\nc\u{e9}d\nx";
        assert_eq!(Location::of(source, 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of(source, 1), Location { line: 1, column: 2 });
        assert_eq!(Location::of(source, 4), Location { line: 2, column: 1 });
        // `é` is two bytes but one column.
        assert_eq!(Location::of(source, 7), Location { line: 2, column: 3 });
        assert_eq!(Location::of(source, 9), Location { line: 3, column: 1 });
        assert_eq!(Location::of(source, 99), Location { line: 3, column: 2 });
        // Inside `é`: clamped to its start.
        assert_eq!(Location::of(source, 6), Location { line: 2, column: 2 });
    }
}
