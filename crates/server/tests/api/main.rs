//! Integration tests of stack-server against a real PostgreSQL: one binary, one
//! module per resource.

mod admin_access_tokens;
mod api_keys;
mod auth_headers;
mod bad_input;
mod config;
mod contact_channels;
mod database_outage;
mod helpers;
mod hostile;
mod hostile_mail;
mod local_emulator;
mod mail_sink;
mod mock_oauth;
mod oauth;
mod oauth_handoff;
mod oauth_providers;
mod oauth_token;
mod otp;
mod password;
mod password_reset;
mod permissions;
mod projects;
mod rotation;
mod sdk;
mod sessions;
mod smoke;
mod team_invitations;
mod teams;
mod tokens;
mod transport;
mod user_team_api_keys;
mod users;
mod users_list;
mod users_me;
