//! The block search of log files against the plain way: every line matched
//! alone, as text with invalid bytes replaced. Generated texts mix the
//! characters patterns trip over (newlines inside a match, `\r`, invalid
//! and multi-byte UTF-8, empty lines, lines past the cut); generated
//! patterns mix anchors, word boundaries, classes that match `\n`, empty
//! matches and inline flags.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use observer::clock::{LocalMinute, Now};
use observer::logs::LogFiles;
use observer::problems::ProblemBoard;
use observer::scan::LineScan;
use observer::tailer::LogTailer;
use observer::timers::MAX_LINE;
use proptest::prelude::*;
use regex::Regex;

const LIMIT: usize = 1 << 20;

/// Pieces of text; `\n` ends a line.
const TEXT: &[&[u8]] = &[
    b"a",
    b"b",
    b"ab",
    b"ERR",
    b"err",
    b" ",
    b"\t",
    b"\n",
    b"\n",
    b"\n",
    b"\r\n",
    b"\r",
    b"x",
    b"_",
    b"1",
    "é".as_bytes(),
    "\u{212a}".as_bytes(),
    "\u{fffd}".as_bytes(),
    b"\xff",
    b"\xc3",
    b"\x80",
    b"\xe2\x82",
];

/// Pieces of patterns, each a complete regex alone.
const PATTERN: &[&str] = &[
    "a",
    "b",
    "ERR",
    "^",
    "$",
    r"\A",
    r"\z",
    r"\b",
    r"\B",
    r"(?-u:\b)",
    r"\<",
    r"\>",
    "[^x]",
    r"\s",
    r"\S",
    ".",
    "(?s:.)",
    "a*",
    "(?:ab)?",
    "é",
    r"\x{FFFD}",
    r"\r",
    r"\n",
    "(?i:k)",
    "(?i:err)",
    "(?m:^)",
    "(?m:$)",
    "(?R:$)",
    "(?mR:$)",
    "(?mR:^)",
    "[[:^alpha:]]",
    "x+",
    "(a|b)",
    r"(?P<w>\w)",
    r"\d",
    "[a-b]+",
    "",
];

fn text(max_pieces: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::sample::select(TEXT), 0..max_pieces)
        .prop_map(|pieces| pieces.concat())
}

fn pattern() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PATTERN), 1..4).prop_map(|p| p.concat())
}

fn patterns() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pattern(), 1..4)
}

/// The patterns each compiled alone, or `None` if one does not compile.
/// (Not a `RegexSet`: see `GroupPatterns`.)
fn compiled(patterns: &[String]) -> Option<Vec<Regex>> {
    patterns.iter().map(|p| Regex::new(p).ok()).collect()
}

/// Whether any of `patterns` matches `line` alone, as text.
fn matches_alone(patterns: &[Regex], line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    patterns.iter().any(|p| p.is_match(&text))
}

/// The lines of `block` (joined by `\n`) any of `patterns` matches alone,
/// by their index.
fn matching_alone(patterns: &[Regex], block: &[u8]) -> Vec<usize> {
    block
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| matches_alone(patterns, l))
        .map(|(i, _)| i)
        .collect()
}

/// The lines the scan hands out, by their index; checks that each is a
/// whole line of `block` handed out once, in order.
fn handed_out(scan: &LineScan, block: &[u8]) -> Result<Vec<usize>, TestCaseError> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', block).map(|i| i + 1))
        .collect();
    let mut out: Vec<usize> = Vec::new();
    let mut bad = None;
    scan.for_each_candidate(block, &mut |l| {
        let at = l.as_ptr() as usize - block.as_ptr() as usize;
        match starts.binary_search(&at) {
            Ok(i) if l.len() == line_len(block, at) && out.last().is_none_or(|&p| p < i) => {
                out.push(i)
            }
            _ => bad = Some((at, l.len())),
        }
    });
    prop_assert!(bad.is_none(), "not a whole line or out of order: {:?}", bad);
    Ok(out)
}

fn line_len(block: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', &block[at..]).unwrap_or(block.len() - at)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every line a pattern matches alone is handed out; what else is handed
    /// out matches nothing.
    #[test]
    fn block_search_finds_every_line_matching_alone(
        patterns in patterns(),
        block in text(60),
    ) {
        let Some(set) = compiled(&patterns) else {
            return Ok(());
        };
        let scan = LineScan::new(patterns.iter().map(String::as_str), LIMIT);
        let out = handed_out(&scan, &block)?;
        let judged: Vec<usize> = {
            let lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
            out.iter()
                .copied()
                .filter(|&i| matches_alone(&set, lines[i]))
                .collect()
        };
        prop_assert_eq!(
            judged,
            matching_alone(&set, &block),
            "patterns {:?} block {:?} searched {}",
            patterns,
            String::from_utf8_lossy(&block),
            scan.searches_blocks()
        );
    }
}

