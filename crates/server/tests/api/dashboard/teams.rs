//! The teams, team and permissions pages: each form changes what the API
//! then reports (teams, memberships, team permissions, invitations in the
//! mail sink, permission definitions), bad input gets a 400 page that says
//! what was wrong and changes nothing, team names are escaped, and a post
//! without the CSRF token is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};

use super::Dashboard;
use crate::helpers::TestApp;

/// A post that must be refused: scope, fields, part of the message.
type Refusal = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

const TEAMS: &str = "/projects/internal/teams";
const PERMISSIONS: &str = "/projects/internal/permissions";

/// A team made through the server API, without members; its id.
async fn api_team(app: &TestApp, name: &str) -> String {
    let r = app
        .post("/teams")
        .server()
        .json(json!({ "display_name": name }))
        .send()
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A user made through the server API with a primary email; their id.
async fn api_user(app: &TestApp, email: &str) -> String {
    let user = app
        .create_user(json!({ "primary_email": email, "primary_email_verified": true }))
        .await;
    user["id"].as_str().unwrap().to_owned()
}

/// The ids of an API list's items.
fn ids(list: &Value, key: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect()
}

/// The team permissions the API lists for a member (direct grants only).
async fn team_permissions(app: &TestApp, team: &str, user: &str) -> Vec<String> {
    let r = app
        .get(&format!("/team-permissions?team_id={team}&user_id={user}"))
        .server()
        .send()
        .await;
    r.assert_status(200);
    ids(&r.body, "id")
}

async fn team_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM teams WHERE project_id = 'internal'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_team_is_created_renamed_and_deleted_through_the_forms() {
    let app = TestApp::spawn().await;
    let email = app.email();
    let user = api_user(&app, &email).await;
    let d = Dashboard::open(&app).await;

    let created = d
        .post(
            TEAMS,
            &[("display_name", "Rocket Team"), ("creator", &email)],
        )
        .await;
    created.assert_status(303);
    let listed = app
        .get(&format!("/teams?user_id={user}"))
        .server()
        .send()
        .await;
    let team = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["display_name"] == "Rocket Team")
        .expect("the creator's teams include the new one")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        created.location(),
        format!("{TEAMS}/{team}?done=team-created")
    );
    // The creator gets the teamCreator defaults, as with creator_user_id.
    assert_eq!(team_permissions(&app, &team, &user).await, ["team_admin"]);

    let page = d.get(created.location()).await;
    page.assert_status(200);
    assert!(page.body.contains("Team created.") && page.body.contains(&team));
    assert!(
        page.body
            .contains(&format!("/projects/internal/users/{user}"))
    );
    let list = d.get(TEAMS).await;
    assert!(list.body.contains("Rocket Team") && list.body.contains(&team));

    let here = format!("{TEAMS}/{team}");
    d.post(
        &format!("{here}/display-name"),
        &[("display_name", "Apollo")],
    )
    .await
    .assert_status(303);
    let r = app.get(&format!("/teams/{team}")).server().send().await;
    assert_eq!(r.body["display_name"], "Apollo");
    let empty = d
        .post(&format!("{here}/display-name"), &[("display_name", "  ")])
        .await;
    empty.assert_status(400);
    assert!(empty.body.contains("A team needs a display name"));
    let r = app.get(&format!("/teams/{team}")).server().send().await;
    assert_eq!(
        r.body["display_name"], "Apollo",
        "a refused rename changes nothing"
    );

    let ask = d.post(&format!("{here}/delete"), &[]).await;
    ask.assert_status(200);
    assert!(ask.body.contains("Are you sure?") && ask.body.contains("Apollo"));
    app.get(&format!("/teams/{team}"))
        .server()
        .send()
        .await
        .assert_status(200);
    let gone = d
        .post(&format!("{here}/delete"), &[("confirmed", "yes")])
        .await;
    gone.assert_status(303);
    assert_eq!(gone.location(), format!("{TEAMS}?done=team-deleted"));
    app.get(&format!("/teams/{team}"))
        .server()
        .send()
        .await
        .assert_known(404, "TEAM_NOT_FOUND");
    d.get(&here).await.assert_status(404);
    d.get(&format!("{TEAMS}/not-a-uuid"))
        .await
        .assert_status(404);
}

