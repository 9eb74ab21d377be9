//! Counters of each simulated observer and the run's final summary.

use std::time::{Duration, Instant};

use serde::Serialize;

/// What one simulated observer counted.
#[derive(Debug, Default, Clone)]
pub struct SimStats {
    /// Distinct events sent at least once.
    pub events_sent: u64,
    pub events_acked: u64,
    /// Event copies sent again after a time-out.
    pub retransmits: u64,
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
    pub encode_errors: u64,
    /// Received datagrams that did not decode (or failed to open).
    pub malformed: u64,
    /// Well-formed messages about another host.
    pub foreign: u64,
    /// Messages an observer never receives (requests, events, heartbeats).
    pub unexpected: u64,
    /// Acknowledgements of ids not in flight (repeats after a re-send).
    pub duplicate_acks: u64,
    pub heartbeats_sent: u64,
    pub config_requests: u64,
    pub config_chunks: u64,
    pub configs_complete: u64,
    pub config_unchanged: u64,
    pub no_config: u64,
    pub resets: u64,
    pub beacons: u64,
    /// Microseconds from the first send of an event to its acknowledgement.
    pub latencies_us: Vec<u32>,
    pub last_ack: Option<Instant>,
}

impl SimStats {
    pub fn record_latency(&mut self, waited: Duration) {
        let us = u32::try_from(waited.as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.push(us);
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, mut other: SimStats) {
        self.events_sent += other.events_sent;
        self.events_acked += other.events_acked;
        self.retransmits += other.retransmits;
        self.datagrams_sent += other.datagrams_sent;
        self.datagrams_received += other.datagrams_received;
        self.send_errors += other.send_errors;
        self.recv_errors += other.recv_errors;
        self.encode_errors += other.encode_errors;
        self.malformed += other.malformed;
        self.foreign += other.foreign;
        self.unexpected += other.unexpected;
        self.duplicate_acks += other.duplicate_acks;
        self.heartbeats_sent += other.heartbeats_sent;
        self.config_requests += other.config_requests;
        self.config_chunks += other.config_chunks;
        self.configs_complete += other.configs_complete;
        self.config_unchanged += other.config_unchanged;
        self.no_config += other.no_config;
        self.resets += other.resets;
        self.beacons += other.beacons;
        self.latencies_us.append(&mut other.latencies_us);
        self.last_ack = match (self.last_ack, other.last_ack) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The final JSON line of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub mode: &'static str,
    pub supervisor: String,
    pub sealed: bool,
    pub observers: u32,
    pub events_sent: u64,
    pub events_acked: u64,
    /// Sent but never acknowledged: lost.
    pub events_unacked: u64,
    pub retransmits: u64,
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    pub malformed: u64,
    /// Well-formed messages about another host.
    pub foreign: u64,
    /// Messages an observer never receives.
    pub unexpected: u64,
    pub duplicate_acks: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
    pub encode_errors: u64,
    pub heartbeats_sent: u64,
    pub beacons: u64,
    pub config_requests: u64,
    pub config_chunks: u64,
    pub configs_complete: u64,
    pub config_unchanged: u64,
    pub no_config: u64,
    pub resets: u64,
    /// From the start of the load to the last acknowledgement (or the end).
    pub elapsed_s: f64,
    /// Acknowledged events per second over `elapsed_s`.
    pub events_per_s: f64,
    pub datagrams_sent_per_s: f64,
    pub ack_p50_ms: Option<f64>,
    pub ack_p99_ms: Option<f64>,
    pub ack_max_ms: Option<f64>,
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
pub fn quantile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(us: Option<u32>) -> Option<f64> {
    us.map(|us| f64::from(us) / 1000.0)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Summary {
    /// The summary of a run that started at `started` and whose last
    /// observer stopped at `stopped`.
    pub fn new(
        mode: &'static str,
        supervisor: String,
        sealed: bool,
        observers: u32,
        mut stats: SimStats,
        started: Instant,
        stopped: Instant,
    ) -> Summary {
        stats.latencies_us.sort_unstable();
        let end = stats.last_ack.unwrap_or(stopped).max(started);
        let elapsed = end.duration_since(started).as_secs_f64();
        let per_s = |n: u64| {
            if elapsed > 0.0 {
                round3(n as f64 / elapsed)
            } else {
                0.0
            }
        };
        Summary {
            mode,
            supervisor,
            sealed,
            observers,
            events_sent: stats.events_sent,
            events_acked: stats.events_acked,
            events_unacked: stats.events_sent.saturating_sub(stats.events_acked),
            retransmits: stats.retransmits,
            datagrams_sent: stats.datagrams_sent,
            datagrams_received: stats.datagrams_received,
            malformed: stats.malformed,
            foreign: stats.foreign,
            unexpected: stats.unexpected,
            duplicate_acks: stats.duplicate_acks,
            send_errors: stats.send_errors,
            recv_errors: stats.recv_errors,
            encode_errors: stats.encode_errors,
            heartbeats_sent: stats.heartbeats_sent,
            beacons: stats.beacons,
            config_requests: stats.config_requests,
            config_chunks: stats.config_chunks,
            configs_complete: stats.configs_complete,
            config_unchanged: stats.config_unchanged,
            no_config: stats.no_config,
            resets: stats.resets,
            elapsed_s: round3(elapsed),
            events_per_s: per_s(stats.events_acked),
            datagrams_sent_per_s: per_s(stats.datagrams_sent),
            ack_p50_ms: ms(quantile(&stats.latencies_us, 0.50)),
            ack_p99_ms: ms(quantile(&stats.latencies_us, 0.99)),
            ack_max_ms: ms(quantile(&stats.latencies_us, 1.0)),
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain numbers and strings cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&samples, 0.5), Some(50));
        assert_eq!(quantile(&samples, 0.99), Some(99));
        assert_eq!(quantile(&samples, 1.0), Some(100));
        assert_eq!(quantile(&samples, 0.0), Some(1));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7], 0.99), Some(7));
    }

