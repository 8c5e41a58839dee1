//! `credentials`: the project and keys for an app's config file, as env lines
//! or JSON.

use std::path::Path;

use stack_emulator::credentials::{self, Credentials};
use stack_emulator::home::Home;
use stack_emulator::printer::Printer;

use crate::cli::Format;
use crate::exit::Exit;

/// `stack-emulator credentials`.
///
/// # Errors
/// Not running, or the API refused.
pub async fn credentials(
    home: &Home,
    printer: &Printer,
    config_file: Option<&Path>,
    format: Format,
) -> anyhow::Result<u8> {
    let path = credentials::config_path(config_file)?;
    let creds = credentials::fetch(home, &path).await?;
    print_credentials(printer, &creds, format);
    Ok(Exit::Success.code())
}

/// Prints `creds` as `NAME=value` lines or one JSON object.
pub fn print_credentials(printer: &Printer, creds: &Credentials, format: Format) {
    match format {
        Format::Env => {
            for (name, value) in creds.vars() {
                printer.result(&format!("{name}={value}"));
            }
        }
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = creds
                .vars()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                .collect();
            printer.result(&serde_json::Value::Object(map).to_string());
        }
    }
}
