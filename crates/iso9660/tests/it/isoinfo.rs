//! Reads images back with `isoinfo` (Debian package genisoimage): the
//! descriptors, both directory trees, and file contents through both.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::support::{
    SampleFile, TempDir, latin1_to_string, require_tool, run, sample_files, string_to_latin1,
};

fn isoinfo() -> PathBuf {
    require_tool("isoinfo", "genisoimage")
}

/// Runs `isoinfo` on `image` with `args`, decoding its output as Latin-1
/// (the charset the Joliet tests ask it for).
fn isoinfo_text(image: &Path, args: &[&str]) -> String {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.extend([OsStr::new("-i"), image.as_os_str()]);
    latin1_to_string(&run(&isoinfo(), all).stdout)
}

/// Parses an `isoinfo -l` listing of the root into (name, size) pairs in
/// directory order, leaving out `.` and `..`. Lines look like
/// `----------   0    0    0     8 Jan  1 1970 [     30 00]  config.json `.
fn listing(output: &str) -> Vec<(String, u64)> {
    output
        .lines()
        .filter_map(|line| {
            let (meta, name) = line.split_once("]  ")?;
            let name = name.strip_suffix(' ').unwrap_or(name);
            let size = meta.split_whitespace().nth(4)?.parse().ok()?;
            Some((name.to_owned(), size))
        })
        .filter(|(name, _)| name != "." && name != "..")
        .collect()
}

fn extract(image: &Path, tree_args: &[&str], iso_path: &[u8]) -> Vec<u8> {
    let mut args: Vec<&OsStr> = tree_args.iter().map(OsStr::new).collect();
    args.extend([
        OsStr::new("-x"),
        OsStr::from_bytes(iso_path),
        OsStr::new("-i"),
        image.as_os_str(),
    ]);
    run(&isoinfo(), args).stdout
}

#[test]
fn describes_volume_id_block_size_and_joliet() {
    let dir = TempDir::new("isoinfo-describe");
    let image = dir.write_image(&sample_files());
    let sectors = std::fs::metadata(&image).unwrap().len() / 2048;
    let out = isoinfo_text(&image, &["-d"]);
    for expected in [
        "Volume id: STACKCFG\n".to_owned(),
        "Logical block size is: 2048\n".to_owned(),
        format!("Volume size is: {sectors}\n"),
        "Joliet with UCS level 3 found\n".to_owned(),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn lists_exact_joliet_names_and_sizes() {
    let files = sample_files();
    let dir = TempDir::new("isoinfo-joliet-list");
    let image = dir.write_image(&files);
    let got = listing(&isoinfo_text(&image, &["-J", "-j", "iso8859-1", "-l"]));
    let size_of = |name: &str| {
        let file = files.iter().find(|f| f.name == name).unwrap();
        file.contents.len() as u64
    };
    let expected: Vec<(String, u64)> = [
        "Gr\u{fc}\u{df}e.txt",
        "a-name-that-is-exactly-sixty-four-characters-long-for-joliet.txt",
        "big.bin",
        "config.json",
        "config.jsonc",
        "empty",
        "user data.txt",
    ]
    .iter()
    .map(|n| ((*n).to_owned(), size_of(n)))
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn lists_level_1_names_in_the_primary_tree() {
    let dir = TempDir::new("isoinfo-primary-list");
    let image = dir.write_image(&sample_files());
    let got: Vec<String> = listing(&isoinfo_text(&image, &["-l"]))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        got,
        [
            "A_NAME_T.TXT;1",
            "BIG.BIN;1",
            "CONFIG.JSO;1",
            "CONFIG_1.JSO;1",
            "EMPTY.;1",
            "GR__E.TXT;1",
            "USER_DAT.TXT;1",
        ]
    );
}

#[test]
fn extracts_config_json_byte_for_byte() {
    let files = sample_files();
    let dir = TempDir::new("isoinfo-extract-config");
    let image = dir.write_image(&files);
    let config = files.iter().find(|f| f.name == "config.json").unwrap();
    assert_eq!(extract(&image, &["-J"], b"/config.json"), config.contents);
}

#[test]
fn extracts_every_file_through_joliet() {
    let files = sample_files();
    let dir = TempDir::new("isoinfo-extract-all");
    let image = dir.write_image(&files);
    for SampleFile { name, contents } in &files {
        let path = string_to_latin1(&format!("/{name}"));
        let got = extract(&image, &["-J", "-j", "iso8859-1"], &path);
        assert!(got == *contents, "{name}: extracted bytes differ");
    }
}

#[test]
fn extracts_the_same_bytes_through_the_primary_tree() {
    let files = sample_files();
    let dir = TempDir::new("isoinfo-extract-primary");
    let image = dir.write_image(&files);
    for (short, name) in [
        ("/CONFIG.JSO;1", "config.json"),
        ("/CONFIG_1.JSO;1", "config.jsonc"),
        ("/BIG.BIN;1", "big.bin"),
    ] {
        let file = files.iter().find(|f| f.name == name).unwrap();
        assert!(
            extract(&image, &[], short.as_bytes()) == file.contents,
            "{short}: extracted bytes differ from {name}"
        );
    }
}

#[test]
fn lists_every_name_of_a_directory_spanning_several_sectors() {
    let names: Vec<String> = (0..300)
        .map(|i| format!("file-{i:03}-{}.json", "n".repeat(40)))
        .collect();
    let files: Vec<SampleFile> = names
        .iter()
        .map(|n| SampleFile {
            name: n.clone(),
            contents: n.as_bytes().to_vec(),
        })
        .collect();
    let dir = TempDir::new("isoinfo-many");
    let image = dir.write_image(&files);
    let joliet: Vec<String> = listing(&isoinfo_text(&image, &["-J", "-l"]))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(joliet, names);
    assert_eq!(listing(&isoinfo_text(&image, &["-l"])).len(), 300);
    assert_eq!(
        extract(&image, &["-J"], format!("/{}", names[299]).as_bytes()),
        names[299].as_bytes()
    );
}
