-- The dashboard's users table sorted by display name or by primary email,
-- ignoring case, with `(key, id)` cursor pages: each order is a range of one
-- of these indexes (db::user_list). Users without a name or primary email
-- are not in them; they are listed after the others by the primary key.
CREATE INDEX users_display_name ON users(project_id, lower(display_name), id)
    WHERE display_name IS NOT NULL;
CREATE INDEX contact_channels_primary_email ON contact_channels(project_id, lower(value), user_id)
    WHERE type = 'email' AND is_primary;
