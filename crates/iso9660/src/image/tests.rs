//! Unit tests of the image layout, read back with a minimal directory
//! parser, and of the builder's errors.

use super::*;

const PVD: usize = 16 * SECTOR_SIZE;
const SVD: usize = 17 * SECTOR_SIZE;

#[derive(Debug)]
struct Record {
    identifier: Vec<u8>,
    sector: u32,
    size_bytes: u32,
    flags: u8,
    date: [u8; 7],
}

fn both_u32(field: &[u8]) -> u32 {
    let le = u32::from_le_bytes(field[0..4].try_into().unwrap());
    let be = u32::from_be_bytes(field[4..8].try_into().unwrap());
    assert_eq!(le, be, "both-endian halves disagree");
    le
}

fn parse_record(r: &[u8]) -> Record {
    let id_len = usize::from(r[32]);
    Record {
        identifier: r[33..33 + id_len].to_vec(),
        sector: both_u32(&r[2..10]),
        size_bytes: both_u32(&r[10..18]),
        flags: r[25],
        date: r[18..25].try_into().unwrap(),
    }
}

/// Reads every record of the directory whose root record sits at
/// `descriptor + 156`.
fn read_root(image: &[u8], descriptor: usize) -> Vec<Record> {
    let root = parse_record(&image[descriptor + 156..descriptor + 190]);
    let start = root.sector as usize * SECTOR_SIZE;
    let dir = &image[start..start + root.size_bytes as usize];
    let mut records = vec![];
    let mut offset = 0;
    while offset < dir.len() {
        let len = usize::from(dir[offset]);
        if len == 0 {
            offset = (offset / SECTOR_SIZE + 1) * SECTOR_SIZE;
            continue;
        }
        assert_eq!(
            offset / SECTOR_SIZE,
            (offset + len - 1) / SECTOR_SIZE,
            "record crosses a sector boundary"
        );
        records.push(parse_record(&dir[offset..offset + len]));
        offset += len;
    }
    records
}

fn ids(records: &[Record]) -> Vec<String> {
    records[2..]
        .iter()
        .map(|r| {
            if r.identifier.iter().step_by(2).all(|&b| b == 0) && r.identifier.len() % 2 == 0 {
                let units: Vec<u16> = r
                    .identifier
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units).unwrap()
            } else {
                String::from_utf8(r.identifier.clone()).unwrap()
            }
        })
        .collect()
}

fn image(files: &[(&str, &[u8])]) -> Vec<u8> {
    image_at(files, Timestamp::UNIX_EPOCH)
}

fn image_at(files: &[(&str, &[u8])], at: Timestamp) -> Vec<u8> {
    let mut builder = ImageBuilder::new(VolumeId::parse("STACKCFG").unwrap()).recorded_at(at);
    for (name, contents) in files {
        builder
            .add_file(FileName::parse(name).unwrap(), *contents)
            .unwrap();
    }
    let image = builder.build().unwrap();
    let mut out = vec![];
    image.write_to(&mut out).unwrap();
    assert_eq!(out.len() as u64, image.size_bytes());
    out
}

