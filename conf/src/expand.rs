//! Include expansion: reads a host file and splices its `include:` files into
//! one text the supervisor serves and the observer parses. Files are read
//! through `crate::file`.
//!
//! The expanded text keeps every directive line verbatim and drops comments
//! and blank lines. So that errors found later (even on the observer) still
//! name the file and line an operator edits, an origin marker
//! (`#@ LABEL LINE [FILE:LINE ...]`, the crate's `marker` module) goes in
//! front of each run of consecutive lines from one place.
//!
//! [`load_host`] is expansion followed by [`crate::parse_host`], with the
//! errors of both in one line order.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use crate::error::ConfError;
use crate::file::{MAX_CONFIG_FILE_BYTES, ReadError, read_limited};
use crate::host::directive::{Directive, DirectiveLine};
use crate::host::parse_host_positioned;
use crate::hostname::{HostName, InvalidHostName, check_plain_name};
use crate::marker::marker_line;
use crate::model::{HostConfig, Origin};
use crate::version::ConfigVersion;

/// Deepest include: the host file is depth 0, its includes depth 1, …
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Largest expanded text: what one observer accepts over the wire
/// (`wire::limits::MAX_CONFIG`). Without it, a few includes each including
/// the next several times would multiply into gigabytes.
pub const MAX_EXPANDED_BYTES: usize = 1 << 20;

/// Most include files read for one host. Includes of files that add no
/// lines (only comments) are not limited by [`MAX_EXPANDED_BYTES`], and eight
/// levels each including the next eight times would be millions of reads.
pub const MAX_INCLUDE_READS: usize = 1000;

/// A host's configuration text with includes spliced in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    pub version: ConfigVersion,
    /// Every include name used, transitively — also the ones that were
    /// missing, so that creating them is noticed as a change to this host.
    pub includes: BTreeSet<String>,
    /// Problems with includes (missing, cycle, too deep, bad name, too
    /// large) and lines that are not UTF-8, in line order.
    pub errors: Vec<ConfError>,
}

