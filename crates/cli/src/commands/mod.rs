//! One module per command; `run` dispatches.

pub mod bench;
pub mod capture;
pub mod credentials;
pub mod images;
pub mod package;
pub mod pull;
pub mod start;
pub mod status;
pub mod stop;

use std::io::{BufRead as _, IsTerminal as _, Read as _, Seek as _, Write as _};
use std::time::Duration;

use anyhow::{anyhow, bail};

use crate::cli::{Cli, Command, Format, StartArgs};
use crate::home::Home;
use crate::image;
use crate::printer::{Printer, Verbosity};

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
        crate::private::restrict_umask();
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
            let source = image::source_root(source)?;
            let _lock = home.try_lock()?;
            let built = tokio::task::spawn_blocking(move || {
                let printer = Printer::new(verbosity);
                image::build(&home, &source, force, &printer)
            })
            .await??;
            printer.result(&format!(
                "{} ({} MiB disk, {} MiB kernel) in {}",
                built.manifest.version,
                built.manifest.disk.size / (1 << 20),
                built.manifest.kernel.size / (1 << 20),
                built.dir.display()
            ));
            Ok(0)
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
        Command::Start(args) => {
            let opts = start_options(&args)?;
            let started = start::start(&home, &printer, &opts).await?;
            match &started {
                start::Started::AlreadyRunning(_) => {
                    printer.step("the emulator is already running")
                }
                start::Started::Started(_) => printer.step("the emulator is ready"),
            }
            if let Some(config_file) = &args.config_file {
                let path = credentials::config_path(Some(config_file))?;
                print_credentials(
                    &printer,
                    &credentials::fetch(&home, &path).await?,
                    Format::Env,
                );
            } else {
                for line in start::summary(started.state()) {
                    printer.result(&line);
                }
            }
            Ok(0)
        }
        Command::Capture { machine, force } => {
            let opts = start::StartOptions {
                memory_mib: machine.memory_mib,
                vcpus: machine.vcpus,
                source: machine.source.clone(),
                ..start::StartOptions::for_capture()
            };
            match capture::capture(&home, &printer, &opts, force).await? {
                capture::Captured::AlreadyThere => printer.step(
                    "the pristine snapshot for this image and machine is already there (--force takes it again)",
                ),
                capture::Captured::Taken(_) => {
                    printer.step("the pristine snapshot is ready; `start` resumes it");
                }
            }
            Ok(0)
        }
        Command::Bench => {
            bench::bench(&home, &printer).await?;
            Ok(0)
        }
        Command::Stop => {
            let _lock = start::lock(&home, &printer).await?;
            let outcome = stop::stop_locked(&home, &printer).await?;
            printer.step(match outcome {
                stop::Stopped::WasNotRunning => "the emulator is not running",
                stop::Stopped::WasDead => "the emulator had already died; cleared what it left (the data is kept)",
                stop::Stopped::Clean => "stopped; the data is kept",
                stop::Stopped::Hibernated => "hibernated; the next start resumes this session",
                stop::Stopped::Forced => "stopped from the host; the data is kept, and PostgreSQL recovers at the next start",
            });
            Ok(0)
        }
        Command::Status { json } => {
            let status = status::status(&home).await;
            if json {
                printer.result(&serde_json::to_string_pretty(&status)?);
            } else {
                for line in status::render(&status) {
                    printer.result(&line);
                }
            }
            Ok(0)
        }
        Command::Reset { yes } => {
            if !yes && !confirm("Delete this emulator's users, projects and keys?")? {
                bail!("reset cancelled\nhint: pass --yes to reset without being asked");
            }
            let _lock = start::lock(&home, &printer).await?;
            // Its data is deleted next: nothing to save or shut down cleanly.
            stop::discard_locked(&home, &printer).await?;
            let files = crate::session::SessionFiles::of(&home);
            start::session_state(&files).remove();
            for path in [
                &files.overlay,
                &files.ram,
                &files.overlay.with_extension("image"),
                &files.secrets.with_file_name("public-api-url"),
                &files.secrets,
                // The runtime-config disk of older versions.
                &files.overlay.with_file_name("config.iso"),
                &files.serial_log,
                &files.qemu_log,
            ] {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(anyhow!("cannot delete {}: {e}", path.display())),
                }
            }
            printer
                .step("reset: the session's data and keys are gone; images and snapshots are kept");
            Ok(0)
        }
        Command::Logs { follow } => {
            let files = crate::session::SessionFiles::of(&home);
            logs(&files.serial_log, follow).await?;
            Ok(0)
        }
        Command::Credentials {
            config_file,
            format,
        } => {
            let path = credentials::config_path(config_file.as_deref())?;
            let creds = credentials::fetch(&home, &path).await?;
            print_credentials(&printer, &creds, format);
            Ok(0)
        }
        Command::Run {
            start: start_args,
            command,
        } => {
            let opts = start_options(&start_args)?;
            let path = credentials::config_path(start_args.config_file.as_deref())?;
            let started = start::start(&home, &printer, &opts).await?;
            let we_started = matches!(started, start::Started::Started(_));
            let outcome = run_with_credentials(&home, &path, &command).await;
            if we_started {
                let _lock = start::lock(&home, &printer).await?;
                stop::stop_locked(&home, &printer).await?;
            }
            outcome
        }
    }
}

