//! The event stream: how an event becomes one line, and the file the lines
//! are appended to.
//!
//! # Formats
//! * `436` — `CTIME%%HOST%%ID%%TIMESTAMP%%TAGS%%SOURCE%%MESSAGE`, compatible
//!   with the Python server. CTIME is the supervisor's local receive time as
//!   Python's `time.ctime()` writes it (`Sat Nov  1 15:57:00 2026`: the day
//!   is padded with a space). TIMESTAMP is the Unix second the observer
//!   raised the event. Control characters (newlines, tabs, …) in the host,
//!   tags, source and message are written as spaces so an event is always
//!   one line. A `%%` *inside* a field is left as it is (as the Python server
//!   did): a reader that splits on `%%` should split at most six times, so
//!   that a message containing `%%` stays whole.
//! * `json` — one object a line: `received` (RFC 3339, local time with
//!   milliseconds), `host`, `id` (0 for supervisor-raised events), `time`
//!   (Unix seconds with a millisecond fraction), `tags`, `source` (null when
//!   none), `kind` (`alert`, `metric`, `system`), `message`, and `value` for
//!   metrics. JSON escaping keeps every line whole, so text is written as
//!   received.
//!
//! Supervisor-raised events (`Host is inactive`, configuration errors, …)
//! have tags `SYSTEM`, id `000000` (0 in JSON) and no source.
//!
//! # Durability (fsync policy)
//! The stream is **not** fsync'ed. All lines of one batch are handed to the
//! kernel with a single `write` (the file is opened with `O_APPEND`) and
//! only then are the events acknowledged. An acknowledged event is
//! therefore at least in the kernel's page cache: it survives a crash or
//! kill of the supervisor, but a power loss or kernel crash may lose the
//! last few seconds of lines. fsync per batch would cap the rate at what the
//! disk can sync, far below the 100,000 events/s the supervisor must take.
//!
//! # Rotation
//! `daily` and `hourly` rotation use tracing-appender's rolling file: the
//! file name gets the (UTC) date inserted before its extension
//! (`events.436` → `events.2026-11-21.436`) and `stream_keep` rotated files
//! are kept besides the current one. Its pruning deletes **every** file in
//! the folder whose name starts with the same prefix and ends with the same
//! extension, so the stream's folder should hold only the stream. `never`
//! writes exactly the configured path.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, SecondsFormat, TimeZone};
use conf::{StreamFormat, StreamRotation};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use wire::{Event, EventKind};

/// Tags of supervisor-raised events.
pub const SYSTEM_TAGS: &str = "SYSTEM";

/// Why the stream could not be opened at start.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("event stream path {0} has no file name")]
    NoFileName(PathBuf),
    #[error("cannot create the event stream's folder {path}: {source}")]
    Folder { path: PathBuf, source: io::Error },
    #[error("cannot open the event stream {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot set up rotation of the event stream in {path}: {message}")]
    Rotation { path: PathBuf, message: String },
}

/// When the supervisor received a datagram, formatted once for every line
/// of it in the stream's format.
pub struct Received {
    format: StreamFormat,
    /// Milliseconds since the epoch.
    time_ms: i64,
    /// `ctime` (436) or RFC 3339 with milliseconds (JSON), local time.
    text: String,
}

impl Received {
    pub fn new<Tz: TimeZone>(format: StreamFormat, at: &DateTime<Tz>) -> Received
    where
        Tz::Offset: std::fmt::Display,
    {
        let text = match format {
            StreamFormat::Classic => at.format(CTIME).to_string(),
            StreamFormat::Json => at.to_rfc3339_opts(SecondsFormat::Millis, false),
        };
        Received {
            format,
            time_ms: at.timestamp_millis(),
            text,
        }
    }
}

