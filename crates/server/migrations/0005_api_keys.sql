-- User and team API keys (Stack Auth's `ProjectApiKey`): keys that an app
-- hands to its users or teams and verifies with `POST /{user,team}-api-keys/check`.
-- Not the project's own key sets, which live in `api_key_sets`.
--
-- One table for both kinds, as in Stack Auth, so that a key presented to the
-- wrong check route is found and reported as the wrong type. Exactly one of
-- `user_id` and `team_id` is set; deleting the user or the team deletes its keys.
--
-- Unlike Stack Auth, which keeps the full key in plaintext, only the SHA-256 of
-- the full key is kept (to look a presented key up) and its last four
-- characters (to show in lists). The key itself is shown once, when created.
CREATE TABLE user_team_api_keys (
    project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id                   UUID NOT NULL,
    key_sha256           BYTEA NOT NULL CHECK (length(key_sha256) = 32),
    last_four            TEXT NOT NULL,
    user_id              UUID,
    team_id              UUID,
    description          TEXT NOT NULL,
    is_public            BOOLEAN NOT NULL,
    expires_at           TIMESTAMPTZ,
    manually_revoked_at  TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, id),
    CONSTRAINT user_team_api_keys_key_sha256_key UNIQUE (key_sha256),
    CONSTRAINT user_team_api_keys_one_owner CHECK ((user_id IS NULL) <> (team_id IS NULL)),
    CONSTRAINT user_team_api_keys_user_fkey FOREIGN KEY (project_id, user_id)
        REFERENCES users(project_id, id) ON DELETE CASCADE,
    CONSTRAINT user_team_api_keys_team_fkey FOREIGN KEY (project_id, team_id)
        REFERENCES teams(project_id, id) ON DELETE CASCADE
);
-- Lists are per owner, newest first; the indexes also serve the cascades.
CREATE INDEX user_team_api_keys_user ON user_team_api_keys(project_id, user_id, created_at DESC)
    WHERE user_id IS NOT NULL;
CREATE INDEX user_team_api_keys_team ON user_team_api_keys(project_id, team_id, created_at DESC)
    WHERE team_id IS NOT NULL;
