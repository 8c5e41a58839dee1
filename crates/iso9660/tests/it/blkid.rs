//! Probes images with `blkid` (Debian package util-linux), which is how the
//! guest finds the config image by label.

use std::path::Path;

use crate::support::{LABEL, TempDir, require_tool, run, sample_files};

fn blkid_value(image: &Path, tag: &str) -> String {
    let blkid = require_tool("blkid", "util-linux");
    let out = run(
        &blkid,
        [
            "-o".as_ref(),
            "value".as_ref(),
            "-s".as_ref(),
            tag.as_ref(),
            image.as_os_str(),
        ],
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

#[test]
fn reports_the_volume_label() {
    let dir = TempDir::new("blkid-label");
    let image = dir.write_image(&sample_files());
    assert_eq!(blkid_value(&image, "LABEL"), LABEL);
}

#[test]
fn reports_the_iso9660_type() {
    let dir = TempDir::new("blkid-type");
    let image = dir.write_image(&sample_files());
    assert_eq!(blkid_value(&image, "TYPE"), "iso9660");
}
