//! Which SDK package a newly rendered config file imports its type from.
//!
//! The rule is Stack Auth's `detectImportPackageFromDir` and
//! `detectConfigImportPackage` (`config-rendering.ts` and `config-eval.ts` in
//! `@hexclave/shared`): walk up from the config
//! file's directory to the *nearest* `package.json`, and stop there; take the
//! first package of [`CONFIG_IMPORT_PACKAGES`] that appears among its
//! `dependencies` or `devDependencies`. No match, no `package.json`, or one
//! that can't be read as JSON gives [`DEFAULT_PACKAGE`].

use std::path::Path;

use serde_json::Value;

/// The packages that export the config type, in priority order: the first
/// one a project depends on wins. Hexclave names come first; the legacy
/// `@stackframe/*` names stay for projects on the last legacy release.
pub const CONFIG_IMPORT_PACKAGES: [&str; 9] = [
    "@hexclave/next",
    "@hexclave/react",
    "@hexclave/tanstack-start",
    "@hexclave/js",
    "@hexclave/template",
    "@stackframe/stack",
    "@stackframe/react",
    "@stackframe/js",
    "@stackframe/template",
];

/// The package used when the project depends on none of
/// [`CONFIG_IMPORT_PACKAGES`].
pub const DEFAULT_PACKAGE: &str = "@hexclave/js";

/// The package a config file at `path` should import its type from (see the
/// module rules). Reads at most one `package.json`; never fails.
pub fn package_for(path: &Path) -> &'static str {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    for dir in path.ancestors().skip(1) {
        let manifest = dir.join("package.json");
        // Stack Auth tests with `existsSync`, which is true for a directory
        // too; reading it then fails and gives the default. Same here.
        if manifest.exists() {
            return std::fs::read_to_string(&manifest)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .and_then(|manifest| first_known_dependency(&manifest))
                .unwrap_or(DEFAULT_PACKAGE);
        }
    }
    DEFAULT_PACKAGE
}

fn first_known_dependency(manifest: &Value) -> Option<&'static str> {
    let depends_on = |package: &str| {
        ["dependencies", "devDependencies"].iter().any(|field| {
            manifest
                .get(field)
                .and_then(|deps| deps.get(package))
                .is_some()
        })
    };
    CONFIG_IMPORT_PACKAGES
        .into_iter()
        .find(|package| depends_on(package))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::tests::TempDir;

    fn project(name: &str, manifest: &str) -> TempDir {
        let dir = TempDir::new(name);
        std::fs::write(dir.path().join("package.json"), manifest).unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        dir
    }

    #[test]
    fn picks_the_first_known_package_by_priority() {
        let dir = project(
            "package-priority",
            r#"{"dependencies": {"@stackframe/stack": "1", "lodash": "4"}, "devDependencies": {"@hexclave/next": "1"}}"#,
        );
        assert_eq!(
            package_for(&dir.path().join("hexclave.config.ts")),
            "@hexclave/next"
        );
        // The nearest package.json is found from a nested directory too.
        assert_eq!(
            package_for(&dir.path().join("config/hexclave.config.ts")),
            "@hexclave/next"
        );
    }

    #[test]
    fn legacy_packages_still_count() {
        let dir = project(
            "package-legacy",
            r#"{"dependencies": {"@stackframe/react": "2", "@stackframe/js": "2"}}"#,
        );
        assert_eq!(
            package_for(&dir.path().join("stack.config.ts")),
            "@stackframe/react"
        );
    }

    #[test]
    fn defaults_when_nothing_matches_or_the_manifest_is_unreadable() {
        let dir = project("package-none", r#"{"dependencies": {"express": "5"}}"#);
        assert_eq!(
            package_for(&dir.path().join("stack.config.ts")),
            DEFAULT_PACKAGE
        );
        let broken = project("package-broken", "{ not json");
        assert_eq!(
            package_for(&broken.path().join("stack.config.ts")),
            DEFAULT_PACKAGE
        );
    }

    #[test]
    fn stops_at_the_nearest_manifest() {
        let outer = project(
            "package-nearest",
            r#"{"dependencies": {"@hexclave/react": "1"}}"#,
        );
        std::fs::write(outer.path().join("config/package.json"), "{}").unwrap();
        assert_eq!(
            package_for(&outer.path().join("config/hexclave.config.ts")),
            DEFAULT_PACKAGE
        );
    }
}
