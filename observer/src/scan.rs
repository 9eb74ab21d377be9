//! Finding the lines of a log file that some pattern may match, a whole
//! block of lines at a time.
//!
//! Every rule acts on matching lines only (SPEC §4: `alert_all` and
//! `alert_n` raise for them, `alert_count` counts them, `alert_inactive`
//! fires when there were none), and nearly every line of a busy log matches
//! nothing. So instead of one regex call per line and group, one regex of
//! every pattern of every group on the file searches a block of lines in
//! multi-line mode, where the engine's literal prefilters skip over most of
//! the text; only the lines a match touches are handed out, and the groups
//! then judge each of them exactly as they would have judged it alone.
//!
//! Why the block search misses no line that matching alone would find,
//! inside a stretch of valid UTF-8 whose lines are all handed out uncut:
//!
//! * the characters of a line are the same in the block;
//! * each pattern is parsed with the flags a line alone is matched with,
//!   then its anchors of the whole text (`^`, `$` without `(?m)`, `\A`,
//!   `\z`) become anchors of a line: those hold at a line's two ends in the
//!   block exactly, and nowhere inside it, as they do for the line alone;
//!   a word boundary sees `\n` (not a word character) where the line alone
//!   sees its edge;
//! * the engine reports the leftmost-starting match, so no line before the
//!   line where it starts can match;
//! * a match may run across `\n` (`\s`, `[^x]`, `(?s).`, empty matches):
//!   every line it touches is handed out and the search resumes at the line
//!   after, never inside a line.
//!
//! A line alone is matched as text, its invalid bytes replaced by U+FFFD;
//! the block is bytes. When every pattern matches and looks at ASCII only,
//! that makes no difference (a replaced byte is neither ASCII nor a word
//! character, nor is the byte), and the block is searched as it is. Else
//! the block is searched in stretches of valid UTF-8, and a line with
//! invalid bytes is handed out on its own.
//!
//! Every line is handed out when a pattern uses CRLF-aware line anchors
//! (`(?mR)`: in the block they see `\r\n` where the line alone ends in
//! `\r`), or when the combined regex would not build (too large).
//!
//! Lines cut at [`MAX_LINE`](crate::timers::MAX_LINE) are the tailer's
//! concern: it hands those out as blocks of their own.

use memchr::{memchr, memrchr};
use regex_automata::Input;
use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_syntax::hir::{Class, Hir, HirKind, Literal, Look, Repetition};

/// The search for lines of one file that any of its patterns may match.
#[derive(Debug, Clone)]
pub struct LineScan {
    /// Every pattern at once; `None` hands out every line.
    any: Option<BlockSearch>,
}

#[derive(Debug, Clone)]
struct BlockSearch {
    regex: Regex,
    /// Every pattern matches and looks at ASCII only: invalid UTF-8 needs no
    /// care (see the module doc).
    ascii: bool,
}

impl LineScan {
    /// The scan for `patterns` (the `match:` patterns of every group on one
    /// file), compiled within `size_limit` bytes.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>, size_limit: usize) -> LineScan {
        LineScan {
            any: combined(patterns, size_limit),
        }
    }

    /// Whether blocks are searched at once (rather than every line handed
    /// out).
    pub fn searches_blocks(&self) -> bool {
        self.any.is_some()
    }

    /// Calls `line` with every line of `block` that some pattern may match,
    /// in order, each at most once; a line left out matches no pattern.
    /// `block` is lines joined by `\n` (no newline after the last one; the
    /// empty block is one empty line), each no longer than the tailer's
    /// cut.
    pub fn for_each_candidate(&self, block: &[u8], line: &mut dyn FnMut(&[u8])) {
        let Some(any) = &self.any else {
            block.split(|&b| b == b'\n').for_each(line);
            return;
        };
        if any.ascii {
            search(&any.regex, block, line);
            return;
        }
        let mut from = 0;
        loop {
            let rest = &block[from..];
            let bad = match std::str::from_utf8(rest) {
                Ok(_) => {
                    search(&any.regex, rest, line);
                    return;
                }
                Err(e) => e.valid_up_to(),
            };
            let start = memrchr(b'\n', &rest[..bad]).map_or(0, |i| i + 1);
            let end = memchr(b'\n', &rest[bad..]).map_or(rest.len(), |i| bad + i);
            if start > 0 {
                search(&any.regex, &rest[..start - 1], line);
            }
            line(&rest[start..end]);
            if end == rest.len() {
                return;
            }
            from += end + 1;
        }
    }
}

/// The `match:` patterns of one group, asked whether any matches a line.
///
/// Not `RegexSet::is_match`: in regex 1.13.1 that panics for patterns like
/// `^\b` (anchored, possibly empty, with a Unicode word boundary) on a line
/// that starts with a non-ASCII character, through the search for all
/// matches at once. One regex of the patterns searched for the leftmost
/// match answers the same question without that path.
#[derive(Debug, Clone)]
pub struct GroupPatterns {
    any: Option<Regex>,
    /// Only if `any` would not build.
    set: regex::RegexSet,
}

