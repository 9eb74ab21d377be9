//! The HTML pages, rendered by the server with maud (compile-time
//! templates: a typo in a page is a build error, and every value is
//! escaped). Pure: snapshot, filter and `now` in, HTML out. The pages work
//! without JavaScript; `live.js` (served from `/static/live.js`, no outside
//! fetch) re-fetches the page every few seconds and swaps its `<main>`.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::history_view::{self, EventsQuery, HostHistory};
use super::peer_view;
use super::refusal::HttpCounts;
use super::view::{
    FLEET_PAGE_ROWS, Filter, Pages, Window, age, clock, fleet_link, secs_between, url_encode,
    version,
};
use crate::fleet::{FleetSnapshot, HostStatus, HostView, Problem};
use crate::history::query::HistoryHealth;
use crate::peers::events::MergedPage;

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}\
header{background:#234;color:#fff;padding:.5em 1em}header a{color:#fff;margin-right:1em}\
main{padding:1em}table{border-collapse:collapse;width:100%;margin-bottom:1.5em}\
th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#f3f3f3}.up{color:#176d2b}.inactive,.no-config{color:#b00020;font-weight:bold}\
.stopped,.never-seen{color:#8a6100}.err{color:#b00020}.muted{color:#777}\
.counts span{display:inline-block;margin-right:1.5em}form.filter input,form.filter select{margin-right:.5em}\
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{text-align:center;color:#555}\
form.ack{display:flex;gap:.3em}details.ack-edit summary{cursor:pointer;color:#555;font-size:.9em}form.ack input{width:12em}.pager{margin:.5em 0}.pager a{margin:0 .5em}";

fn css_class(status: HostStatus) -> &'static str {
    match status {
        HostStatus::Up => "up",
        HostStatus::Inactive => "inactive",
        HostStatus::Stopped => "stopped",
        HostStatus::NeverSeen => "never-seen",
        HostStatus::NoConfig => "no-config",
    }
}

fn layout(title: &str, snapshot: &FleetSnapshot, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — 436 " (snapshot.supervisor.name) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a href="/" { "Fleet" }
                    a href="/events" { "Events" }
                    a href="/supervisor" { "Supervisor " (snapshot.supervisor.name) }
                    a href="/api/v1/hosts" { "API" }
                    a href="/metrics" { "Metrics" }
                }
                main { (body) }
                script src="/static/live.js" {}
            }
        }
    }
    .into_string()
}

fn when(ms: u64, now_ms: u64) -> Markup {
    html! {
        span title=(clock(ms)) { (clock(ms)) " " span.muted { "(" (age(secs_between(ms, now_ms))) " ago)" } }
    }
}

/// Whether the person looking may act, and where an action's form sends
/// the browser back to (the page it is on).
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    pub can_acknowledge: bool,
    pub back: &'a str,
}

/// The acknowledge form of problem `p`: a plain form that works without
/// JavaScript, posts to this site only, and whose answer sends the browser
/// back to this page. `note` is the note it starts with.
fn ack_form(p: &Problem, acting: Acting<'_>, note: &str, button: &str) -> Markup {
    html! {
        form.ack method="post" action={ "/problems/" (url_encode(&p.id)) "/ack" } {
            input type="hidden" name="back" value=(acting.back);
            input name="note" placeholder="note" value=(note) aria-label={ "note for " (p.id) } maxlength="1000";
            button type="submit" { (button) }
        }
    }
}

fn acknowledgement_cell(p: &Problem, acting: Acting<'_>, now_ms: u64) -> Markup {
    html! {
        @if let Some(a) = &p.acknowledged {
            span.ack { "acknowledged by " (a.by) } " " (when(a.at_ms, now_ms))
            @if !a.note.is_empty() { br; q { (a.note) } }
            @if p.from.is_none() && acting.can_acknowledge {
                // Acknowledging again replaces the note (and who and when).
                details.ack-edit {
                    summary { "change note" }
                    (ack_form(p, acting, &a.note, "Save note"))
                }
            }
        } @else if let Some(peer) = &p.from {
            // This supervisor cannot acknowledge a peer's problem: the
            // peer's page can.
            a href=(peer) { "on its supervisor" }
        } @else if acting.can_acknowledge {
            (ack_form(p, acting, "", "Acknowledge"))
        } @else {
            span.muted { "—" }
        }
    }
}

