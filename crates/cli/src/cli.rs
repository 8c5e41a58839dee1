//! Command-line flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use stack_emulator::ports::Ports;

/// A private, local Stack Auth backend in a small QEMU VM.
#[derive(Parser, Debug)]
#[command(version, about, after_help = crate::exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// Show every line of output of long steps.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Show only errors and results.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build the guest image from Debian packages (cached by a hash of its inputs).
    BuildImage {
        /// Rebuild even when the inputs are unchanged.
        #[arg(long)]
        force: bool,
        /// The stack-emulator source tree (holds guest/).
        #[arg(long)]
        source: Option<PathBuf>,
    },
    /// List installed images (active, in use, source, size, snapshots).
    Images,
    /// Download a released image, install it and make it active.
    Pull {
        /// The release (default: the latest one).
        #[arg(long)]
        version: Option<String>,
        /// Where releases are: an http:// folder, a GitHub releases page, or a
        /// local folder (a path or file://) such as an offline CI cache.
        #[arg(long, env = "STACK_EMULATOR_RELEASES_URL")]
        from: Option<String>,
        /// Do not capture the pristine snapshot after installing (the first
        /// `start` captures it then).
        #[arg(long, env = "STACK_EMULATOR_SKIP_SNAPSHOT", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
        skip_snapshot: bool,
    },
    /// List the releases a server has, and which are installed and active.
    ListReleases {
        /// Where releases are (as for `pull`).
        #[arg(long, env = "STACK_EMULATOR_RELEASES_URL")]
        from: Option<String>,
    },
    /// Write an installed image as a release into a folder that any static
    /// HTTP server can serve, and list it in the folder's index.json.
    Package {
        /// The folder (holds index.json and one folder per release).
        #[arg(long)]
        out: PathBuf,
        /// The installed image (default: the active one).
        #[arg(long)]
        image: Option<String>,
        /// The release version (default: the image's version).
        #[arg(long)]
        version: Option<String>,
        /// zstd level for the disk (1-22).
        #[arg(long, default_value_t = stack_emulator::release::package::DEFAULT_ZSTD_LEVEL, value_parser = clap::value_parser!(i32).range(1..=22))]
        level: i32,
    },
    /// Remove installed images other than the active one and the one this
    /// install's session uses, with their snapshots and unfinished downloads.
    Prune {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Start the emulator (or say that it runs) and print its URLs.
    Start(StartArgs),
    /// Hibernate the VM (or shut the guest down cleanly); data is kept.
    Stop,
    /// Take the pristine snapshot of the active image for this machine shape
    /// now, instead of at the first `start`.
    Capture {
        /// The machine shape; it must match the `start` that resumes it.
        #[command(flatten)]
        machine: MachineArgs,
        /// Take it again even when a valid one exists.
        #[arg(long)]
        force: bool,
    },
    /// Measure cold boot, capture, resumes, hibernate and rotation in one run.
    Bench,
    /// Show whether the emulator runs, and how it is doing.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Stop, then delete the session's data and keys (images and snapshots stay).
    Reset {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Print the guest's console and service logs.
    Logs {
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
    },
    /// Print the project and keys for an app's config file.
    Credentials {
        /// The app's config file; its absolute path keys the project.
        #[arg(long)]
        config_file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Env)]
        format: Format,
    },
    /// Start the emulator if needed, run CMD with the credentials set, then stop
    /// it again if this command started it.
    Run {
        /// Start options, and the app's config file whose credentials CMD gets.
        #[command(flatten)]
        start: StartArgs,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Keep the mapped config files in step with their projects (the
    /// supervisor that `start` and `credentials` run; not for people).
    #[command(name = "config-sync", hide = true)]
    ConfigSync,
}

/// Output formats of `credentials`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `NAME=value` lines, quoted for a POSIX shell where a value needs it.
    Env,
    /// The body of a .env file, with a comment saying what it is for.
    Dotenv,
    /// One JSON object.
    Json,
}

/// The guest's shape, and where an image comes from when none is installed.
#[derive(Args, Debug, Clone)]
pub struct MachineArgs {
    /// Guest RAM in MiB.
    #[arg(long, env = "STACK_EMULATOR_MEMORY_MIB", default_value_t = 1024)]
    pub memory_mib: u32,
    /// Guest vCPUs.
    #[arg(long, env = "STACK_EMULATOR_VCPUS", default_value_t = 2)]
    pub vcpus: u8,
    /// The stack-emulator source tree, for building an image when none is installed.
    #[arg(long)]
    pub source: Option<PathBuf>,
}

