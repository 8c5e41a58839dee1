//! PostgreSQL access: one module per table group, plain SQL, no ORM.
//!
//! Functions take any executor (pool, connection or transaction) so that
//! handlers decide what runs in one transaction.

pub mod contact_channels;
pub mod keys;
pub mod projects;
pub mod sessions;
pub mod settings;
pub mod teams;
pub mod users;
pub mod verification_codes;

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
