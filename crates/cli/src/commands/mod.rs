//! One adapter per command: each turns flags into a call of the engine
//! (`stack_emulator`) and its outcome into output and an exit code; `run`
//! dispatches.

pub mod bench;
pub mod capture;
pub mod credentials;
pub mod images;
pub mod logs;
pub mod package;
pub mod pull;
pub mod reset;
pub mod run;
pub mod start;
pub mod status;
pub mod stop;

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use stack_emulator::home::Home;
use stack_emulator::printer::{Printer, Verbosity};

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Runs the command and returns the process exit code.
///
/// # Errors
/// Whatever the command reports.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let printer = Printer::new(verbosity);
    if !matches!(cli.command, Command::Package { .. }) {
        stack_emulator::private::restrict_umask();
    }
    let home = Home::from_env()?;
    home.ensure()?;
    if let Err(e) = home.make_private() {
        printer.warn(&format!(
            "{:#}; other users of this machine may be able to read it",
            anyhow::Error::from(e)
        ));
    }
    match cli.command {
        Command::BuildImage { force, source } => {
            images::build_image(&home, &printer, verbosity, force, source).await
        }
        Command::Images => images::images(&home, &printer),
        Command::Prune { yes } => images::prune(&home, &printer, yes),
        Command::Pull {
            version,
            from,
            skip_snapshot,
        } => {
            pull::pull(
                &home,
                &printer,
                version.as_deref(),
                from.as_deref(),
                skip_snapshot,
            )
            .await
        }
        Command::ListReleases { from } => {
            pull::list_releases(&home, &printer, from.as_deref()).await
        }
        Command::Package {
            out,
            image,
            version,
            level,
        } => {
            let args = package::PackageArgs {
                out,
                image,
                version,
                level,
            };
            package::package(&home, &printer, args).await
        }
        Command::Start(args) => start::start(&home, &printer, &args).await,
        Command::Capture { machine, force } => {
            capture::capture(&home, &printer, &machine, force).await
        }
        Command::Bench => {
            bench::bench(&home, &printer).await?;
            Ok(Exit::Success.code())
        }
        Command::Stop => stop::stop(&home, &printer).await,
        Command::Status { json } => status::status(&home, &printer, json).await,
        Command::Reset { yes } => reset::reset(&home, &printer, yes).await,
        Command::Logs { follow } => logs::logs(&home, follow).await,
        Command::Credentials {
            config_file,
            format,
        } => credentials::credentials(&home, &printer, config_file.as_deref(), format).await,
        Command::Run {
            start: start_args,
            command,
        } => run::run(&home, &printer, &start_args, &command).await,
        Command::ConfigSync => {
            stack_emulator::config_sync::supervise(&home).await?;
            Ok(Exit::Success.code())
        }
    }
}

/// Failures of the adapters themselves.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// `reset` was not confirmed.
    #[error("reset cancelled")]
    ResetCancelled,
    /// `prune` was not confirmed.
    #[error("prune cancelled; nothing was removed")]
    PruneCancelled,
    /// An image build or pull holds the images directory.
    #[error("an image build or pull is running in {}", .0.display())]
    PruneBusy(std::path::PathBuf),
    /// `package --image` names no installed image.
    #[error(transparent)]
    NoSuchImage(stack_emulator::image::ImageError),
}

impl CommandError {
    /// What to do next, in order.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Self::ResetCancelled => vec!["pass --yes to reset without being asked".to_owned()],
            Self::PruneCancelled => vec!["pass --yes to prune without being asked".to_owned()],
            Self::PruneBusy(_) => vec!["prune when it has finished".to_owned()],
            Self::NoSuchImage(e) => e
                .hint()
                .into_iter()
                .chain(["`stack-emulator images` lists the installed images".to_owned()])
                .collect(),
        }
    }
}

/// Asks `question` on a terminal; false without one (nothing to ask).
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
