//! What pages and the API share: filters from the query string, and how
//! times and versions are written.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::fleet::{FleetSnapshot, HostStatus, HostView, Problem};

/// `?host=&tag=&state=` on `/`, `/api/v1/hosts` and `/api/v1/problems`.
/// `host` matches a part of the name (case-insensitive), `tag` one of the
/// tags exactly, `state` the state's name (`never-seen` for `never seen`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FilterQuery {
    pub host: Option<String>,
    pub tag: Option<String>,
    pub state: Option<String>,
}

/// A [`FilterQuery`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub host: Option<String>,
    pub tag: Option<String>,
    pub state: Option<HostStatus>,
}

impl FilterQuery {
    /// Empty values mean "any" (an HTML form sends them); an unknown state
    /// is an error naming the known ones.
    pub fn check(&self) -> Result<Filter, String> {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let state = match nonempty(&self.state) {
            None => None,
            Some(s) => Some(HostStatus::from_name(&s).ok_or_else(|| {
                let names: Vec<&str> = HostStatus::ALL.iter().map(|s| s.name()).collect();
                format!("unknown state `{s}`; states are {}", names.join(", "))
            })?),
        };
        Ok(Filter {
            host: nonempty(&self.host).map(|h| h.to_lowercase()),
            tag: nonempty(&self.tag),
            state,
        })
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.host.is_none() && self.tag.is_none() && self.state.is_none()
    }

    pub fn host_matches(&self, h: &HostView, snapshot: &FleetSnapshot) -> bool {
        self.host
            .as_ref()
            .is_none_or(|part| h.name.to_lowercase().contains(part))
            && self.state.is_none_or(|s| h.status == s)
            && self.tag.as_ref().is_none_or(|t| {
                h.tags.contains(t)
                    || snapshot
                        .problems
                        .iter()
                        .any(|p| p.host == h.name && p.tags.contains(t))
            })
    }

    pub fn problem_matches(&self, p: &Problem, snapshot: &FleetSnapshot) -> bool {
        self.host
            .as_ref()
            .is_none_or(|part| p.host.to_lowercase().contains(part))
            && self.tag.as_ref().is_none_or(|t| p.tags.contains(t))
            && self
                .state
                .is_none_or(|s| snapshot.host(&p.host).is_some_and(|h| h.status == s))
    }

    /// The query string that gives this filter back (for links).
    pub fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = &self.host {
            parts.push(format!("host={}", url_encode(h)));
        }
        if let Some(t) = &self.tag {
            parts.push(format!("tag={}", url_encode(t)));
        }
        if let Some(s) = self.state {
            parts.push(format!("state={}", url_encode(s.name())));
        }
        parts.join("&")
    }
}

/// Rows on one page of the fleet page: hosts, and open problems, each.
pub const FLEET_PAGE_ROWS: usize = 200;

/// `?page=&problems_page=` on `/`: which page of hosts and which page of
/// open problems (1-based, each [`FLEET_PAGE_ROWS`] rows).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct PageQuery {
    pub page: Option<String>,
    pub problems_page: Option<String>,
}

/// A [`PageQuery`] checked: page numbers from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pages {
    pub hosts: usize,
    pub problems: usize,
}

impl Default for Pages {
    fn default() -> Self {
        Pages {
            hosts: 1,
            problems: 1,
        }
    }
}

/// A page number from the query string: empty means the first page.
fn page_number(name: &str, value: &Option<String>) -> Result<usize, String> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(1),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "`{name}` must be a page number from 1, found `{text}`"
            )),
        },
    }
}

impl PageQuery {
    pub fn check(&self) -> Result<Pages, String> {
        Ok(Pages {
            hosts: page_number("page", &self.page)?,
            problems: page_number("problems_page", &self.problems_page)?,
        })
    }
}

/// One page of a list of `total` rows: the rows `start..end`, page
/// `number` of `pages` (a page past the last shows the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub number: usize,
    pub pages: usize,
    pub start: usize,
    pub end: usize,
    pub total: usize,
}

impl Window {
    pub fn of(total: usize, page: usize, rows: usize) -> Window {
        let rows = rows.max(1);
        let pages = total.div_ceil(rows).max(1);
        let number = page.clamp(1, pages);
        let start = (number - 1).saturating_mul(rows).min(total);
        let end = start.saturating_add(rows).min(total);
        Window {
            number,
            pages,
            start,
            end,
            total,
        }
    }
}

/// The fleet page's address with `filter` and `pages` (page 1 left out).
pub fn fleet_link(filter: &Filter, pages: Pages) -> String {
    let mut query = filter.query();
    for (name, n) in [("page", pages.hosts), ("problems_page", pages.problems)] {
        if n > 1 {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("{name}={n}"));
        }
    }
    if query.is_empty() {
        "/".to_string()
    } else {
        format!("/?{query}")
    }
}

/// `?limit=&offset=` on `/api/v1/hosts` and `/api/v1/problems`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SliceQuery {
    pub limit: Option<String>,
    pub offset: Option<String>,
}

/// A [`SliceQuery`] checked: skip `offset` rows, then keep at most `limit`
/// (`None`: all the rest, as before paging existed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slice {
    pub offset: usize,
    pub limit: Option<usize>,
}