    #[test]
    fn summary_counts_lost_events_and_rates_over_the_time_to_the_last_ack() {
        let t0 = Instant::now();
        let mut a = SimStats {
            events_sent: 10,
            events_acked: 10,
            datagrams_sent: 4,
            ..SimStats::default()
        };
        a.record_latency(Duration::from_micros(1500));
        a.last_ack = Some(t0 + Duration::from_secs(2));
        let mut b = SimStats {
            events_sent: 10,
            events_acked: 8,
            datagrams_sent: 6,
            ..SimStats::default()
        };
        b.record_latency(Duration::from_micros(500));
        b.last_ack = Some(t0 + Duration::from_secs(4));
        a.merge(b);
        let s = Summary::new(
            "steady",
            "127.0.0.1:9001".into(),
            false,
            2,
            a,
            t0,
            t0 + Duration::from_secs(9),
        );
        assert_eq!(s.events_sent, 20);
        assert_eq!(s.events_unacked, 2);
        assert_eq!(s.elapsed_s, 4.0);
        assert_eq!(s.events_per_s, 4.5);
        assert_eq!(s.datagrams_sent_per_s, 2.5);
        assert_eq!(s.ack_p50_ms, Some(0.5));
        assert_eq!(s.ack_max_ms, Some(1.5));
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["events_unacked"], 2);
        assert_eq!(json["observers"], 2);
    }

    #[test]
    fn summary_without_acks_spans_the_whole_run() {
        let t0 = Instant::now();
        let stats = SimStats {
            events_sent: 3,
            ..SimStats::default()
        };
        let s = Summary::new(
            "flood",
            "x".into(),
            false,
            1,
            stats,
            t0,
            t0 + Duration::from_secs(2),
        );
        assert_eq!(s.events_unacked, 3);
        assert_eq!(s.elapsed_s, 2.0);
        assert_eq!(s.ack_p99_ms, None);
    }
}
