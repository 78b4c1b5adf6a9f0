//! `smstrigger compile-worker` (hidden): compiles one component from stdin
//! to a serialized artifact on stdout, for the server's compile pool.
//!
//! The server starts it with its CPU and memory limits already set (see
//! `smstrigger_host::runtime::compile`); it is not meant to be run by hand.
//! On failure it writes the reason alone to stderr and exits 1.

use std::process::ExitCode;

use smstrigger_host::runtime::{Error, compile};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match compile::serve_worker(stdin, stdout) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Error::Compile { reason }) => {
            eprint!("{reason}");
            Ok(ExitCode::FAILURE)
        }
        Err(other) => {
            eprint!("{other}");
            Ok(ExitCode::FAILURE)
        }
    }
}
