-- Auto-captured analytics events ($page-view, $click) that @stackframe/js
-- uploads in batches (POST /analytics/events/batch) for projects with the
-- analytics app installed. Stack Auth keeps them in ClickHouse; the emulator
-- keeps them here, with the session and user that sent them.
CREATE TABLE analytics_events (
    project_id                  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id                          BIGSERIAL NOT NULL,
    event_type                  TEXT NOT NULL,
    event_at                    TIMESTAMPTZ NOT NULL,
    data                        JSONB NOT NULL,
    user_id                     UUID NOT NULL,
    refresh_token_id            UUID NOT NULL,
    session_replay_segment_id   UUID NOT NULL,
    batch_id                    UUID NOT NULL,
    received_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);
CREATE INDEX analytics_events_at ON analytics_events(project_id, event_at);
