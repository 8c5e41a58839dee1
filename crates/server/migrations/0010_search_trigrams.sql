-- Trigram indexes for the users search (db::user_list): a display name or a
-- contact channel containing a text is found through them instead of by
-- testing every user. pg_trgm ships with PostgreSQL and is a trusted
-- extension, so the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_display_name_trgm ON users USING gin (display_name gin_trgm_ops);
CREATE INDEX contact_channels_value_trgm ON contact_channels USING gin (value gin_trgm_ops);
