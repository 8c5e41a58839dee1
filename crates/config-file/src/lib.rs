//! stack-config-file: reads and writes an app's Stack Auth config file
//! (`hexclave.config.ts`, or the older `stack.config.ts`) on the host,
//! without a JavaScript runtime.
//!
//! Stack Auth loads the file by running it (jiti) and taking its `config`
//! export. The emulator cannot run an app's code, so this crate reads the file
//! statically instead: it parses it with oxc and accepts the literal forms a
//! config file is written in (object and array literals, strings, numbers,
//! booleans, `null`, `as const`, `satisfies`, type annotations and the
//! `defineHexclaveConfig(...)` wrapper). Anything that needs the file to be run
//! (a call, a variable, a spread, a computed key, ...) is refused with the
//! file, line and column and what to write instead. It never guesses.
//!
//! - [`discover()`] and [`resolve`] find the file, as the Stack Auth CLI does;
//! - [`parse()`] turns its text into a [`ConfigFile`]: the config as JSON plus
//!   the [`Form`] it was written in;
//! - [`render`] writes a config back in that form (or in Stack Auth's own
//!   rendered form for a new file, with the package from [`package_for`]);
//! - [`write_atomically`] replaces the file without ever leaving half of it.
//!
//! Out of scope: validating the config against Stack Auth's schema (the
//! server does that), normalising dotted keys, and files that import other
//! files' values.
//!
//! ```
//! use std::path::Path;
//! use stack_config_file::{parse, render};
//!
//! let path = Path::new("/app/hexclave.config.ts");
//! let file = parse(
//!     "import { defineHexclaveConfig } from \"@hexclave/next\";\n\
//!      export const config = defineHexclaveConfig({ auth: { allowSignUp: true } });\n",
//!     path,
//! )?;
//! assert_eq!(file.value()["auth"]["allowSignUp"], true);
//!
//! let mut value = file.value().clone();
//! value["auth"]["allowSignUp"] = false.into();
//! let form = file.form().cloned().unwrap_or_else(|| stack_config_file::Form::for_new_file(path));
//! let text = render(&value, &form);
//! assert!(text.contains("defineHexclaveConfig({"));
//! assert_eq!(parse(&text, path)?.value(), &value);
//! # Ok::<(), stack_config_file::ParseError>(())
//! ```

mod discover;
mod evaluate;
mod export;
mod form;
mod imports;
mod json;
mod location;
mod package;
mod parse;
mod write;

#[cfg(test)]
mod tests;

pub use discover::{CANDIDATES, DiscoverError, discover, resolve};
pub use form::{Form, Language, Wrapper, WrapperFunction, render};
pub use package::{CONFIG_IMPORT_PACKAGES, DEFAULT_PACKAGE, package_for};
pub use parse::{ConfigFile, ParseError, SHOW_ONBOARDING, parse};
pub use write::{WriteError, write_atomically};
