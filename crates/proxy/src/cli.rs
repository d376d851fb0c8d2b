//! The command line, compatible with Ory Oathkeeper's:
//! `serve -c FILE`, `rules list|get --endpoint URL`, `health alive|ready --endpoint URL`,
//! `version`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "oathkeeper",
    about = "An Ory Oathkeeper-compatible forward-auth decision server",
    disable_version_flag = true
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the decision API (embedded example config without -c).
    Serve {
        /// Config file (YAML or JSON), or `k8s://<namespace>/<configmap>` to read key
        /// `oathkeeper.yaml` of a ConfigMap through the Kubernetes API.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Accepted for compatibility (this server sends no telemetry).
        #[arg(long, hide = true)]
        sqa_opt_out: bool,
        /// Accepted for compatibility (this server sends no telemetry).
        #[arg(long, hide = true)]
        disable_telemetry: bool,
    },
    /// Read the rules of a running server.
    Rules {
        /// The API endpoint, e.g. http://localhost:4456.
        #[arg(short, long, global = true)]
        endpoint: Option<String>,
        /// What to read.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Check a running server's health; the exit code tells.
    Health {
        /// The API endpoint, e.g. http://localhost:4456.
        #[arg(short, long, global = true)]
        endpoint: Option<String>,
        /// Which check.
        #[command(subcommand)]
        command: HealthCommand,
    },
    /// Print the version.
    Version,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print the rules as a JSON array.
    List {
        /// How many rules (the server caps at 500).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// How many rules to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Print one rule as JSON.
    Get {
        /// The rule id.
        id: String,
    },
}

/// `health` subcommands.
#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// Is the process up?
    Alive,
    /// Are rules loaded?
    Ready,
}

/// Timeout of one CLI request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A minimal HTTP/1.1 GET over a fresh connection: status and body.
pub async fn get(endpoint: &str, path_and_query: &str) -> anyhow::Result<(u16, String)> {
    let base = endpoint.trim_end_matches('/');
    let url: http::Uri = format!("{base}{path_and_query}")
        .parse()
        .with_context(|| format!("invalid endpoint \"{endpoint}\""))?;
    if url.scheme_str() != Some("http") {
        bail!("endpoint \"{endpoint}\": only http:// endpoints are supported");
    }
    let authority = url.authority().context("endpoint has no host")?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let work = async {
        let stream = tokio::net::TcpStream::connect((authority.host(), port))
            .await
            .with_context(|| format!("cannot connect to {authority}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = http::Request::get(url.clone())
            .header(http::header::HOST, authority.as_str())
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await?
            .to_bytes();
        anyhow::Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .context("request timed out")?
}

/// Runs a client command, returning the exit code.
pub async fn run_client(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Rules { endpoint, command } => {
            let endpoint = endpoint.context("--endpoint is required")?;
            match command {
                RulesCommand::List { limit, offset } => {
                    let (status, body) =
                        get(&endpoint, &format!("/rules?limit={limit}&offset={offset}")).await?;
                    if status != 200 {
                        bail!("Could not list rules: status {status}: {body}");
                    }
                    println!("{}", pretty(&body));
                }
                RulesCommand::Get { id } => {
                    let encoded = percent_encoding::utf8_percent_encode(
                        &id,
                        percent_encoding::NON_ALPHANUMERIC,
                    );
                    let (status, body) = get(&endpoint, &format!("/rules/{encoded}")).await?;
                    if status != 200 {
                        bail!("Could not get rule \"{id}\": status {status}: {body}");
                    }
                    println!("{}", pretty(&body));
                }
            }
            Ok(0)
        }
        Command::Health { endpoint, command } => {
            let endpoint = endpoint.context("--endpoint is required")?;
            let path = match command {
                HealthCommand::Alive => "/health/alive",
                HealthCommand::Ready => "/health/ready",
            };
            let (status, body) = get(&endpoint, path).await?;
            println!("{body}");
            Ok(if status == 200 { 0 } else { 1 })
        }
        Command::Version => {
            println!("Version:    {}", crate::http::api::VERSION);
            Ok(0)
        }
        Command::Serve { .. } => bail!("serve is not a client command"),
    }
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| body.to_owned())
}
