//! The two configuration languages of 436, parsed into typed values.
//!
//! * [`SupervisorConfig`] — `ax436.conf`, one `name: value` per line.
//! * Host files (`hosts/<name>`) and include files (`includes/<name>`):
//!   [`expand_host`] reads a host file and splices its includes into one
//!   text (with origin markers, so errors keep naming `FILE:LINE`), and
//!   [`parse_host`] turns such a text into a [`HostConfig`].
//! * [`NotifyConfig`] — the notification file (`notify:` in `ax436.conf`):
//!   channels and routes.
//!
//! The supervisor expands and serves the text; the observer receives it and
//! parses it with the same [`parse_host`]. Nothing here touches the network;
//! the only I/O is reading configuration files (the private `file` module).
//!
//! Modules depend downward only: `model`, `checks_model` and `probe_model`
//! (metrics and probes), `error` and `windows` at the bottom; `file`
//! (reading with the size limit) and `marker` (origin markers) above them;
//! [`host`] (the host language) and [`supervisor`] (`ax436.conf`) above
//! those; [`expand`] (includes, and [`load_host`] =
//! expand + parse) on top.

pub mod checks_model;
pub mod error;
pub mod expand;
mod file;
pub mod host;
pub mod hostname;
mod marker;
pub mod model;
pub mod notify;
mod notify_parse;
mod notify_words;
pub mod probe_model;
pub mod supervisor;
pub mod version;
pub mod windows;

pub use checks_model::*;
pub use error::{ConfError, ConfErrors};
pub use expand::{Expanded, HostFileError, HostLoad, expand_host, load_host, load_host_in_memory};
pub use host::parse_host;
pub use hostname::{HostName, InvalidHostName};
pub use model::*;
pub use notify::{
    Alertmanager, Channel, ChannelKind, Email, Grouping, HttpMethod, MailSecurity, NotifyConfig,
    Route, Severity, Webhook, parse_duration,
};
pub use supervisor::{PeerCredentials, StreamFormat, StreamRotation, SupervisorConfig, TlsFiles};
pub use version::ConfigVersion;
pub use windows::{ActiveWindow, ActiveWindows};
