//! The restart read-back: what a supervisor that starts again finds at the
//! end of its stream, so an event it wrote just before stopping (whose
//! acknowledgement the observer may never have received) is recognised when
//! it comes again, and not written twice.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use conf::StreamRotation;

use crate::lines::host_and_id;
use crate::rolling::{folder_of, split_name};
use crate::set_aside::{ASIDE_MARKER, line_format};

/// The `(host, id)` of the events in the last `max_bytes` of the stream,
/// so a restarted supervisor still recognises an event it wrote but whose
/// acknowledgement never reached the observer (it comes again and must not
/// be written twice).
///
/// The newest file is read first, then older ones (a file rotated at
/// midnight, or set aside by a format change) until `max_bytes` are read:
/// a file just begun holds few events. Each line is read in its own format
/// (a JSON line starts with `{`), so the read-back does not depend on
/// `stream_format:` and also reads a file that holds both formats (written
/// before format changes started new files). Supervisor-raised events (id
/// 0) and lines it cannot read are skipped; a missing stream gives nothing.
pub fn recently_written(
    path: &Path,
    rotation: StreamRotation,
    max_bytes: u64,
) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut budget = max_bytes;
    for file in stream_files_newest_first(path, rotation) {
        if budget == 0 {
            break;
        }
        let tail = match read_tail(&file, budget) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("cannot read the end of {}: {e}", file.display());
                continue;
            }
        };
        budget = budget.saturating_sub(tail.len() as u64);
        found.extend(written_ids(&tail));
    }
    found
}

/// The `(host, id)` of every observer event in `tail`, the last bytes of a
/// stream file, each line read in its own format (supervisor-raised lines,
/// id 0, and lines that cannot be read are left out).
pub fn written_ids(tail: &[u8]) -> Vec<(String, u64)> {
    String::from_utf8_lossy(tail)
        .lines()
        .filter_map(|line| host_and_id(line_format(line), line))
        .filter(|(_, id)| *id != 0)
        .collect()
}

/// Every file of the stream (the configured path, its rotated files and
/// files set aside by format changes), newest first.
fn stream_files_newest_first(path: &Path, rotation: StreamRotation) -> Vec<PathBuf> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let (prefix, suffix) = split_name(name);
    let Ok(entries) = std::fs::read_dir(folder_of(path)) else {
        return Vec::new();
    };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                let rotated = n.starts_with(&format!("{prefix}."))
                    && suffix.is_none_or(|s| n.ends_with(&format!(".{s}")));
                match rotation {
                    StreamRotation::Never => n == name || (rotated && n.contains(ASIDE_MARKER)),
                    _ => rotated,
                }
            })
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by(|a, b| b.cmp(a));
    files.into_iter().map(|(_, p)| p).collect()
}

/// The file the stream is appended to now: the configured path, or with
/// rotation the newest `PREFIX.DATE.SUFFIX` beside it (files set aside by
/// a format change are not it).
pub fn newest_stream_file(path: &Path, rotation: StreamRotation) -> Option<PathBuf> {
    if rotation == StreamRotation::Never {
        return path.exists().then(|| path.to_path_buf());
    }
    stream_files_newest_first(path, rotation)
        .into_iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.contains(ASIDE_MARKER))
        })
}

/// The last `max_bytes` of `path`, from the first whole line.
fn read_tail(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(max_bytes).read_to_end(&mut tail)?;
    if start > 0 {
        let first_line_end = tail
            .iter()
            .position(|b| *b == b'\n')
            .map_or(tail.len(), |i| i + 1);
        tail.drain(..first_line_end);
    }
    Ok(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::tests::{event, received};
    use crate::lines::{Received, append_event_line, append_system_line};
    use conf::StreamFormat;

    #[test]
    fn recently_written_ids_are_read_back_in_both_formats() {
        let dir = std::env::temp_dir().join(format!("436-recent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (format, name) in [
            (StreamFormat::Classic, "e.436"),
            (StreamFormat::Json, "e.json"),
        ] {
            let path = dir.join(name);
            let mut lines = Vec::new();
            append_event_line(
                &mut lines,
                &Received::new(format, &received()),
                "web1",
                &event(),
            );
            append_system_line(
                &mut lines,
                &Received::new(format, &received()),
                "web1",
                "Host is inactive",
            );
            std::fs::write(&path, &lines).unwrap();
            let got = recently_written(&path, StreamRotation::Never, 1 << 20);
            assert_eq!(got, vec![("web1".to_string(), event().id)], "{format:?}");
            // Only the tail is read, from its first whole line.
            let cut = recently_written(&path, StreamRotation::Never, 10);
            assert!(cut.is_empty(), "{format:?}: {cut:?}");
        }
        assert!(recently_written(&dir.join("none"), StreamRotation::Daily, 100).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn lines(format: StreamFormat, host: &str, ids: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for id in ids {
            let mut e = event();
            e.id = id;
            append_event_line(&mut out, &Received::new(format, &received()), host, &e);
        }
        out
    }

    #[test]
    fn a_file_holding_both_formats_is_read_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.436");
        let mut text = lines(StreamFormat::Classic, "web1", 1..4);
        text.extend(lines(StreamFormat::Json, "web1", 4..6));
        std::fs::write(&path, &text).unwrap();
        let mut ids: Vec<u64> = recently_written(&path, StreamRotation::Never, 1 << 20)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_short_new_file_is_read_together_with_the_file_set_aside_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.436");
        let aside = dir
            .path()
            .join("events.format-436-until-20261202T020304Z.436");
        std::fs::write(&aside, lines(StreamFormat::Classic, "web1", 1..4)).unwrap();
        // The aside file is older than the new one.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&aside)
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::write(&path, lines(StreamFormat::Json, "web1", 4..6)).unwrap();
        std::fs::write(
            dir.path().join("unrelated.436"),
            lines(StreamFormat::Classic, "x", 9..10),
        )
        .unwrap();
        let mut got = recently_written(&path, StreamRotation::Never, 1 << 20);
        got.sort();
        let want: Vec<(String, u64)> = (1..6).map(|id| ("web1".to_string(), id)).collect();
        assert_eq!(got, want);
        // The budget is spent on the newest file first.
        let new_len = std::fs::metadata(&path).unwrap().len();
        let got = recently_written(&path, StreamRotation::Never, new_len);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            newest_stream_file(&path, StreamRotation::Never).unwrap(),
            path
        );
    }
}
