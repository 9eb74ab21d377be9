//! One thread per peer, asking it for its own view every
//! [`POLL_INTERVAL`]. Threads, not tasks: ureq
//! blocks, and a slow peer must delay neither the UDP loop nor the pages.
//! Stopping drops the channel each thread sleeps on; a thread in the
//! middle of a request ends after at most
//! [`REQUEST_TIMEOUT`].

use std::io::Read;
use std::sync::mpsc::{self, RecvTimeoutError};

use super::{MAX_ANSWER_BYTES, POLL_INTERVAL, PeerAnswer, PeerBoard, REQUEST_TIMEOUT};
use crate::history::query::EventPage;

/// The `Authorization` header value sent to every peer (HTTP basic, from
/// `peer_user:` and `peer_password_file:`). Its `Debug` hides it.
#[derive(Clone)]
pub struct PeerAuth(pub String);

impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerAuth(..)")
    }
}

impl PeerAuth {
    pub fn basic(user: &str, password: &str) -> PeerAuth {
        use base64::Engine;
        PeerAuth(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ))
    }
}

/// The running pollers; dropping it (or [`PeerPoller::stop`]) ends them.
#[derive(Debug)]
pub struct PeerPoller {
    stops: Vec<mpsc::Sender<()>>,
}

impl PeerPoller {
    /// Starts one thread per peer of `board`.
    pub fn start(board: &PeerBoard) -> PeerPoller {
        let (_, peers) = board.read();
        let auth = board.auth().cloned();
        let mut stops = Vec::new();
        for (index, peer) in peers.iter().enumerate() {
            let (stop, stopped) = mpsc::channel::<()>();
            let (shared, auth, url) = (board.clone(), auth.clone(), peer.view.url.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("peer-{index}"))
                .spawn(move || poll_peer(&shared, index, &url, auth.as_ref(), &stopped));
            match spawned {
                Ok(_) => stops.push(stop),
                Err(e) => {
                    tracing::error!(
                        "peers: cannot start the thread asking {}: {e}",
                        peer.view.url
                    );
                    board.update(index, |p| {
                        p.failed(
                            crate::now().wall_ms,
                            "this supervisor could not start asking it",
                            false,
                        )
                    });
                }
            }
        }
        PeerPoller { stops }
    }

    pub fn stop(self) {
        drop(self.stops);
    }
}

fn poll_peer(
    board: &PeerBoard,
    index: usize,
    url: &str,
    auth: Option<&PeerAuth>,
    stopped: &mpsc::Receiver<()>,
) {
    let agent = agent();
    let mut was_reachable = None;
    loop {
        let result = fetch(&agent, url, auth);
        let now_ms = crate::now().wall_ms;
        let reachable = result.is_ok();
        // Log changes only: a peer down for a day is one line, not 17,000.
        if was_reachable != Some(reachable) {
            match &result {
                Ok(_) => tracing::info!("peers: {url} answers"),
                Err(e) => tracing::warn!("peers: {url} cannot be reached: {}", e.message),
            }
        }
        was_reachable = Some(reachable);
        match result {
            Ok(answer) => {
                if answer.malformed > 0 {
                    tracing::debug!(
                        "peers: {url}: {} entries could not be read",
                        answer.malformed
                    );
                }
                board.update(index, |p| p.succeeded(now_ms, answer));
            }
            Err(e) => board.update(index, |p| p.failed(now_ms, &e.message, e.malformed)),
        }
        match stopped.recv_timeout(POLL_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The client every request to a peer uses.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One page of a peer's own events: `query` is the query string of
/// `/api/v1/events` (with `local=true`). At most `limit` events are kept.
pub fn fetch_events(
    agent: &ureq::Agent,
    url: &str,
    auth: Option<&PeerAuth>,
    query: &str,
    limit: usize,
) -> Result<EventPage, String> {
    let body = get(agent, &format!("{url}/api/v1/events?{query}"), auth).map_err(|e| e.message)?;
    let mut page: EventPage = serde_json::from_slice(&body)
        .map_err(|e| format!("{url}: the events answer cannot be read: {e}"))?;
    page.events.truncate(limit);
    Ok(page)
}

struct FetchError {
    message: String,
    /// The peer answered, but not with its API.
    malformed: bool,
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    auth: Option<&PeerAuth>,
) -> Result<PeerAnswer, FetchError> {
    let hosts = get(agent, &format!("{url}/api/v1/hosts?local=true"), auth)?;
    let problems = get(agent, &format!("{url}/api/v1/problems?local=true"), auth)?;
    PeerAnswer::read(&hosts, &problems).map_err(|message| FetchError {
        message,
        malformed: true,
    })
}

fn get(agent: &ureq::Agent, url: &str, auth: Option<&PeerAuth>) -> Result<Vec<u8>, FetchError> {
    let mut request = agent.get(url);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth.0.as_str());
    }
    let mut response = request.call().map_err(|e| FetchError {
        message: e.to_string(),
        malformed: false,
    })?;
    let status = response.status().as_u16();
    if status != 200 {
        let why = match status {
            401 => " (check peer_user: and peer_password_file:)",
            403 => " (the peer refuses this user)",
            _ => "",
        };
        return Err(FetchError {
            message: format!("HTTP {status} from {url}{why}"),
            malformed: false,
        });
    }
    // One byte over the cap tells a complete answer from a cut one.
    let mut body = Vec::new();
    let read = response
        .body_mut()
        .as_reader()
        .take(MAX_ANSWER_BYTES + 1)
        .read_to_end(&mut body);
    match read {
        Err(e) => Err(FetchError {
            message: format!("reading {url}: {e}"),
            malformed: false,
        }),
        Ok(n) if n as u64 > MAX_ANSWER_BYTES => Err(FetchError {
            message: format!("{url}: the answer is larger than {MAX_ANSWER_BYTES} bytes"),
            malformed: true,
        }),
        Ok(_) => Ok(body),
    }
}