/// One line of the stream, formatted and ending in `\n`, appended to `out`.
pub fn append_event_line(out: &mut Vec<u8>, received: &Received, host: &str, event: &Event) {
    match received.format {
        StreamFormat::Classic => {
            let source = event.source.as_deref().unwrap_or("NULL");
            // Writing into a Vec cannot fail.
            let _ = writeln!(
                out,
                "{}%%{}%%{}%%{}%%{}%%{}%%{}",
                received.text,
                OneLine(host),
                event.id,
                event.time_ms.div_euclid(1000),
                OneLine(&event.tags),
                OneLine(source),
                OneLine(&event.message),
            );
        }
        StreamFormat::Json => {
            let line = JsonLine {
                received: &received.text,
                host,
                id: event.id,
                time: event.time_ms as f64 / 1000.0,
                tags: &event.tags,
                source: event.source.as_deref(),
                kind: event.kind.as_str(),
                message: &event.message,
                value: event.value,
            };
            // Strings and numbers into a Vec: cannot fail (a value that is
            // not finite is written as null).
            if serde_json::to_writer(&mut *out, &line).is_ok() {
                out.push(b'\n');
            }
        }
    }
}

/// The JSON form of one line, fields in the documented order.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    received: &'a str,
    host: &'a str,
    id: u64,
    time: f64,
    tags: &'a str,
    source: Option<&'a str>,
    kind: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
}

/// Python's `time.ctime()` layout.
const CTIME: &str = "%a %b %e %H:%M:%S %Y";

/// A supervisor-raised event about `host`: tags `SYSTEM`, id 0, no source.
pub fn append_system_line(out: &mut Vec<u8>, received: &Received, host: &str, message: &str) {
    if received.format == StreamFormat::Classic {
        // The Python server wrote supervisor events with id `000000`.
        let _ = writeln!(
            out,
            "{}%%{}%%000000%%{}%%{}%%NULL%%{}",
            received.text,
            OneLine(host),
            received.time_ms.div_euclid(1000),
            SYSTEM_TAGS,
            OneLine(message),
        );
    } else {
        let event = Event {
            id: 0,
            time_ms: received.time_ms,
            tags: SYSTEM_TAGS.into(),
            source: None,
            kind: EventKind::System,
            message: message.into(),
            value: None,
        };
        append_event_line(out, received, host, &event);
    }
}

/// Local time of a wall-clock instant in milliseconds since the epoch.
pub fn local_time(wall_ms: u64) -> DateTime<Local> {
    let ms = i64::try_from(wall_ms).unwrap_or(i64::MAX);
    Local
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| DateTime::<chrono::Utc>::UNIX_EPOCH.with_timezone(&Local))
}

/// Text written on one line: control characters become spaces.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.chars().any(char::is_control) {
            return f.write_str(self.0);
        }
        for c in self.0.chars() {
            f.write_char(if c.is_control() { ' ' } else { c })?;
        }
        Ok(())
    }
}

/// The event-stream file, written synchronously.
pub struct EventStream {
    target: Target,
}

enum Target {
    Rolling(Box<RollingFileAppender>),
    /// `never` rotation: exactly the configured path, reopened after a
    /// failure (the folder may have been recreated, the disk freed).
    Plain {
        path: PathBuf,
        file: Option<File>,
    },
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::Rolling(_) => f.write_str("EventStream(rolling)"),
            Target::Plain { path, .. } => write!(f, "EventStream({})", path.display()),
        }
    }
}

impl EventStream {
    /// Opens (creating its folder) the stream at `path`.
    pub fn open(path: &Path, rotation: StreamRotation, keep: usize) -> Result<Self, StreamError> {
        let rotation = match rotation {
            StreamRotation::Daily => Rotation::DAILY,
            StreamRotation::Hourly => Rotation::HOURLY,
            StreamRotation::Never => Rotation::NEVER,
        };
        Self::open_with(path, rotation, keep)
    }