/// Why a host file itself could not be read. Problems in includes are
/// [`Expanded::errors`] instead, because the rest of the file still works.
#[derive(Debug, thiserror::Error)]
pub enum HostFileError {
    #[error("there is no configuration file for this host")]
    NotFound,
    #[error("the host file is {size} bytes; at most {limit} are read")]
    TooLarge { size: u64, limit: u64 },
    #[error("cannot read the host file: {0}")]
    Io(#[from] io::Error),
}

/// A host file expanded and parsed.
#[derive(Debug, Clone)]
pub struct HostLoad {
    pub expanded: Expanded,
    pub config: HostConfig,
    /// Expansion errors and parse errors, in line order of the expanded text.
    pub errors: Vec<ConfError>,
}

/// Reads `hosts_dir/<host>` (labelled `hosts/<host>`) and expands its
/// includes from `includes_dir` (labelled `includes/<name>`).
pub fn expand_host(
    hosts_dir: &Path,
    includes_dir: &Path,
    host: &HostName,
) -> Result<Expanded, HostFileError> {
    expand_positioned(hosts_dir, includes_dir, host).map(|(expanded, _)| expanded)
}

/// [`expand_host`] then [`crate::parse_host`].
pub fn load_host(
    hosts_dir: &Path,
    includes_dir: &Path,
    host: &HostName,
) -> Result<HostLoad, HostFileError> {
    let (expanded, positions) = expand_positioned(hosts_dir, includes_dir, host)?;
    Ok(parse_expanded(expanded, positions))
}

/// [`load_host`] with the host file's bytes and the include files (by name)
/// given in memory instead of read from folders; the same expansion and
/// parsing, so a test or a fuzzer sees exactly what the files would give.
pub fn load_host_in_memory(
    host: &HostName,
    host_file: &[u8],
    includes: &BTreeMap<String, Vec<u8>>,
) -> HostLoad {
    let mut read = |name: &str| match includes.get(name) {
        None => Err(ReadError::NotFound),
        Some(bytes) if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES => Err(ReadError::TooLarge {
            size: bytes.len() as u64,
        }),
        Some(bytes) => Ok(bytes.clone()),
    };
    let (expanded, positions) = expand_bytes(host, host_file, &mut read);
    parse_expanded(expanded, positions)
}

/// Parses an expanded text and merges its errors with the expansion's.
fn parse_expanded(expanded: Expanded, positions: Vec<usize>) -> HostLoad {
    let (config, parse_errors) = parse_host_positioned(&expanded.text);
    // An expansion error at position k stands for an `include:` line just
    // before the k-th directive line, so it sorts before that line's errors.
    let mut all: Vec<(usize, u8, ConfError)> = positions
        .into_iter()
        .zip(expanded.errors.iter().cloned())
        .map(|(p, e)| (p, 0, e))
        .chain(parse_errors.into_iter().map(|(p, e)| (p, 1, e)))
        .collect();
    all.sort_by_key(|(p, kind, _)| (*p, *kind));
    HostLoad {
        expanded,
        config,
        errors: all.into_iter().map(|(_, _, e)| e).collect(),
    }
}

fn expand_positioned(
    hosts_dir: &Path,
    includes_dir: &Path,
    host: &HostName,
) -> Result<(Expanded, Vec<usize>), HostFileError> {
    let bytes = read_limited(&hosts_dir.join(host.as_str())).map_err(|e| match e {
        ReadError::NotFound => HostFileError::NotFound,
        ReadError::TooLarge { size } => HostFileError::TooLarge {
            size,
            limit: MAX_CONFIG_FILE_BYTES,
        },
        ReadError::Io(e) => HostFileError::Io(e),
    })?;
    let mut read = |name: &str| read_limited(&includes_dir.join(name));
    Ok(expand_bytes(host, &bytes, &mut read))
}

/// Reads an include file by name.
type IncludeReader<'a> = dyn FnMut(&str) -> Result<Vec<u8>, ReadError> + 'a;

/// Expands a host file's `bytes`, reading its includes with `read_include`.
fn expand_bytes(
    host: &HostName,
    bytes: &[u8],
    read_include: &mut IncludeReader<'_>,
) -> (Expanded, Vec<usize>) {
    let mut ex = Expander {
        read_include,
        text: String::new(),
        directive_lines: 0,
        last: None,
        full: false,
        include_reads: 0,
        includes: BTreeSet::new(),
        errors: Vec::new(),
    };
    let label = format!("hosts/{host}");
    ex.expand_file(&label, bytes, &[], std::slice::from_ref(&label));
    let version = ConfigVersion::of(&ex.text);
    let (positions, errors) = ex.errors.into_iter().unzip();
    (
        Expanded {
            text: ex.text,
            version,
            includes: ex.includes,
            errors,
        },
        positions,
    )
}

struct Expander<'a, 'r> {
    read_include: &'a mut IncludeReader<'r>,
    text: String,
    /// Directive lines written so far: the position of the next one.
    directive_lines: usize,
    /// Origin of the last line written, to skip markers on consecutive lines.
    last: Option<Origin>,
    /// The text reached [`MAX_EXPANDED_BYTES`]; nothing more is written.
    full: bool,
    /// Include files read so far, against [`MAX_INCLUDE_READS`].
    include_reads: usize,
    includes: BTreeSet<String>,
    errors: Vec<(usize, ConfError)>,
}

impl Expander<'_, '_> {
    fn error(&mut self, origin: Origin, message: String) {
        self.errors
            .push((self.directive_lines, ConfError::new(origin, message)));
    }