/// `local`: with `peers:`, this supervisor's name, and a "From" column.
fn problems_table(
    problems: &[&Problem],
    acting: Acting<'_>,
    local: Option<&str>,
    now_ms: u64,
) -> Markup {
    html! {
        @if problems.is_empty() {
            p.muted { "No open problems." }
        } @else {
            table {
                tr { th { "Host" } th { "Check" } th { "Tags" } th { "Since" } th { "Message" } th { "Acknowledged" } @if local.is_some() { th { "From" } } }
                @for p in problems {
                    tr {
                        td { a href={ "/hosts/" (url_encode(&p.host)) } { (p.host) } }
                        td { (p.check) }
                        td { (p.tags.join(",")) }
                        td { (when(p.opened_ms, now_ms)) }
                        td { (p.message) }
                        td { (acknowledgement_cell(p, acting, now_ms)) }
                        @if let Some(local) = local { td.from { (p.from.as_deref().unwrap_or(local)) } }
                    }
                }
            }
        }
    }
}

/// Links to the previous and next page of one list, keeping the filter and
/// the other list's page; nothing when everything fits on one page.
fn pager(window: Window, link: impl Fn(usize) -> String) -> Markup {
    html! {
        @if window.pages > 1 {
            p.pager {
                @if window.number > 1 { a rel="prev" href=(link(window.number - 1)) { "« previous" } }
                "page " (window.number) " of " (window.pages)
                " (" (window.start + 1) "–" (window.end) " of " (window.total) ")"
                @if window.number < window.pages { a rel="next" href=(link(window.number + 1)) { "next »" } }
            }
        }
    }
}

fn config_cell(h: &HostView) -> Markup {
    html! {
        @match (h.config_version, h.has_file) {
            (Some(v), _) => {
                code { (version(v)) }
                @if h.running_version.is_some() && h.running_version != Some(v) {
                    " " span.err { "(runs " (h.running_version.map(version).unwrap_or_default()) ")" }
                }
            },
            (None, true) => span.err { "file unreadable" },
            (None, false) => span.err { "no file" },
        }
        @for e in &h.config_errors {
            br; span.err { (e) }
        }
    }
}

/// `peers`: with `peers:`, a "Heard by" column.
fn hosts_table(hosts: &[&HostView], peers: bool, now_ms: u64) -> Markup {
    html! {
        table {
            tr { th { "Host" } th { "State" } th { "Since" } th { "Last heard" } th { "Configuration" } th { "Spool" } th { "Supervisor" } @if peers { th { "Heard by" } } }
            @for h in hosts {
                tr {
                    td { a href={ "/hosts/" (url_encode(&h.name)) } { (h.name) } }
                    td class=(css_class(h.status)) { (h.status.name()) }
                    td { (when(h.since_ms, now_ms)) }
                    td { @if let Some(t) = h.last_heard_ms { (when(t, now_ms)) } @else { span.muted { "never" } } }
                    td { (config_cell(h)) }
                    td { @if let Some(n) = h.spool_backlog { (n) } @else { span.muted { "—" } } }
                    td { @if let Some(s) = &h.chosen_supervisor { (s) } @else { span.muted { "—" } } }
                    @if peers { td.heard-by { (h.heard_by.join(", ")) } }
                }
            }
        }
    }
}

