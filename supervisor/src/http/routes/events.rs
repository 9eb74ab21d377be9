//! `GET /events` (HTML) and `GET /api/v1/events` (JSON): a search of the
//! history database. With `peers:` (and without `?local=true`, which is how
//! peers ask) one page is merged from this supervisor's history and every
//! peer's ([`crate::peers::events`]): the peers are asked at once, each on
//! the blocking pool, while this supervisor's own search runs.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::{AppState, Shared, bad_page, bad_query, json, off_loop};
use crate::history::query::{EventPage, EventQuery};
use crate::http::history_view::{EventsQuery, peer_query};
use crate::http::{api, pages};
use crate::peers::PeerReach;
use crate::peers::events::{MergedPage, Position, SourcePage, merge_pages};
use crate::peers::poll::{agent, fetch_events};

/// What a search found.
enum Found {
    /// The query string is wrong (400).
    Bad(String),
    /// This supervisor keeps no history (503).
    Unavailable(String),
    /// This supervisor's own events: `next` is a number.
    Local(EventPage),
    /// Merged with the peers': `next` is a string of positions.
    Merged(MergedPage),
}

/// Runs an event search of this supervisor's history on the blocking pool.
async fn search_events(
    state: &AppState,
    search: EventQuery,
) -> Result<Result<EventPage, String>, Response> {
    let Some(history) = state.history.clone() else {
        return Ok(Err("this supervisor keeps no history database".into()));
    };
    off_loop(move || history.events(&search).map_err(|e| e.to_string())).await
}

async fn find_events(state: &AppState, query: &EventsQuery) -> Result<Found, Response> {
    let local = match query.local() {
        Ok(l) => l,
        Err(e) => return Ok(Found::Bad(e)),
    };
    let board = match &state.peers {
        Some(board) if !local => board,
        _ => {
            let search = match query.check() {
                Ok(s) => s,
                Err(e) => return Ok(Found::Bad(e)),
            };
            return Ok(match search_events(state, search).await? {
                Ok(page) => Found::Local(page),
                Err(e) => Found::Unavailable(e),
            });
        }
    };
    let (_, peers) = board.read();
    let (search, cursor) = match query.check_merged(peers.len() + 1) {
        Ok(c) => c,
        Err(e) => return Ok(Found::Bad(e)),
    };
    let after = |p: Position| match p {
        Position::After(n) => Some(n),
        Position::Newest | Position::Done => None,
    };

    // The peers first, so their requests run while this supervisor searches.
    enum Asked {
        Skipped,
        Failed(String),
        Asking(tokio::task::JoinHandle<Result<EventPage, String>>),
    }
    let client = agent();
    let asked: Vec<Asked> = peers
        .iter()
        .zip(&cursor.0[1..])
        .map(|(peer, &position)| {
            if position == Position::Done {
                return Asked::Skipped;
            }
            // A peer the poller cannot reach would only cost a timeout.
            if peer.view.reach == PeerReach::Unreachable {
                return Asked::Failed(peer.view.error.clone().unwrap_or_default());
            }
            let (client, url, auth) =
                (client.clone(), peer.view.url.clone(), board.auth().cloned());
            let query = peer_query(&search, after(position));
            let limit = search.limit;
            Asked::Asking(tokio::task::spawn_blocking(move || {
                fetch_events(&client, &url, auth.as_ref(), &query, limit)
            }))
        })
        .collect();

    let own = match cursor.0[0] {
        Position::Done => None,
        position => {
            let mine = EventQuery {
                after: after(position),
                ..search.clone()
            };
            match search_events(state, mine).await? {
                Ok(page) => Some(Ok(page)),
                Err(e) => return Ok(Found::Unavailable(e)),
            }
        }
    };
    let name = state.local_snapshot().await.supervisor.name.clone();
    let mut sources = vec![SourcePage { name, page: own }];
    for (peer, asked) in peers.iter().zip(asked) {
        let page = match asked {
            Asked::Skipped => None,
            Asked::Failed(e) => Some(Err(e)),
            Asked::Asking(handle) => Some(
                handle
                    .await
                    .unwrap_or_else(|_| Err("the request to the peer failed".into())),
            ),
        };
        sources.push(SourcePage {
            name: peer.view.url.clone(),
            page,
        });
    }
    let limit = search.limit;
    Ok(Found::Merged(
        off_loop(move || merge_pages(&cursor, sources, limit)).await?,
    ))
}

pub(super) async fn events_page(
    State(state): State<Shared>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let snapshot = state.snapshot().await;
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_page(&state, &snapshot, &e.body_text()),
    };
    let (status, result) = match find_events(&state, &query).await {
        Err(r) => return r,
        Ok(Found::Bad(e)) => return bad_page(&state, &snapshot, &e),
        Ok(Found::Unavailable(e)) => (StatusCode::SERVICE_UNAVAILABLE, Err(e)),
        Ok(Found::Local(page)) => (StatusCode::OK, Ok(MergedPage::from(page))),
        Ok(Found::Merged(page)) => (StatusCode::OK, Ok(page)),
    };
    (status, Html(pages::events(&snapshot, &query, &result))).into_response()
}

/// `GET /api/v1/events`: newest first; `next` is the `after` of the next
/// (older) page, `null` on the last.
pub(super) async fn api_events(
    State(state): State<Shared>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(&state, e.body_text()),
    };
    match find_events(&state, &query).await {
        Err(r) => r,
        Ok(Found::Bad(e)) => bad_query(&state, e),
        Ok(Found::Unavailable(e)) => json(StatusCode::SERVICE_UNAVAILABLE, api::error(&e)),
        Ok(Found::Local(page)) => json(StatusCode::OK, page),
        Ok(Found::Merged(page)) => json(StatusCode::OK, page),
    }
}
