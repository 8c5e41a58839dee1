//! A user's contact channels (email addresses): creating and changing them
//! with Stack Auth's rules on duplicates and on which channel may be used to
//! sign in.

use sqlx::PgPool;
use uuid::Uuid;

use crate::db::contact_channels::{self as channels, ChannelRecord, ChannelUpdate, NewChannel};
use crate::db::users;
use crate::error::ApiError;
use crate::known_errors as ke;
use crate::random;

/// A channel to create.
#[derive(Debug)]
pub struct NewContactChannel {
    /// Its user.
    pub user_id: Uuid,
    /// The address, normalised.
    pub value: String,
    /// The channel type (`email`).
    pub kind: String,
    /// Verified.
    pub is_verified: bool,
    /// Becomes the user's primary channel.
    pub is_primary: bool,
    /// Usable for sign-in.
    pub used_for_auth: bool,
}

/// Creates a channel.
///
/// # Errors
/// `USER_ID_DOES_NOT_EXIST`, a 400 when the user has the address already,
/// `CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE`; database and RNG failures.
pub async fn create(
    pool: &PgPool,
    project_id: &str,
    new: &NewContactChannel,
) -> Result<ChannelRecord, ApiError> {
    let mut tx = pool.begin().await?;
    if !users::exists(&mut *tx, project_id, new.user_id).await? {
        return Err(ke::user_id_does_not_exist(&new.user_id.to_string()).into());
    }
    if channels::find_by_value(&mut *tx, project_id, new.user_id, &new.value)
        .await?
        .is_some()
    {
        return Err(ApiError::bad_request("Contact channel already exists"));
    }
    if new.used_for_auth
        && channels::auth_value_taken(&mut *tx, project_id, &new.value, None).await?
    {
        return Err(ke::contact_channel_already_used_for_auth_by_someone_else(
            &new.kind,
            Some(&new.value),
        )
        .into());
    }
    let id = random::uuid()?;
    let row = NewChannel {
        id,
        user_id: new.user_id,
        value: &new.value,
        is_verified: new.is_verified,
        is_primary: false,
        used_for_auth: new.used_for_auth,
    };
    channels::insert(&mut *tx, project_id, &row)
        .await
        .map_err(|e| taken(e, &new.kind, Some(&new.value)))?;
    if new.is_primary {
        channels::demote_primary(&mut *tx, project_id, new.user_id).await?;
        channels::make_primary(&mut *tx, project_id, id).await?;
    }
    let created = channels::find(&mut *tx, project_id, new.user_id, id)
        .await?
        .ok_or_else(|| ApiError::internal("a contact channel vanished while it was created"))?;
    tx.commit().await?;
    Ok(created)
}

/// Changes to a channel; `None` fields stay as they are.
#[derive(Debug, Default)]
pub struct ContactChannelPatch {
    /// A new address, normalised.
    pub value: Option<String>,
    /// The channel type (`email`).
    pub kind: Option<String>,
    /// Usable for sign-in.
    pub used_for_auth: Option<bool>,
    /// Becomes the user's primary channel.
    pub is_primary: Option<bool>,
    /// Verified; `None` makes a changed address unverified.
    pub is_verified: Option<bool>,
}

/// Changes a channel of a user.
///
/// # Errors
/// A 400 when the channel does not exist or the user has the new address
/// already, `CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE`; database failures.
pub async fn update(
    pool: &PgPool,
    project_id: &str,
    user_id: Uuid,
    channel_id: Uuid,
    patch: ContactChannelPatch,
) -> Result<ChannelRecord, ApiError> {
    let ContactChannelPatch {
        value,
        kind,
        used_for_auth,
        is_primary,
        is_verified,
    } = patch;
    let mut tx = pool.begin().await?;
    let Some(current) = channels::find(&mut *tx, project_id, user_id, channel_id).await? else {
        return Err(ApiError::bad_request("Contact channel not found"));
    };
    let new_value = value.clone().unwrap_or_else(|| current.value.clone());
    // Sign-in with the result is checked whether it is being switched on or keeps
    // applying to a new value (the table's uniqueness rule would refuse it anyway).
    let auth_after = used_for_auth.unwrap_or(current.used_for_auth.unwrap_or(false));
    if auth_after
        && (used_for_auth == Some(true) || new_value != current.value)
        && channels::auth_value_taken(&mut *tx, project_id, &new_value, Some(current.id)).await?
    {
        let kind = kind.unwrap_or_else(|| current.kind.clone());
        return Err(ke::contact_channel_already_used_for_auth_by_someone_else(&kind, None).into());
    }
    if value.is_some()
        && new_value != current.value
        && channels::find_by_value(&mut *tx, project_id, user_id, &new_value)
            .await?
            .is_some()
    {
        return Err(ApiError::bad_request("Contact channel already exists"));
    }
    if is_primary == Some(true) {
        channels::demote_primary(&mut *tx, project_id, user_id).await?;
    }
    let update = ChannelUpdate {
        value: &new_value,
        // A new address is unverified unless the caller says otherwise.
        is_verified: is_verified.unwrap_or(if value.is_some() {
            false
        } else {
            current.is_verified
        }),
        is_primary: is_primary.unwrap_or(current.is_primary.unwrap_or(false)),
        used_for_auth: auth_after,
    };
    let kind = kind.unwrap_or_else(|| current.kind.clone());
    channels::update(&mut *tx, project_id, channel_id, &update)
        .await
        .map_err(|e| taken(e, &kind, None))?;
    let updated = channels::find(&mut *tx, project_id, user_id, channel_id)
        .await?
        .ok_or_else(|| ApiError::internal("a contact channel vanished while it was updated"))?;
    tx.commit().await?;
    Ok(updated)
}

/// The answer to a write that another request beat to the same address: the
/// checks before it passed, but the table's uniqueness rules refused it. The
/// same errors as those checks give; any other failure stays as it is.
fn taken(e: sqlx::Error, kind: &str, value: Option<&str>) -> ApiError {
    let constraint = match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            db.constraint().unwrap_or_default().to_owned()
        }
        _ => return e.into(),
    };
    if constraint.ends_with("used_for_auth_key") {
        ke::contact_channel_already_used_for_auth_by_someone_else(kind, value).into()
    } else if constraint.ends_with("user_id_type_value_key") {
        ApiError::bad_request("Contact channel already exists")
    } else {
        e.into()
    }
}
