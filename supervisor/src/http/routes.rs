//! The router: which path renders what, and the guard in front of all of
//! them.
//!
//! The guard, for every request:
//! 1. **Who**: with a users file, HTTP basic authentication is required
//!    (`401` and `WWW-Authenticate` otherwise). Basic authentication sends
//!    the password with every request, readable by anyone on the path:
//!    beyond loopback, use `http_tls:`. Without a users file (allowed on
//!    loopback only) everyone local may read and act.
//! 2. **Actions** (any method but GET and HEAD) need the `operator` role
//!    and must not come from another site: a browser sends its basic
//!    credentials with a form posted from any page, so a request whose
//!    `Sec-Fetch-Site` is not `same-origin` or `none`, or whose `Origin`
//!    names another host than `Host`, is refused (`403`). Clients that
//!    send neither header (curl, scripts) are not browsers and pass.
//!    The pages' own forms (`POST /problems/ID/ack`) pass through the same
//!    guard: a browser sends `Sec-Fetch-Site: same-origin` and its own
//!    `Origin` with them, so no token is needed to tell them apart from a
//!    form on another site, and they work without JavaScript.
//!
//! Every refusal is counted by [`Refusal::reason`].

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use tokio::sync::Semaphore;

use super::history_view::HostHistory;
use super::refusal::{HttpCounters, Refusal};
use super::users::{CredentialCache, Role, Users};
use super::view::{Filter, FilterQuery, PageQuery, Slice, SliceQuery};
use super::{api, metrics, pages};
use crate::fleet::{AckRequest, FleetSnapshot, SnapshotReader};
use crate::history::HistoryReader;
use crate::peers::PeerBoard;
use crate::peers::merge::merge;

/// Who made a request: the user name of its credentials (`local` without
/// a users file) and their role, which decides the forms a page shows.
#[derive(Debug, Clone)]
struct Who {
    name: String,
    role: Role,
}

impl Who {
    fn can_act(&self) -> bool {
        self.role >= Role::Operator
    }
}

/// Password checks (Argon2, tens of milliseconds each) run at once at most;
/// more wait. Keeps a guessing client from taking every core.
const PARALLEL_PASSWORD_CHECKS: usize = 2;

/// Shared by every request.
pub struct AppState {
    snapshots: SnapshotReader,
    acks: tokio::sync::mpsc::Sender<AckRequest>,
    /// Replaced when `ax436.conf` is reloaded ([`AppState::set_users`]).
    users: RwLock<Option<Arc<Users>>>,
    cache: Mutex<CredentialCache>,
    checks: Semaphore,
    counters: Arc<HttpCounters>,
    history: Option<Arc<HistoryReader>>,
    /// `peers:`: their states, written by the poller threads.
    peers: Option<PeerBoard>,
    /// The last merged snapshot, with the local snapshot and the board
    /// generation it was made from: merged again only when either changed.
    merged: Mutex<Option<MergedCache>>,
    /// `/api/v1/hosts` without filter or limit, the largest document (all
    /// hosts: 3.7 MB with 10,000), written once per snapshot.
    whole_fleet: DocumentCache,
}

/// One document kept with the snapshot it was written from: served again
/// while that snapshot is the current one (at most 3 s, see
/// [`SnapshotReader::fresh`]), so a dashboard polling the whole fleet costs
/// one serialisation per snapshot, not one per request.
#[derive(Default)]
struct DocumentCache(Mutex<Option<(Arc<FleetSnapshot>, Bytes)>>);

impl DocumentCache {
    fn get(&self, snapshot: &Arc<FleetSnapshot>) -> Option<Bytes> {
        let cached = self.0.lock().ok()?;
        match cached.as_ref() {
            Some((s, body)) if Arc::ptr_eq(s, snapshot) => Some(body.clone()),
            _ => None,
        }
    }

    fn put(&self, snapshot: Arc<FleetSnapshot>, body: Bytes) {
        if let Ok(mut cached) = self.0.lock() {
            *cached = Some((snapshot, body));
        }
    }
}