    /// As [`EventStream::open`] with any tracing-appender rotation (tests
    /// use `MINUTELY` to see a rotation happen).
    pub fn open_with(path: &Path, rotation: Rotation, keep: usize) -> Result<Self, StreamError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StreamError::NoFileName(path.to_path_buf()))?;
        let folder = folder_of(path).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|source| StreamError::Folder {
            path: folder.clone(),
            source,
        })?;
        if rotation == Rotation::NEVER {
            let file = open_append(path).map_err(|source| StreamError::Open {
                path: path.to_path_buf(),
                source,
            })?;
            return Ok(EventStream {
                target: Target::Plain {
                    path: path.to_path_buf(),
                    file: Some(file),
                },
            });
        }
        // max_log_files counts the current file too; 0 would mean "keep all".
        let appender =
            rolling_appender(&folder, name, rotation, keep.saturating_add(1)).map_err(|e| {
                StreamError::Rotation {
                    path: folder,
                    message: e.to_string(),
                }
            })?;
        Ok(EventStream {
            target: Target::Rolling(Box::new(appender)),
        })
    }

    /// Appends `lines` (whole lines) with one write. On success the lines are
    /// in the kernel's page cache.
    pub fn write_batch(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        match &mut self.target {
            Target::Rolling(appender) => appender.write_all(lines),
            Target::Plain { path, file } => {
                let handle = match file {
                    Some(f) => f,
                    None => file.insert(open_append(path)?),
                };
                let before = handle.metadata().map(|m| m.len()).ok();
                let result = handle.write_all(lines);
                if result.is_err() {
                    // Cut a partly written batch so the file keeps whole
                    // lines; the observers re-send what was not acknowledged.
                    if let Some(len) = before
                        && let Err(e) = handle.set_len(len)
                    {
                        tracing::warn!("could not cut a partly written batch from the stream: {e}");
                    }
                    *file = None;
                }
                result
            }
        }
    }
}

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

/// The `(host, id)` of the events on the lines of `tail` (the end of a
/// stream file, from a line start), as [`recently_written`] reads them back.
pub fn written_ids(tail: &[u8], format: StreamFormat) -> Vec<(String, u64)> {
    let text = String::from_utf8_lossy(tail);
    text.lines()
        .filter_map(|line| match format {
            StreamFormat::Classic => {
                let mut fields = line.splitn(4, "%%");
                let (_, host, id) = (fields.next()?, fields.next()?, fields.next()?);
                Some((host.to_string(), id.parse().ok()?))
            }
            StreamFormat::Json => {
                let v: serde_json::Value = serde_json::from_str(line).ok()?;
                Some((v.get("host")?.as_str()?.to_string(), v.get("id")?.as_u64()?))
            }
        })
        .filter(|(_, id)| *id != 0)
        .collect()
}

