//! The peers on the pages: a banner on the fleet page for every peer that
//! cannot be reached (its hosts and problems are then missing from the
//! page, which the reader must know), and the peers table of
//! `/supervisor`. Pure: snapshot and `now` in, HTML out.

use maud::{Markup, html};

use super::view::{age, clock, secs_between};
use crate::fleet::FleetSnapshot;
use crate::peers::{PeerReach, PeerView};

fn ago(ms: u64, now_ms: u64) -> Markup {
    html! { (clock(ms)) " " span.muted { "(" (age(secs_between(ms, now_ms))) " ago)" } }
}

/// One warning per unreachable peer; nothing when all answer.
pub fn banner(s: &FleetSnapshot, now_ms: u64) -> Markup {
    let down: Vec<&PeerView> = s
        .peers
        .iter()
        .filter(|p| p.reach == PeerReach::Unreachable)
        .collect();
    html! {
        @for p in down {
            p.err.peer-down role="alert" {
                "Peer " code { (p.url) } " cannot be reached"
                @if let Some(t) = p.unreachable_since_ms { " since " (ago(t, now_ms)) }
                ": its hosts and problems are not shown."
                @if let Some(e) = &p.error { " " span.muted { (e) } }
            }
        }
    }
}

/// Whether problem rows need a "From" column.
pub fn has_peers(s: &FleetSnapshot) -> bool {
    !s.peers.is_empty()
}

/// `/supervisor`'s peers table; nothing without `peers:`.
pub fn table(s: &FleetSnapshot, now_ms: u64) -> Markup {
    html! {
        @if !s.peers.is_empty() {
            h2 { "Peers" }
            table.peers {
                tr { th { "URL" } th { "State" } th { "Last success" } th { "Hosts" } th { "Problems" } th { "Unreadable" } th { "Error" } }
                @for p in &s.peers {
                    tr {
                        td { code { (p.url) } }
                        td {
                            @match p.reach {
                                PeerReach::Reachable => span.up { "reachable" },
                                PeerReach::Pending => span.muted { "not asked yet" },
                                PeerReach::Unreachable => span.err {
                                    "UNREACHABLE"
                                    @if let Some(t) = p.unreachable_since_ms { " since " (ago(t, now_ms)) }
                                },
                            }
                        }
                        td { @if let Some(t) = p.last_success_ms { (ago(t, now_ms)) } @else { span.muted { "never" } } }
                        td { (p.hosts) }
                        td { (p.problems) }
                        td { (p.malformed) }
                        td { @if let Some(e) = &p.error { (e) } @else { span.muted { "—" } } }
                    }
                }
            }
        }
    }
}