#[test]
fn empty_image_layout() {
    let out = image(&[]);
    assert_eq!(out.len(), 25 * SECTOR_SIZE);
    assert!(out[..PVD].iter().all(|&b| b == 0), "system area");
    assert_eq!(&out[PVD..PVD + 6], b"\x01CD001");
    assert_eq!(&out[SVD..SVD + 6], b"\x02CD001");
    assert_eq!(&out[18 * SECTOR_SIZE..18 * SECTOR_SIZE + 6], b"\xffCD001");
    for descriptor in [PVD, SVD] {
        assert_eq!(both_u32(&out[descriptor + 80..descriptor + 88]), 25);
        assert_eq!(both_u32(&out[descriptor + 132..descriptor + 140]), 10);
    }
    // Path table locations: L then M, primary then Joliet.
    let le = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
    let be = |at: usize| u32::from_be_bytes(out[at..at + 4].try_into().unwrap());
    assert_eq!(le(PVD + 140), 19);
    assert_eq!(be(PVD + 148), 20);
    assert_eq!(le(SVD + 140), 21);
    assert_eq!(be(SVD + 148), 22);
    let table = |sector: usize| &out[sector * SECTOR_SIZE..sector * SECTOR_SIZE + 10];
    assert_eq!(table(19), [1, 0, 23, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(table(20), [1, 0, 0, 0, 0, 23, 0, 1, 0, 0]);
    assert_eq!(table(21), [1, 0, 24, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(table(22), [1, 0, 0, 0, 0, 24, 0, 1, 0, 0]);
    for (descriptor, root_sector) in [(PVD, 23), (SVD, 24)] {
        let records = read_root(&out, descriptor);
        assert_eq!(records.len(), 2);
        for dot in &records {
            assert_eq!(dot.sector, root_sector);
            assert_eq!(dot.size_bytes, 2048);
            assert_eq!(dot.flags, 2);
        }
        assert_eq!(records[0].identifier, [0]);
        assert_eq!(records[1].identifier, [1]);
    }
}

#[test]
fn both_trees_share_sector_aligned_file_data() {
    let out = image(&[
        ("config.json", br#"{"a":1}"#),
        ("big.bin", &[7; 5000]),
        ("Hello-World.txt", b"x"),
    ]);
    let primary = read_root(&out, PVD);
    let joliet = read_root(&out, SVD);
    assert_eq!(
        ids(&primary),
        ["BIG.BIN;1", "CONFIG.JSO;1", "HELLO_WO.TXT;1"]
    );
    assert_eq!(ids(&joliet), ["Hello-World.txt", "big.bin", "config.json"]);
    // Data follows the directories in Joliet order.
    let by_name = |records: &[Record], id: &str| {
        let r = records[2..]
            .iter()
            .zip(ids(records))
            .find(|(_, n)| n == id)
            .unwrap()
            .0;
        (r.sector, r.size_bytes, r.flags)
    };
    assert_eq!(by_name(&joliet, "Hello-World.txt"), (25, 1, 0));
    assert_eq!(by_name(&joliet, "big.bin"), (26, 5000, 0));
    assert_eq!(by_name(&joliet, "config.json"), (29, 7, 0));
    assert_eq!(by_name(&primary, "HELLO_WO.TXT;1"), (25, 1, 0));
    assert_eq!(by_name(&primary, "BIG.BIN;1"), (26, 5000, 0));
    assert_eq!(by_name(&primary, "CONFIG.JSO;1"), (29, 7, 0));
    assert_eq!(out.len(), 30 * SECTOR_SIZE);
    assert_eq!(&out[29 * SECTOR_SIZE..29 * SECTOR_SIZE + 7], br#"{"a":1}"#);
    assert!(out[29 * SECTOR_SIZE + 7..].iter().all(|&b| b == 0));
    assert!(
        out[26 * SECTOR_SIZE..26 * SECTOR_SIZE + 5000]
            .iter()
            .all(|&b| b == 7)
    );
    assert!(
        out[26 * SECTOR_SIZE + 5000..29 * SECTOR_SIZE]
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn empty_file_uses_no_sectors() {
    let out = image(&[("a", b""), ("b", b"b")]);
    let joliet = read_root(&out, SVD);
    assert_eq!((joliet[2].sector, joliet[2].size_bytes), (25, 0));
    assert_eq!((joliet[3].sector, joliet[3].size_bytes), (25, 1));
    assert_eq!(out.len(), 26 * SECTOR_SIZE);
}

#[test]
fn many_long_names_span_several_directory_sectors() {
    let names: Vec<String> = (0..100)
        .map(|i| format!("{i:03}-{}", "x".repeat(60)))
        .collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), b"d".as_slice()))
        .collect();
    let out = image(&files);
    let joliet = read_root(&out, SVD);
    assert_eq!(ids(&joliet), names);
    let root = &joliet[0];
    assert_eq!(root.size_bytes, 9 * 2048);
    let primary = read_root(&out, PVD);
    assert_eq!(primary.len(), 102);
    let first_data = joliet[2].sector;
    assert_eq!(first_data, root.sector + 9);
    for (i, r) in joliet[2..].iter().enumerate() {
        assert_eq!(r.sector, first_data + i as u32);
    }
}

#[test]
fn same_inputs_give_same_bytes_whatever_the_insertion_order() {
    let files: [(&str, &[u8]); 3] = [
        ("config.json", b"{}"),
        ("config.jsonc", b"{}"),
        ("README", b"hello"),
    ];
    let first = image(&files);
    assert_eq!(first, image(&files));
    let mut reversed = files;
    reversed.reverse();
    assert_eq!(first, image(&reversed));
}

#[test]
fn timestamp_is_recorded_in_descriptors_and_records() {
    let at = Timestamp::new(2030, 6, 7, 8, 9, 10).unwrap();
    let out = image_at(&[("f", b"1")], at);
    for descriptor in [PVD, SVD] {
        assert_eq!(
            &out[descriptor + 813..descriptor + 830],
            b"2030060708091000\0"
        );
        assert_eq!(
            &out[descriptor + 830..descriptor + 847],
            b"2030060708091000\0"
        );
        for record in read_root(&out, descriptor) {
            assert_eq!(record.date, [130, 6, 7, 8, 9, 10, 0]);
        }
    }
    assert_ne!(out, image(&[("f", b"1")]));
}

#[test]
fn debug_output_leaves_out_file_contents() {
    let mut builder = ImageBuilder::new(VolumeId::parse("V").unwrap());
    builder
        .add_file(FileName::parse("token").unwrap(), "s3cr3t-t0ken")
        .unwrap();
    let builder_debug = format!("{builder:?}");
    assert!(builder_debug.contains("\"token\""), "{builder_debug}");
    assert!(builder_debug.contains("size_bytes: 12"), "{builder_debug}");
    let image = builder.build().unwrap();
    let image_debug = format!("{image:?}");
    assert_eq!(image_debug, "Image { size_bytes: 53248, files: 1, .. }");
    for debug in [builder_debug, image_debug] {
        assert!(!debug.contains("s3cr3t"), "{debug}");
        // Nor as a byte list.
        assert!(!debug.contains("115, 51, 99"), "{debug}");
    }
}

#[test]
fn rejects_duplicate_names_ignoring_case() {
    let mut builder = ImageBuilder::new(VolumeId::parse("V").unwrap());
    builder
        .add_file(FileName::parse("Config.json").unwrap(), "1")
        .unwrap();
    for dup in ["Config.json", "config.JSON"] {
        assert_eq!(
            builder.add_file(FileName::parse(dup).unwrap(), "2"),
            Err(AddFileError::DuplicateName {
                name: dup.to_owned(),
                existing: "Config.json".to_owned(),
            })
        );
    }
}

#[test]
fn rejects_more_than_max_files() {
    let mut builder = ImageBuilder::new(VolumeId::parse("V").unwrap());
    for i in 0..ImageBuilder::MAX_FILES {
        builder
            .add_file(FileName::parse(&format!("f{i}")).unwrap(), "")
            .unwrap();
    }
    assert_eq!(
        builder.add_file(FileName::parse("one-more").unwrap(), ""),
        Err(AddFileError::TooManyFiles {
            name: "one-more".to_owned(),
            max: 10_000,
        })
    );
    // The largest image still gets unique level-1 names.
    let image = builder.build().unwrap();
    let mut out = vec![];
    image.write_to(&mut out).unwrap();
    let primary = ids(&read_root(&out, PVD));
    let unique: std::collections::HashSet<_> = primary.iter().collect();
    assert_eq!(unique.len(), 10_000);
    assert!(primary.iter().all(|id| id.len() <= 14), "8 + . + 3 + ;1");
}

#[test]
fn rejects_files_larger_than_one_extent() {
    let name = FileName::parse("huge.img").unwrap();
    assert_eq!(check_file_size(&name, u64::from(u32::MAX)), Ok(()));
    assert_eq!(
        check_file_size(&name, u64::from(u32::MAX) + 1),
        Err(AddFileError::FileTooLarge {
            name: "huge.img".to_owned(),
            size_bytes: 4_294_967_296,
            max_bytes: 4_294_967_295,
        })
    );
}

#[test]
fn rejects_images_larger_than_the_volume_space_field() {
    // 2049 files of 4 GiB - 1 need 2049 * 2^21 sectors > u32::MAX.
    let sizes = vec![u64::from(u32::MAX); 2049];
    let dir_size = directory::directory_size_bytes(vec![4; 2049]);
    let err = SectorPlan::new(&sizes, dir_size, dir_size).err().unwrap();
    let dir_sectors = dir_size as u64 / 2048;
    assert_eq!(
        err,
        BuildError::ImageTooLarge {
            size_bytes: (23 + 2 * dir_sectors + 2049 * (1 << 21)) * 2048,
            max_bytes: u64::from(u32::MAX) * 2048,
        }
    );
    // 2047 such files still fit.
    assert!(SectorPlan::new(&sizes[..2047], dir_size, dir_size).is_ok());
}

#[test]
fn error_messages_are_exact() {
    let cases = [
        (
            AddFileError::DuplicateName {
                name: "a".to_owned(),
                existing: "a".to_owned(),
            }
            .to_string(),
            "the image already has a file named \"a\"",
        ),
        (
            AddFileError::DuplicateName {
                name: "A".to_owned(),
                existing: "a".to_owned(),
            }
            .to_string(),
            "file name \"A\" differs from \"a\" only in case, and Linux and Windows look up \
             Joliet names ignoring case; rename one of them",
        ),
        (
            AddFileError::FileTooLarge {
                name: "x".to_owned(),
                size_bytes: 5,
                max_bytes: 4,
            }
            .to_string(),
            "file \"x\" is 5 bytes, but ISO 9660 files without multiple extents hold at most \
             4 bytes",
        ),
        (
            AddFileError::TooManyFiles {
                name: "x".to_owned(),
                max: 3,
            }
            .to_string(),
            "cannot add \"x\": the image already holds the maximum of 3 files",
        ),
        (
            BuildError::ImageTooLarge {
                size_bytes: 9,
                max_bytes: 8,
            }
            .to_string(),
            "the image would be 9 bytes, but ISO 9660 volumes hold at most 8 bytes",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}
