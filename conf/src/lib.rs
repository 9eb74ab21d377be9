//! The two configuration languages of 436, parsed into typed values.
//!
//! * [`SupervisorConfig`] — `ax436.conf`, one `name: value` per line.
//! * Host files (`hosts/<name>`) and include files (`includes/<name>`):
//!   [`expand_host`] reads a host file and splices its includes into one
//!   text (with origin markers, so errors keep naming `FILE:LINE`), and
//!   [`parse_host`] turns such a text into a [`HostConfig`].
//!
//! The supervisor expands and serves the text; the observer receives it and
//! parses it with the same [`parse_host`]. Nothing here touches the network;
//! the only I/O is reading configuration files.

pub mod error;
pub mod expand;
pub mod host;
pub mod hostname;
pub mod model;
pub mod supervisor;
pub mod version;
pub mod windows;

pub use error::{ConfError, ConfErrors};
pub use expand::{Expanded, HostFileError, HostLoad, expand_host, load_host, load_host_in_memory};
pub use host::parse_host;
pub use hostname::{HostName, InvalidHostName};
pub use model::*;
pub use supervisor::{StreamFormat, StreamRotation, SupervisorConfig};
pub use version::ConfigVersion;
pub use windows::{ActiveWindow, ActiveWindows};
