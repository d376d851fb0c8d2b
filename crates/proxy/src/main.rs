//! `oathkeeper`: parse the command line, run, map errors to exit codes.

use clap::Parser as _;
use envconf::ProcessEnv;
use oathkeeper::cli::{Cli, Command, run_client};
use oathkeeper::settings::ConfigSource;

/// jemalloc instead of glibc's malloc: a third of the instructions per allocation on the
/// decision path and a little less memory once the rules are loaded (mimalloc was measured
/// too: fewer instructions than glibc, but a third more memory; BENCHMARKS.md, issue 17).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Serve { config, .. } => {
                let source = match config.as_deref().map(ConfigSource::parse) {
                    None => ConfigSource::Example,
                    Some(Ok(source)) => source,
                    Some(Err(e)) => {
                        eprintln!("error: {e}");
                        return 64;
                    }
                };
                match oathkeeper::serve::run(source, Box::new(ProcessEnv)).await {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        // A bad config or an unusable address is a usage error.
                        64
                    }
                }
            }
            command => match run_client(command).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    1
                }
            },
        }
    });
    std::process::exit(code);
}
