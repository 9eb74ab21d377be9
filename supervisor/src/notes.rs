//! What happened inside the state machine that an operator may want to
//! read about: the machine queues a [`Note`] and goes on; the shell's
//! [`crate::logbook`] decides whether, how and how often it becomes a log
//! line. The machine holds no logging policy (no rate limits, no levels).

use std::net::SocketAddr;
use std::time::Duration;

use conf::HostName;

/// One thing that happened, with what a log line about it needs.
#[derive(Debug)]
pub enum Note {
    /// A datagram was dropped (bad input); `reason` is the counter's name.
    Dropped {
        from: SocketAddr,
        reason: &'static str,
        detail: String,
    },
    /// A host runs another configuration version than the one served: it is
    /// sent a reset.
    StaleVersion {
        host: HostName,
        running: Option<u64>,
        current: Option<u64>,
    },
    /// A host's configuration file changed its served version: reset sent.
    ConfigChanged { host: HostName },
    /// A host's configuration file was removed: reset sent.
    ConfigRemoved { host: HostName },
    /// An error in a host's configuration (also written to the stream).
    ConfigError { host: HostName, error: String },
    /// A host asked for its configuration and there is none to serve.
    NoConfig {
        host: HostName,
        from: SocketAddr,
        /// It has a file, but the file cannot be read.
        has_file: bool,
    },
    /// A configuration could not be split into chunks.
    CannotServe { host: HostName, error: String },
    /// A host fell silent for `max_idle`.
    WentInactive { host: HostName, max_idle: Duration },
    /// A host reported inactive was heard again.
    CameBack { host: HostName },
    /// A host's observer said goodbye (a clean stop).
    Stopped { host: HostName },
    /// A stopped host was heard again.
    Started { host: HostName },
    /// Writing the stream failed; nothing of the batch is acknowledged.
    StreamWriteFailed { error: std::io::Error },
    /// The first successful write after failures.
    StreamWritable,
    /// A message could not be encoded (a bug, or a configuration too large).
    EncodeFailed {
        kind: &'static str,
        to: SocketAddr,
        error: String,
    },
}