fn start_options(args: &StartArgs) -> anyhow::Result<start::StartOptions> {
    let ports = args.ports.ports().map_err(|e| anyhow!(e))?;
    Ok(start::StartOptions {
        ports,
        memory_mib: args.machine.memory_mib,
        vcpus: args.machine.vcpus,
        timings: args.timings,
        source: args.machine.source.clone(),
        cold: args.cold,
        no_rotation: args.no_rotation,
    })
}

fn print_credentials(printer: &Printer, creds: &credentials::Credentials, format: Format) {
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

/// Runs `command` with the credentials of the project for `path` in its
/// environment and returns its exit code (128 + the signal's number when a
/// signal ended it, as shells report it).
///
/// While it runs, SIGINT and SIGTERM that reach this process are passed on to
/// it, and this process waits for it to end: a Ctrl-C in a terminal reaches
/// both, a `kill -INT` of this process only this one, and either way `run`
/// then still stops the emulator it started. Like `npm run`, the command may
/// therefore get a terminal's Ctrl-C twice.
async fn run_with_credentials(
    home: &Home,
    path: &std::path::Path,
    command: &[String],
) -> anyhow::Result<u8> {
    let creds = credentials::fetch(home, path).await?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow!("no command given after --"))?;
    let mut child = std::process::Command::new(program);
    child.args(args);
    for (name, value) in creds.vars() {
        child.env(name, value);
    }
    // The app's files are the user's, not the emulator's private state.
    crate::private::keep_user_umask(&mut child);
    // Listening before the spawn: a signal in between must not end `run`.
    let mut signals = ForwardedSignals::listen()?;
    let mut child = tokio::process::Command::from(child)
        .spawn()
        .map_err(|e| anyhow!("cannot run {program}: {e}"))?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| anyhow!("cannot wait for {program}: {e}"))?,
            Some(signal) = signals.next() => {
                if let Some(pid) = child.id() {
                    crate::session::signal(pid, signal);
                }
            }
        }
    };
    Ok(exit_code(status))
}

/// The exit code a shell would report for a process that ended with `status`.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal));
    code.and_then(|c| u8::try_from(c).ok())
        .unwrap_or(crate::cli::EXIT_FAILURE)
}

/// SIGINT and SIGTERM, caught for as long as this process lives.
struct ForwardedSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ForwardedSignals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind| signal(kind).map_err(|e| anyhow!("cannot catch signals: {e}"));
        Ok(Self {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
        })
    }

    /// The next signal that arrives.
    async fn next(&mut self) -> Option<crate::session::Signal> {
        use crate::session::Signal;
        tokio::select! {
            got = self.interrupt.recv() => got.map(|()| Signal::Interrupt),
            got = self.terminate.recv() => got.map(|()| Signal::Terminate),
        }
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Prints the console log, and with `follow` keeps printing what is appended.
async fn logs(path: &std::path::Path, follow: bool) -> anyhow::Result<()> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no console log yet at {}\nhint: start the emulator first",
                path.display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        file.read_to_end(&mut buf)?;
        out.write_all(&buf)?;
        out.flush()?;
        if !follow {
            return Ok(());
        }
        // A new boot truncates the log; start over from its beginning.
        let position = file.stream_position()?;
        if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) < position {
            file = std::fs::File::open(path)?;
        }
        // Poll interval for new console output; not a synchronisation guess.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