struct MergedCache {
    local: Arc<FleetSnapshot>,
    generation: u64,
    merged: Arc<FleetSnapshot>,
}

impl AppState {
    pub fn new(
        snapshots: SnapshotReader,
        acks: tokio::sync::mpsc::Sender<AckRequest>,
        users: Option<Users>,
        counters: Arc<HttpCounters>,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            snapshots,
            acks,
            users: RwLock::new(users.map(Arc::new)),
            cache: Mutex::new(CredentialCache::default()),
            checks: Semaphore::new(PARALLEL_PASSWORD_CHECKS),
            counters,
            history: None,
            peers: None,
            merged: Mutex::new(None),
            whole_fleet: DocumentCache::default(),
        })
    }

    /// The users file read again: from the next request on, only its
    /// users get in (credentials checked before are forgotten).
    pub fn set_users(&self, users: Option<Users>) {
        let users = users.map(Arc::new);
        match self.users.write() {
            Ok(mut u) => *u = users,
            Err(poisoned) => *poisoned.into_inner() = users,
        }
        match self.cache.lock() {
            Ok(mut c) => *c = CredentialCache::default(),
            Err(poisoned) => *poisoned.into_inner() = CredentialCache::default(),
        }
    }

    fn users(&self) -> Option<Arc<Users>> {
        // A poisoned lock still holds the last users: never open the door.
        match self.users.read() {
            Ok(u) => u.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The same state, reading `history` for events, charts and
    /// availability.
    pub fn with_history(self: Arc<Self>, history: Option<Arc<HistoryReader>>) -> Arc<AppState> {
        match Arc::try_unwrap(self) {
            Ok(mut state) => {
                state.history = history;
                Arc::new(state)
            }
            Err(shared) => shared,
        }
    }

    /// The same state, merging the views of `peers`.
    pub fn with_peers(self: Arc<Self>, peers: Option<PeerBoard>) -> Arc<AppState> {
        match Arc::try_unwrap(self) {
            Ok(mut state) => {
                state.peers = peers;
                Arc::new(state)
            }
            Err(shared) => shared,
        }
    }

    /// This supervisor's own view, without its peers'.
    async fn local_snapshot(&self) -> Arc<FleetSnapshot> {
        self.snapshots.fresh(now_ms()).await
    }

    /// The view the window shows: this supervisor's, merged with its
    /// reachable peers' (merging on the blocking pool: it copies the fleet).
    async fn snapshot(&self) -> Arc<FleetSnapshot> {
        let local = self.local_snapshot().await;
        let Some(board) = &self.peers else {
            return local;
        };
        let (generation, peers) = board.read();
        if let Ok(cache) = self.merged.lock()
            && let Some(c) = cache.as_ref()
            && c.generation == generation
            && Arc::ptr_eq(&c.local, &local)
        {
            return c.merged.clone();
        }
        let from = local.clone();
        let merged = match tokio::task::spawn_blocking(move || merge(&from, &peers)).await {
            Ok(m) => Arc::new(m),
            // Rendering goes on with this supervisor's own view.
            Err(_) => return local,
        };
        if let Ok(mut cache) = self.merged.lock() {
            *cache = Some(MergedCache {
                local,
                generation,
                merged: merged.clone(),
            });
        }
        merged
    }

    /// `?local=true` (how peers ask): this supervisor's own view.
    async fn snapshot_for(&self, local: bool) -> Arc<FleetSnapshot> {
        if local {
            self.local_snapshot().await
        } else {
            self.snapshot().await
        }
    }

    fn refuse(&self, why: Refusal) {
        self.counters.refused(why);
    }
}

type Shared = Arc<AppState>;

mod ack;
mod events;
pub use ack::MAX_ACK_NOTE;
use ack::{api_ack, page_ack};
use events::{api_events, events_page};

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(fleet_page))
        .route("/hosts/{name}", get(host_page))
        .route("/problems/{id}/ack", post(page_ack))
        .route("/supervisor", get(supervisor_page))
        .route("/events", get(events_page))
        .route("/api/v1/events", get(api_events))
        .route("/static/live.js", get(live_js))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/hosts", get(api_hosts))
        .route("/api/v1/hosts/{name}", get(api_host))
        .route("/api/v1/problems", get(api_problems))
        .route("/api/v1/problems/{id}/ack", post(api_ack))
        .route("/api/v1/supervisor", get(api_supervisor))
        .route("/api/v1/peers", get(api_peers))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

