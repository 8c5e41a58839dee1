//! Level-1 (8.3) identifiers for the primary tree, derived from the Joliet
//! names and made unique within the directory.
//!
//! Readers without Joliet support see these names; a Linux guest mounting
//! with Joliet (the default) never does. Only files are named here: the
//! writer has no subdirectories, so directory identifiers are left out.

use std::collections::HashSet;

use crate::file_name::FileName;
use crate::volume_id::is_d_character;

/// Most d-characters in a level-1 file name (ECMA-119 10.1).
const MAX_STEM_LEN: usize = 8;

/// Most d-characters in a level-1 file name extension (ECMA-119 10.1).
const MAX_EXTENSION_LEN: usize = 3;

/// A level-1 file identifier, `STEM.EXT;1`: a stem of 1 to 8 d-characters
/// and an extension of 0 to 3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ShortName {
    stem: String,
    extension: String,
}

impl ShortName {
    /// The part before the separator.
    pub(crate) fn stem(&self) -> &str {
        &self.stem
    }

    /// The part after the separator (may be empty).
    pub(crate) fn extension(&self) -> &str {
        &self.extension
    }

    /// The identifier as recorded: ECMA-119 7.5.1 requires the `.`
    /// separator even when the extension is empty, then `;` and version 1.
    pub(crate) fn identifier(&self) -> Vec<u8> {
        format!("{}.{};1", self.stem, self.extension).into_bytes()
    }

    /// The name before deduplication: upper case, every other character
    /// replaced by `_`, stem and extension cut to 8 and 3 characters.
    fn candidate(name: &FileName) -> Self {
        let name = name.as_str();
        // A leading dot (".profile") starts a name, not an extension.
        let (stem, extension) = match name.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() => (stem, extension),
            _ => (name, ""),
        };
        Self {
            stem: to_d_characters(stem, MAX_STEM_LEN),
            extension: to_d_characters(extension, MAX_EXTENSION_LEN),
        }
    }

    /// The candidate with `_n` replacing the end of its stem. (Windows uses
    /// `~n`, but `~` is not a d-character.)
    fn with_suffix(&self, n: usize) -> Self {
        let suffix = format!("_{n}");
        let keep = MAX_STEM_LEN.saturating_sub(suffix.len());
        let mut stem: String = self.stem.chars().take(keep).collect();
        stem.push_str(&suffix);
        Self {
            stem,
            extension: self.extension.clone(),
        }
    }
}

fn to_d_characters(text: &str, max_len: usize) -> String {
    text.chars()
        .map(|ch| ch.to_ascii_uppercase())
        .map(|ch| if is_d_character(ch) { ch } else { '_' })
        .take(max_len)
        .collect()
}

/// Gives each name a unique short name, in the same order as `names`.
///
/// Earlier names win: the first name whose candidate is free keeps it, later
/// ones get `_1`, `_2`, ... in place of the end of their stem. Pass the names
/// in a fixed order (the writer uses Joliet directory order) so the result
/// does not depend on how the caller added files.
pub(crate) fn assign<'a>(names: impl IntoIterator<Item = &'a FileName>) -> Vec<ShortName> {
    let mut taken = HashSet::new();
    let mut assigned = Vec::new();
    for name in names {
        let candidate = ShortName::candidate(name);
        let short = if taken.contains(&candidate) {
            // Terminates: the suffixed stems are pairwise distinct (they end
            // in different "_<digits>" tails, and digits contain no '_'),
            // and fewer names are taken than there are names, so some n no
            // larger than that count is free. With at most
            // `ImageBuilder::MAX_FILES` (10 000) names the suffix never
            // exceeds "_10000", so the stem stays within 8 characters.
            (1..)
                .map(|n| candidate.with_suffix(n))
                .find(|s| !taken.contains(s))
                .unwrap_or(candidate)
        } else {
            candidate
        };
        taken.insert(short.clone());
        assigned.push(short);
    }
    assigned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shorts(names: &[&str]) -> Vec<String> {
        let parsed: Vec<FileName> = names.iter().map(|n| FileName::parse(n).unwrap()).collect();
        assign(&parsed)
            .iter()
            .map(|s| String::from_utf8(s.identifier()).unwrap())
            .collect()
    }

    #[test]
    fn maps_to_upper_case_8_3() {
        assert_eq!(
            shorts(&[
                "config.json",
                "Hello-World.txt",
                "meta-data",
                "a.b.c",
                ".profile",
                "grüße.tar.gz",
                "x.y"
            ]),
            [
                "CONFIG.JSO;1",
                "HELLO_WO.TXT;1",
                "META_DAT.;1",
                "A_B.C;1",
                "_PROFILE.;1",
                "GR__E_TA.GZ;1",
                "X.Y;1"
            ]
        );
    }

    #[test]
    fn deduplicates_with_numbered_suffixes() {
        assert_eq!(
            shorts(&[
                "config.json",
                "config.jsonc",
                "Config.json5",
                "configuration.json",
                "config-1.jso",
            ]),
            [
                "CONFIG.JSO;1",
                "CONFIG_1.JSO;1",
                "CONFIG_2.JSO;1",
                "CONFIGUR.JSO;1",
                // Its own candidate was already taken by a generated name.
                "CONFIG_3.JSO;1",
            ]
        );
    }

    #[test]
    fn long_suffixes_shorten_the_stem() {
        let names: Vec<String> = (0..12).map(|i| format!("abcdefghij{i:02}.txt")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let got = shorts(&refs);
        assert_eq!(got[0], "ABCDEFGH.TXT;1");
        assert_eq!(got[1], "ABCDEF_1.TXT;1");
        assert_eq!(got[9], "ABCDEF_9.TXT;1");
        assert_eq!(got[10], "ABCDE_10.TXT;1");
        assert_eq!(got[11], "ABCDE_11.TXT;1");
    }

    #[test]
    fn every_generated_name_is_unique_and_level_1() {
        let names: Vec<FileName> = (0..2000)
            .map(|i| FileName::parse(&format!("same-stem-{}.json", i % 7)).unwrap())
            .collect();
        let assigned = assign(&names);
        let unique: HashSet<_> = assigned.iter().collect();
        assert_eq!(unique.len(), assigned.len());
        for s in &assigned {
            assert!((1..=8).contains(&s.stem().len()), "{s:?}");
            assert!(s.extension().len() <= 3, "{s:?}");
            assert!(s.stem().chars().all(is_d_character), "{s:?}");
            assert!(s.extension().chars().all(is_d_character), "{s:?}");
        }
    }
}
