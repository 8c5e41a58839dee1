-- Core schema: projects, their API key sets, users and what hangs off them.
-- Every user-scoped table is keyed by project first (one branch, `main`, per project).

CREATE TABLE projects (
    id                  TEXT PRIMARY KEY,
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    is_production_mode  BOOLEAN NOT NULL DEFAULT FALSE,
    owner_team_id       UUID,
    config              JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_key_sets (
    id                      UUID PRIMARY KEY,
    project_id              TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    description             TEXT NOT NULL DEFAULT '',
    publishable_client_key  TEXT UNIQUE,
    secret_server_key       TEXT UNIQUE,
    super_secret_admin_key  TEXT UNIQUE,
    expires_at              TIMESTAMPTZ NOT NULL,
    manually_revoked_at     TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX api_key_sets_project ON api_key_sets(project_id);

CREATE TABLE users (
    project_id                          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id                                  UUID NOT NULL,
    display_name                        TEXT,
    profile_image_url                   TEXT,
    client_metadata                     JSONB,
    client_read_only_metadata           JSONB,
    server_metadata                     JSONB,
    password_hash                       TEXT,
    otp_auth_enabled                    BOOLEAN NOT NULL DEFAULT FALSE,
    passkey_auth_enabled                BOOLEAN NOT NULL DEFAULT FALSE,
    totp_secret                         BYTEA,
    is_anonymous                        BOOLEAN NOT NULL DEFAULT FALSE,
    restricted_by_admin                 BOOLEAN NOT NULL DEFAULT FALSE,
    restricted_by_admin_reason          TEXT,
    restricted_by_admin_private_details TEXT,
    country_code                        TEXT,
    risk_score_bot                      INTEGER NOT NULL DEFAULT 0,
    risk_score_free_trial_abuse         INTEGER NOT NULL DEFAULT 0,
    signed_up_at                        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_active_at                      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at                          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);
CREATE INDEX users_signed_up ON users(project_id, signed_up_at, id);

-- `is_primary` and `used_for_auth` hold TRUE or NULL so that the partial uniqueness
-- rules (one primary per user, one auth-enabled owner per address) are plain UNIQUE constraints.
CREATE TABLE contact_channels (
    project_id      TEXT NOT NULL,
    id              UUID NOT NULL,
    user_id         UUID NOT NULL,
    type            TEXT NOT NULL DEFAULT 'email',
    value           TEXT NOT NULL,
    is_verified     BOOLEAN NOT NULL DEFAULT FALSE,
    is_primary      BOOLEAN CHECK (is_primary),
    used_for_auth   BOOLEAN CHECK (used_for_auth),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id),
    FOREIGN KEY (project_id, user_id) REFERENCES users(project_id, id) ON DELETE CASCADE,
    UNIQUE (project_id, user_id, type, is_primary),
    UNIQUE (project_id, user_id, type, value),
    UNIQUE (project_id, type, value, used_for_auth)
);
CREATE INDEX contact_channels_user ON contact_channels(project_id, user_id);
CREATE INDEX contact_channels_value_lower ON contact_channels(project_id, lower(value));

CREATE TABLE refresh_tokens (
    project_id          TEXT NOT NULL,
    id                  UUID NOT NULL,
    user_id             UUID NOT NULL,
    refresh_token       TEXT NOT NULL UNIQUE,
    expires_at          TIMESTAMPTZ,
    is_impersonation    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_active_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id),
    FOREIGN KEY (project_id, user_id) REFERENCES users(project_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(project_id, user_id);

CREATE TABLE teams (
    project_id                  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id                          UUID NOT NULL,
    display_name                TEXT NOT NULL,
    profile_image_url           TEXT,
    client_metadata             JSONB,
    client_read_only_metadata   JSONB,
    server_metadata             JSONB,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

CREATE TABLE team_members (
    project_id          TEXT NOT NULL,
    team_id             UUID NOT NULL,
    user_id             UUID NOT NULL,
    display_name        TEXT,
    profile_image_url   TEXT,
    is_selected         BOOLEAN CHECK (is_selected),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, team_id, user_id),
    FOREIGN KEY (project_id, team_id) REFERENCES teams(project_id, id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, user_id) REFERENCES users(project_id, id) ON DELETE CASCADE,
    UNIQUE (project_id, user_id, is_selected)
);
CREATE INDEX team_members_user ON team_members(project_id, user_id);

CREATE TABLE team_member_permissions (
    project_id      TEXT NOT NULL,
    team_id         UUID NOT NULL,
    user_id         UUID NOT NULL,
    permission_id   TEXT NOT NULL,
    PRIMARY KEY (project_id, team_id, user_id, permission_id),
    FOREIGN KEY (project_id, team_id, user_id)
        REFERENCES team_members(project_id, team_id, user_id) ON DELETE CASCADE
);

CREATE TABLE user_permissions (
    project_id      TEXT NOT NULL,
    user_id         UUID NOT NULL,
    permission_id   TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id, permission_id),
    FOREIGN KEY (project_id, user_id) REFERENCES users(project_id, id) ON DELETE CASCADE
);

-- One project per config file path, created on demand by the local-emulator route.
CREATE TABLE local_emulator_projects (
    absolute_file_path  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Install-wide secrets and runtime settings (token-signing secret, public URLs).
-- Changed only by `seed` and `rotate-secrets`; a change is announced with NOTIFY.
CREATE TABLE server_settings (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