fn now_ms() -> u64 {
    crate::now().wall_ms
}

/// Runs `render` on the blocking pool: never on the loop's thread.
async fn off_loop<R: Send + 'static>(
    render: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Response> {
    tokio::task::spawn_blocking(render)
        .await
        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed").into_response())
}

fn json(status: StatusCode, value: impl serde::Serialize) -> Response {
    (status, axum::Json(value)).into_response()
}

fn unauthorized(state: &AppState, why: Refusal) -> Response {
    state.refuse(why);
    let mut r = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"436\", charset=\"UTF-8\""),
    );
    r
}

fn forbidden(state: &AppState, why: Refusal, message: &'static str) -> Response {
    state.refuse(why);
    (StatusCode::FORBIDDEN, message).into_response()
}

/// `user:password` from a basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some((|| {
        let text = value.to_str().map_err(|_| ())?;
        let (scheme, encoded) = text.split_once(' ').ok_or(())?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ())?;
        let text = String::from_utf8(bytes).map_err(|_| ())?;
        let (user, password) = text.split_once(':').ok_or(())?;
        Ok((user.to_string(), password.to_string()))
    })())
}

async fn authenticate(state: &Shared, headers: &HeaderMap) -> Result<(Role, String), Response> {
    let Some(users) = state.users() else {
        return Ok((Role::Operator, "local".to_string()));
    };
    let (user, password) = match basic_credentials(headers) {
        None => return Err(unauthorized(state, Refusal::Unauthenticated)),
        Some(Err(())) => return Err(unauthorized(state, Refusal::MalformedCredentials)),
        Some(Ok(pair)) => pair,
    };
    let key = CredentialCache::key(&user, &password);
    if let Ok(mut cache) = state.cache.lock()
        && let Some(role) = cache.get(&key, Instant::now())
    {
        return Ok((role, user));
    }
    let permit = state.checks.acquire().await;
    let name = user.clone();
    let checked = tokio::task::spawn_blocking(move || users.check(&user, &password)).await;
    drop(permit);
    match checked {
        Ok(Some(role)) => {
            if let Ok(mut cache) = state.cache.lock() {
                cache.insert(key, role, Instant::now());
            }
            Ok((role, name))
        }
        _ => Err(unauthorized(state, Refusal::BadCredentials)),
    }
}

/// Whether an action comes from a page of another site.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return true;
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'));
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        return match (origin_host, host) {
            (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
            _ => true,
        };
    }
    false
}

async fn guard(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    state.counters.request();
    let (role, who) = match authenticate(&state, request.headers()).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    request.extensions_mut().insert(Who { name: who, role });
    let reading = request.method() == Method::GET || request.method() == Method::HEAD;
    if !reading {
        if cross_site(request.headers()) {
            return forbidden(&state, Refusal::CrossSite, "cross-site request refused\n");
        }
        if role < Role::Operator {
            return forbidden(
                &state,
                Refusal::ForbiddenRole,
                "this needs the operator role\n",
            );
        }
    }
    next.run(request).await
}

fn bad_query(state: &AppState, message: String) -> Response {
    state.refuse(Refusal::BadQuery);
    json(StatusCode::BAD_REQUEST, api::error(&message))
}

/// The filter of the query string, or why it cannot be read.
fn filter_of(query: Result<Query<FilterQuery>, QueryRejection>) -> Result<Filter, String> {
    let Query(q) = query.map_err(|e| e.body_text())?;
    q.check()
}