/// Appends `data` to `path`.
fn append(path: &Path, data: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

/// A text of whole lines, some far longer than the cut, each told apart by
/// its number.
fn long_and_short_lines() -> impl Strategy<Value = Vec<u8>> {
    let len = prop_oneof![
        4 => 0..6usize,
        1 => Just(MAX_LINE - 1),
        1 => Just(MAX_LINE),
        1 => Just(MAX_LINE + 1),
        1 => MAX_LINE..3 * MAX_LINE,
    ];
    proptest::collection::vec((len, text(8)), 0..12).prop_map(|lines| {
        let mut out = Vec::new();
        for (i, (len, extra)) in lines.into_iter().enumerate() {
            let start = out.len();
            out.extend_from_slice(format!("{i}:").as_bytes());
            out.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            out.extend(extra.iter().filter(|&&b| b != b'\n'));
            // Some lines end in the middle of a multi-byte character once cut.
            if i % 3 == 0 && out.len() - start > MAX_LINE {
                out[start + MAX_LINE - 1] = 0xc3;
                out[start + MAX_LINE] = 0xa9;
            }
            out.push(b'\n');
        }
        out
    })
}

/// What the tailer must hand out for `data` (the lines of the old line by
/// line reader): every complete line cut at `MAX_LINE`, and an unfinished
/// last line once it reaches `MAX_LINE`.
fn lines_cut(data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let unfinished = lines.pop().unwrap_or_default();
    let mut out: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| l[..l.len().min(MAX_LINE)].to_vec())
        .collect();
    if unfinished.len() >= MAX_LINE {
        out.push(unfinished[..MAX_LINE].to_vec());
    }
    out
}

/// Cuts `data` into appends at the given fractions of its length.
fn appends(data: &[u8], mut cuts: Vec<f64>) -> Vec<&[u8]> {
    cuts.sort_by(f64::total_cmp);
    let mut out = Vec::new();
    let mut from = 0;
    for c in cuts {
        let to = ((data.len() as f64 * c) as usize).clamp(from, data.len());
        out.push(&data[from..to]);
        from = to;
    }
    out.push(&data[from..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Blocks split into lines are the lines, whatever the writes and reads
    /// cut them into.
    #[test]
    fn tailer_blocks_are_the_lines_cut_as_before(
        data in long_and_short_lines(),
        tail in text(6),
        cuts in proptest::collection::vec(0.0..1.0f64, 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"").unwrap();
        let mut t = LogTailer::at_end(&path, Instant::now());
        let mut data = data;
        data.extend_from_slice(&tail);
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut buf = Vec::new();
        for piece in appends(&data, cuts) {
            append(&path, piece);
            t.poll_blocks(Instant::now(), &mut buf, &mut |block: &[u8]| {
                got.extend(block.split(|&b| b == b'\n').map(<[u8]>::to_vec))
            });
        }
        prop_assert_eq!(got, lines_cut(&data));
    }
}

const NOON: LocalMinute = LocalMinute {
    weekday: 1,
    hour: 12,
    minute: 0,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A followed file with two groups raises, in order, exactly what
    /// matching each line alone (cut, invalid bytes replaced) raises.
    #[test]
    fn a_followed_file_raises_for_the_lines_matching_alone(
        first in patterns(),
        second in patterns(),
        data in prop_oneof![3 => text(80), 1 => long_and_short_lines()],
        cuts in proptest::collection::vec(0.0..1.0f64, 0..4),
    ) {
        let usable = |p: &Vec<String>| {
            p.iter().all(|p| !p.is_empty() && p.trim() == p) && compiled(p).is_some()
        };
        if !usable(&first) || !usable(&second) {
            return Ok(());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"").unwrap();
        let mut config = String::new();
        for (tags, group) in [("one", &first), ("two", &second)] {
            config.push_str(&format!("file: {}\n", path.display()));
            for p in group {
                config.push_str(&format!("match: {p}\n"));
            }
            config.push_str(&format!("alert_all: tags={tags}\n"));
        }
        let (host, errors) = conf::parse_host(&config);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        let now = Instant::now();
        let mut files = LogFiles::new();
        files.apply(&host.logs, now);
        let mut raised = Vec::new();
        for piece in appends(&data, cuts) {
            append(&path, piece);
            let at = Now {
                mono: now,
                wall_ms: 0,
                local: NOON,
            };
            while files.poll_all(at, &mut ProblemBoard::new(), &mut raised) {}
        }
        let got: Vec<(String, String)> =
            raised.into_iter().map(|r| (r.tags, r.message)).collect();

        let sets = [("one", compiled(&first).unwrap()), ("two", compiled(&second).unwrap())];
        let mut want = Vec::new();
        for line in lines_cut(&data) {
            for (tags, set) in &sets {
                if matches_alone(set, &line) {
                    want.push((tags.to_string(), String::from_utf8_lossy(&line).into_owned()));
                }
            }
        }
        prop_assert_eq!(got, want, "patterns {:?} / {:?}", first, second);
    }
}
