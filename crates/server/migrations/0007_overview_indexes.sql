-- The dashboard's project overview: the most recently active users, and the
-- sessions active within a window, without scanning a project's every row.
CREATE INDEX users_last_active ON users(project_id, last_active_at, id);
CREATE INDEX refresh_tokens_last_active ON refresh_tokens(project_id, last_active_at);