/// `/`: counts of the whole fleet, then one page of the open problems and
/// one page of the hosts the filter keeps ([`FLEET_PAGE_ROWS`] each), with
/// an acknowledge form on each unacknowledged problem for an operator.
pub fn fleet(
    s: &FleetSnapshot,
    filter: &Filter,
    pages: Pages,
    can_acknowledge: bool,
    now_ms: u64,
) -> String {
    let problems: Vec<&Problem> = s
        .problems
        .iter()
        .filter(|p| filter.problem_matches(p, s))
        .collect();
    let hosts: Vec<&HostView> = s
        .hosts
        .iter()
        .filter(|h| filter.host_matches(h, s))
        .collect();
    let problem_window = Window::of(problems.len(), pages.problems, FLEET_PAGE_ROWS);
    let host_window = Window::of(hosts.len(), pages.hosts, FLEET_PAGE_ROWS);
    // The page as shown (a page past the last is shown as the last).
    let shown = Pages {
        hosts: host_window.number,
        problems: problem_window.number,
    };
    let back = fleet_link(filter, shown);
    let acting = Acting {
        can_acknowledge,
        back: &back,
    };
    let local = peer_view::has_peers(s).then_some(s.supervisor.name.as_str());
    let body = html! {
        h1 { "Fleet" }
        (peer_view::banner(s, now_ms))
        p.counts {
            @for (status, n) in s.counts() {
                span { a href={ "/?state=" (url_encode(status.name())) } { (status.name()) } ": " strong class=(css_class(status)) { (n) } }
            }
            span { "open problems: " strong { (s.problems.len()) } }
        }
        form.filter method="get" action="/" {
            input name="host" placeholder="host" value=(filter.host.clone().unwrap_or_default());
            input name="tag" placeholder="tag" value=(filter.tag.clone().unwrap_or_default());
            select name="state" {
                option value="" { "any state" }
                @for status in HostStatus::ALL {
                    option value=(status.name()) selected[filter.state == Some(status)] { (status.name()) }
                }
            }
            button type="submit" { "Filter" }
            @if !filter.is_empty() { " " a href="/" { "clear" } }
        }
        h2 { "Open problems" }
        (problems_table(&problems[problem_window.start..problem_window.end], acting, local, now_ms))
        (pager(problem_window, |n| fleet_link(filter, Pages { problems: n, ..shown })))
        h2 { "Hosts (" (hosts.len()) " of " (s.hosts.len()) ")" }
        (hosts_table(&hosts[host_window.start..host_window.end], local.is_some(), now_ms))
        (pager(host_window, |n| fleet_link(filter, Pages { hosts: n, ..shown })))
        p.muted { "As of " (clock(s.taken_ms)) "." }
    };
    layout("Fleet", s, body)
}

/// `/hosts/NAME`, or `None` when the supervisor does not know it;
/// `history` adds availability, charts and recent events; an operator
/// gets an acknowledge form on each unacknowledged problem.
pub fn host(
    s: &FleetSnapshot,
    name: &str,
    now_ms: u64,
    history: Option<&HostHistory>,
    can_acknowledge: bool,
) -> Option<String> {
    let h = s.host(name)?;
    let problems: Vec<&Problem> = s.problems.iter().filter(|p| p.host == h.name).collect();
    let back = format!("/hosts/{}", url_encode(&h.name));
    let acting = Acting {
        can_acknowledge,
        back: &back,
    };
    let body = html! {
        h1 { (h.name) " " span class=(css_class(h.status)) { (h.status.name()) } }
        table {
            tr { th { "State since" } td { (when(h.since_ms, now_ms)) } }
            tr { th { "Last heard" } td { @if let Some(t) = h.last_heard_ms { (when(t, now_ms)) } @else { "never" } } }
            tr { th { "Address" } td { (h.address.map(|a| a.to_string()).unwrap_or_else(|| "—".into())) } }
            tr { th { "Configuration" } td { (config_cell(h)) } }
            tr { th { "Tags" } td { (h.tags.iter().map(String::as_str).collect::<Vec<_>>().join(", ")) } }
            tr { th { "Spool backlog" } td { (h.spool_backlog.map(|n| n.to_string()).unwrap_or_else(|| "—".into())) } }
            tr { th { "Observer uptime" } td { (h.uptime_secs.map(age).unwrap_or_else(|| "—".into())) } }
            tr { th { "Supervisor in use" } td { (h.chosen_supervisor.clone().unwrap_or_else(|| "—".into())) } }
        }
        h2 { "Open problems" }
        (problems_table(&problems, acting, peer_view::has_peers(s).then_some(s.supervisor.name.as_str()), now_ms))
        h2 { "Metrics (last values)" }
        @if h.metrics.is_empty() {
            p.muted { "No metric events received since the supervisor started." }
        } @else {
            table {
                tr { th { "Tags" } th { "Value" } th { "Received" } }
                @for m in &h.metrics {
                    tr { td { (m.tags) } td { (m.value) } td { (when(m.at_ms, now_ms)) } }
                }
            }
        }
        @if let Some(history) = history {
            (history_view::host_section(history, &h.name, now_ms as i64))
        }
    };
    Some(layout(&h.name, s, body))
}