async fn fleet_page(
    State(state): State<Shared>,
    axum::Extension(who): axum::Extension<Who>,
    query: Result<Query<FilterQuery>, QueryRejection>,
    pages: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let snapshot = state.snapshot().await;
    let filter = match filter_of(query) {
        Ok(f) => f,
        Err(_) => {
            state.refuse(Refusal::BadQuery);
            return (
                StatusCode::BAD_REQUEST,
                Html(pages::error(&snapshot, "Bad filter", "The filter could not be read; states are up, inactive, stopped, never seen and no config.")),
            )
                .into_response();
        }
    };
    let pages = match pages
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| q.check())
    {
        Ok(p) => p,
        Err(e) => return bad_page(&state, &snapshot, &e),
    };
    let can_act = who.can_act();
    match off_loop(move || pages::fleet(&snapshot, &filter, pages, can_act, now_ms())).await {
        Ok(html) => Html(html).into_response(),
        Err(r) => r,
    }
}

async fn host_page(
    State(state): State<Shared>,
    axum::Extension(who): axum::Extension<Who>,
    Path(name): Path<String>,
) -> Response {
    let snapshot = state.snapshot().await;
    let can_act = who.can_act();
    let page = {
        let snapshot = snapshot.clone();
        let history = state.history.clone();
        off_loop(move || {
            let now = now_ms();
            // Only a host the supervisor knows costs a query.
            snapshot.host(&name)?;
            let extra = history.map(|h| HostHistory::gather(&h, &name, now as i64));
            pages::host(&snapshot, &name, now, extra.as_ref(), can_act)
        })
        .await
    };
    match page {
        Ok(Some(html)) => Html(html).into_response(),
        Ok(None) => {
            state.refuse(Refusal::NotFound);
            (
                StatusCode::NOT_FOUND,
                Html(pages::error(&snapshot, "Unknown host", "This supervisor has no configuration file for that host and has not heard from it.")),
            )
                .into_response()
        }
        Err(r) => r,
    }
}

async fn supervisor_page(State(state): State<Shared>) -> Response {
    let snapshot = state.snapshot().await;
    let http = state.counters.get();
    let history = state.history.clone();
    let page = off_loop(move || {
        let health = history.map(|h| h.health());
        pages::supervisor(&snapshot, &http, health.as_ref(), now_ms())
    });
    match page.await {
        Ok(html) => Html(html).into_response(),
        Err(r) => r,
    }
}

async fn live_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("live.js"),
    )
        .into_response()
}

async fn metrics_text(State(state): State<Shared>) -> Response {
    // This supervisor's own view: Prometheus scrapes every supervisor, and
    // a peer's hosts would otherwise be counted once per supervisor.
    let snapshot = state.local_snapshot().await;
    let http = state.counters.get();
    match off_loop(move || metrics::render(&snapshot, &http, now_ms())).await {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(r) => r,
    }
}

/// The `?limit=&offset=` of an API list, or why it cannot be read.
fn slice_of(query: Result<Query<SliceQuery>, QueryRejection>) -> Result<Slice, String> {
    let Query(q) = query.map_err(|e| e.body_text())?;
    q.check()
}

/// `?local=true`: this supervisor's view only (what a peer asks for: its
/// merged view would echo the asker's own back to it).
#[derive(Debug, Default, serde::Deserialize)]
struct LocalQuery {
    local: Option<String>,
}

fn local_of(query: Result<Query<LocalQuery>, QueryRejection>) -> Result<bool, String> {
    let Query(q) = query.map_err(|e| e.body_text())?;
    match q.local.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!(
            "`local` must be `true` or `false`, found `{other}`"
        )),
    }
}