    /// `stack` holds the labels from the host file down to this one.
    fn expand_file(
        &mut self,
        label: &str,
        bytes: &[u8],
        chain: &[(String, usize)],
        stack: &[String],
    ) {
        for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            if self.full {
                return;
            }
            let origin = Origin {
                file: label.to_string(),
                line: i + 1,
                included_from: chain.to_vec(),
            };
            let Ok(line) = std::str::from_utf8(raw) else {
                self.error(origin, "the line is not UTF-8 text".into());
                continue;
            };
            let line = line.trim_end();
            let directive = line.trim_start();
            if directive.is_empty() || directive.starts_with('#') {
                continue;
            }
            if let Some(name) = include_argument(directive) {
                self.include(name, origin, chain, stack);
                continue;
            }
            self.write_line(origin, line);
        }
    }

    fn write_line(&mut self, origin: Origin, line: &str) {
        let follows = self.last.as_ref().is_some_and(|last| {
            last.file == origin.file
                && last.line + 1 == origin.line
                && last.included_from == origin.included_from
        });
        let marker = if follows {
            String::new()
        } else {
            marker_line(&origin)
        };
        if self.text.len() + marker.len() + line.len() + 1 > MAX_EXPANDED_BYTES {
            self.full = true;
            self.error(
                origin,
                format!(
                    "the expanded configuration exceeds {MAX_EXPANDED_BYTES} bytes (the most an observer accepts); this line and the rest are left out"
                ),
            );
            return;
        }
        self.text.push_str(&marker);
        self.text.push_str(line);
        self.text.push('\n');
        self.directive_lines += 1;
        self.last = Some(origin);
    }

    fn include(&mut self, name: &str, at: Origin, chain: &[(String, usize)], stack: &[String]) {
        if let Err(why) = check_plain_name(name) {
            let message = match why {
                InvalidHostName::Empty => "`include:` needs a file name".to_string(),
                why => format!(
                    "`include: {name}` is not a plain file name in the includes folder: {why}"
                ),
            };
            self.error(at, message);
            return;
        }
        self.includes.insert(name.to_string());
        let label = format!("includes/{name}");
        if let Some(first) = stack.iter().position(|l| *l == label) {
            let cycle = stack[first..].join(" -> ");
            self.error(at, format!("include cycle: {cycle} -> {label}"));
            return;
        }
        // `stack.len()` is the depth the new file would have.
        if stack.len() > MAX_INCLUDE_DEPTH {
            let path = stack.join(" -> ");
            self.error(
                at,
                format!("include depth exceeds {MAX_INCLUDE_DEPTH}: {path} -> {label}"),
            );
            return;
        }
        if self.include_reads >= MAX_INCLUDE_READS {
            // Stop here: every further include would be refused the same way.
            self.full = true;
            self.error(
                at,
                format!(
                    "more than {MAX_INCLUDE_READS} include files read for this host; this include and the rest of the configuration are left out"
                ),
            );
            return;
        }
        self.include_reads += 1;
        let bytes = match (self.read_include)(name) {
            Ok(bytes) => bytes,
            Err(ReadError::NotFound) => {
                self.error(at, format!("include file {label} does not exist"));
                return;
            }
            Err(ReadError::TooLarge { size }) => {
                self.error(
                    at,
                    format!(
                        "include file {label} is {size} bytes; at most {MAX_CONFIG_FILE_BYTES} are read"
                    ),
                );
                return;
            }
            Err(ReadError::Io(e)) => {
                self.error(at, format!("cannot read include file {label}: {e}"));
                return;
            }
        };
        let mut inner_chain = chain.to_vec();
        inner_chain.push((at.file.clone(), at.line));
        let mut inner_stack = stack.to_vec();
        inner_stack.push(label.clone());
        self.expand_file(&label, &bytes, &inner_chain, &inner_stack);
    }
}

/// The name after `include:`, when the line is an include.
fn include_argument(line: &str) -> Option<&str> {
    match DirectiveLine::read(line) {
        DirectiveLine::Known(Directive::Include, argument) => Some(argument),
        _ => None,
    }
}