impl GroupPatterns {
    /// `set` as conf compiled it, within `size_limit` bytes.
    pub fn new(set: &regex::RegexSet, size_limit: usize) -> GroupPatterns {
        let any = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .which_captures(WhichCaptures::Implicit)
                    .nfa_size_limit(Some(size_limit)),
            )
            .build_many(set.patterns())
            .ok();
        GroupPatterns {
            any,
            set: set.clone(),
        }
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        self.set.patterns()
    }

    pub fn is_match(&self, line: &str) -> bool {
        match &self.any {
            Some(any) => any.is_match(line),
            None => self.set.is_match(line),
        }
    }
}

/// One regex of every distinct pattern, rewritten for blocks, or `None`
/// where the block search would not be exact (see the module doc).
fn combined<'a>(
    patterns: impl IntoIterator<Item = &'a str>,
    size_limit: usize,
) -> Option<BlockSearch> {
    let mut distinct: Vec<&str> = patterns.into_iter().collect();
    distinct.sort_unstable();
    distinct.dedup();
    // The flags a line alone is matched with (`regex`'s defaults).
    let config = syntax::Config::new();
    let mut ascii = true;
    let mut hirs = Vec::with_capacity(distinct.len());
    for p in distinct {
        let hir = syntax::parse_with(p, &config).ok()?;
        hirs.push(for_blocks(hir, &mut ascii)?);
    }
    // One pattern, not many: only then can a plain alternation of literals
    // skip the regex engine and run the literal search alone.
    let regex = meta::Builder::new()
        .configure(
            meta::Config::new()
                .which_captures(WhichCaptures::Implicit)
                // Empty matches count wherever they are: a match is only
                // ever used to find its line.
                .utf8_empty(false)
                .nfa_size_limit(Some(size_limit)),
        )
        .build_from_hir(&Hir::alternation(hirs))
        .ok()?;
    Some(BlockSearch { regex, ascii })
}

