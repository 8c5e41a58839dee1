-- The dashboard's users table sorted by display name, ignoring case, with
-- `(key, id)` cursor pages: a range of this index (db::user_list). Users
-- without a name are not in it; they are listed after the others by the
-- primary key. The primary email order needs no index of its own:
-- contact_channels_value_lower (0001) already has the channels by lower(value).
CREATE INDEX users_display_name ON users(project_id, lower(display_name), id)
    WHERE display_name IS NOT NULL;
