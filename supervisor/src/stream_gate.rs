//! The write-then-acknowledge gate of the state machine: stream lines and
//! the acknowledgements (and point alerts to notify) they hold back,
//! gathered since the last write; the batch handed to the shell and not yet
//! reported; and supervisor-raised lines, kept across failed writes.
//!
//! An acknowledgement leaves the gate only after the shell reports the
//! batch holding its events written ([`StreamGate::written`]); a failed
//! write gives back the ids first written in it, so the re-sent events are
//! written then.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;

use conf::HostName;
use wire::Transition;

use crate::problems::Happening;
use crate::stream::{Received, append_system_line, append_system_problem_line};
use crate::timers::MAX_PENDING_SYSTEM_LINES;

/// Lines to append to the event stream with one write; report the outcome
/// with [`crate::Supervisor::handle_stream_written`].
#[must_use = "the lines must be written and the outcome reported"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamBatch {
    pub lines: Vec<u8>,
}

/// Acknowledgements owed to one observer once the stream is written.
#[derive(Debug)]
pub(crate) struct OwedAck {
    pub(crate) to: SocketAddr,
    pub(crate) host: HostName,
    pub(crate) ids: Vec<u64>,
    /// The ids among `ids` written for the first time in this batch: to
    /// forget if the write fails, so the re-sent events are written.
    pub(crate) new_ids: Vec<u64>,
}

/// Stream lines and acknowledgements gathered since the last write.
#[derive(Debug, Default)]
struct PendingWrite {
    event_lines: Vec<u8>,
    events: u64,
    acks: Vec<OwedAck>,
    ack_index: HashMap<(SocketAddr, HostName), usize>,
    /// Point alerts of the events in `event_lines`: notified once their
    /// lines are written, dropped with a failed write (the re-sent events
    /// raise them again).
    points: Vec<Happening>,
}

/// A batch handed to the shell and not yet reported.
#[derive(Debug)]
struct InFlight {
    write: PendingWrite,
    system_bytes: usize,
    system_lines: usize,
}

/// What a reported write releases or gives back.
#[derive(Debug)]
pub(crate) enum Written {
    /// The batch is in the stream: send these acknowledgements, notify
    /// these point alerts.
    Done {
        acks: Vec<OwedAck>,
        points: Vec<Happening>,
        events: u64,
        system_lines: usize,
    },
    /// Nothing of the batch is acknowledged; these ids were first written
    /// in it and must be forgotten.
    Failed { acks: Vec<OwedAck> },
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct StreamGate {
    pending: PendingWrite,
    in_flight: Option<InFlight>,
    /// Supervisor-raised lines not yet written; kept across failed writes.
    system_lines: Vec<u8>,
    system_line_count: usize,
}

impl StreamGate {
    /// Where the next event lines are appended.
    pub(crate) fn event_lines(&mut self) -> &mut Vec<u8> {
        &mut self.pending.event_lines
    }

    /// A point alert of an event just appended (so never without lines to
    /// write), notified once its line is written.
    pub(crate) fn hold_point(&mut self, point: Happening) {
        self.pending.points.push(point);
    }

    /// `ids` (of which `new_ids` were appended as lines, `new_ids.len()`
    /// events) are acknowledged to `to` once the lines are written.
    pub(crate) fn owe_ack(
        &mut self,
        to: SocketAddr,
        host: HostName,
        ids: Vec<u64>,
        new_ids: Vec<u64>,
    ) {
        self.pending.events += new_ids.len() as u64;
        match self.pending.ack_index.entry((to, host)) {
            Entry::Occupied(e) => {
                let owed = &mut self.pending.acks[*e.get()];
                owed.ids.extend(ids);
                owed.new_ids.extend(new_ids);
            }
            Entry::Vacant(e) => {
                let host = e.key().1.clone();
                e.insert(self.pending.acks.len());
                self.pending.acks.push(OwedAck {
                    to,
                    host,
                    ids,
                    new_ids,
                });
            }
        }
    }

    /// A supervisor-raised line, opening or clearing one of the
    /// supervisor's own problems when `problem` names it; `false` (and
    /// nothing kept) when [`MAX_PENDING_SYSTEM_LINES`] already wait.
    pub(crate) fn push_system_line(
        &mut self,
        received: &Received,
        host: &HostName,
        message: &str,
        problem: Option<(&str, Transition)>,
    ) -> bool {
        if self.system_line_count >= MAX_PENDING_SYSTEM_LINES {
            return false;
        }
        let out = &mut self.system_lines;
        match problem {
            Some((check, transition)) => {
                append_system_problem_line(out, received, host.as_str(), message, check, transition)
            }
            None => append_system_line(out, received, host.as_str(), message),
        }
        self.system_line_count += 1;
        true
    }

    /// Everything to append since the last batch, as one buffer; `None`
    /// when there is nothing, or a batch is still unreported.
    pub(crate) fn take_batch(&mut self) -> Option<StreamBatch> {
        if self.in_flight.is_some() {
            return None;
        }
        if self.system_lines.is_empty()
            && self.pending.event_lines.is_empty()
            && self.pending.acks.is_empty()
        {
            return None;
        }
        // Only duplicates make an empty batch: nothing to write, acknowledge.
        let mut write = std::mem::take(&mut self.pending);
        let events = std::mem::take(&mut write.event_lines);
        let lines = if self.system_lines.is_empty() {
            events
        } else {
            let mut lines = Vec::with_capacity(self.system_lines.len() + events.len());
            lines.extend_from_slice(&self.system_lines);
            lines.extend_from_slice(&events);
            lines
        };
        self.in_flight = Some(InFlight {
            write,
            system_bytes: self.system_lines.len(),
            system_lines: self.system_line_count,
        });
        Some(StreamBatch { lines })
    }

    /// The outcome of the batch in flight; `None` when there is none.
    pub(crate) fn written(&mut self, ok: bool) -> Option<Written> {
        let done = self.in_flight.take()?;
        if !ok {
            return Some(Written::Failed {
                acks: done.write.acks,
            });
        }
        self.system_lines.drain(..done.system_bytes);
        self.system_line_count -= done.system_lines;
        Some(Written::Done {
            acks: done.write.acks,
            points: done.write.points,
            events: done.write.events,
            system_lines: done.system_lines,
        })
    }
}
