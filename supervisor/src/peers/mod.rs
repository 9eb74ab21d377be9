//! `peers:` — other supervisors' views merged into this one's window.
//!
//! * [`answer`] — a peer's `/api/v1/hosts` and `/api/v1/problems` read
//!   into bounded lists, malformed entries counted and skipped.
//! * [`merge`] — the pure merge of this supervisor's snapshot with the
//!   reachable peers' last answers.
//! * [`poll`] — one thread per peer fetching its answers with ureq.
//! * [`events`] — pages of events merged from this supervisor's history
//!   and the peers', asked when a page is asked for.
//!
//! Decisions:
//! * Peers are asked for their **own** view (`?local=true`): a peer's
//!   merged view holds ours, and two supervisors peering each other would
//!   otherwise keep a host "up" forever, each echoing the other's old view.
//! * Only reachable peers count: the last good answer of a peer that stopped
//!   answering is kept (shown in `/api/v1/peers`) but not merged, so a host
//!   is never called up on the word of a supervisor nobody can reach.
//! * Polling runs on plain threads with blocking ureq (the client the
//!   notification channels already use), never on the UDP loop nor on the
//!   HTTP runtime; the window reads a [`PeerBoard`] behind a mutex held only
//!   to copy an `Arc`.

pub mod answer;
pub mod events;
pub mod merge;
pub mod poll;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use answer::{PeerAnswer, PeerHost, PeerProblem};

/// How often each peer is asked for its view.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Longest one request to a peer may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read from a peer; the rest is refused as malformed.
pub const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;
/// Most hosts kept from one peer's answer (more are dropped and counted).
pub const MAX_PEER_HOSTS: usize = 50_000;
/// Most open problems kept from one peer's answer.
pub const MAX_PEER_PROBLEMS: usize = 50_000;
/// Longest error message kept for a peer (what the page shows).
pub const MAX_ERROR_CHARS: usize = 300;

/// Whether a peer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerReach {
    /// Not asked yet (just after start).
    Pending,
    Reachable,
    Unreachable,
}

impl PeerReach {
    pub fn name(self) -> &'static str {
        match self {
            PeerReach::Pending => "pending",
            PeerReach::Reachable => "reachable",
            PeerReach::Unreachable => "unreachable",
        }
    }
}

/// One peer as the window shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerView {
    /// The `peers:` URL (never holds credentials: conf refuses them).
    pub url: String,
    pub reach: PeerReach,
    /// When the last good answer came (Unix milliseconds).
    pub last_success_ms: Option<u64>,
    /// Since when it has not answered (first failure after a success).
    pub unreachable_since_ms: Option<u64>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Hosts and open problems in the last good answer.
    pub hosts: usize,
    pub problems: usize,
    /// Answers or entries that could not be read, since start.
    pub malformed: u64,
}

impl PeerView {
    pub fn new(url: &str) -> PeerView {
        PeerView {
            url: url.to_string(),
            reach: PeerReach::Pending,
            last_success_ms: None,
            unreachable_since_ms: None,
            error: None,
            hosts: 0,
            problems: 0,
            malformed: 0,
        }
    }
}

/// One peer: its state and its last good answer.
#[derive(Debug, Clone)]
pub struct Peer {
    pub view: PeerView,
    pub last_good: Option<Arc<PeerAnswer>>,
}

impl Peer {
    /// A good answer at `now_ms`.
    pub fn succeeded(&mut self, now_ms: u64, answer: PeerAnswer) {
        self.view.reach = PeerReach::Reachable;
        self.view.last_success_ms = Some(now_ms);
        self.view.unreachable_since_ms = None;
        self.view.error = None;
        self.view.hosts = answer.hosts.len();
        self.view.problems = answer.problems.len();
        self.view.malformed += answer.malformed;
        self.last_good = Some(Arc::new(answer));
    }

    /// A failed attempt at `now_ms`; `malformed` when the peer answered
    /// with something that is not its API.
    pub fn failed(&mut self, now_ms: u64, error: &str, malformed: bool) {
        if self.view.reach != PeerReach::Unreachable {
            self.view.unreachable_since_ms = Some(now_ms);
        }
        self.view.reach = PeerReach::Unreachable;
        self.view.error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
        if malformed {
            self.view.malformed += 1;
        }
    }
}

/// The peers' states, shared by the poller threads (writers) and the
/// window (reader). `generation` changes with every update, so the window
/// merges again only when something changed.
#[derive(Debug, Clone, Default)]
pub struct PeerBoard {
    inner: Arc<Mutex<BoardInner>>,
    /// What every request to a peer is sent with.
    auth: Option<poll::PeerAuth>,
}

#[derive(Debug, Default)]
struct BoardInner {
    generation: u64,
    peers: Arc<Vec<Peer>>,
}

impl PeerBoard {
    pub fn new(urls: &[String], auth: Option<poll::PeerAuth>) -> PeerBoard {
        let peers = urls
            .iter()
            .map(|u| Peer {
                view: PeerView::new(u),
                last_good: None,
            })
            .collect();
        PeerBoard {
            inner: Arc::new(Mutex::new(BoardInner {
                generation: 0,
                peers: Arc::new(peers),
            })),
            auth,
        }
    }

    /// The `Authorization` header peers are asked with.
    pub fn auth(&self) -> Option<&poll::PeerAuth> {
        self.auth.as_ref()
    }

    /// The peers as of now, and the generation they are.
    pub fn read(&self) -> (u64, Arc<Vec<Peer>>) {
        let inner = match self.inner.lock() {
            Ok(i) => i,
            Err(poisoned) => poisoned.into_inner(),
        };
        (inner.generation, inner.peers.clone())
    }

    /// Changes peer `index` (copying the list: readers keep theirs).
    pub fn update(&self, index: usize, change: impl FnOnce(&mut Peer)) {
        let mut inner = match self.inner.lock() {
            Ok(i) => i,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut peers = (*inner.peers).clone();
        if let Some(peer) = peers.get_mut(index) {
            change(peer);
        }
        inner.peers = Arc::new(peers);
        inner.generation += 1;
    }
}