/// `/supervisor`: counters, the stream file and its health, HTTP refusals,
/// the history database.
pub fn supervisor(
    s: &FleetSnapshot,
    http: &HttpCounts,
    history: Option<&HistoryHealth>,
    now_ms: u64,
) -> String {
    let v = &s.supervisor;
    let c = &v.counters;
    let rows: [(&str, u64); 11] = [
        ("datagrams received", c.datagrams_received),
        ("events written", c.events_written),
        ("duplicates", c.duplicates),
        ("system events", c.system_events),
        ("acknowledgements sent", c.acks_sent),
        ("resets sent", c.resets_sent),
        ("configuration requests", c.config_requests),
        ("configuration chunks sent", c.chunks_sent),
        ("stream write failures", c.stream_write_failures),
        ("send failures", c.send_failures),
        ("system lines dropped", c.system_lines_dropped),
    ];
    let body = html! {
        h1 { "Supervisor " (v.name) }
        table {
            tr { th { "Version" } td { (v.version) } }
            tr { th { "Running since" } td { @if v.started_ms > 0 { (when(v.started_ms, now_ms)) } } }
            tr { th { "Hosts with a file" } td { (v.hosts_known) " (" (v.hosts_alive) " not inactive)" } }
            tr { th { "Event stream" } td { code { (v.stream_path) } } }
            tr { th { "Stream size" } td { (v.stream_bytes.map(|b| format!("{b} bytes")).unwrap_or_else(|| "—".into())) } }
            tr { th { "Stream health" } td {
                @if v.stream_writable { span.up { "writable" } }
                @else { span.err { "FAILING: events are not acknowledged until it is writable" } }
            } }
        }
        h2 { "Counters" }
        table {
            @for (name, n) in rows { tr { th { (name) } td { (n) } } }
            @for (kind, n) in &c.accepted { tr { th { "datagrams: " (kind) } td { (n) } } }
            @for (reason, n) in &c.dropped { tr { th { "dropped: " (reason) } td { (n) } } }
        }
        @if let Some(channels) = &v.notify_channels {
            h2 { "Notification channels" }
            @if channels.is_empty() { p.muted { "No channel has been used yet." } }
            @else {
                table {
                    tr { th { "Channel" } th { "State" } th { "Waiting" } th { "Delivered" } th { "Rejected" } th { "Expired" } th { "Last error" } }
                    @for ch in channels {
                        tr {
                            td { (ch.channel) }
                            td { @if ch.is_failing() { span.err { "FAILING (" (ch.consecutive_failures) " attempts)" } } @else { span.up { "ok" } } }
                            td { (ch.pending) }
                            td { (ch.delivered) }
                            td { (ch.rejected) }
                            td { (ch.expired) }
                            td { @if let Some(e) = &ch.last_error { (e) } @else { span.muted { "—" } } }
                        }
                    }
                }
            }
        }
        h2 { "HTTP" }
        table {
            tr { th { "requests" } td { (http.requests) } }
            tr { th { "connections" } td { (http.connections) } }
            @for (reason, n) in &http.refusals { tr { th { "refused: " (reason) } td { (n) } } }
        }
        (peer_view::table(s, now_ms))
        (history_view::supervisor_section(history))
    };
    layout("Supervisor", s, body)
}

/// `/events`: the search form and one page of results.
pub fn events(
    s: &FleetSnapshot,
    query: &EventsQuery,
    result: &Result<MergedPage, String>,
) -> String {
    layout("Events", s, history_view::events_body(query, result))
}

/// A page for an error status.
pub fn error(s: &FleetSnapshot, title: &str, message: &str) -> String {
    layout(
        title,
        s,
        html! { h1 { (title) } p { (message) } p { a href="/" { "Back to the fleet" } } },
    )
}

