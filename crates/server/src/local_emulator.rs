//! The local emulator's projects: one project, with one live key set, per
//! absolute path of an app's config file.
//!
//! The same path always gets the same project and keys, also when two calls
//! race: creation runs under a transaction-scoped advisory lock on the path.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::db::keys::{self, KeyKind, KeySet, NewKeySet};
use crate::db::local_emulator as paths;
use serde_json::{Map, Value, json};

use crate::config::{Level, Overrides};
use crate::db::projects::{self, EMULATOR_OWNER_TEAM_ID, NewProject, ProjectConfig};
use crate::error::ApiError;
use crate::random;
use crate::validate::single_line;

/// The environment keys of every project an app's config file defines:
/// localhost callbacks are trusted and payments stay in test mode.
pub fn emulator_environment() -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("domains.allowLocalhost".into(), json!(true));
    o.insert("payments.testMode".into(), json!(true));
    o
}

/// The project of the config file at `path`, and its live key set; both are
/// made on first use. A given `branch` (the file's config, checked) becomes
/// the project's branch override. Returns the project's branch override as
/// stored afterwards.
///
/// # Errors
/// Database and RNG failures.
pub async fn project_for(
    pool: &PgPool,
    path: &str,
    branch: Option<Map<String, Value>>,
) -> Result<(String, KeySet, Map<String, Value>), ApiError> {
    let mut tx = pool.begin().await?;
    paths::lock_path(&mut *tx, path).await?;
    let existing = paths::project_for_path(&mut *tx, path).await?;
    let project_id = match existing {
        Some(id) => {
            if let Some(branch) = &branch {
                projects::set_override(&mut *tx, &id, Level::Branch, branch, None).await?;
            }
            id
        }
        None => {
            let project = projects::insert(
                &mut *tx,
                &NewProject {
                    id: random::uuid()?.to_string(),
                    display_name: display_name_for(path),
                    description: format!("Local emulator project for {path}"),
                    is_production_mode: false,
                    owner_team_id: Some(EMULATOR_OWNER_TEAM_ID),
                    overrides: Overrides {
                        branch: branch.clone().unwrap_or_default(),
                        environment: emulator_environment(),
                        ..Overrides::default()
                    },
                },
            )
            .await?;
            paths::insert(&mut *tx, path, &project.id).await?;
            project.id
        }
    };
    let live = keys::list(&mut *tx, &project_id)
        .await?
        .into_iter()
        .find(|k| {
            k.manually_revoked_at.is_none()
                && k.expires_at > Utc::now()
                && k.publishable_client_key.is_some()
                && k.secret_server_key.is_some()
                && k.super_secret_admin_key.is_some()
        });
    let set = match live {
        Some(set) => set,
        None => {
            keys::insert(
                &mut *tx,
                &project_id,
                &NewKeySet {
                    description: "Local emulator".into(),
                    expires_at: DateTime::<Utc>::MAX_UTC,
                    publishable_client_key: Some(KeyKind::PublishableClient.generate()?),
                    secret_server_key: Some(KeyKind::SecretServer.generate()?),
                    super_secret_admin_key: Some(KeyKind::SuperSecretAdmin.generate()?),
                },
            )
            .await?
        }
    };
    let stored = projects::find(&mut *tx, &project_id)
        .await?
        .map(|p| p.overrides.branch)
        .unwrap_or_default();
    tx.commit().await?;
    Ok((project_id, set, stored))
}

/// The sign-in methods `config` turns on, as the local-emulator route names
/// them.
pub fn sign_in_methods(config: &ProjectConfig) -> Vec<String> {
    let mut methods: Vec<String> = [
        ("password", config.credential_enabled),
        ("otp", config.magic_link_enabled),
        ("passkey", config.passkey_enabled),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| name.to_owned())
    .collect();
    methods.extend(
        config
            .oauth_providers
            .iter()
            .map(|p| format!("oauth:{}", p.id)),
    );
    methods
}

/// Absolute on POSIX (`/…`) or Windows (`C:\…`, `\\server\…`).
pub fn is_absolute(path: &str) -> bool {
    let b = path.as_bytes();
    path.starts_with('/')
        || path.starts_with("\\\\")
        || (b.len() > 2
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b[2] == b'\\' || b[2] == b'/'))
}

/// The name given when the path has no usable folder name.
const FALLBACK_NAME: &str = "Local emulator project";

/// Longest derived name, in characters; folder names are at most 255 bytes on
/// common file systems, so this only cuts names no file system would hold.
const MAX_NAME_CHARS: usize = 255;

/// The name of the folder that holds the config file, which is usually the
/// app's name, on one line: a folder name may hold any byte but `/`, and the
/// project's name goes into mail headers, so control characters and runs of
/// whitespace become one space. A name that ends up empty gets the fallback, so
/// that any path still gets a project and its keys.
fn display_name_for(path: &str) -> String {
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let folder = match parts.len() {
        0 | 1 => "",
        n => parts[n - 2],
    };
    let name: String = single_line(folder).chars().take(MAX_NAME_CHARS).collect();
    if name.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_on_both_platforms() {
        assert!(is_absolute("/home/me/app/stack.config.ts"));
        assert!(is_absolute("C:\\Users\\me\\app\\stack.config.ts"));
        assert!(!is_absolute("app/stack.config.ts"));
        assert!(!is_absolute("./stack.config.ts"));
    }

    #[test]
    fn the_project_is_named_after_its_folder() {
        assert_eq!(display_name_for("/home/me/shop/stack.config.ts"), "shop");
        assert_eq!(
            display_name_for("/stack.config.ts"),
            "Local emulator project"
        );
    }

    #[test]
    fn a_folder_name_with_control_characters_becomes_one_line() {
        assert_eq!(
            display_name_for("/home/me/Evil\r\nBcc: x@y.z\t\u{7}app/stack.config.ts"),
            "Evil Bcc: x@y.z app"
        );
        assert_eq!(
            display_name_for("/home/me/\r\n/stack.config.ts"),
            "Local emulator project"
        );
        let long = format!("/home/{}/stack.config.ts", "a".repeat(400));
        assert_eq!(display_name_for(&long).chars().count(), MAX_NAME_CHARS);
    }
}
