//! An event as a monitor raises it: everything but the id, which the spool
//! assigns when the event is written, with the check that raised it and
//! what it says about that check's problem.

use wire::{EventKind, Transition};

/// One event raised by a monitor or by the observer itself.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a raised event must be spooled and sent"]
pub struct Raised {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub tags: String,
    /// The log file path, or `None`.
    pub source: Option<String>,
    pub kind: EventKind,
    pub message: String,
    pub value: Option<f64>,
    /// The check's id; `None` for an event no check raised.
    pub check: Option<String>,
    /// Opening, clearing or repeat of the check's problem, or a point event.
    pub transition: Transition,
}

impl Raised {
    pub fn alert(time_ms: i64, tags: &str, source: Option<&str>, message: String) -> Raised {
        Raised {
            time_ms,
            tags: tags.to_string(),
            source: source.map(str::to_string),
            kind: EventKind::Alert,
            message,
            value: None,
            check: None,
            transition: Transition::Point,
        }
    }

    pub fn metric(time_ms: i64, tags: &str, source: Option<&str>, value: f64) -> Raised {
        Raised {
            time_ms,
            tags: tags.to_string(),
            source: source.map(str::to_string),
            kind: EventKind::Metric,
            message: format_number(value),
            value: Some(value),
            check: None,
            transition: Transition::Point,
        }
    }

    pub fn system(time_ms: i64, message: String) -> Raised {
        Raised {
            time_ms,
            tags: "SYSTEM".to_string(),
            source: None,
            kind: EventKind::System,
            message,
            value: None,
            check: None,
            transition: Transition::Point,
        }
    }

    /// The same event, raised by check `id` with `transition`.
    pub fn in_check(mut self, id: &str, transition: Transition) -> Raised {
        self.check = Some(id.to_string());
        self.transition = transition;
        self
    }
}

/// A number as an operator would write it: `93`, not `93.0`.
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}