#[tokio::test]
async fn bad_team_input_gets_a_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let before = team_count(&app).await;
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("display_name", "")], "A team needs a display name"),
        (
            &[("display_name", "X"), ("creator", "nobody@example.com")],
            "No user of this project has the email nobody@example.com",
        ),
        (
            &[("display_name", "X"), ("creator", "not an id")],
            "is neither a user ID nor an email address",
        ),
    ];
    for (fields, message) in cases {
        let page = d.post(TEAMS, fields).await;
        page.assert_status(400);
        assert!(page.body.contains(message), "{message}: {}", page.body);
    }
    // A user ID that names no user: the API's own answer, and no team.
    let missing = d
        .post(
            TEAMS,
            &[
                ("display_name", "X"),
                ("creator", "00000000-0000-4000-8000-000000000000"),
            ],
        )
        .await;
    missing.assert_status(404);
    assert!(missing.body.contains("User not found."));
    assert_eq!(team_count(&app).await, before);
}

#[tokio::test]
async fn members_and_their_team_permissions_follow_the_forms() {
    let app = TestApp::spawn().await;
    let team = api_team(&app, "Crew").await;
    let ada_email = app.email();
    let ada = api_user(&app, &ada_email).await;
    let grace_email = app.email();
    let grace = api_user(&app, &grace_email).await;
    let d = Dashboard::open(&app).await;
    let here = format!("{TEAMS}/{team}");

    d.post(&format!("{here}/members"), &[("user", &ada)])
        .await
        .assert_status(303);
    let added = d
        .post(&format!("{here}/members"), &[("user", &grace_email)])
        .await;
    added.assert_status(303);
    assert_eq!(added.location(), format!("{here}?done=member-added"));
    let r = app
        .get(&format!("/team-member-profiles?team_id={team}"))
        .server()
        .send()
        .await;
    let mut members = ids(&r.body, "user_id");
    members.sort();
    let mut expected = vec![ada.clone(), grace.clone()];
    expected.sort();
    assert_eq!(members, expected);
    assert_eq!(team_permissions(&app, &team, &ada).await, ["team_member"]);

    let member = format!("{here}/members/{ada}");
    let granted = d
        .post(
            &format!("{member}/permissions"),
            &[("permission_id", "$update_team")],
        )
        .await;
    granted.assert_status(303);
    assert_eq!(
        team_permissions(&app, &team, &ada).await,
        ["$update_team", "team_member"]
    );
    let page = d.get(granted.location()).await;
    assert!(page.body.contains("Permission granted."));
    assert!(
        page.body
            .contains(&format!("{member}/permissions/%24update_team/revoke")),
        "a revoke button for the direct grant"
    );
    assert!(
        page.body
            .contains("title=\"contained in a direct grant\">$read_members<"),
        "team_member's contained permissions are shown"
    );

    let unknown = d
        .post(
            &format!("{member}/permissions"),
            &[("permission_id", "nope")],
        )
        .await;
    unknown.assert_status(400);
    assert!(unknown.body.contains("There is no team permission nope"));
    let stranger = d
        .post(
            &format!("{here}/members"),
            &[("user", "nobody@example.com")],
        )
        .await;
    stranger.assert_status(400);
    assert!(
        stranger
            .body
            .contains("No user of this project has the email")
    );
    assert_eq!(
        team_permissions(&app, &team, &ada).await,
        ["$update_team", "team_member"]
    );

    d.post(&format!("{member}/permissions/%24update_team/revoke"), &[])
        .await
        .assert_status(303);
    assert_eq!(team_permissions(&app, &team, &ada).await, ["team_member"]);

    d.post(&format!("{member}/remove"), &[])
        .await
        .assert_status(303);
    let r = app
        .get(&format!("/team-member-profiles?team_id={team}"))
        .server()
        .send()
        .await;
    assert_eq!(ids(&r.body, "user_id"), [grace]);
    d.post(&format!("{member}/remove"), &[])
        .await
        .assert_status(404);
}

