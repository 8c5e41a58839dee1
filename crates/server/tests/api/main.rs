//! Integration tests of stack-server against a real PostgreSQL: one binary, one
//! module per resource.

mod helpers;
mod smoke;
