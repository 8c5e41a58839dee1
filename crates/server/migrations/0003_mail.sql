-- Verification codes (sign-in codes, password resets, email verification) and
-- the mail sink's stored messages.

-- Only a SHA-256 of each code is kept. `nonce_hash` hashes the code without its
-- first six characters (the part a sign-in mail shows as the one-time code), so
-- that every guess at a code counts against all codes that share its nonce.
CREATE TABLE verification_codes (
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id              UUID NOT NULL,
    type            TEXT NOT NULL,
    code_hash       TEXT NOT NULL,
    nonce_hash      TEXT NOT NULL,
    method          JSONB NOT NULL,
    data            JSONB NOT NULL,
    redirect_url    TEXT,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, code_hash)
);
CREATE INDEX verification_codes_nonce ON verification_codes(project_id, nonce_hash);

-- One row per (message, recipient): a mailbox is a lower-cased recipient address.
-- Listing a mailbox walks (mailbox, id) backwards, so it stays fast however many
-- messages are stored; the server deletes the oldest rows beyond its limit.
CREATE TABLE mail_messages (
    id              BIGSERIAL PRIMARY KEY,
    mailbox         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    recipients      TEXT[] NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT,
    html_body       TEXT,
    raw             BYTEA NOT NULL,
    size_bytes      INTEGER NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mail_messages_mailbox ON mail_messages(mailbox, id);
