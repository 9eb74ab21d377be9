//! One format per file: when `stream_format:` changes (by a reload or from
//! one run to the next), the file the stream would append to is renamed
//! aside before the first line of the new format is written, so no file
//! ever holds both formats and readers (the restart read-back among them)
//! read each file with one parser.
//!
//! The file's format is told from its last line: a JSON line starts with
//! `{`, a `436` line with the weekday of its receive time. The aside name
//! keeps the stream's prefix and extension, with the old format and the UTC
//! time of the change inserted before the extension:
//! `events.436` → `events.format-436-until-20261202T020304Z.436` (and
//! `events.2026-12-02.436` → `events.2026-12-02.format-436-until-….436` when
//! rotated). Rotation's pruning therefore counts it like any older stream
//! file, and the read-back reads it when the new file is still short.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use conf::{StreamFormat, StreamRotation};

use crate::rolling::{folder_of, split_name};

/// The marker in an aside file's name.
pub const ASIDE_MARKER: &str = ".format-";

/// How many bytes at the end of a file are read to find its last line.
const LAST_LINE_WINDOW: u64 = 64 * 1024;

/// The format of one stream line, told from its first byte.
pub fn line_format(line: &str) -> StreamFormat {
    if line.trim_start().starts_with('{') {
        StreamFormat::Json
    } else {
        StreamFormat::Classic
    }
}

/// The operator's word for a format (as in `stream_format:`).
pub fn format_word(format: StreamFormat) -> &'static str {
    match format {
        StreamFormat::Classic => "436",
        StreamFormat::Json => "json",
    }
}

/// The file the stream appends to at `now`: the configured path, or with
/// rotation the dated name tracing-appender writes (`events.2026-12-02.436`).
pub fn current_file(path: &Path, rotation: StreamRotation, now: DateTime<Utc>) -> Option<PathBuf> {
    let date = match rotation {
        StreamRotation::Never => return Some(path.to_path_buf()),
        StreamRotation::Daily => now.format("%Y-%m-%d").to_string(),
        StreamRotation::Hourly => now.format("%Y-%m-%d-%H").to_string(),
    };
    let name = path.file_name()?.to_str()?;
    let dated = match split_name(name) {
        (prefix, Some(suffix)) => format!("{prefix}.{date}.{suffix}"),
        (prefix, None) => format!("{prefix}.{date}"),
    };
    Some(folder_of(path).join(dated))
}

/// The format of the last whole line of `file`; `None` for a missing or
/// empty file.
pub fn last_line_format(file: &Path) -> io::Result<Option<StreamFormat>> {
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(LAST_LINE_WINDOW)))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let text = String::from_utf8_lossy(&tail);
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(line_format))
}

/// Renames the file the stream would append to at `now` aside when its
/// last line is not in `format`; returns `(from, to)` of the rename.
pub fn set_aside_if_other_format(
    path: &Path,
    rotation: StreamRotation,
    format: StreamFormat,
    now: DateTime<Utc>,
) -> io::Result<Option<(PathBuf, PathBuf)>> {
    let Some(current) = current_file(path, rotation, now) else {
        return Ok(None);
    };
    let Some(found) = last_line_format(&current)? else {
        return Ok(None);
    };
    if found == format {
        return Ok(None);
    }
    let aside = aside_name(&current, found, now)?;
    std::fs::rename(&current, &aside)?;
    Ok(Some((current, aside)))
}

/// A free aside name for `file` (written in `old`) at `now`.
fn aside_name(file: &Path, old: StreamFormat, now: DateTime<Utc>) -> io::Result<PathBuf> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let word = format_word(old);
    // Two changes within one second must not overwrite the first file.
    for n in 0..1000u32 {
        let until = if n == 0 {
            stamp.to_string()
        } else {
            format!("{stamp}-{n}")
        };
        let aside = match split_name(name) {
            (stem, Some(suffix)) => format!("{stem}{ASIDE_MARKER}{word}-until-{until}.{suffix}"),
            (stem, None) => format!("{stem}{ASIDE_MARKER}{word}-until-{until}"),
        };
        let candidate = folder_of(file).join(aside);
        if !candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name to set the stream file aside",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 2, 3, 4).unwrap()
    }

    #[test]
    fn current_file_is_named_as_rotation_names_it() {
        let p = Path::new("/s/events.436");
        assert_eq!(
            current_file(p, StreamRotation::Never, at()).unwrap(),
            Path::new("/s/events.436")
        );
        assert_eq!(
            current_file(p, StreamRotation::Daily, at()).unwrap(),
            Path::new("/s/events.2026-12-02.436")
        );
        assert_eq!(
            current_file(Path::new("/s/stream"), StreamRotation::Hourly, at()).unwrap(),
            Path::new("/s/stream.2026-12-02-02")
        );
    }

    #[test]
    fn a_file_of_the_other_format_is_set_aside_and_one_of_the_same_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.436");
        std::fs::write(&path, "Wed Dec  2 02:03:04 2026%%web1%%1%%0%%t%%NULL%%m\n").unwrap();
        let same =
            set_aside_if_other_format(&path, StreamRotation::Never, StreamFormat::Classic, at());
        assert_eq!(same.unwrap(), None);
        let (from, to) =
            set_aside_if_other_format(&path, StreamRotation::Never, StreamFormat::Json, at())
                .unwrap()
                .unwrap();
        assert_eq!(from, path);
        assert_eq!(
            to,
            dir.path()
                .join("events.format-436-until-20261202T020304Z.436")
        );
        assert!(!path.exists());
        // A second change within the same second takes another name.
        std::fs::write(&path, "Wed Dec  2 02:03:04 2026%%web1%%2%%0%%t%%NULL%%m\n").unwrap();
        let (_, again) =
            set_aside_if_other_format(&path, StreamRotation::Never, StreamFormat::Json, at())
                .unwrap()
                .unwrap();
        assert_eq!(
            again,
            dir.path()
                .join("events.format-436-until-20261202T020304Z-1.436")
        );
        assert_eq!(
            set_aside_if_other_format(
                &dir.path().join("none"),
                StreamRotation::Never,
                StreamFormat::Json,
                at()
            )
            .unwrap(),
            None
        );
    }
}
