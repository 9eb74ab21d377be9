//! Events from several supervisors: one page of `/events` and
//! `/api/v1/events` merged from this supervisor's history and each
//! reachable peer's, asked when the page is asked for (events are not
//! polled: a search can reach back months).
//!
//! * Each source is asked for one page with the same filters, from its own
//!   position; the merge takes the newest `limit` by the time each
//!   supervisor received them, keeping every source's own order, so each
//!   source's position is simply the cursor of the last event taken from it.
//! * The cursor of a merged page holds one position per source (this
//!   supervisor first, then the peers in `peers:` order), comma-separated:
//!   `-` not started, a number (that source's own cursor), `x` done. It is
//!   a string, where a supervisor without peers gives a number.
//! * An event an observer re-sent to a second supervisor after a failover
//!   (same host and event id) is listed once on a page, the first source's
//!   copy. Supervisor events (id 0) are each supervisor's own and all kept.
//! * A peer that does not answer keeps its position and is named in
//!   `unreachable`; its events show on a later page once it answers. When
//!   no reachable source has more, there is no next page, so a client that
//!   follows `next` always ends.

use std::collections::{HashSet, VecDeque};
use std::fmt;

use crate::history::query::{EventPage, EventRow};

/// Where one source's next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Not asked yet: its newest events.
    Newest,
    /// Events older than this cursor of that source.
    After(i64),
    /// Nothing left.
    Done,
}

/// A merged page's cursor: one position per source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedCursor(pub Vec<Position>);

impl MergedCursor {
    /// The first page of `sources` sources.
    pub fn start(sources: usize) -> MergedCursor {
        MergedCursor(vec![Position::Newest; sources])
    }

    /// A cursor from `after=`, which must have one position per source.
    pub fn parse(text: &str, sources: usize) -> Result<MergedCursor, String> {
        let bad = || {
            format!(
                "`after` must be the `next` of a page of this supervisor's merged events ({sources} positions), found `{}`",
                text.chars().take(80).collect::<String>()
            )
        };
        let positions = text
            .split(',')
            .map(|p| match p {
                "-" => Ok(Position::Newest),
                "x" => Ok(Position::Done),
                n => n
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Position::After)
                    .ok_or_else(bad),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if positions.len() != sources {
            return Err(bad());
        }
        Ok(MergedCursor(positions))
    }
}

impl fmt::Display for MergedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match p {
                Position::Newest => f.write_str("-")?,
                Position::After(n) => write!(f, "{n}")?,
                Position::Done => f.write_str("x")?,
            }
        }
        Ok(())
    }
}

/// What one source gave: `None` when it was not asked (done).
pub struct SourcePage {
    /// This supervisor's name or the peer's URL: each event's `from`.
    pub name: String,
    pub page: Option<Result<EventPage, String>>,
}

/// One merged page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergedPage {
    pub events: Vec<EventRow>,
    /// The `after` of the next (older) page.
    pub next: Option<String>,
    /// Peers that did not answer for this page.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreachable_peers: Vec<String>,
}

impl From<EventPage> for MergedPage {
    /// A page of this supervisor's own events (no peers: a number cursor).
    fn from(page: EventPage) -> MergedPage {
        MergedPage {
            events: page.events,
            next: page.next.map(|n| n.to_string()),
            unreachable_peers: Vec::new(),
        }
    }
}