impl SliceQuery {
    pub fn check(&self) -> Result<Slice, String> {
        let number =
            |name: &str, v: &Option<String>, least: usize| -> Result<Option<usize>, String> {
                match v.as_deref().map(str::trim) {
                    None | Some("") => Ok(None),
                    Some(text) => match text.parse::<usize>() {
                        Ok(n) if n >= least => Ok(Some(n)),
                        _ => Err(format!(
                            "`{name}` must be a whole number from {least}, found `{text}`"
                        )),
                    },
                }
            };
        Ok(Slice {
            offset: number("offset", &self.offset, 0)?.unwrap_or(0),
            limit: number("limit", &self.limit, 1)?,
        })
    }
}

impl Slice {
    /// The rows of a list of `total` this slice keeps, and the offset of
    /// the next slice (`None`: this is the last).
    pub fn range(&self, total: usize) -> (std::ops::Range<usize>, Option<usize>) {
        let start = self.offset.min(total);
        let end = match self.limit {
            Some(n) => start.saturating_add(n).min(total),
            None => total,
        };
        (start..end, (end < total).then_some(end))
    }
}

/// Where a form sends the browser back to: a path of this site, or `/`
/// (never another site: `//evil.example` or `/\evil.example` would be).
pub fn local_path(back: &str) -> &str {
    let b = back.as_bytes();
    let ok = b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
        && back.len() <= 2048
        && b.iter().all(|c| c.is_ascii_graphic());
    if ok { back } else { "/" }
}

/// Percent-encodes everything but unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 3339 in UTC, seconds precision.
pub fn rfc3339(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `2026-12-02 01:02:03 UTC`.
pub fn clock(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `45s`, `3m 12s`, `2h 5m`, `4d 3h`.
pub fn age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Seconds from `then_ms` to `now_ms` (0 if the clock went back).
pub fn secs_between(then_ms: u64, now_ms: u64) -> u64 {
    now_ms.saturating_sub(then_ms) / 1000
}

/// A configuration version as the supervisor's log and `--check` write it.
pub fn version(v: u64) -> String {
    conf::ConfigVersion(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_an_operator_says_them() {
        assert_eq!(age(45), "45s");
        assert_eq!(age(192), "3m 12s");
        assert_eq!(age(7_500), "2h 5m");
        assert_eq!(age(4 * 86_400 + 3 * 3600 + 5), "4d 3h");
    }

    #[test]
    fn pages_clamp_past_the_last_and_links_keep_the_filter() {
        let w = Window::of(450, 3, 200);
        assert_eq!((w.number, w.pages, w.start, w.end), (3, 3, 400, 450));
        let past = Window::of(450, 9, 200);
        assert_eq!((past.number, past.start, past.end), (3, 400, 450));
        let empty = Window::of(0, 1, 200);
        assert_eq!(
            (empty.number, empty.pages, empty.start, empty.end),
            (1, 1, 0, 0)
        );
        let filter = Filter {
            tag: Some("disk".into()),
            ..Filter::default()
        };
        let pages = Pages {
            hosts: 2,
            problems: 1,
        };
        assert_eq!(fleet_link(&filter, pages), "/?tag=disk&page=2");
        assert_eq!(fleet_link(&Filter::default(), Pages::default()), "/");
        let bad = PageQuery {
            page: Some("0".into()),
            problems_page: None,
        };
        assert!(
            bad.check()
                .unwrap_err()
                .contains("`page` must be a page number")
        );
        let huge = PageQuery {
            page: Some("99999999999999999999999".into()),
            problems_page: None,
        };
        assert!(huge.check().is_err());
    }

    #[test]
    fn slices_keep_old_answers_without_limit_and_say_where_the_next_starts() {
        let all = SliceQuery::default().check().unwrap();
        assert_eq!(all.range(5), (0..5, None));
        let q = SliceQuery {
            limit: Some("2".into()),
            offset: Some("2".into()),
        };
        assert_eq!(q.check().unwrap().range(5), (2..4, Some(4)));
        let past = Slice {
            offset: 9,
            limit: Some(2),
        };
        assert_eq!(past.range(5), (5..5, None));
        let zero = SliceQuery {
            limit: Some("0".into()),
            offset: None,
        };
        assert!(zero.check().unwrap_err().contains("`limit`"));
        let negative = SliceQuery {
            limit: None,
            offset: Some("-1".into()),
        };
        assert!(negative.check().is_err());
    }

    #[test]
    fn forms_send_the_browser_back_only_within_this_site() {
        assert_eq!(local_path("/hosts/web1"), "/hosts/web1");
        assert_eq!(local_path("/?tag=disk&page=2"), "/?tag=disk&page=2");
        for bad in [
            "",
            "//evil.example/",
            "/\\evil.example",
            "http://evil.example/",
            "/a b",
            "/\r\nX: y",
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn filter_query_checks_the_state_and_ignores_empty_fields() {
        let q = FilterQuery {
            host: Some("".into()),
            tag: Some("disk".into()),
            state: Some("never-seen".into()),
        };
        let f = q.check().unwrap();
        assert_eq!(f.host, None);
        assert_eq!(f.tag.as_deref(), Some("disk"));
        assert_eq!(f.state, Some(HostStatus::NeverSeen));
        assert_eq!(f.query(), "tag=disk&state=never%20seen");
        let bad = FilterQuery {
            state: Some("down".into()),
            ..FilterQuery::default()
        };
        assert!(bad.check().unwrap_err().contains("unknown state `down`"));
    }
}
