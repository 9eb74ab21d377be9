//! Acknowledging a problem over HTTP: `POST /api/v1/problems/ID/ack` (JSON,
//! for scripts and `supervisor ack`) and `POST /problems/ID/ack` (the pages'
//! form, without JavaScript). Both reach here only through the router's
//! guard (operator role, not from another site) and hand the
//! acknowledgement to the loop the same way.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{AppState, Shared, Who, bad_page, bad_query, json};
use crate::fleet::{AckRequest, Acknowledgement};
use crate::http::refusal::Refusal;
use crate::http::view::local_path;
use crate::http::{api, pages};

/// Longest wait for the loop to record an acknowledgement.
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest note kept with an acknowledgement, in bytes.
pub const MAX_ACK_NOTE: usize = 1000;

/// The body of `POST /api/v1/problems/ID/ack` (optional).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    #[serde(default)]
    note: String,
}

/// Why an acknowledgement was not recorded.
enum AckFailure {
    /// The note is over [`MAX_ACK_NOTE`] (counted as `bad-query`).
    NoteTooLong,
    /// No such problem is open (counted as `not-found`).
    NotOpen,
    /// The loop's queue is full or closed: the supervisor is stopping.
    Busy,
    /// The loop did not answer within [`ACK_TIMEOUT`].
    Late,
}

impl AckFailure {
    fn status(&self) -> StatusCode {
        match self {
            AckFailure::NoteTooLong => StatusCode::BAD_REQUEST,
            AckFailure::NotOpen => StatusCode::NOT_FOUND,
            AckFailure::Busy | AckFailure::Late => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn message(&self, id: &str) -> String {
        match self {
            AckFailure::NoteTooLong => format!("the note is longer than {MAX_ACK_NOTE} bytes"),
            AckFailure::NotOpen if id.contains('/') => format!("no open problem `{id}`"),
            AckFailure::NotOpen => format!("no open problem `{id}` (ids are HOST/CHECK)"),
            AckFailure::Busy => "the supervisor is busy or stopping; try again".into(),
            AckFailure::Late => "the supervisor did not record it in time; try again".into(),
        }
    }
}

/// Hands an acknowledgement of problem `id` (`HOST/CHECK`) to the loop,
/// which records it in the state machine and publishes a snapshot showing
/// it before answering, so the next page shows it. Counts its refusals.
async fn record_ack(
    state: &AppState,
    id: &str,
    by: String,
    mut note: String,
) -> Result<Acknowledgement, AckFailure> {
    if note.len() > MAX_ACK_NOTE {
        state.refuse(Refusal::BadQuery);
        return Err(AckFailure::NoteTooLong);
    }
    note.retain(|c| !c.is_control());
    let Some((host, check)) = id.split_once('/') else {
        state.refuse(Refusal::NotFound);
        return Err(AckFailure::NotOpen);
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = AckRequest {
        host: host.to_string(),
        check: check.to_string(),
        by,
        note,
        reply,
    };
    if state.acks.try_send(request).is_err() {
        return Err(AckFailure::Busy);
    }
    match tokio::time::timeout(ACK_TIMEOUT, answer).await {
        Ok(Ok(Some(ack))) => Ok(ack),
        Ok(Ok(None)) => {
            state.refuse(Refusal::NotFound);
            Err(AckFailure::NotOpen)
        }
        _ => Err(AckFailure::Late),
    }
}

/// `POST /api/v1/problems/ID/ack` (ID is `HOST/CHECK`, its `/` written
/// `%2F`): guarded like every action.
pub(super) async fn api_ack(
    State(state): State<Shared>,
    Path(id): Path<String>,
    axum::Extension(who): axum::Extension<Who>,
    body: axum::body::Bytes,
) -> Response {
    let body: AckBody = if body.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return bad_query(&state, format!("the body must be {{\"note\": TEXT}}: {e}"));
            }
        }
    };
    match record_ack(&state, &id, who.name, body.note).await {
        Ok(ack) => json(
            StatusCode::OK,
            serde_json::json!({ "id": id, "acknowledged": api::ack(&ack) }),
        ),
        Err(failure) => json(failure.status(), api::error(&failure.message(&id))),
    }
}

/// The fields of the acknowledge form on the pages.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct AckForm {
    #[serde(default)]
    note: String,
    /// The page the form is on, where the answer sends the browser back.
    #[serde(default)]
    back: String,
}

/// `POST /problems/ID/ack`: the pages' acknowledge form (a plain HTML form,
/// no JavaScript). Guarded like every action; on success a `303 See Other`
/// back to the page the form was on (Post/Redirect/Get: reloading that page
/// does not post again), otherwise a page saying why.
pub(super) async fn page_ack(
    State(state): State<Shared>,
    Path(id): Path<String>,
    axum::Extension(who): axum::Extension<Who>,
    form: Result<Form<AckForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => {
            let snapshot = state.snapshot().await;
            return bad_page(&state, &snapshot, &e.body_text());
        }
    };
    let back = local_path(&form.back).to_string();
    match record_ack(&state, &id, who.name, form.note).await {
        Ok(_) => {
            let location = HeaderValue::from_str(&back).unwrap_or(HeaderValue::from_static("/"));
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        Err(failure) => {
            let snapshot = state.snapshot().await;
            let title = match failure {
                AckFailure::NotOpen => "No such open problem",
                AckFailure::NoteTooLong => "Note too long",
                AckFailure::Busy | AckFailure::Late => "Not recorded",
            };
            let page = pages::error_back(&snapshot, title, &failure.message(&id), &back);
            (failure.status(), Html(page)).into_response()
        }
    }
}
