//! The persistent notification queue: an SQLite file (WAL) in which every
//! notification the policy makes is stored before anything tries to send
//! it, and marked only after its channel took it. So a notification
//! survives a restart and a channel outage, and is delivered at least once.
//!
//! Decisions recorded here:
//! * One queue per channel, first in first out: a channel's oldest pending
//!   notification is its head, and nothing behind it goes before it. A
//!   failing channel backs off as a whole (1 s, 2 s, 4 s … up to
//!   [`MAX_BACKOFF`]) instead of every notification hammering it.
//! * A refusal that will never succeed (an HTTP 4xx other than 408/429, a
//!   permanent SMTP reply) is recorded as `rejected` and the channel moves
//!   on; everything else is retried until [`GIVE_UP_AFTER`].
//! * `(channel, key)` is unique: the same notification queued twice (a
//!   restart that re-feeds the policy) is stored once.
//! * Per-channel health ([`ChannelHealth`]) is kept in the same file, for the
//!   status page and `/metrics`.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::payload::{Notification, NotifyEvent};
use super::policy::Outgoing;

/// First retry delay after a failure; doubled on each further failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest delay between two attempts on a failing channel.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A notification still undelivered after this long is given up (and
/// counted as `expired`): after three days it tells nobody anything useful.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 86_400);
/// Delivered and rejected notifications are kept this long, for the status
/// page's history, then pruned.
pub const KEEP_DONE: Duration = Duration::from_secs(7 * 86_400);
/// How long a writer waits for another connection's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("notification queue {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("notification queue: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// What a channel made of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Try again later (connection refused, timeout, 5xx).
    Retry(String),
    /// Never going to work; recorded and skipped.
    Rejected(String),
}

/// A notification at the head of its channel's queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub channel: String,
    pub notification: Notification,
    pub attempts: u32,
    pub queued_ms: u64,
}

/// How one channel is doing, for the status page and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChannelHealth {
    pub channel: String,
    /// Waiting to be delivered.
    pub pending: u64,
    /// Queued time of the oldest pending notification.
    pub oldest_pending_ms: Option<u64>,
    pub delivered: u64,
    pub rejected: u64,
    pub expired: u64,
    /// Failed attempts since the last success; above zero means failing.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_error_ms: Option<u64>,
    pub last_success_ms: Option<u64>,
}

impl ChannelHealth {
    pub fn is_failing(&self) -> bool {
        self.consecutive_failures > 0
    }
}

/// One connection to the queue file. The policy's side enqueues; each
/// channel worker opens its own to take its head and record the outcome.
pub struct NotifyQueue {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    queued_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL,
    last_error TEXT,
    -- NULL while pending; 'delivered', 'rejected' or 'expired' after.
    outcome TEXT,
    done_ms INTEGER,
    UNIQUE (channel, key)
);
CREATE INDEX IF NOT EXISTS notification_pending
    ON notification (channel, id) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS notify_channel (
    channel TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_ms INTEGER,
    last_success_ms INTEGER
);
";

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Delay before attempt `attempts + 1` after `attempts` failures.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

impl NotifyQueue {
    /// Opens (creating) the queue file, in WAL mode.
    pub fn open(path: &Path) -> Result<NotifyQueue, QueueError> {
        let open_error = |source| QueueError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        // NORMAL: a commit survives a crash of the process; a power cut may
        // lose the last moments, which the policy re-makes from the fleet
        // state after a restart.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        conn.execute_batch(SCHEMA).map_err(open_error)?;
        Ok(NotifyQueue { conn })
    }