async fn api_hosts(
    State(state): State<Shared>,
    query: Result<Query<FilterQuery>, QueryRejection>,
    slice: Result<Query<SliceQuery>, QueryRejection>,
    local: Result<Query<LocalQuery>, QueryRejection>,
) -> Response {
    let (filter, slice, local) =
        match filter_of(query).and_then(|f| Ok((f, slice_of(slice)?, local_of(local)?))) {
            Ok(all) => all,
            Err(e) => return bad_query(&state, e),
        };
    let snapshot = state.snapshot_for(local).await;
    let whole = filter == Filter::default() && slice == Slice::default();
    if whole && let Some(bytes) = state.whole_fleet.get(&snapshot) {
        return ([(header::CONTENT_TYPE, "application/json")], bytes).into_response();
    }
    // Serialised on the blocking pool too: the document borrows the
    // snapshot, so it is written to bytes there.
    let from = snapshot.clone();
    let body = off_loop(move || {
        serde_json::to_vec(&api::hosts(&from, &filter, slice, now_ms())).map(Bytes::from)
    })
    .await;
    match body {
        Ok(Ok(bytes)) => {
            if whole {
                state.whole_fleet.put(snapshot, bytes.clone());
            }
            ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Ok(Err(_)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot write the document\n",
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn api_host(State(state): State<Shared>, Path(name): Path<String>) -> Response {
    let snapshot = state.snapshot().await;
    match api::host_detail(&snapshot, &name, now_ms()) {
        Some(doc) => json(StatusCode::OK, doc),
        None => {
            state.refuse(Refusal::NotFound);
            json(
                StatusCode::NOT_FOUND,
                api::error(&format!("no host `{name}`")),
            )
        }
    }
}

async fn api_problems(
    State(state): State<Shared>,
    query: Result<Query<FilterQuery>, QueryRejection>,
    slice: Result<Query<SliceQuery>, QueryRejection>,
    local: Result<Query<LocalQuery>, QueryRejection>,
) -> Response {
    let (filter, slice, local) =
        match filter_of(query).and_then(|f| Ok((f, slice_of(slice)?, local_of(local)?))) {
            Ok(all) => all,
            Err(e) => return bad_query(&state, e),
        };
    json(
        StatusCode::OK,
        api::problems(&*state.snapshot_for(local).await, &filter, slice, now_ms()),
    )
}

async fn api_peers(State(state): State<Shared>) -> Response {
    json(StatusCode::OK, api::peers(&*state.snapshot().await))
}

async fn api_supervisor(State(state): State<Shared>) -> Response {
    let mut doc = api::supervisor(&*state.snapshot().await, &state.counters.get());
    if let Some(history) = state.history.clone()
        && let Ok(health) = off_loop(move || history.health()).await
    {
        doc["history"] = serde_json::json!(health);
    }
    json(StatusCode::OK, doc)
}

fn bad_page(state: &AppState, snapshot: &FleetSnapshot, message: &str) -> Response {
    state.refuse(Refusal::BadQuery);
    (
        StatusCode::BAD_REQUEST,
        Html(pages::error(snapshot, "Bad search", message)),
    )
        .into_response()
}

async fn not_found(State(state): State<Shared>) -> Response {
    state.refuse(Refusal::NotFound);
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

async fn method_not_allowed(State(state): State<Shared>) -> Response {
    state.refuse(Refusal::MethodNotAllowed);
    (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn same_origin_and_non_browser_actions_pass_cross_site_ones_do_not() {
        assert!(!cross_site(&headers(&[])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&headers(&[
            ("origin", "http://127.0.0.1:9436"),
            ("host", "127.0.0.1:9436")
        ])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(cross_site(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:9436")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:9436")
        ])));
    }

    #[test]
    fn basic_credentials_are_decoded_and_garbage_is_malformed() {
        // "ana:pw:with:colons"
        let h = headers(&[("authorization", "Basic YW5hOnB3OndpdGg6Y29sb25z")]);
        assert_eq!(
            basic_credentials(&h),
            Some(Ok(("ana".into(), "pw:with:colons".into())))
        );
        assert_eq!(
            basic_credentials(&headers(&[("authorization", "Basic !!")])),
            Some(Err(()))
        );
        assert_eq!(
            basic_credentials(&headers(&[("authorization", "Bearer x")])),
            Some(Err(()))
        );
        assert_eq!(basic_credentials(&headers(&[])), None);
    }
}