#[tokio::test]
async fn an_invitation_reaches_the_mail_sink_and_is_revoked() {
    let app = TestApp::spawn().await;
    let team = api_team(&app, "Rocket Team").await;
    let d = Dashboard::open(&app).await;
    let here = format!("{TEAMS}/{team}");
    let page = d.get(&here).await;
    let callback = "http://localhost:3000/handler/team-invitation";
    assert!(
        page.body.contains(&format!("value=\"{callback}\"")),
        "the project allows localhost, so the form offers a local callback"
    );

    let email = app.email();
    let untrusted = d
        .post(
            &format!("{here}/invitations"),
            &[
                ("email", &email),
                ("callback_url", "https://evil.example/cb"),
            ],
        )
        .await;
    untrusted.assert_status(400);
    assert!(untrusted.body.contains("Redirect URL not whitelisted."));
    let bad = d
        .post(
            &format!("{here}/invitations"),
            &[("email", "not-an-email"), ("callback_url", callback)],
        )
        .await;
    bad.assert_status(400);
    assert!(bad.body.contains("Enter a valid email address"));
    let pending = |app: &TestApp| {
        let path = format!("/team-invitations?team_id={team}");
        let request = app.get(&path).server();
        async move {
            let r = request.send().await;
            r.assert_status(200);
            ids(&r.body, "recipient_email")
        }
    };
    assert!(pending(&app).await.is_empty(), "refusals invite nobody");

    let sent = d
        .post(
            &format!("{here}/invitations"),
            &[("email", &email), ("callback_url", callback)],
        )
        .await;
    sent.assert_status(303);
    assert_eq!(sent.location(), format!("{here}?done=invitation-sent"));
    let mail = app.wait_for_mail(&email, 1).await;
    assert_eq!(mail["subject"], "You have been invited to join Rocket Team");
    assert_eq!(pending(&app).await, std::slice::from_ref(&email));
    let page = d.get(&here).await;
    assert!(page.body.contains(&email));
    let revoke = page
        .body
        .split("action=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.ends_with("/revoke") && action.contains("/invitations/"))
        .expect("a revoke form")
        .to_owned();
    d.post(&revoke, &[]).await.assert_status(303);
    assert!(pending(&app).await.is_empty());
}

#[tokio::test]
async fn permission_definitions_are_created_and_deleted_through_the_forms() {
    let app = TestApp::spawn().await;
    let d = Dashboard::open(&app).await;
    let page = d.get(PERMISSIONS).await;
    page.assert_status(200);
    let system = page
        .body
        .split("data-permission=\"$read_members\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("the system permissions are listed");
    assert!(system.contains(">system<") && !system.contains("<form"));
    assert!(page.body.contains("data-permission=\"team_admin\""));

    let definitions = |scope: &'static str| {
        let request = app.get(&format!("/{scope}-permission-definitions")).admin();
        async move {
            let r = request.send().await;
            r.assert_status(200);
            r.body["items"].as_array().unwrap().clone()
        }
    };
    let created = d
        .post(
            &format!("{PERMISSIONS}/team"),
            &[
                ("id", "docs:edit"),
                ("description", "Edit the docs"),
                ("contained", "$read_members"),
                ("contained", "team_member"),
            ],
        )
        .await;
    created.assert_status(303);
    assert_eq!(
        created.location(),
        format!("{PERMISSIONS}?done=permission-created")
    );
    let team_defs = definitions("team").await;
    let made = team_defs.iter().find(|p| p["id"] == "docs:edit").unwrap();
    assert_eq!(made["description"], "Edit the docs");
    assert_eq!(
        made["contained_permission_ids"],
        json!(["$read_members", "team_member"])
    );
    d.post(&format!("{PERMISSIONS}/project"), &[("id", "billing")])
        .await
        .assert_status(303);
    assert!(
        definitions("project")
            .await
            .iter()
            .any(|p| p["id"] == "billing")
    );

    let refusals: [Refusal; 4] = [
        ("team", &[("id", "Bad Id")], "Only lowercase letters"),
        ("team", &[("id", "docs:edit")], "already exists"),
        (
            "project",
            &[("id", "x"), ("contained", "team_member")],
            "Contained permission with ID &quot;team_member&quot; not found",
        ),
        ("team", &[("id", "$mine")], "cannot be a permission ID"),
    ];
    for (scope, fields, message) in refusals {
        let r = d.post(&format!("{PERMISSIONS}/{scope}"), fields).await;
        r.assert_status(400);
        assert!(r.body.contains(message), "{message}: {}", r.body);
    }
    assert_eq!(definitions("team").await.len(), team_defs.len());
    assert_eq!(definitions("project").await.len(), 1);

    let delete = format!("{PERMISSIONS}/team/docs%3Aedit/delete");
    let ask = d.post(&delete, &[]).await;
    ask.assert_status(200);
    assert!(ask.body.contains("Are you sure?"));
    assert_eq!(definitions("team").await.len(), team_defs.len());
    d.post(&delete, &[("confirmed", "yes")])
        .await
        .assert_status(303);
    assert!(
        !definitions("team")
            .await
            .iter()
            .any(|p| p["id"] == "docs:edit")
    );
    let system = d
        .post(
            &format!("{PERMISSIONS}/team/%24read_members/delete"),
            &[("confirmed", "yes")],
        )
        .await;
    system.assert_status(400);
    assert!(system.body.contains("cannot be deleted"));
}

#[tokio::test]
async fn the_team_list_searches_and_pages() {
    let app = TestApp::spawn().await;
    let before = team_count(&app).await;
    for i in 0..52 {
        api_team(&app, &format!("squad-{i:02}")).await;
    }
    let d = Dashboard::open(&app).await;
    let first = d.get(TEAMS).await;
    first.assert_status(200);
    assert!(
        first.body.contains(&format!("{} teams", before + 52)),
        "{}",
        first.body
    );
    assert!(first.body.contains("squad-51"), "newest first");
    let next = first.next_link().expect("a next page link");
    let second = d.get(&next).await;
    second.assert_status(200);
    assert!(second.body.contains("squad-00") && !second.body.contains("squad-51"));
    let found = d.get(&format!("{TEAMS}?q=SQUAD-07")).await;
    assert!(found.body.contains("squad-07") && !found.body.contains("squad-08"));
    let none = d.get(&format!("{TEAMS}?q=%25")).await;
    assert!(none.body.contains("No team matches this search."));
    d.get(&format!("{TEAMS}?cursor=nope"))
        .await
        .assert_status(400);
}

#[tokio::test]
async fn team_names_are_escaped_and_posts_need_the_token() {
    let app = TestApp::spawn().await;
    let hostile = "<script>alert(1)</script>\"'&";
    let team = api_team(&app, hostile).await;
    let d = Dashboard::open(&app).await;
    for path in [TEAMS.to_owned(), format!("{TEAMS}/{team}")] {
        let page = d.get(&path).await;
        page.assert_status(200);
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(
            page.body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"),
            "{path}"
        );
    }
    let nav = d.get(TEAMS).await.body;
    let nav = nav.split("<nav").nth(1).unwrap();
    let order: Vec<usize> = ["Users", "Teams", "Permissions", "Auth methods"]
        .iter()
        .map(|l| nav.find(&format!(">{l}</a>")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");

    // A new user gets a personal team, so count after making one.
    let user = api_user(&app, &app.email()).await;
    let before = team_count(&app).await;
    let origin = [("origin", d.base.as_str())];
    for (path, fields) in [
        (TEAMS.to_owned(), vec![("display_name", "Sneaky")]),
        (
            format!("{TEAMS}/{team}/members"),
            vec![("user", user.as_str())],
        ),
        (format!("{TEAMS}/{team}/delete"), vec![("confirmed", "yes")]),
        (format!("{PERMISSIONS}/team"), vec![("id", "sneaky")]),
    ] {
        d.post_with(&path, &fields, Some(&d.token), &origin)
            .await
            .assert_status(403);
        let mut forged = vec![("csrf", "forged.token")];
        forged.extend_from_slice(&fields);
        d.post_with(&path, &forged, Some(&d.token), &origin)
            .await
            .assert_status(403);
    }
    assert_eq!(team_count(&app).await, before);
    let r = app
        .get(&format!("/team-member-profiles?team_id={team}"))
        .server()
        .send()
        .await;
    assert_eq!(ids(&r.body, "user_id"), Vec::<String>::new());
    let r = app.get("/team-permission-definitions").admin().send().await;
    assert!(!ids(&r.body, "id").contains(&"sneaky".to_owned()));
}

#[tokio::test]
async fn a_large_teams_members_come_fifty_to_a_page() {
    let app = TestApp::spawn().await;
    let team = api_team(&app, "Crowd").await;
    for i in 0..53 {
        let user = api_user(&app, &format!("crowd-{i:02}@example.com")).await;
        app.post(&format!("/team-memberships/{team}/{user}"))
            .server()
            .json(json!({}))
            .send()
            .await
            .assert_status(201);
    }
    let d = Dashboard::open(&app).await;
    let shown = |body: &str| body.matches("crowd-").count();
    let first = d.get(&format!("{TEAMS}/{team}")).await;
    first.assert_status(200);
    assert!(first.body.contains("Members 1–50 of 53"), "{}", first.body);
    let next = first.next_link().expect("a next page link");
    let second = d.get(&next).await;
    second.assert_status(200);
    assert!(second.body.contains("Members 51–53 of 53"));
    assert!(!second.body.contains("rel=\"next\""));
    // Each member's email appears the same number of times on its page.
    assert!(shown(&second.body) >= 3, "{}", second.body);
    assert_eq!(shown(&first.body) * 3, shown(&second.body) * 50);
    // A page past the end shows the last one.
    let past = d.get(&format!("{TEAMS}/{team}?members_page=99")).await;
    assert!(past.body.contains("Members 51–53 of 53"));
}