/// `hir` rewritten to match in a block of lines where it matches a line
/// alone: the ends of the text become the ends of a line, and captures go
/// (only whether some pattern matches counts). `None` for CRLF-aware line
/// anchors, which have no such equivalent. Clears `ascii` where `hir` may
/// match or look at anything but ASCII.
fn for_blocks(hir: Hir, ascii: &mut bool) -> Option<Hir> {
    Some(match hir.into_kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(Literal(bytes)) => {
            *ascii &= bytes.is_ascii();
            Hir::literal(bytes)
        }
        HirKind::Class(class) => {
            *ascii &= match &class {
                Class::Unicode(c) => c.ranges().last().is_none_or(|r| r.end().is_ascii()),
                Class::Bytes(c) => c.ranges().last().is_none_or(|r| r.end().is_ascii()),
            };
            Hir::class(class)
        }
        HirKind::Look(look) => Hir::look(match look {
            Look::Start => Look::StartLF,
            Look::End => Look::EndLF,
            Look::StartCRLF | Look::EndCRLF => return None,
            Look::StartLF
            | Look::EndLF
            | Look::WordAscii
            | Look::WordAsciiNegate
            | Look::WordStartAscii
            | Look::WordEndAscii
            | Look::WordStartHalfAscii
            | Look::WordEndHalfAscii => look,
            Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode => {
                *ascii = false;
                look
            }
        }),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(for_blocks(*r.sub, ascii)?),
            ..r
        }),
        HirKind::Capture(c) => for_blocks(*c.sub, ascii)?,
        HirKind::Concat(subs) => Hir::concat(
            subs.into_iter()
                .map(|h| for_blocks(h, ascii))
                .collect::<Option<_>>()?,
        ),
        HirKind::Alternation(subs) => Hir::alternation(
            subs.into_iter()
                .map(|h| for_blocks(h, ascii))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Hands out the lines of `text` that a match of `any` touches.
fn search(any: &Regex, text: &[u8], line: &mut dyn FnMut(&[u8])) {
    let mut at = 0;
    while at <= text.len() {
        let Some(m) = any.search(&Input::new(text).range(at..)) else {
            return;
        };
        let first = memrchr(b'\n', &text[at..m.start()]).map_or(at, |i| at + i + 1);
        // The line of the match's last byte; a `\n` belongs to the line it
        // ends.
        let last = m.end().saturating_sub(1).max(m.start());
        let end = memchr(b'\n', &text[last..]).map_or(text.len(), |i| last + i);
        text[first..end].split(|&b| b == b'\n').for_each(&mut *line);
        at = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    fn candidates(patterns: &[&str], block: &str) -> Vec<String> {
        let scan = LineScan::new(patterns.iter().copied(), LIMIT);
        let mut out = Vec::new();
        scan.for_each_candidate(block.as_bytes(), &mut |l| {
            out.push(String::from_utf8_lossy(l).into_owned())
        });
        out
    }

    #[test]
    fn only_lines_touched_by_a_match_are_handed_out() {
        let block = "INFO a\nERROR disk\nINFO b\npanic: x\nINFO c";
        let scan = LineScan::new(["ERROR disk", "panic: "], LIMIT);
        assert!(scan.searches_blocks());
        assert_eq!(
            candidates(&["ERROR disk", "panic: "], block),
            ["ERROR disk", "panic: x"]
        );
    }

    #[test]
    fn line_anchors_hold_at_each_line() {
        let block = "x ERR\nERR y\nERR";
        assert_eq!(candidates(&["^ERR"], block), ["ERR y", "ERR"]);
        assert_eq!(candidates(&["ERR$"], block), ["x ERR", "ERR"]);
        assert_eq!(candidates(&[r"\bERR\b"], block), ["x ERR", "ERR y", "ERR"]);
    }

    #[test]
    fn a_match_across_newlines_hands_out_every_line_it_touches() {
        // `a[^x]*b` runs from the first line into the third.
        let block = "1 a\n2\n3 b\n4 a b\n5";
        assert_eq!(
            candidates(&["a[^x]*b"], block),
            ["1 a", "2", "3 b", "4 a b"]
        );
        // A match ending with the newline belongs to the line it ends.
        assert_eq!(candidates(&[r"z\s"], "z\nq\nz"), ["z"]);
    }

    #[test]
    fn empty_matches_hand_out_each_line_once() {
        assert_eq!(candidates(&["q*"], "a\n\nb"), ["a", "", "b"]);
        assert_eq!(candidates(&["^$"], "a\n\nb\n"), ["", ""]);
        assert_eq!(candidates(&["^$"], ""), [""]);
    }

    #[test]
    fn text_anchors_become_line_anchors() {
        let block = "a x\nx a\na";
        for p in [r"\Aa", "^a", "(?-m)^a"] {
            assert_eq!(candidates(&[p], block), ["a x", "a"], "{p}");
        }
        for p in [r"a\z", "a$", "(?-m)a$"] {
            assert_eq!(candidates(&[p], block), ["x a", "a"], "{p}");
        }
        // Matched alone, `(?R)$` without `(?m)` is the end of the line.
        assert_eq!(candidates(&["(?R)a$"], block), ["x a", "a"]);
    }

    #[test]
    fn crlf_line_anchors_fall_back_to_every_line() {
        for p in ["(?mR)a$", "(?mR)^a"] {
            let scan = LineScan::new([p, "b"], LIMIT);
            assert!(!scan.searches_blocks(), "{p}");
            assert_eq!(candidates(&[p, "b"], "a\nc"), ["a", "c"], "{p}");
        }
    }

    #[test]
    fn invalid_utf8_lines_are_handed_out_alone_for_unicode_patterns() {
        // `.` matches a replaced byte in the line alone, never the byte.
        let scan = LineScan::new(["nev.r"], LIMIT);
        let mut out = Vec::new();
        scan.for_each_candidate(b"ok\nbad \xff\nok never\n\xc3", &mut |l| {
            out.push(l.to_vec())
        });
        assert_eq!(
            out,
            [b"bad \xff".to_vec(), b"ok never".to_vec(), b"\xc3".to_vec()]
        );
    }

    #[test]
    fn ascii_patterns_search_invalid_utf8_as_it_is() {
        let scan = LineScan::new(["^bad", r"(?i)b(?-u:\b)"], LIMIT);
        assert!(scan.any.as_ref().is_some_and(|a| a.ascii));
        let mut out = Vec::new();
        scan.for_each_candidate(b"ok\nbad \xff\n\xffbad\nab\xff\nx\xc3", &mut |l| {
            out.push(l.to_vec())
        });
        assert_eq!(out, [b"bad \xff".to_vec(), b"ab\xff".to_vec()]);
    }

    #[test]
    fn crlf_lines_keep_their_carriage_return() {
        assert_eq!(candidates(&["ERR$"], "ERR\r\nERR"), ["ERR"]);
        assert_eq!(candidates(&["ERR\r$"], "ERR\r\nERR"), ["ERR\r"]);
    }

    #[test]
    fn group_patterns_answer_where_regex_set_panics() {
        let patterns = [r"^\b", "x"];
        let set = regex::RegexSet::new(patterns).unwrap();
        let g = GroupPatterns::new(&set, LIMIT);
        for line in ["élan", "« y", "« x", " y", "K", ""] {
            let alone = patterns
                .iter()
                .any(|p| regex::Regex::new(p).unwrap().is_match(line));
            assert_eq!(g.is_match(line), alone, "{line}");
        }
        assert!(g.is_match("élan"));
        assert!(!g.is_match("« y"));
    }
}