/// The newest `limit` events of `sources`, asked from `cursor`.
pub fn merge_pages(cursor: &MergedCursor, sources: Vec<SourcePage>, limit: usize) -> MergedPage {
    struct Head {
        queue: VecDeque<EventRow>,
        last_taken: Option<i64>,
    }
    let mut heads: Vec<Option<Head>> = Vec::with_capacity(sources.len());
    let mut names = Vec::with_capacity(sources.len());
    let mut unreachable_peers = Vec::new();
    let mut has_more = Vec::with_capacity(sources.len());
    for (i, source) in sources.into_iter().enumerate() {
        match source.page {
            Some(Ok(page)) => {
                has_more.push(page.next.is_some());
                heads.push(Some(Head {
                    queue: page.events.into(),
                    last_taken: None,
                }));
            }
            Some(Err(_)) => {
                // Source 0 is this supervisor; its error is the caller's.
                if i > 0 {
                    unreachable_peers.push(source.name.clone());
                }
                has_more.push(false);
                heads.push(None);
            }
            None => {
                has_more.push(false);
                heads.push(None);
            }
        }
        names.push(source.name);
    }

    let mut events = Vec::with_capacity(limit);
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    while events.len() < limit {
        // The source whose next event was received last; ties to the first.
        let pick = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((i, h.as_ref()?.queue.front()?.received_ms)))
            .fold(None::<(usize, i64)>, |best, (i, t)| match best {
                Some((_, bt)) if bt >= t => best,
                _ => Some((i, t)),
            });
        let Some((i, _)) = pick else { break };
        let Some(head) = heads[i].as_mut() else { break };
        let Some(mut event) = head.queue.pop_front() else {
            break;
        };
        head.last_taken = Some(event.cursor);
        if event.id != 0 && !seen.insert((event.host.clone(), event.id)) {
            continue;
        }
        event.from = Some(names[i].clone());
        events.push(event);
    }

    let positions: Vec<Position> = cursor
        .0
        .iter()
        .zip(&heads)
        .zip(&has_more)
        .map(|((was, head), more)| match head {
            // Not asked (done) or not answering: where it was.
            None => *was,
            Some(h) if h.queue.is_empty() && !more => Position::Done,
            Some(h) => h.last_taken.map(Position::After).unwrap_or(*was),
        })
        .collect();
    // A next page only while an answering source has more: a peer that is
    // down does not keep a client paging through empty pages.
    let answering_has_more = positions
        .iter()
        .zip(&heads)
        .any(|(p, h)| h.is_some() && *p != Position::Done);
    MergedPage {
        events,
        next: answering_has_more.then(|| MergedCursor(positions).to_string()),
        unreachable_peers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(cursor: i64, received_ms: i64, host: &str, id: i64) -> EventRow {
        EventRow {
            cursor,
            received_ms,
            time_ms: received_ms,
            host: host.into(),
            id,
            tags: "t".into(),
            kind: "alert".into(),
            check: None,
            state: None,
            source: None,
            message: format!("{host} {id}"),
            value: None,
            from: None,
        }
    }

    fn page(events: Vec<EventRow>, next: Option<i64>) -> Option<Result<EventPage, String>> {
        Some(Ok(EventPage { events, next }))
    }

    fn source(name: &str, page: Option<Result<EventPage, String>>) -> SourcePage {
        SourcePage {
            name: name.into(),
            page,
        }
    }

    fn shown(p: &MergedPage) -> Vec<(String, i64)> {
        p.events
            .iter()
            .map(|e| (e.from.clone().unwrap_or_default(), e.cursor))
            .collect()
    }

    #[test]
    fn cursors_round_trip_and_wrong_ones_are_refused() {
        let c = MergedCursor(vec![Position::After(12), Position::Newest, Position::Done]);
        assert_eq!(c.to_string(), "12,-,x");
        assert_eq!(MergedCursor::parse("12,-,x", 3), Ok(c));
        for bad in ["12,-", "12,-,x,x", "a,-,x", "0,-,x", "-5,-,x", ""] {
            assert!(MergedCursor::parse(bad, 3).is_err(), "{bad}");
        }
    }

    #[test]
    fn newest_first_across_sources_and_each_source_resumes_where_it_stopped() {
        let start = MergedCursor::start(2);
        let local = vec![
            ev(30, 1_000, "a", 3),
            ev(20, 800, "a", 2),
            ev(10, 600, "a", 1),
        ];
        let peer = vec![ev(7, 900, "b", 9), ev(6, 700, "b", 8), ev(5, 500, "b", 7)];
        let p = merge_pages(
            &start,
            vec![
                source("sup1", page(local, Some(10))),
                source("http://peer", page(peer, Some(5))),
            ],
            3,
        );
        assert_eq!(
            shown(&p),
            [
                ("sup1".into(), 30),
                ("http://peer".into(), 7),
                ("sup1".into(), 20)
            ]
        );
        assert_eq!(p.next.as_deref(), Some("20,7"));
        assert!(p.unreachable_peers.is_empty());

        // The next page: each source asked from its position.
        let next = MergedCursor::parse("20,7", 2).unwrap();
        let p = merge_pages(
            &next,
            vec![
                source("sup1", page(vec![ev(10, 600, "a", 1)], None)),
                source(
                    "http://peer",
                    page(vec![ev(6, 700, "b", 8), ev(5, 500, "b", 7)], None),
                ),
            ],
            3,
        );
        assert_eq!(
            shown(&p),
            [
                ("http://peer".into(), 6),
                ("sup1".into(), 10),
                ("http://peer".into(), 5)
            ]
        );
        assert_eq!(p.next, None, "every source is done");
    }

    #[test]
    fn a_source_with_nothing_left_is_done_and_not_asked_again() {
        let p = merge_pages(
            &MergedCursor::start(2),
            vec![
                source("sup1", page(vec![], None)),
                source(
                    "http://peer",
                    page(vec![ev(4, 10, "b", 1), ev(3, 9, "b", 2)], Some(3)),
                ),
            ],
            2,
        );
        assert_eq!(p.next.as_deref(), Some("x,3"));
        let p = merge_pages(
            &MergedCursor::parse("x,3", 2).unwrap(),
            vec![
                source("sup1", None),
                source("http://peer", page(vec![ev(2, 8, "b", 3)], None)),
            ],
            2,
        );
        assert_eq!(shown(&p), [("http://peer".into(), 2)]);
        assert_eq!(p.next, None);
    }

    #[test]
    fn an_unreachable_peer_keeps_its_position_and_does_not_page_for_ever() {
        let p = merge_pages(
            &MergedCursor::parse("5,17", 2).unwrap(),
            vec![
                source("sup1", page(vec![ev(4, 10, "a", 1)], Some(4))),
                source("http://peer", Some(Err("connection refused".into()))),
            ],
            1,
        );
        assert_eq!(p.unreachable_peers, ["http://peer"]);
        assert_eq!(
            p.next.as_deref(),
            Some("4,17"),
            "the peer's position is kept"
        );

        // This supervisor is done too: no next page though the peer may have more.
        let p = merge_pages(
            &MergedCursor::parse("4,17", 2).unwrap(),
            vec![
                source("sup1", page(vec![], None)),
                source("http://peer", Some(Err("connection refused".into()))),
            ],
            1,
        );
        assert!(p.events.is_empty());
        assert_eq!(p.next, None);
    }

    #[test]
    fn an_event_re_sent_to_a_second_supervisor_is_listed_once_supervisor_events_all() {
        let local = vec![ev(9, 100, "web1", 42), ev(8, 90, "web1", 0)];
        let peer = vec![ev(3, 99, "web1", 42), ev(2, 95, "web1", 0)];
        let p = merge_pages(
            &MergedCursor::start(2),
            vec![
                source("sup1", page(local, None)),
                source("http://peer", page(peer, None)),
            ],
            10,
        );
        assert_eq!(
            shown(&p),
            [
                ("sup1".into(), 9),
                ("http://peer".into(), 2),
                ("sup1".into(), 8)
            ]
        );
        assert_eq!(p.next, None, "the skipped copy still moved the peer on");
    }
}
