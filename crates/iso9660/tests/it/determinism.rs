//! Images written to disk are byte-identical for identical inputs, whatever
//! order the files were added in.

use crate::support::{TempDir, build_image, sample_files};

#[test]
fn same_inputs_write_identical_files() {
    let dir = TempDir::new("determinism");
    let forward = sample_files();
    let mut reversed = sample_files();
    reversed.reverse();
    let first = dir.write_image(&forward);
    let first_bytes = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    let second = dir.write_image(&reversed);
    assert!(
        std::fs::read(second).unwrap() == first_bytes,
        "images differ"
    );
    assert!(
        build_image(&forward) == first_bytes,
        "in-memory image differs"
    );
    assert_eq!(dir.path().read_dir().unwrap().count(), 1);
}
