//! Mail: the sink that captures every mail the server sends (an SMTP listener
//! that stores into PostgreSQL through [`crate::db::mail`], and an HTTP
//! listener to read it), the outbound SMTP client, and the templates of the
//! mails the auth flows send.

pub mod headers;
pub mod outbound;
pub mod own_clients;
pub mod smtp;
pub mod templates;
pub mod web;
