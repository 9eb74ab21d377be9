//! The restart read-back: what a supervisor that starts again finds at the
//! end of its stream, so an event it wrote just before stopping (whose
//! acknowledgement the observer may never have received) is recognised when
//! it comes again, and not written twice.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use conf::{StreamFormat, StreamRotation};

use crate::rolling::{folder_of, split_name};
use crate::stream::lines::host_and_id;

/// The `(host, id)` of the events in the last `max_bytes` of the newest
/// stream file, so a restarted supervisor still recognises an event it
/// wrote but whose acknowledgement never reached the observer (it comes
/// again and must not be written twice). Supervisor-raised events (id 0)
/// and lines it cannot read are skipped; a missing stream gives nothing.
pub fn recently_written(
    path: &Path,
    rotation: StreamRotation,
    format: StreamFormat,
    max_bytes: u64,
) -> Vec<(String, u64)> {
    let Some(current) = newest_stream_file(path, rotation) else {
        return Vec::new();
    };
    let tail = match read_tail(&current, max_bytes) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("cannot read the end of {}: {e}", current.display());
            return Vec::new();
        }
    };
    written_ids(&tail, format)
}

/// The `(host, id)` of every observer event in `tail`, the last bytes of a
/// stream file in `format` (supervisor-raised lines, id 0, are left out).
pub fn written_ids(tail: &[u8], format: StreamFormat) -> Vec<(String, u64)> {
    let text = String::from_utf8_lossy(tail);
    text.lines()
        .filter_map(|line| host_and_id(format, line))
        .filter(|(_, id)| *id != 0)
        .collect()
}

/// The file the stream is appended to now: the configured path, or with
/// rotation the newest `PREFIX.DATE.SUFFIX` beside it.
pub fn newest_stream_file(path: &Path, rotation: StreamRotation) -> Option<PathBuf> {
    if rotation == StreamRotation::Never {
        return path.exists().then(|| path.to_path_buf());
    }
    let name = path.file_name()?.to_str()?;
    let (prefix, suffix) = split_name(name);
    let folder = folder_of(path);
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.starts_with(&format!("{prefix}."))
                    && suffix.is_none_or(|s| n.ends_with(&format!(".{s}")))
            })
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
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
    use crate::stream::lines::tests::{event, received};
    use crate::stream::lines::{Received, append_event_line, append_system_line};

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
            let got = recently_written(&path, StreamRotation::Never, format, 1 << 20);
            assert_eq!(got, vec![("web1".to_string(), event().id)], "{format:?}");
            // Only the tail is read, from its first whole line.
            let cut = recently_written(&path, StreamRotation::Never, format, 10);
            assert!(cut.is_empty(), "{format:?}: {cut:?}");
        }
        assert!(
            recently_written(
                &dir.join("none"),
                StreamRotation::Daily,
                StreamFormat::Json,
                100
            )
            .is_empty()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
