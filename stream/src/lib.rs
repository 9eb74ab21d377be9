//! The event stream: every acknowledged event as one line, appended to a
//! file.
//!
//! * [`lines`] — the two line formats (`436` and `json`), written and read
//!   back.
//! * [`file`](mod@file) — the file, its durability (one `write` per batch, no fsync)
//!   and its rotation.
//! * [`read_back`] — at start, the events recently written, so a re-sent
//!   one is not written twice.
//! * [`set_aside`] — one format per file: a format change renames the
//!   current file aside.
//! * [`rolling`] — files that roll over with time (the stream, and the
//!   supervisor's own log).
//!
//! A crate of its own (re-exported as `supervisor::stream`) so that what
//! only reads or writes the stream's lines builds without the supervisor.

pub mod file;
pub mod lines;
pub mod read_back;
pub mod rolling;
pub mod set_aside;

pub use file::{EventStream, StreamError};
pub use lines::{
    Received, SYSTEM_TAGS, append_check_event_line, append_event_line, append_system_line,
    append_system_problem_line, duration_text, host_and_id, local_time,
};
pub use read_back::{recently_written, written_ids};
