//! `oathkeeper serve`: load, listen, watch, shut down on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oathkeeper_core::config::{Config, LogFormat, LogLevel, Source};
use tokio::net::TcpListener;

use crate::audit::AuditLog;
use crate::http::api::Api;
use crate::http::cors::Cors;
use crate::http::server::{serve_api, serve_metrics};
use crate::metrics::Metrics;
use crate::reload::{LoadError, Loaded, Loader, State, watch};
use crate::settings::ConfigSource;
use crate::tls::Reloader;

/// Runs the server until a shutdown signal.
pub async fn run(source: ConfigSource, env: Box<dyn Source + Send + Sync>) -> anyhow::Result<()> {
    let mut loader = Loader::new(source, env);
    // Metrics names depend on the config: read it first with throwaway metrics.
    let scratch = Metrics::new("");
    let first = first_load(&mut loader, &scratch).await?;
    let config = loader.config().cloned().context("no config")?;
    // Held until the end of `run`: dropping it flushes the log writer.
    let (audit, _log_guard) = init_logging(&config);
    let metrics = Metrics::new(&config.serve.prometheus.metric_name_prefix);
    let (snapshot, status) = match first {
        Loaded::Changed(snapshot, status) => (*snapshot, status),
        Loaded::Unchanged => bail!("no rules were loaded"),
    };
    loader.track_sources(&metrics);
    for repo in status.repository_errors.keys() {
        metrics.reload_error(repo);
    }
    // A pair that cannot be served is fatal at start; later, the last good one stays.
    let (tls, tls_config) =
        Reloader::start(config.serve.api.tls.as_ref()).context("cannot serve the API over TLS")?;
    let state = Arc::new(State::new(snapshot, status, metrics));
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    state.tls.store(tls_config);
    state.traces.apply(&config.tracing, &state.metrics);
    let api_addr = address(&config.serve.api.host, config.serve.api_port())?;
    let metrics_addr = address(&config.serve.prometheus.host, config.serve.prometheus.port)?;
    // Before anything listens (not earlier, so a signal during the first load still ends the
    // process at once): a SIGTERM that comes as soon as the API answers drains, instead of
    // killing the process with the default action.
    let shutdown = shutdown_signal()?;
    let api_listener = TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("cannot listen on {api_addr}"))?;
    let metrics_listener = TcpListener::bind(metrics_addr)
        .await
        .with_context(|| format!("cannot listen on {metrics_addr}"))?;
    tracing::info!(address = %api_addr, scheme, "API listening (decisions, rules, health)");
    tracing::info!(address = %metrics_addr, path = %config.serve.prometheus.metrics_path, "metrics listening");
    let api = Arc::new(Api {
        state: Arc::clone(&state),
        cors: Cors::new(&config.serve.api.cors),
        audit,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let api_task = tokio::spawn(serve_api(
        api_listener,
        api,
        &config.serve.api.timeout,
        stopped(stop_rx.clone()),
    ));
    let metrics_task = tokio::spawn(serve_metrics(
        metrics_listener,
        Arc::clone(&state),
        config.serve.prometheus.metrics_path.clone(),
        stopped(stop_rx),
    ));
    // Overlap warnings for the first rules, without delaying readiness.
    let first = Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        crate::reload::log_diagnostics(&first.snapshot.load().overlap_diagnostics())
    });
    let watch_task = tokio::spawn(watch(loader, tls, Arc::clone(&state)));
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    watch_task.abort();
    let _ = api_task.await;
    let _ = metrics_task.await;
    // The spans of the last decisions, bounded.
    state.traces.shutdown().await;
    Ok(())
}

/// How long `serve` waits for a `k8s://` config before giving up (Pebble then restarts it).
const FIRST_LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// The first load; a `k8s://` config is waited for until its ConfigMap is listed.
async fn first_load(loader: &mut Loader, metrics: &Metrics) -> anyhow::Result<Loaded> {
    let deadline = Instant::now() + FIRST_LIST_TIMEOUT;
    loop {
        match loader.load(metrics) {
            Err(LoadError::Kubernetes { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other.context("cannot load the config"),
        }
    }
}

fn address(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let ip: std::net::IpAddr = host
        .parse()
        .with_context(|| format!("invalid listen host \"{host}\""))?;
    Ok(SocketAddr::new(ip, port))
}

/// Registers the SIGTERM and SIGINT handlers now; the future resolves on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Installs the log subscriber and builds the audit log. Both write through one non-blocking
/// writer: a thread that owns stderr and batches lines (flushing whenever it has caught up), so
/// a decision never waits on a write system call and audit lines stay in order with the rest.
fn init_logging(config: &Config) -> (AuditLog, tracing_appender::non_blocking::WorkerGuard) {
    let level = match config.log.level {
        LogLevel::Panic | LogLevel::Fatal | LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("oathkeeper-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let filter = tracing_subscriber::EnvFilter::new(format!("{level},hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer.clone());
    let _ = match config.log.format {
        LogFormat::Json | LogFormat::Gelf => builder.json().try_init(),
        LogFormat::JsonPretty => builder.json().pretty().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    (
        AuditLog::new(config.log.level, config.log.format, writer),
        guard,
    )
}