/// Options of `start` (and `run`).
#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    /// Host ports.
    #[command(flatten)]
    pub ports: PortArgs,
    /// Guest shape.
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Print how long each phase took.
    #[arg(long)]
    pub timings: bool,
    /// The app's config file: `start` prints its project's credentials, and
    /// `run` gives them to the command.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Boot the guest's kernel even when a snapshot could be resumed.
    #[arg(long)]
    pub cold: bool,
    /// Keep the keys of the image or snapshot instead of making this install's
    /// own (faster in CI). Only where nothing but this machine reaches the ports.
    #[arg(long, env = "EMULATOR_NO_ROTATION", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub no_rotation: bool,
}

/// Host ports, each overridable by flag or environment variable.
#[derive(Args, Debug, Clone)]
pub struct PortArgs {
    /// Host port of the dashboard.
    #[arg(long, env = "STACK_EMULATOR_DASHBOARD_PORT", default_value_t = Ports::default().dashboard)]
    pub dashboard_port: u16,
    /// Host port of the API.
    #[arg(long, env = "STACK_EMULATOR_API_PORT", default_value_t = Ports::default().api)]
    pub api_port: u16,
    /// Host port of the mail sink.
    #[arg(long, env = "STACK_EMULATOR_MAIL_PORT", default_value_t = Ports::default().mail)]
    pub mail_port: u16,
    /// Host port of the mock OAuth provider.
    #[arg(long, env = "STACK_EMULATOR_OAUTH_PORT", default_value_t = Ports::default().oauth)]
    pub oauth_port: u16,
}

impl PortArgs {
    /// The ports, checked for duplicates.
    ///
    /// # Errors
    /// Two services on one port, or port 0.
    pub fn ports(&self) -> Result<Ports, String> {
        let ports = self.ports_unchecked();
        let each = ports.each();
        for (i, (service, port)) in each.iter().enumerate() {
            if *port == 0 {
                return Err(format!("{} 0 is not a usable port", service.flag));
            }
            if let Some((other, _)) = each[..i].iter().find(|(_, p)| p == port) {
                return Err(format!(
                    "{} and {} are both {port}; give each service its own port",
                    other.flag, service.flag
                ));
            }
        }
        Ok(ports)
    }

    fn ports_unchecked(&self) -> Ports {
        Ports {
            dashboard: self.dashboard_port,
            api: self.api_port,
            mail: self.mail_port,
            oauth: self.oauth_port,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// clap checks the whole command tree (duplicate flags, conflicting ids,
    /// bad defaults) only in this call, which parsing a command line skips.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_the_config_file_once_and_the_command_after_the_dashes() {
        let cli = Cli::try_parse_from([
            "stack-emulator",
            "run",
            "--config-file",
            "app/stack.config.ts",
            "--",
            "npm",
            "test",
        ])
        .unwrap();
        let Command::Run { start, command } = cli.command else {
            panic!("not parsed as run: {:?}", cli.command);
        };
        assert_eq!(
            start.config_file,
            Some(PathBuf::from("app/stack.config.ts"))
        );
        assert_eq!(command, ["npm", "test"]);
        let help = Cli::command()
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        assert_eq!(help.matches("--config-file").count(), 1, "{help}");
    }

    #[test]
    fn credentials_takes_each_format_and_defaults_to_env() {
        let format_of = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(["stack-emulator", "credentials"].iter().chain(args)).unwrap();
            let Command::Credentials { format, .. } = cli.command else {
                panic!("not parsed as credentials: {:?}", cli.command);
            };
            format
        };
        assert_eq!(format_of(&[]), Format::Env);
        assert_eq!(format_of(&["--format", "env"]), Format::Env);
        assert_eq!(format_of(&["--format", "dotenv"]), Format::Dotenv);
        assert_eq!(format_of(&["--format", "json"]), Format::Json);
        assert!(
            Cli::try_parse_from(["stack-emulator", "credentials", "--format", "yaml"]).is_err()
        );
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains(crate::exit::EXIT_CODES_HELP), "{help}");
    }

    #[test]
    fn the_supervisor_subcommand_parses_and_is_hidden() {
        let cli = Cli::try_parse_from(["stack-emulator", stack_emulator::config_sync::SUBCOMMAND]);
        assert!(matches!(cli.map(|c| c.command), Ok(Command::ConfigSync)));
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("config-sync"), "{help}");
    }

    #[test]
    fn a_wrong_command_line_is_a_usage_error() {
        let Err(e) = Cli::try_parse_from(["stack-emulator", "no-such-command"]) else {
            panic!("parsed an unknown command");
        };
        assert_eq!(e.exit_code(), i32::from(crate::exit::Exit::Usage.code()));
    }
}