    /// Stores notifications; returns how many were new (a key already
    /// queued for that channel is not stored twice).
    pub fn enqueue(&mut self, now_ms: u64, outgoing: &[Outgoing]) -> Result<usize, QueueError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO notification (channel, key, payload, queued_ms, next_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?;
            for o in outgoing {
                let payload = serde_json::to_string(&o.notification)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                added += insert.execute(params![
                    o.channel,
                    o.notification.key,
                    payload,
                    to_i64(now_ms)
                ])?;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// The oldest pending notification of `channel`, whether due or not.
    /// A payload that no longer parses is rejected on the spot.
    pub fn head(&mut self, channel: &str) -> Result<Option<(Queued, u64)>, QueueError> {
        loop {
            let row = self
                .conn
                .prepare_cached(
                    "SELECT id, payload, attempts, queued_ms, next_ms FROM notification
                     WHERE channel = ?1 AND outcome IS NULL ORDER BY id LIMIT 1",
                )?
                .query_row(params![channel], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .optional()?;
            let Some((id, payload, attempts, queued_ms, next_ms)) = row else {
                return Ok(None);
            };
            match serde_json::from_str::<Notification>(&payload) {
                Ok(notification) => {
                    let queued = Queued {
                        id,
                        channel: channel.to_string(),
                        notification,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        queued_ms: to_u64(queued_ms),
                    };
                    return Ok(Some((queued, to_u64(next_ms))));
                }
                Err(e) => {
                    self.finish(id, 0, "rejected", Some(&format!("unreadable payload: {e}")))?;
                }
            }
        }
    }

    fn finish(
        &mut self,
        id: i64,
        now_ms: u64,
        outcome: &str,
        error: Option<&str>,
    ) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE notification SET outcome = ?2, done_ms = ?3,
                 last_error = COALESCE(?4, last_error), attempts = attempts + 1
             WHERE id = ?1",
            params![id, outcome, to_i64(now_ms), error],
        )?;
        Ok(())
    }

    /// Records what the channel made of `queued`. Returns when the
    /// channel's next attempt may start (ms since the epoch).
    pub fn record(
        &mut self,
        queued: &Queued,
        now_ms: u64,
        delivery: &Delivery,
    ) -> Result<u64, QueueError> {
        let channel = queued.channel.as_str();
        self.conn.execute(
            "INSERT OR IGNORE INTO notify_channel (channel) VALUES (?1)",
            params![channel],
        )?;
        match delivery {
            Delivery::Delivered => {
                self.finish(queued.id, now_ms, "delivered", None)?;
                self.conn.execute(
                    "UPDATE notify_channel SET consecutive_failures = 0, last_success_ms = ?2
                     WHERE channel = ?1",
                    params![channel, to_i64(now_ms)],
                )?;
                Ok(now_ms)
            }
            Delivery::Rejected(why) => {
                self.finish(queued.id, now_ms, "rejected", Some(why))?;
                self.note_failure(channel, now_ms, why)?;
                Ok(now_ms)
            }
            Delivery::Retry(why) => {
                let attempts = queued.attempts.saturating_add(1);
                let expired = now_ms.saturating_sub(queued.queued_ms) >= ms(GIVE_UP_AFTER) as u64;
                self.note_failure(channel, now_ms, why)?;
                if expired {
                    self.finish(queued.id, now_ms, "expired", Some(why))?;
                    return Ok(now_ms);
                }
                let next = now_ms.saturating_add(ms(backoff(attempts)) as u64);
                self.conn.execute(
                    "UPDATE notification SET attempts = ?2, next_ms = ?3, last_error = ?4
                     WHERE id = ?1",
                    params![queued.id, attempts, to_i64(next), why],
                )?;
                Ok(next)
            }
        }
    }

    fn note_failure(&mut self, channel: &str, now_ms: u64, why: &str) -> Result<(), QueueError> {
        self.conn.execute(
            "UPDATE notify_channel SET consecutive_failures = consecutive_failures + 1,
                 last_error = ?2, last_error_ms = ?3
             WHERE channel = ?1",
            params![channel, why, to_i64(now_ms)],
        )?;
        Ok(())
    }

    /// Health of every channel that has queued anything.
    pub fn health(&self) -> Result<Vec<ChannelHealth>, QueueError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT n.channel,
                    SUM(n.outcome IS NULL),
                    MIN(CASE WHEN n.outcome IS NULL THEN n.queued_ms END),
                    SUM(n.outcome = 'delivered'),
                    SUM(n.outcome = 'rejected'),
                    SUM(n.outcome = 'expired'),
                    c.consecutive_failures, c.last_error, c.last_error_ms, c.last_success_ms
             FROM notification n LEFT JOIN notify_channel c ON c.channel = n.channel
             GROUP BY n.channel ORDER BY n.channel",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ChannelHealth {
                channel: r.get(0)?,
                pending: to_u64(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
                oldest_pending_ms: r.get::<_, Option<i64>>(2)?.map(to_u64),
                delivered: to_u64(r.get::<_, Option<i64>>(3)?.unwrap_or(0)),
                rejected: to_u64(r.get::<_, Option<i64>>(4)?.unwrap_or(0)),
                expired: to_u64(r.get::<_, Option<i64>>(5)?.unwrap_or(0)),
                consecutive_failures: r
                    .get::<_, Option<i64>>(6)?
                    .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX)),
                last_error: r.get(7)?,
                last_error_ms: r.get::<_, Option<i64>>(8)?.map(to_u64),
                last_success_ms: r.get::<_, Option<i64>>(9)?.map(to_u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes delivered, rejected and expired notifications older than
    /// [`KEEP_DONE`]; returns how many.
    pub fn prune(&mut self, now_ms: u64) -> Result<usize, QueueError> {
        let before = to_i64(now_ms.saturating_sub(ms(KEEP_DONE) as u64));
        Ok(self.conn.execute(
            "DELETE FROM notification WHERE outcome IS NOT NULL AND done_ms < ?1",
            params![before],
        )?)
    }

    /// Problems (host, check, opened at in ms) that an opening or
    /// escalation in the queue — pending or delivered, still kept — told
    /// someone about: after a restart these are restored, not announced
    /// again.
    pub fn announced(&self) -> Result<HashSet<(String, String, u64)>, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT payload FROM notification")?;
        let payloads = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut announced = HashSet::new();
        for payload in payloads {
            let Ok(n) = serde_json::from_str::<Notification>(&payload?) else {
                continue;
            };
            if matches!(n.event, NotifyEvent::Opened | NotifyEvent::Escalated) {
                for item in n.items {
                    announced.insert((item.host, item.check, item.since_ms));
                }
            }
        }
        Ok(announced)
    }

