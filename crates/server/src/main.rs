//! The `stack-server` binary: parse flags, run one subcommand, report.

use std::io::Read as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use stack_server::mail::outbound::SmtpUrl;
use stack_server::secret::Secret;
use stack_server::seed::{InternalKeys, SeedOptions};
use stack_server::state::{DEFAULT_FROM_ADDRESS, MailSettings, OAuthSettings, ServeSettings};
use stack_server::{Application, connect_lazy, db, rotate, seed};

/// A Stack Auth-compatible API server on PostgreSQL.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// PostgreSQL URL, e.g. postgres://user@localhost/stack.
    #[arg(
        long,
        env = "STACK_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API.
    Serve(Box<ServeArgs>),
    /// Apply database migrations.
    Migrate,
    /// Migrate, then create the internal project, its keys and the admin user.
    Seed(SeedArgs),
    /// Read a rotation document on stdin and apply it to the running server.
    RotateSecrets(RotateArgs),
}

#[derive(clap::Args, Debug)]
struct RotateArgs {
    /// Base URL of the running server, as reachable from here.
    #[arg(
        long,
        env = "STACK_LOCAL_API_URL",
        default_value = "http://127.0.0.1:8102"
    )]
    api_url: String,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address of the API listener.
    #[arg(long, env = "STACK_API_LISTEN", default_value = "127.0.0.1:8102")]
    listen: SocketAddr,
    /// Public base URL of the API (token issuer); the database setting wins when present.
    #[arg(long, env = "STACK_PUBLIC_API_URL")]
    public_api_url: Option<String>,
    /// Access token lifetime in seconds (the SDK needs more than 20).
    #[arg(long, env = "STACK_ACCESS_TOKEN_TTL_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(21..))]
    access_token_ttl_seconds: u64,
    /// Enable the local-emulator routes.
    #[arg(long, env = "STACK_LOCAL_EMULATOR")]
    local_emulator: bool,
    /// Apply migrations before serving.
    #[arg(long)]
    migrate: bool,
    /// Largest number of database connections.
    #[arg(long, env = "STACK_DATABASE_POOL_SIZE", default_value_t = 16)]
    pool_size: u32,
    /// Directory in which the server makes its inbox (a FIFO) and outbox, on
    /// which it takes clock and secret-rotation requests (see the inbox
    /// module); keep it private to the server's user.
    #[arg(long, env = "STACK_INBOX")]
    inbox: Option<std::path::PathBuf>,
    /// Address of the mail sink's SMTP listener.
    #[arg(long, env = "STACK_SMTP_LISTEN", default_value = "127.0.0.1:2500")]
    smtp_listen: SocketAddr,
    /// Address of the mail sink's web page and JSON API.
    #[arg(long, env = "STACK_MAIL_LISTEN", default_value = "127.0.0.1:8105")]
    mail_listen: SocketAddr,
    /// Run without the mail sink's listeners (mail then needs --smtp-url).
    #[arg(long, env = "STACK_NO_MAIL_SINK")]
    no_mail_sink: bool,
    /// Where outbound mail goes, smtp://host:port (default: the sink's own SMTP listener).
    #[arg(long, env = "STACK_SMTP_URL", value_parser = parse_smtp_url)]
    smtp_url: Option<SmtpUrl>,
    /// Sender address of every mail.
    #[arg(long, env = "STACK_MAIL_FROM", default_value = DEFAULT_FROM_ADDRESS)]
    mail_from: String,
    /// Public base URL of the mail sink's web page, as users reach it.
    #[arg(long, env = "STACK_PUBLIC_MAIL_URL")]
    public_mail_url: Option<String>,
    /// Address of the mock OpenID provider that answers for every OAuth
    /// provider (Stack Auth's development layout puts it on port 8114).
    #[arg(
        long,
        env = "STACK_MOCK_OAUTH_LISTEN",
        default_value = "127.0.0.1:8114"
    )]
    mock_oauth_listen: SocketAddr,
    /// Run without the mock OpenID provider (OAuth then needs --oauth-provider-url).
    #[arg(long, env = "STACK_NO_MOCK_OAUTH")]
    no_mock_oauth: bool,
    /// Public base URL of the mock OpenID provider, as browsers reach it
    /// (default: http://localhost:<port of --mock-oauth-listen>).
    #[arg(long, env = "STACK_PUBLIC_OAUTH_URL")]
    public_oauth_url: Option<String>,
    /// Base URL at which this server reaches the OpenID provider for its
    /// back-channel calls (default: its own mock over loopback).
    #[arg(long, env = "STACK_OAUTH_PROVIDER_URL")]
    oauth_provider_url: Option<String>,
    /// Address of the dashboard (Stack Auth's dashboard port is 8101). It
    /// acts as the emulator's owner without a sign-in and answers only
    /// loopback Host names: keep it on a loopback address.
    #[arg(long, env = "STACK_DASHBOARD_LISTEN", default_value = "127.0.0.1:8101")]
    dashboard_listen: SocketAddr,
    /// Run without the dashboard.
    #[arg(long, env = "STACK_NO_DASHBOARD")]
    no_dashboard: bool,
    /// Another host name the API and the mail page answer to (repeatable; `*`
    /// for any). Loopback names and the hosts of the public URLs are always
    /// answered; requests naming another Host get 421, which keeps pages that
    /// use DNS rebinding from reading the answers.
    #[arg(
        long = "allowed-host",
        env = "STACK_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
}