/// The file the stream is appended to now: the configured path, or with
/// rotation the newest `PREFIX.DATE.SUFFIX` beside it.
fn newest_stream_file(path: &Path, rotation: StreamRotation) -> Option<PathBuf> {
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

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `events.436` → (`events`, Some(`436`)); `stream` → (`stream`, None).
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
) -> Result<RollingFileAppender, tracing_appender::rolling::InitError> {
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

fn split_name(name: &str) -> (&str, Option<&str>) {
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
    use chrono::FixedOffset;

    fn received() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2026, 11, 1, 15, 57, 0)
            .unwrap()
    }

    fn event() -> Event {
        Event {
            id: 1763740619000004,
            time_ms: 1763740619870,
            tags: "web,error".into(),
            source: Some("/var/log/syslog".into()),
            kind: EventKind::Alert,
            message: "ERROR disk\n/dev/sda1\tfailed".into(),
            value: None,
        }
    }

    #[test]
    fn classic_line_matches_python_ctime_and_flattens_control_characters() {
        let mut out = Vec::new();
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Classic, &received()),
            "web1",
            &event(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Sun Nov  1 15:57:00 2026%%web1%%1763740619000004%%1763740619%%web,error%%/var/log/syslog%%ERROR disk /dev/sda1 failed\n"
        );
    }

    #[test]
    fn classic_system_line_has_id_000000_and_null_source() {
        let mut out = Vec::new();
        append_system_line(
            &mut out,
            &Received::new(StreamFormat::Classic, &received()),
            "web1",
            "Host is inactive",
        );
        let ts = received().timestamp();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "Sun Nov  1 15:57:00 2026%%web1%%000000%%{ts}%%SYSTEM%%NULL%%Host is inactive\n"
            )
        );
    }

    #[test]
    fn json_line_has_every_field() {
        let mut out = Vec::new();
        let mut metric = event();
        metric.kind = EventKind::Metric;
        metric.value = Some(91.0);
        metric.source = None;
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "web1",
            &metric,
        );
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["received"], "2026-11-01T15:57:00.000+00:00");
        assert_eq!(v["host"], "web1");
        assert_eq!(v["id"], 1763740619000004u64);
        assert_eq!(v["time"], 1763740619.87);
        assert_eq!(v["tags"], "web,error");
        assert_eq!(v["source"], serde_json::Value::Null);
        assert_eq!(v["kind"], "metric");
        assert_eq!(v["message"], "ERROR disk\n/dev/sda1\tfailed");
        assert_eq!(v["value"], 91.0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"received\":\"2026-11-01T15:57:00.000+00:00\",\"host\":\"web1\",\
             \"id\":1763740619000004,\"time\":1763740619.87,\"tags\":\"web,error\",\
             \"source\":null,\"kind\":\"metric\",\"message\":\"ERROR disk\\n/dev/sda1\\tfailed\",\
             \"value\":91.0}\n",
            "fields in the documented order"
        );
    }

    #[test]
    fn json_alert_has_no_value_and_a_value_that_is_not_finite_is_null() {
        let mut out = Vec::new();
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "web1",
            &event(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("value").is_none());
        let mut metric = event();
        metric.value = Some(f64::NAN);
        out.clear();
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "web1",
            &metric,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["value"], serde_json::Value::Null);
    }

    #[test]
    fn json_system_line_has_id_zero() {
        let mut out = Vec::new();
        append_system_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "db",
            "Host is active again",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], 0);
        assert_eq!(v["kind"], "system");
        assert_eq!(v["tags"], "SYSTEM");
        assert!(v.get("value").is_none());
    }

    #[test]
    fn stream_names_split_at_the_last_dot() {
        assert_eq!(split_name("events.436"), ("events", Some("436")));
        assert_eq!(split_name("a.b.c"), ("a.b", Some("c")));
        assert_eq!(split_name("stream"), ("stream", None));
        assert_eq!(split_name(".hidden"), (".hidden", None));
    }

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

    #[test]
    fn never_rotation_writes_exactly_the_configured_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/events.436");
        let mut stream = EventStream::open(&path, StreamRotation::Never, 3).unwrap();
        stream.write_batch(b"one\ntwo\n").unwrap();
        stream.write_batch(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");
    }

    /// Lines written before and after a rotation are all kept, in files named
    /// after the configured stream. Rotation needs a real minute boundary
    /// (tracing-appender reads the clock itself), so this waits for one.
    #[test]
    fn lines_survive_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.436");
        let mut stream = EventStream::open_with(&path, Rotation::MINUTELY, 5).unwrap();
        stream.write_batch(b"before\n").unwrap();
        let start = chrono::Utc::now();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(75);
        let minute = |t: DateTime<chrono::Utc>| t.timestamp().div_euclid(60);
        while minute(chrono::Utc::now()) == minute(start) {
            assert!(std::time::Instant::now() < deadline, "no minute boundary");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        stream.write_batch(b"after\n").unwrap();
        let mut names = Vec::new();
        let mut all = String::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            assert!(
                name.starts_with("events.") && name.ends_with(".436"),
                "{name}"
            );
            all.push_str(&std::fs::read_to_string(entry.path()).unwrap());
            names.push(name);
        }
        assert_eq!(names.len(), 2, "{names:?}");
        let mut lines: Vec<&str> = all.lines().collect();
        lines.sort();
        assert_eq!(lines, ["after", "before"]);
    }
}
