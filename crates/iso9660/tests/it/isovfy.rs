//! Checks the primary tree with `isovfy` (Debian package genisoimage), which
//! verifies directory records, path tables and extents against ECMA-119.

use crate::support::{TempDir, require_tool, run, sample_files};

#[test]
fn finds_no_errors() {
    let isovfy = require_tool("isovfy", "genisoimage");
    let dir = TempDir::new("isovfy");
    let image = dir.write_image(&sample_files());
    let out = run(&isovfy, [&image]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("No errors found"),
        "isovfy reported:\n{stdout}"
    );
}
