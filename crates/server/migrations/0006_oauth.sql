-- OAuth sign-in (Stack Auth's `ProjectUserOAuthAccount`, `OAuthToken`,
-- `OAuthAccessToken`, `OAuthOuterInfo` and `ProjectUserAuthorizationCode`).

-- A user's account at an OAuth provider. `provider_config_id` is the key of
-- `auth.oauth.providers` in the project's config. An account that signs in
-- (`allow_sign_in`) is unique per provider; a connected account (linked for
-- API access only) need not be.
CREATE TABLE oauth_accounts (
    project_id               TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id                       UUID NOT NULL,
    user_id                  UUID NOT NULL,
    provider_config_id       TEXT NOT NULL,
    provider_account_id      TEXT NOT NULL,
    email                    TEXT,
    allow_sign_in            BOOLEAN NOT NULL,
    allow_connected_accounts BOOLEAN NOT NULL,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id),
    CONSTRAINT oauth_accounts_user_fkey FOREIGN KEY (project_id, user_id)
        REFERENCES users(project_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX oauth_accounts_sign_in
    ON oauth_accounts(project_id, provider_config_id, provider_account_id) WHERE allow_sign_in;
CREATE UNIQUE INDEX oauth_accounts_per_user
    ON oauth_accounts(project_id, user_id, provider_config_id, provider_account_id);
CREATE INDEX oauth_accounts_user ON oauth_accounts(project_id, user_id, created_at);

-- The provider's tokens for an account, as the provider issued them: the
-- server uses them to answer connected-account access-token requests. They
-- are never logged.
CREATE TABLE oauth_provider_tokens (
    project_id       TEXT NOT NULL,
    id               UUID NOT NULL,
    oauth_account_id UUID NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    token            TEXT NOT NULL,
    scopes           TEXT[] NOT NULL,
    expires_at       TIMESTAMPTZ,
    is_valid         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id),
    CONSTRAINT oauth_provider_tokens_account_fkey FOREIGN KEY (project_id, oauth_account_id)
        REFERENCES oauth_accounts(project_id, id) ON DELETE CASCADE
);
CREATE INDEX oauth_provider_tokens_account
    ON oauth_provider_tokens(project_id, oauth_account_id, kind, created_at DESC);

-- An OAuth sign-in in progress between `/auth/oauth/authorize` and the
-- provider's callback, found by the state sent to the provider.
CREATE TABLE oauth_outer_flows (
    inner_state TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    info        JSONB NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_outer_flows_expiry ON oauth_outer_flows(expires_at);

-- Authorization codes handed to the app after the callback (or by a
-- cross-domain handoff), exchanged at `POST /auth/oauth/token`. Only the
-- SHA-256 of a code is kept. A handoff code carries the session it hands
-- over (`granted_session_id`): the exchange continues that session.
CREATE TABLE oauth_authorization_codes (
    code_sha256                 BYTEA PRIMARY KEY CHECK (length(code_sha256) = 32),
    project_id                  TEXT NOT NULL,
    user_id                     UUID NOT NULL,
    redirect_uri                TEXT NOT NULL,
    code_challenge              TEXT NOT NULL,
    code_challenge_method       TEXT NOT NULL,
    new_user                    BOOLEAN NOT NULL,
    after_callback_redirect_url TEXT,
    granted_session_id          UUID,
    expires_at                  TIMESTAMPTZ NOT NULL,
    CONSTRAINT oauth_authorization_codes_user_fkey FOREIGN KEY (project_id, user_id)
        REFERENCES users(project_id, id) ON DELETE CASCADE
);
