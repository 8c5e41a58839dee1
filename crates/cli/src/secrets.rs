//! The install's secrets on the host: made from the OS RNG at the first start,
//! kept (mode 0600) in `run/secrets.json` so that keys stay stable across
//! stop/start, and deleted by `reset`. They reach the guest only through the
//! guest agent, never through a disk or an image.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use stack_proto::keys;
use stack_proto::rotation::{FORMAT_VERSION, InternalProjectKeys, PublicUrls, RotationDocument};

/// The secrets of one install.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Secrets {
    /// `pck_…`.
    pub publishable_client_key: String,
    /// `ssk_…`.
    pub secret_server_key: String,
    /// `sak_…`.
    pub super_secret_admin_key: String,
    /// base64url of 32 random bytes.
    pub token_signing_secret: String,
    /// Cron/admin secret.
    pub cron_secret: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

/// Secrets could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The OS RNG failed.
    #[error("could not read the operating system's random number generator")]
    Rng(#[source] getrandom::Error),
    /// The file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path} is damaged; `stack-emulator reset` makes new secrets")]
    Corrupt {
        /// The file.
        path: String,
    },
}

fn random_token(len: usize) -> Result<String, SecretsError> {
    let mut raw = vec![0u8; len];
    getrandom::fill(&mut raw).map_err(SecretsError::Rng)?;
    Ok(keys::encode(&raw))
}

impl Secrets {
    /// Fresh secrets from the OS RNG.
    ///
    /// # Errors
    /// The RNG failed.
    pub fn generate() -> Result<Self, SecretsError> {
        let mut signing = [0u8; 32];
        getrandom::fill(&mut signing).map_err(SecretsError::Rng)?;
        Ok(Self {
            publishable_client_key: format!(
                "{}{}",
                keys::PUBLISHABLE_CLIENT_KEY_PREFIX,
                random_token(keys::RANDOM_CHARS)?
            ),
            secret_server_key: format!(
                "{}{}",
                keys::SECRET_SERVER_KEY_PREFIX,
                random_token(keys::RANDOM_CHARS)?
            ),
            super_secret_admin_key: format!(
                "{}{}",
                keys::SUPER_SECRET_ADMIN_KEY_PREFIX,
                random_token(keys::RANDOM_CHARS)?
            ),
            token_signing_secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signing),
            cron_secret: random_token(keys::RANDOM_CHARS)?,
        })
    }

    /// Reads saved secrets, if there are any.
    ///
    /// # Errors
    /// The file exists but cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Option<Self>, SecretsError> {
        let shown = path.display().to_string();
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| SecretsError::Corrupt { path: shown }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SecretsError::Io {
                path: shown,
                source,
            }),
        }
    }

    /// Saves the secrets readable by the owner only, atomically.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), SecretsError> {
        let shown = path.display().to_string();
        let io = |source| SecretsError::Io {
            path: shown.clone(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    }

    /// The rotation document that makes a running guest this install's own;
    /// `oauth_url` is where browsers reach the mock OAuth provider.
    pub fn rotation_document(
        &self,
        api_url: &str,
        oauth_url: &str,
        now_unix_millis: i64,
    ) -> RotationDocument {
        RotationDocument {
            format: FORMAT_VERSION,
            internal_project_keys: InternalProjectKeys {
                publishable_client_key: self.publishable_client_key.clone(),
                secret_server_key: self.secret_server_key.clone(),
                super_secret_admin_key: self.super_secret_admin_key.clone(),
            },
            token_signing_secret: self.token_signing_secret.clone(),
            cron_secret: self.cron_secret.clone(),
            database_password: None,
            public_urls: PublicUrls {
                api: api_url.to_owned(),
                oauth: Some(oauth_url.to_owned()),
                ..PublicUrls::default()
            },
            now_unix_millis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_installs_never_share_a_key_and_debug_hides_them() {
        let a = Secrets::generate().unwrap();
        let b = Secrets::generate().unwrap();
        assert_ne!(a.secret_server_key, b.secret_server_key);
        assert_ne!(a.token_signing_secret, b.token_signing_secret);
        assert!(keys::is_well_formed(
            &a.secret_server_key,
            keys::SECRET_SERVER_KEY_PREFIX
        ));
        assert!(!format!("{a:?}").contains(&a.secret_server_key));
    }

    #[test]
    fn the_rotation_document_passes_the_servers_validation() {
        let secrets = Secrets::generate().unwrap();
        let now = 1_800_000_000_000;
        let document =
            secrets.rotation_document("http://localhost:26701", "http://localhost:26704", now);
        let wire = serde_json::to_vec(&stack_proto::inbox::Request {
            id: "1".into(),
            set_clock_unix_millis: Some(now),
            rotation: Some(document),
            session: None,
        })
        .unwrap();
        // What the server's inbox reads, then validates field by field.
        let request: stack_proto::inbox::Request = serde_json::from_slice(&wire).unwrap();
        let rotation = request.rotation.expect("the rotation crossed");
        if let Err(e) = stack_server::rotate::check(&rotation) {
            panic!("the server refused the CLI's rotation document: {e}");
        }
        assert_eq!(
            rotation.internal_project_keys.secret_server_key,
            secrets.secret_server_key
        );
    }

    #[test]
    fn saved_secrets_load_back_and_are_private() {
        let dir = std::env::temp_dir().join(format!("stack-secrets-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets.json");
        let s = Secrets::generate().unwrap();
        s.save(&path).unwrap();
        assert_eq!(Secrets::load(&path).unwrap(), Some(s));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        fs::write(&path, b"{").unwrap();
        assert!(matches!(
            Secrets::load(&path),
            Err(SecretsError::Corrupt { .. })
        ));
        let _ = fs::remove_dir_all(dir);
    }
}
