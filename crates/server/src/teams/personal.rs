//! Personal teams: the team Stack Auth makes for every new user when the
//! project asks for one (`teams.createPersonalTeamOnSignUp`), named after
//! the user, and renamed when an anonymous user becomes a real one.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{insert_team, join_as};
use crate::db::projects::Project;
use crate::db::teams::{self, NewTeam};
use crate::error::ApiError;
use crate::permissions::Defaults;

/// The name of a personal team whose owner had neither a name nor an email.
pub const PERSONAL_TEAM_DEFAULT_NAME: &str = "Personal Team";

/// The name of a personal team: `<display name>'s Team`, else `<email>'s
/// Team`, else `Personal Team` (empty values count as none).
pub fn personal_team_name(display_name: Option<&str>, email: Option<&str>) -> String {
    match display_name
        .filter(|n| !n.is_empty())
        .or(email.filter(|e| !e.is_empty()))
    {
        Some(owner) => format!("{owner}'s Team"),
        None => PERSONAL_TEAM_DEFAULT_NAME.to_owned(),
    }
}

/// Makes the personal team of a new user, inside the transaction that
/// creates them: the user becomes its creator (with the `teamCreator`
/// defaults), and it becomes their selected team.
///
/// # Errors
/// A `teamCreator` default that names no team permission; database and RNG failures.
pub async fn create_personal_team(
    tx: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
    name: &str,
) -> Result<Uuid, ApiError> {
    let team = insert_team(
        tx,
        project,
        &NewTeam {
            display_name: name,
            ..NewTeam::default()
        },
    )
    .await?;
    join_as(tx, project, team.id, user_id, Defaults::TeamCreator).await?;
    if !teams::select(tx, &project.id, user_id, team.id).await? {
        return Err(ApiError::internal(
            "the personal team's membership vanished inside its own transaction",
        ));
    }
    Ok(team.id)
}

/// Renames the personal team of an anonymous user who becomes a real one:
/// every team of theirs named exactly `Personal Team` gets the name their new
/// display name or email gives (Stack Auth looks only at the values of the
/// update, not at those already stored).
///
/// # Errors
/// Database errors.
pub async fn rename_personal_teams_on_upgrade(
    tx: &mut PgConnection,
    project: &Project,
    user_id: Uuid,
    display_name: Option<&str>,
    email: Option<&str>,
) -> Result<(), ApiError> {
    let name = personal_team_name(display_name, email);
    if name != PERSONAL_TEAM_DEFAULT_NAME {
        teams::rename_member_teams_named(
            &mut *tx,
            &project.id,
            user_id,
            PERSONAL_TEAM_DEFAULT_NAME,
            &name,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_team_names_follow_stack_auth() {
        assert_eq!(
            personal_team_name(Some("Ada"), Some("a@x.io")),
            "Ada's Team"
        );
        assert_eq!(
            personal_team_name(Some(""), Some("a@x.io")),
            "a@x.io's Team"
        );
        assert_eq!(personal_team_name(None, None), "Personal Team");
    }
}
