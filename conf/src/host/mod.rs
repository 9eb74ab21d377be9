//! The host configuration language (`hosts/<name>`, `includes/<name>`):
//! turns an expanded text into a [`HostConfig`](crate::HostConfig),
//! collecting every error with the `FILE:LINE` an operator edits.
//!
//! Directives are read top to bottom. `file:` + `match:`, `process:` and
//! `run:` open a group; `alert_all/n/count/inactive` and `alert_running`
//! close theirs, while `alert_if`/`alert_metric` attach to the open `run:`
//! (several may follow it). `active:` applies to the next `alert_*` only.
//!
//! * `directive` — the directives as one enum, read from a line once.
//! * [`parser`] — groups, their order, and what builds.
//! * `arguments` — what each group directive's argument says.
//! * `keys` — the `key=value ... message=TEXT` mechanics, number formats and
//!   the state keys (`every= for= clear_for= repeat=`) of every stateful alert.
//! * `regexes` — size-limited compilation and one-line regex errors.
//! * `command_line` — the shell-word splitter ([`crate::CommandLine::parse`]).
//!
//! `metric:` and `probe:` open a group closed by one `alert_if:`,
//! `alert_metric:` or (probes) `alert_failed:` line (`parser/watches.rs`).

mod arguments;
mod command_line;
pub(crate) mod directive;
mod keys;
pub mod parser;
mod regexes;

pub use keys::{MAX_BLOCK_SECONDS, MAX_CONSECUTIVE};
pub(crate) use parser::parse_host_positioned;
pub use parser::{UNMARKED_LABEL, parse_host};
pub use regexes::REGEX_SIZE_LIMIT;