/// A page for an error status of a form, with a link back to the page the
/// form was on (`back`, a path of this site).
pub fn error_back(s: &FleetSnapshot, title: &str, message: &str, back: &str) -> String {
    layout(
        title,
        s,
        html! { h1 { (title) } p { (message) } p { a href=(back) { "Back" } } },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> FleetSnapshot {
        let mut s = FleetSnapshot::empty("sup1");
        let base = HostView {
            name: String::new(),
            status: HostStatus::Up,
            since_ms: 1_000_000,
            last_heard_ms: Some(1_050_000),
            address: None,
            has_file: true,
            config_version: Some(1),
            running_version: Some(1),
            config_errors: vec![],
            tags: std::sync::Arc::new(["web".to_string()].into()),
            spool_backlog: Some(4),
            uptime_secs: Some(60),
            chosen_supervisor: None,
            protocol: None,
            metrics: vec![],
            metric_series_refused: 0,
            heard_by: Vec::new(),
        };
        s.hosts = vec![
            HostView {
                name: "db<1>".into(),
                status: HostStatus::Inactive,
                tags: std::sync::Arc::new(["db".to_string()].into()),
                config_errors: vec!["hosts/db:2: unknown directive `x:`".into()],
                ..base.clone()
            },
            HostView {
                name: "web1".into(),
                ..base
            },
        ];
        s.problems = vec![Problem {
            id: "db<1>/disk".into(),
            host: "db<1>".into(),
            check: "disk".into(),
            tags: vec!["disk".into()],
            message: "Root file system nearly full".into(),
            opened_ms: 1_000_000,
            last_value: Some(97.0),
            acknowledged: None,
            from: None,
        }];
        s
    }

    #[test]
    fn fleet_page_shows_problems_before_hosts_and_escapes_names() {
        let html = fleet(
            &snapshot(),
            &Filter::default(),
            Pages::default(),
            false,
            1_060_000,
        );
        let problems = html.find("Root file system nearly full").unwrap();
        let hosts = html.find("Hosts (2 of 2)").unwrap();
        assert!(problems < hosts);
        assert!(html.contains("db&lt;1&gt;"), "{html}");
        assert!(!html.contains("db<1>"));
        assert!(html.contains("unknown directive `x:`"));
        assert!(html.contains("(10s ago)"), "{html}");
        assert!(html.contains("<script src=\"/static/live.js\">"));
    }

    #[test]
    fn fleet_page_filter_by_state_keeps_matching_hosts() {
        let filter = Filter {
            state: Some(HostStatus::Up),
            ..Filter::default()
        };
        let html = fleet(&snapshot(), &filter, Pages::default(), false, 1_060_000);
        assert!(html.contains("Hosts (1 of 2)"), "{html}");
        assert!(html.contains("/hosts/web1"));
        assert!(
            !html.contains("Root file system"),
            "problem of an inactive host filtered out"
        );
        let by_tag = Filter {
            tag: Some("disk".into()),
            ..Filter::default()
        };
        let html = fleet(&snapshot(), &by_tag, Pages::default(), false, 1_060_000);
        assert!(
            html.contains("Hosts (1 of 2)") && html.contains("Root file system"),
            "{html}"
        );
    }

    #[test]
    fn host_page_lists_its_problems_and_unknown_host_is_none() {
        let html = host(&snapshot(), "db<1>", 1_060_000, None, false).unwrap();
        assert!(html.contains("Root file system nearly full"));
        assert!(html.contains("inactive"));
        assert!(host(&snapshot(), "nope", 0, None, true).is_none());
    }

    #[test]
    fn an_operator_gets_an_acknowledge_form_that_comes_back_to_the_page_and_a_viewer_none() {
        let filter = Filter {
            tag: Some("disk".into()),
            ..Filter::default()
        };
        let operator = fleet(&snapshot(), &filter, Pages::default(), true, 1_060_000);
        assert!(
            operator.contains(
                "<form class=\"ack\" method=\"post\" action=\"/problems/db%3C1%3E%2Fdisk/ack\">"
            ),
            "{operator}"
        );
        assert!(
            operator.contains("<input type=\"hidden\" name=\"back\" value=\"/?tag=disk\">"),
            "{operator}"
        );
        let viewer = fleet(&snapshot(), &filter, Pages::default(), false, 1_060_000);
        assert!(!viewer.contains("<form class=\"ack\""), "{viewer}");
        let host_page = host(&snapshot(), "db<1>", 1_060_000, None, true).unwrap();
        assert!(
            host_page.contains("name=\"back\" value=\"/hosts/db%3C1%3E\""),
            "{host_page}"
        );
    }

    #[test]
    fn an_acknowledged_problem_shows_who_when_and_the_note_and_an_operator_may_change_it() {
        let mut s = snapshot();
        s.problems[0].acknowledged = Some(crate::fleet::Acknowledgement {
            by: "otto".into(),
            at_ms: 1_050_000,
            note: "new disk <ordered>".into(),
        });
        let html = fleet(&s, &Filter::default(), Pages::default(), false, 1_060_000);
        assert!(html.contains("acknowledged by otto"), "{html}");
        assert!(html.contains("new disk &lt;ordered&gt;"), "{html}");
        assert!(!html.contains("<form class=\"ack\""), "{html}");
        assert!(!html.contains("change note"), "{html}");
        // An operator: the same form, folded, starting from the note.
        let html = fleet(&s, &Filter::default(), Pages::default(), true, 1_060_000);
        assert!(
            html.contains("<details class=\"ack-edit\"><summary>change note</summary><form class=\"ack\" method=\"post\" action=\"/problems/db%3C1%3E%2Fdisk/ack\">"),
            "{html}"
        );
        assert!(
            html.contains("value=\"new disk &lt;ordered&gt;\""),
            "{html}"
        );
        assert!(html.contains(">Save note</button>"), "{html}");
    }

    #[test]
    fn a_large_fleet_is_shown_a_page_at_a_time_with_the_counts_of_all() {
        let mut s = snapshot();
        let template = s.hosts[1].clone();
        s.hosts = (0..450)
            .map(|i| HostView {
                name: format!("h{i:04}"),
                ..template.clone()
            })
            .collect();
        s.problems.clear();
        let filter = Filter {
            host: Some("h0".into()),
            ..Filter::default()
        };
        let pages = Pages {
            hosts: 2,
            problems: 1,
        };
        let html = fleet(&s, &filter, pages, false, 1_060_000);
        assert!(
            html.contains("up</a>: <strong class=\"up\">450</strong>"),
            "{html}"
        );
        assert!(html.contains("Hosts (450 of 450)"), "{html}");
        assert!(html.contains("page 2 of 3 (201–400 of 450)"), "{html}");
        assert!(!html.contains("/hosts/h0199\""));
        assert!(html.contains("/hosts/h0200\"") && html.contains("/hosts/h0399\""));
        assert!(!html.contains("/hosts/h0400\""));
        assert!(html.contains("rel=\"prev\" href=\"/?host=h0\""), "{html}");
        assert!(
            html.contains("rel=\"next\" href=\"/?host=h0&amp;page=3\""),
            "{html}"
        );
        // Past the last page: the last.
        let past = fleet(
            &s,
            &filter,
            Pages {
                hosts: 9,
                problems: 1,
            },
            false,
            1_060_000,
        );
        assert!(past.contains("page 3 of 3 (401–450 of 450)"), "{past}");
    }

    #[test]
    fn supervisor_page_warns_when_the_stream_fails() {
        let mut s = snapshot();
        s.supervisor.stream_writable = false;
        let html = supervisor(&s, &HttpCounts::default(), None, 0);
        assert!(html.contains("FAILING"));
    }

    #[test]
    fn unreachable_peers_are_a_banner_and_peer_problems_say_where_they_come_from() {
        use crate::peers::{PeerReach, PeerView};
        let mut s = snapshot();
        let mut up = PeerView::new("http://a:9436");
        up.reach = PeerReach::Reachable;
        let mut down = PeerView::new("http://c:9436");
        down.reach = PeerReach::Unreachable;
        down.unreachable_since_ms = Some(1_000_000);
        down.error = Some("connection refused".into());
        s.peers = vec![up, down];
        s.problems[0].from = Some("http://a:9436".into());
        let html = fleet(&s, &Filter::default(), Pages::default(), true, 1_060_000);
        assert!(
            html.contains("Peer <code>http://c:9436</code> cannot be reached"),
            "{html}"
        );
        assert!(!html.contains("Peer <code>http://a:9436</code>"), "{html}");
        assert!(
            html.contains("<td class=\"from\">http://a:9436</td>"),
            "{html}"
        );
        // A peer's problem is acknowledged on its own supervisor.
        assert!(!html.contains("<form class=\"ack\""), "{html}");
        let page = supervisor(&s, &HttpCounts::default(), None, 1_060_000);
        assert!(page.contains("<h2>Peers</h2>"), "{page}");
        assert!(
            page.contains("UNREACHABLE") && page.contains("connection refused"),
            "{page}"
        );
    }

    #[test]
    fn without_peers_the_pages_have_no_peer_parts() {
        let s = snapshot();
        let html = fleet(&s, &Filter::default(), Pages::default(), true, 1_060_000);
        assert!(!html.contains("Heard by") && !html.contains("<th>From</th>"));
        let page = supervisor(&s, &HttpCounts::default(), None, 0);
        assert!(!page.contains("Peers"));
    }
}