    /// Delivered keys of a channel, oldest first (for tests and the status
    /// page's history).
    pub fn delivered_keys(&self, channel: &str) -> Result<Vec<String>, QueueError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key FROM notification WHERE channel = ?1 AND outcome = 'delivered' ORDER BY id",
        )?;
        let keys = stmt.query_map(params![channel], |r| r.get(0))?;
        Ok(keys.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(channel: &str, key: &str) -> Outgoing {
        Outgoing {
            channel: channel.into(),
            notification: Notification {
                key: key.into(),
                event: NotifyEvent::Opened,
                severity: "warning".into(),
                route: "notify.conf:1".into(),
                at_ms: 0,
                items: Vec::new(),
                more: 0,
                url: String::new(),
            },
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_queued_notification_survives_reopening_and_keys_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.db");
        let mut q = NotifyQueue::open(&path).unwrap();
        assert_eq!(
            q.enqueue(1000, &[outgoing("ops", "a"), outgoing("ops", "b")])
                .unwrap(),
            2
        );
        assert_eq!(q.enqueue(2000, &[outgoing("ops", "a")]).unwrap(), 0);
        assert_eq!(q.enqueue(2000, &[outgoing("mail", "a")]).unwrap(), 1);
        drop(q);
        let mut q = NotifyQueue::open(&path).unwrap();
        let (head, next) = q.head("ops").unwrap().unwrap();
        assert_eq!(head.notification.key, "a");
        assert_eq!(next, 1000);
    }

    #[test]
    fn a_failing_head_backs_off_and_blocks_the_channel_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = NotifyQueue::open(&dir.path().join("notify.db")).unwrap();
        q.enqueue(0, &[outgoing("ops", "a"), outgoing("ops", "b")])
            .unwrap();
        let (head, _) = q.head("ops").unwrap().unwrap();
        let next = q
            .record(&head, 10_000, &Delivery::Retry("refused".into()))
            .unwrap();
        assert_eq!(next, 11_000);
        let (head, due) = q.head("ops").unwrap().unwrap();
        assert_eq!(
            (head.notification.key.as_str(), head.attempts, due),
            ("a", 1, 11_000)
        );
        let next = q
            .record(&head, 11_000, &Delivery::Retry("refused".into()))
            .unwrap();
        assert_eq!(next, 13_000);
        let health = q.health().unwrap();
        assert_eq!(health[0].consecutive_failures, 2);
        assert_eq!(health[0].pending, 2);
        assert_eq!(health[0].last_error.as_deref(), Some("refused"));
        assert!(health[0].is_failing());
        let (head, _) = q.head("ops").unwrap().unwrap();
        q.record(&head, 13_000, &Delivery::Delivered).unwrap();
        let (head, _) = q.head("ops").unwrap().unwrap();
        assert_eq!(head.notification.key, "b");
        q.record(&head, 13_001, &Delivery::Rejected("400 bad".into()))
            .unwrap();
        assert!(q.head("ops").unwrap().is_none());
        let h = &q.health().unwrap()[0];
        assert_eq!((h.pending, h.delivered, h.rejected), (0, 1, 1));
        assert_eq!(h.last_success_ms, Some(13_000));
        assert_eq!(q.delivered_keys("ops").unwrap(), ["a"]);
        assert_eq!(q.prune(13_001 + ms(KEEP_DONE) as u64 + 1).unwrap(), 2);
    }

    #[test]
    fn a_notification_failing_for_days_expires() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = NotifyQueue::open(&dir.path().join("notify.db")).unwrap();
        q.enqueue(0, &[outgoing("ops", "a")]).unwrap();
        let (head, _) = q.head("ops").unwrap().unwrap();
        q.record(
            &head,
            ms(GIVE_UP_AFTER) as u64,
            &Delivery::Retry("down".into()),
        )
        .unwrap();
        assert!(q.head("ops").unwrap().is_none());
        assert_eq!(q.health().unwrap()[0].expired, 1);
    }

    mod model {
        //! Random sequences of enqueues, attempts, time and reopenings
        //! against a model: per channel first in first out, nothing lost,
        //! nothing delivered twice, back-off respected.

        use std::collections::{BTreeMap, VecDeque};

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Enqueue(u8, u8),
            Attempt(u8, u8),
            Advance(u16),
            Reopen,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (0..2u8, 0..12u8).prop_map(|(c, k)| Op::Enqueue(c, k)),
                4 => (0..2u8, 0..3u8).prop_map(|(c, o)| Op::Attempt(c, o)),
                2 => (0..5000u16).prop_map(Op::Advance),
                1 => Just(Op::Reopen),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn the_queue_behaves_like_its_model(ops in proptest::collection::vec(op(), 1..80)) {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("notify.db");
                let mut q = NotifyQueue::open(&path).unwrap();
                let mut now = 1_000u64;
                // Per channel: pending keys in order; every key ever queued;
                // delivered keys in order; when the head may be tried.
                let mut pending: BTreeMap<String, VecDeque<String>> = BTreeMap::new();
                let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut not_before: BTreeMap<String, u64> = BTreeMap::new();
                for op in ops {
                    match op {
                        Op::Enqueue(c, k) => {
                            let (c, k) = (format!("c{c}"), format!("k{k}"));
                            let added = q.enqueue(now, &[outgoing(&c, &k)]).unwrap();
                            let known = seen.entry(c.clone()).or_default();
                            prop_assert_eq!(added == 1, !known.contains(&k));
                            if added == 1 {
                                known.push(k.clone());
                                pending.entry(c).or_default().push_back(k);
                            }
                        }
                        Op::Attempt(c, outcome) => {
                            let c = format!("c{c}");
                            let head = q.head(&c).unwrap();
                            let want = pending.get(&c).and_then(|p| p.front()).cloned();
                            prop_assert_eq!(
                                head.as_ref().map(|(h, _)| h.notification.key.clone()),
                                want.clone()
                            );
                            let Some((head, due)) = head else { continue };
                            prop_assert!(due >= *not_before.get(&c).unwrap_or(&0));
                            if due > now {
                                continue;
                            }
                            let d = match outcome {
                                0 => Delivery::Delivered,
                                1 => Delivery::Retry("down".into()),
                                _ => Delivery::Rejected("no".into()),
                            };
                            let next = q.record(&head, now, &d).unwrap();
                            match d {
                                Delivery::Retry(_) => {
                                    prop_assert!(next > now);
                                    not_before.insert(c.clone(), next);
                                }
                                Delivery::Delivered => {
                                    pending.get_mut(&c).unwrap().pop_front();
                                    delivered.entry(c.clone()).or_default().push(head.notification.key);
                                    not_before.remove(&c);
                                }
                                Delivery::Rejected(_) => {
                                    pending.get_mut(&c).unwrap().pop_front();
                                    not_before.remove(&c);
                                }
                            }
                        }
                        Op::Advance(ms) => now += u64::from(ms),
                        Op::Reopen => {
                            drop(q);
                            q = NotifyQueue::open(&path).unwrap();
                        }
                    }
                }
                for (c, keys) in &delivered {
                    prop_assert_eq!(&q.delivered_keys(c).unwrap(), keys);
                }
                for h in q.health().unwrap() {
                    let want = pending.get(&h.channel).map_or(0, VecDeque::len) as u64;
                    prop_assert_eq!(h.pending, want);
                }
            }
        }
    }
}