fn parse_smtp_url(text: &str) -> Result<SmtpUrl, String> {
    SmtpUrl::parse(text).map_err(|e| e.to_string())
}

#[derive(clap::Args, Debug)]
struct SeedArgs {
    /// Publishable key of the internal project (random when not given).
    #[arg(long, env = "STACK_SEED_INTERNAL_PUBLISHABLE_CLIENT_KEY", hide_env_values = true, requires_all = ["secret_server_key", "super_secret_admin_key"])]
    publishable_client_key: Option<String>,
    /// Secret server key of the internal project.
    #[arg(
        long,
        env = "STACK_SEED_INTERNAL_SECRET_SERVER_KEY",
        hide_env_values = true
    )]
    secret_server_key: Option<String>,
    /// Super secret admin key of the internal project.
    #[arg(
        long,
        env = "STACK_SEED_INTERNAL_SUPER_SECRET_ADMIN_KEY",
        hide_env_values = true
    )]
    super_secret_admin_key: Option<String>,
    /// Public API URL to record.
    #[arg(long, env = "STACK_PUBLIC_API_URL")]
    public_api_url: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STACK_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stack-server: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stack-server: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let url = cli.database_url.ok_or_else(|| {
        anyhow::anyhow!("no database URL\nhint: pass --database-url or set STACK_DATABASE_URL")
    })?;
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| anyhow::anyhow!("the database URL is not valid: {e}"))?;
    match cli.command {
        Command::Serve(args) => serve(options, *args).await,
        Command::Migrate => {
            let pool = connect_lazy(options, 2);
            db::MIGRATOR.run(&pool).await?;
            Ok(())
        }
        Command::Seed(args) => {
            let pool = connect_lazy(options, 2);
            db::MIGRATOR.run(&pool).await?;
            let internal_keys = match (
                args.publishable_client_key,
                args.secret_server_key,
                args.super_secret_admin_key,
            ) {
                (Some(p), Some(s), Some(a)) => Some(InternalKeys {
                    publishable_client_key: Secret::new(p),
                    secret_server_key: Secret::new(s),
                    super_secret_admin_key: Secret::new(a),
                }),
                (None, None, None) => None,
                _ => anyhow::bail!("give all three internal keys or none"),
            };
            seed::seed(
                &pool,
                SeedOptions {
                    internal_keys,
                    public_api_url: args.public_api_url,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("seeding failed: {e}"))?;
            eprintln!("stack-server: seeded");
            Ok(())
        }
        Command::RotateSecrets(RotateArgs { api_url }) => {
            let mut raw = Vec::new();
            std::io::stdin().read_to_end(&mut raw)?;
            let rotation = rotate::validate(&raw)?;
            let mut conn = PgConnection::connect_with(&options).await?;
            let report = rotate::apply(&mut conn, &rotation, &api_url, None).await?;
            println!("{}", serde_json::to_string(&report.to_wire())?);
            Ok(())
        }
    }
}

async fn serve(options: PgConnectOptions, args: ServeArgs) -> anyhow::Result<()> {
    let pool = connect_lazy(options, args.pool_size);
    if args.migrate {
        db::MIGRATOR.run(&pool).await?;
    }
    let settings = ServeSettings {
        default_public_api_url: args
            .public_api_url
            .unwrap_or_else(|| format!("http://localhost:{}", args.listen.port())),
        access_token_ttl: Duration::from_secs(args.access_token_ttl_seconds),
        local_emulator: args.local_emulator
            || std::env::var("NEXT_PUBLIC_STACK_IS_LOCAL_EMULATOR").is_ok_and(|v| v == "true"),
        mail: MailSettings {
            smtp_listen: (!args.no_mail_sink).then_some(args.smtp_listen),
            http_listen: (!args.no_mail_sink).then_some(args.mail_listen),
            smtp_url: args.smtp_url,
            from_address: args.mail_from,
            public_url: args.public_mail_url,
        },
        oauth: OAuthSettings {
            mock_listen: (!args.no_mock_oauth).then_some(args.mock_oauth_listen),
            public_url: args.public_oauth_url,
            provider_url: args.oauth_provider_url,
        },
        dashboard_listen: (!args.no_dashboard).then_some(args.dashboard_listen),
    };
    let public_mail_url = settings.mail.public_url.clone();
    let mut app = Application::bind(args.listen, pool, settings)
        .await
        .map_err(|e| {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
            anyhow::anyhow!("{e}{cause}\nhint: is another server using that port? pass --listen, --smtp-listen, --mail-listen, --mock-oauth-listen or --dashboard-listen (or --no-mail-sink, --no-mock-oauth, --no-dashboard)")
        })?
        .with_allowed_hosts(&args.allowed_hosts);
    if let Some(dir) = &args.inbox {
        app = app.with_inbox(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot make the inbox in {}: {e}\nhint: does the directory exist and belong to this user?",
                dir.display()
            )
        })?;
    }
    tracing::info!(addr = %app.local_addr()?, "stack-server listening");
    if let Some(addr) = app.mail_addr() {
        let url = public_mail_url.unwrap_or_else(|| format!("http://{addr}"));
        let smtp = app
            .smtp_addr()
            .map_or_else(|| "none".to_owned(), |a| a.to_string());
        tracing::info!(%url, %smtp, "mail sink listening");
    }
    if let Some(addr) = app.dashboard_addr() {
        let url = format!("http://localhost:{}", addr.port());
        tracing::info!(%url, "dashboard listening");
    }
    app.run(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
