//! `loadgen`: simulates many 436 observers from one process to size a
//! supervisor before deploying it.
//!
//! Each simulated observer has its own UDP socket, name, heartbeats, events
//! and retransmissions, and speaks the protocol exactly like an observer
//! (sealed when given a key). The run ends with one JSON line on stdout
//! summarising what was sent, acknowledged and lost.

mod args;
mod net;
mod sim;
mod stats;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, Plan};

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match Plan::from_args(args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = net::raise_fd_limit(plan.observers as u64 + 64) {
        eprintln!("loadgen: {e}");
        return ExitCode::from(1);
    }
    let runtime = if plan.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(plan.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(net::run(plan)) {
        Ok(summary) => {
            println!("{}", summary.to_json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}
