//! Files that roll over with time, named the way tracing-appender names
//! them (`events.436` → `events.2026-11-21.436`): the event stream when it
//! is rotated, and the supervisor's own log.

use std::path::Path;

use tracing_appender::rolling::{InitError, RollingFileAppender, Rotation};

/// The folder a file named by `path` lives in (`.` for a bare name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A tracing-appender rolling file `folder/NAME` (`events.436` rotates to
/// `events.DATE.436`), keeping `max_files` files including the current one.
pub fn rolling_appender(
    folder: &Path,
    name: &str,
    rotation: Rotation,
    max_files: usize,
) -> Result<RollingFileAppender, InitError> {
    let (prefix, suffix) = split_name(name);
    let mut builder = RollingFileAppender::builder()
        .rotation(rotation)
        .filename_prefix(prefix)
        .max_log_files(max_files);
    if let Some(suffix) = suffix {
        builder = builder.filename_suffix(suffix);
    }
    builder.build(folder)
}

/// `events.436` → (`events`, Some(`436`)); `stream` → (`stream`, None).
pub fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('.') {
        Some((prefix, suffix)) if !prefix.is_empty() && !suffix.is_empty() => {
            (prefix, Some(suffix))
        }
        _ => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_split_at_the_last_dot() {
        assert_eq!(split_name("events.436"), ("events", Some("436")));
        assert_eq!(split_name("a.b.c"), ("a.b", Some("c")));
        assert_eq!(split_name("stream"), ("stream", None));
        assert_eq!(split_name(".hidden"), (".hidden", None));
    }
}
