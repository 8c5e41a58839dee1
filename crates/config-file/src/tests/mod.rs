//! Tests of the whole crate's reading and writing: every accepted form, every
//! refused form with its message, and round trips through [`crate::render`].

mod accepted;
mod refused;
mod round_trip;
