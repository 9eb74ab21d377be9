//! Pending notifications of the policy, grouped: one batch per route,
//! event, channel and group (`group=`), due when the first item's `wait` is
//! over. What joins a batch before then goes out with it.

use std::collections::BTreeMap;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::payload::{Item, NotifyEvent};

/// Most distinct point-alert items kept in one notification; the rest are
/// counted in `more`.
pub const MAX_POINT_ITEMS: usize = 20;

/// A problem's (host, check); for point alerts (host, check and message).
pub(crate) type ProblemId = (String, String);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct BatchKey {
    pub route: usize,
    pub event: NotifyEvent,
    pub channel: String,
    pub group: String,
}

#[derive(Debug)]
pub(crate) struct Batch {
    pub due: Instant,
    /// Problems by id; point alerts by (host, check + message).
    pub items: Vec<(ProblemId, Item)>,
    pub more: u64,
}

/// Every pending batch.
#[derive(Debug, Default)]
pub(crate) struct Batches(BTreeMap<BatchKey, Batch>);

impl Batches {
    /// Adds an item; a new batch is due at `due`, an existing one keeps its
    /// time (that is what groups). A problem is in a batch once; a point
    /// alert seen again counts up its item, and past [`MAX_POINT_ITEMS`]
    /// distinct ones only the count grows.
    pub fn add(&mut self, key: BatchKey, id: &ProblemId, item: Item, due: Instant) {
        let point = key.event == NotifyEvent::Point;
        let batch = self.0.entry(key).or_insert(Batch {
            due,
            items: Vec::new(),
            more: 0,
        });
        let full = batch.items.len() >= MAX_POINT_ITEMS;
        match batch.items.iter_mut().find(|(i, _)| i == id) {
            Some((_, same)) if point => same.count += 1,
            Some(_) => {}
            None if point && full => batch.more += 1,
            None => batch.items.push((id.clone(), item)),
        }
    }

    /// Takes a problem out of every pending batch of these events; batches
    /// left empty go.
    pub fn withdraw(&mut self, id: &ProblemId, events: &[NotifyEvent]) {
        for (key, batch) in self.0.iter_mut() {
            if events.contains(&key.event) {
                batch.items.retain(|(i, _)| i != id);
            }
        }
        self.0.retain(|_, b| !b.items.is_empty() || b.more > 0);
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&BatchKey) -> bool) {
        self.0.retain(|k, _| keep(k));
    }

    /// Keys of the batches due at `now`.
    pub fn due(&self, now: Instant) -> Vec<BatchKey> {
        self.0
            .iter()
            .filter(|(_, b)| b.due <= now)
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn postpone(&mut self, key: &BatchKey, until: Instant) {
        if let Some(b) = self.0.get_mut(key) {
            b.due = until;
        }
    }

    pub fn take(&mut self, key: &BatchKey) -> Option<Batch> {
        self.0.remove(key)
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.0.values().map(|b| b.due).min()
    }
}

/// The idempotency key: names what the notification is about, so that the
/// same notification made twice (a restart re-feeding the state) is queued
/// once. Reminders, re-sends and point alerts recur for the same items:
/// their time tells them apart.
pub(crate) fn notification_key(
    event: NotifyEvent,
    route: &str,
    items: &[Item],
    wall_ms: u64,
) -> String {
    let mut hash = Sha256::new();
    hash.update(event.as_str());
    hash.update([0]);
    hash.update(route);
    for item in items {
        hash.update([0]);
        hash.update(&item.host);
        hash.update([0]);
        hash.update(&item.check);
        hash.update(item.since_ms.to_le_bytes());
    }
    if !matches!(event, NotifyEvent::Opened | NotifyEvent::Cleared) {
        hash.update(wall_ms.to_le_bytes());
    }
    let digest = hash.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}
