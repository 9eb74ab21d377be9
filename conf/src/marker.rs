//! Origin markers: the comment lines that let an expanded host text keep
//! naming the file and line an operator edits, even when the error is found
//! later (on the observer). [`crate::expand`] writes them, the host parser
//! ([`crate::host`]) reads them.
//!
//! A marker goes in front of each run of consecutive lines from one place:
//!
//! ```text
//! #@ LABEL LINE [FILE:LINE ...]
//! ```
//!
//! `LABEL` is `hosts/<host>` or `includes/<name>`, `LINE` the 1-based line of
//! the next line, and the optional items the `include:` lines that led there,
//! outermost first. Labels never contain spaces or `:` because host and
//! include names cannot. A marker is a comment to anything that does not
//! know it.

use std::fmt::Write as _;

use crate::model::Origin;

/// Marker prefix in expanded text.
pub(crate) const MARKER: &str = "#@ ";

/// The marker line (ending in `\n`) for a run of lines starting at `origin`.
pub(crate) fn marker_line(origin: &Origin) -> String {
    let mut marker = format!("{MARKER}{} {}", origin.file, origin.line);
    for (file, line) in &origin.included_from {
        // Writing into a String cannot fail.
        let _ = write!(marker, " {file}:{line}");
    }
    marker.push('\n');
    marker
}

/// A parsed marker line: the origin of the line that follows it.
pub(crate) fn parse_marker(line: &str) -> Option<Origin> {
    let rest = line.strip_prefix(MARKER)?;
    let mut words = rest.split_whitespace();
    let file = words.next()?.to_string();
    let line: usize = words.next()?.parse().ok()?;
    let mut included_from = Vec::new();
    for item in words {
        let (f, l) = item.rsplit_once(':')?;
        included_from.push((f.to_string(), l.parse().ok()?));
    }
    Some(Origin {
        file,
        line,
        included_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reads_back_as_the_origin_it_was_written_for() {
        let origin = Origin {
            file: "includes/b".into(),
            line: 3,
            included_from: vec![("hosts/web1".into(), 4), ("includes/a".into(), 2)],
        };
        let line = marker_line(&origin);
        assert_eq!(line, "#@ includes/b 3 hosts/web1:4 includes/a:2\n");
        assert_eq!(parse_marker(line.trim_end()), Some(origin));
        assert_eq!(parse_marker("# a comment"), None);
    }
}
