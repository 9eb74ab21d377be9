//! One simulation harness (quinn-proto's `tests/util.rs` `Pair` is the
//! model): the REAL observer core ([`observer::core::Observer`]) against
//! one or more REAL supervisor state machines
//! ([`supervisor::Supervisor`]) in virtual time, with the network between
//! them a seeded queue of datagrams. A link's loss, duplication, reordering
//! and delay are one field each ([`Link`]); a scenario prints its seed when
//! it fails ([`Seeded`]). No sockets, no sleeping: hundreds of scenarios a
//! second.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conf::{HostName, StreamFormat};
use observer::checks::{JobOutput, JobResult, Work};
use observer::clock::{LocalMinute, Now};
use observer::core::{Observer, Spooled};
use observer::raised::Raised;
use supervisor::{HostChange, HostEntry, Settings, Supervisor};
use wire::{CheckEvent, Codec};

/// Answers the jobs of the observer's checks at once, in virtual time (the
/// simulated host's process table and commands).
pub type JobScript = Box<dyn FnMut(&Work) -> JobOutput>;

pub const HOST: &str = "sim-host";
/// Where the observer's session socket is.
pub const OBSERVER: &str = "10.0.0.9:40000";
/// Supervisors beacon to this broadcast address (port P).
pub const BROADCAST: &str = "10.0.0.255:9000";

/// A small seeded generator (xorshift).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u32) -> bool {
        percent > 0 && self.next() % 100 < u64::from(percent)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Prints the seed if the scenario panics (the test then fails).
pub struct Seeded(pub u64, pub &'static str);

impl Drop for Seeded {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("scenario {} failed with seed {}", self.1, self.0);
        }
    }
}

/// What happens to datagrams between the observer and one supervisor, in
/// both directions.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Percent of datagrams dropped.
    pub loss: u32,
    /// Percent of datagrams delivered twice.
    pub duplicate: u32,
    /// Percent of datagrams held back by up to `reorder_by` (so later ones
    /// overtake them).
    pub reorder: u32,
    pub reorder_by: Duration,
    /// One-way delay of every datagram.
    pub delay: Duration,
}

impl Link {
    pub fn clean() -> Link {
        Link {
            loss: 0,
            duplicate: 0,
            reorder: 0,
            reorder_by: Duration::ZERO,
            delay: Duration::from_millis(1),
        }
    }
}

/// One supervisor of the simulation and its event stream.
pub struct SimSupervisor {
    pub name: String,
    pub addr: SocketAddr,
    pub machine: Supervisor,
    pub link: Link,
    /// Killed (`kill -9`): receives and sends nothing, no timers.
    pub dead: bool,
    /// Messages of this host's events written to its stream, in order.
    pub written: Vec<String>,
    /// Fail every stream write while set.
    pub stream_fails: bool,
    /// Every stream line written for the host (JSON).
    pub lines: Vec<serde_json::Value>,
}

struct Datagram {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// The simulated LAN; see the module doc.
pub struct Sim {
    pub rng: Rng,
    t0: Instant,
    wall0: i64,
    elapsed: Duration,
    pub observer: Observer,
    codec: Codec,
    pub supervisors: Vec<SimSupervisor>,
    queue: BTreeMap<(Duration, u64), Datagram>,
    seq: u64,
    /// Messages raised so far.
    pub raised: Vec<String>,
    /// Virtual time each message was raised at.
    pub raised_at: BTreeMap<String, Duration>,
    /// Fail spool writes while set (the records; ids stay safe).
    pub spool_fails: bool,
    /// Batches written to the simulated spool, in order.
    pub spooled: Vec<u64>,
    /// Beacon interval of supervisors added from now on.
    pub beacon_interval: Duration,
    /// Runs the checks' jobs; `None`: the configuration must run none.
    pub jobs: Option<JobScript>,
    /// Every event the observer spooled, in order, with check and
    /// transition.
    pub events: Vec<CheckEvent>,
    /// The local time the observer sees (for `active:` windows).
    pub local: LocalMinute,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Sim {
    /// An observer whose host has `config` on every supervisor; supervisors
    /// are added with [`Sim::add_supervisor`].
    pub fn new(seed: u64) -> Sim {
        let t0 = Instant::now();
        let wall0 = 1_800_000_000_000;
        let now = Now {
            mono: t0,
            wall_ms: wall0,
            local: LocalMinute {
                weekday: 3,
                hour: 12,
                minute: 0,
            },
        };
        let observer = Observer::new(
            HOST,
            Codec::open(),
            now,
            Spooled {
                next_id: 1,
                events: Vec::new(),
            },
        );
        Sim {
            rng: Rng::new(seed),
            t0,
            wall0,
            elapsed: Duration::ZERO,
            observer,
            codec: Codec::open(),
            supervisors: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            raised: Vec::new(),
            raised_at: BTreeMap::new(),
            spool_fails: false,
            spooled: Vec::new(),
            beacon_interval: Duration::from_secs(5),
            jobs: None,
            events: Vec::new(),
            local: LocalMinute {
                weekday: 3,
                hour: 12,
                minute: 0,
            },
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    fn now(&self) -> Now {
        Now {
            mono: self.t0 + self.elapsed,
            wall_ms: self.wall0 + self.elapsed.as_millis() as i64,
            local: self.local,
        }
    }

    fn sup_now(&self) -> supervisor::Now {
        supervisor::Now {
            mono: self.t0 + self.elapsed,
            wall_ms: (self.wall0 + self.elapsed.as_millis() as i64) as u64,
        }
    }

    /// A supervisor serving `config` to the host, reached through `link`.
    pub fn add_supervisor(&mut self, name: &str, config: &str, link: Link) -> usize {
        let i = self.supervisors.len();
        let settings = Settings {
            supervisor_name: name.to_string(),
            run_id: 100 + i as u64,
            broadcast: vec![addr(BROADCAST)],
            max_idle: Duration::from_secs(120),
            beacon_interval: self.beacon_interval,
            stream_format: StreamFormat::Json,
        };
        let catalog = vec![HostChange {
            host: HostName::new(HOST).unwrap(),
            entry: Some(Arc::new(HostEntry::from_text(config, &[], &[]))),
        }];
        let machine = Supervisor::new(settings, Codec::open(), self.sup_now(), catalog);
        self.supervisors.push(SimSupervisor {
            name: name.to_string(),
            addr: SocketAddr::from(([10, 0, 0, 1 + i as u8], 9001)),
            machine,
            link,
            dead: false,
            written: Vec::new(),
            stream_fails: false,
            lines: Vec::new(),
        });
        self.pump();
        i
    }

    /// The observer raises one event now; returns its message.
    pub fn raise(&mut self) -> String {
        let msg = format!("ev {}", self.raised.len());
        let now = self.now();
        self.observer
            .handle_raised(vec![Raised::alert(now.wall_ms, "sim", None, msg.clone())]);
        self.raised.push(msg.clone());
        self.raised_at.insert(msg.clone(), self.elapsed);
        self.pump();
        msg
    }

    /// The host's file on supervisor `i` now holds `config` (the supervisor
    /// resets the observer, which fetches it).
    pub fn change_config(&mut self, i: usize, config: &str) {
        let change = HostChange {
            host: HostName::new(HOST).unwrap(),
            entry: Some(Arc::new(HostEntry::from_text(config, &[], &[]))),
        };
        let now = self.sup_now();
        self.supervisors[i]
            .machine
            .handle_catalog(now, vec![change]);
        self.pump();
    }

    /// What supervisor `i` knows of the fleet now (hosts and open
    /// problems), as its status page and API show it.
    pub fn fleet(&self, i: usize) -> supervisor::fleet::FleetSnapshot {
        self.supervisors[i].machine.fleet_snapshot(self.sup_now())
    }

    /// `kill -9` of supervisor `i`: datagrams on the way to it are lost.
    pub fn kill(&mut self, i: usize) {
        self.supervisors[i].dead = true;
    }

    /// Sends `bytes` over the link of supervisor `sup` (both directions).
    fn route(&mut self, sup: usize, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let link = self.supervisors[sup].link;
        if self.rng.chance(link.loss) {
            return;
        }
        let copies = if self.rng.chance(link.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = link.delay;
            if self.rng.chance(link.reorder) {
                let by = link.reorder_by.as_micros() as u64;
                delay += Duration::from_micros(self.rng.below(by + 1));
            }
            self.seq += 1;
            self.queue.insert(
                (self.elapsed + delay, self.seq),
                Datagram {
                    from,
                    to,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    /// Carries out everything the machines ask for at the current instant,
    /// until nothing changes.
    fn pump(&mut self) {
        let now = self.now();
        let snow = self.sup_now();
        while let Some(job) = self.observer.poll_job() {
            let Some(script) = self.jobs.as_mut() else {
                panic!("the simulated configuration runs no checks: {job:?}");
            };
            let output = script(&job.work);
            self.observer.handle_job(
                now,
                JobResult {
                    ticket: job.ticket,
                    output,
                },
            );
        }
        // The spool: written, or failing, at once.
        if let Some(batch) = self.observer.take_spool_batch(now.mono) {
            self.events.extend(batch.events.iter().cloned());
            let result = if self.spool_fails {
                Err(observer::core::SpoolFailure::RecordsNotWritten(
                    "simulated full disk".into(),
                ))
            } else {
                self.spooled.push(batch.events.len() as u64);
                Ok(())
            };
            self.observer.handle_spool_written(now, result);
        }
        let _ = self.observer.poll_follow();
        let obs = addr(OBSERVER);
        while let Some((to, msg)) = self.observer.poll_transmit() {
            let bytes = self.codec.encode(&msg, now.wall_ms as u64).unwrap();
            if let Some(i) = self.supervisors.iter().position(|s| s.addr == to) {
                self.route(i, obs, to, bytes);
            }
        }
        for i in 0..self.supervisors.len() {
            if self.supervisors[i].dead {
                continue;
            }
            if let Some(batch) = self.supervisors[i].machine.take_stream_batch() {
                let s = &mut self.supervisors[i];
                let result = if s.stream_fails {
                    Err(std::io::Error::other("simulated stream failure"))
                } else {
                    for line in String::from_utf8(batch.lines).unwrap().lines() {
                        let v: serde_json::Value = serde_json::from_str(line).unwrap();
                        if v["host"] == HOST && v["tags"] == "sim" {
                            s.written.push(v["message"].as_str().unwrap().to_string());
                        }
                        if v["host"] == HOST {
                            s.lines.push(v);
                        }
                    }
                    Ok(())
                };
                s.machine.handle_stream_written(snow, result);
            }
            let from = self.supervisors[i].addr;
            while let Some(t) = self.supervisors[i].machine.poll_transmit() {
                if t.to == addr(BROADCAST) || t.to == obs {
                    self.route(i, from, obs, t.datagram);
                }
            }
        }
    }

    fn next_wakeup(&self) -> Duration {
        let now = self.now().mono;
        let mut t = self.observer.poll_timeout(now);
        for s in self.supervisors.iter().filter(|s| !s.dead) {
            t = t.min(s.machine.poll_timeout());
        }
        let mut d = t.saturating_duration_since(self.t0);
        if let Some(((at, _), _)) = self.queue.first_key_value() {
            d = d.min(*at);
        }
        d.max(self.elapsed)
    }

    /// Runs the world for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.elapsed + d;
        let mut same = 0;
        loop {
            let next = self.next_wakeup();
            if next > end {
                self.elapsed = end;
                break;
            }
            same = if next == self.elapsed { same + 1 } else { 0 };
            assert!(
                same < 10_000,
                "no progress at {:?}: the observer wants {:?}, datagrams queued {}",
                self.elapsed,
                self.observer
                    .poll_timeout(self.t0 + self.elapsed)
                    .saturating_duration_since(self.t0),
                self.queue.len()
            );
            self.elapsed = next;
            self.step();
        }
        self.step();
    }

    /// Delivers what is due and runs every timer due now.
    fn step(&mut self) {
        let now = self.now();
        let snow = self.sup_now();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.elapsed {
                break;
            }
            let d = entry.remove();
            if d.to == addr(OBSERVER) {
                if let Ok(msg) = self.codec.decode(&d.bytes, now.wall_ms as u64) {
                    self.observer.handle_datagram(now, d.from, msg);
                }
            } else if let Some(s) = self
                .supervisors
                .iter_mut()
                .find(|s| s.addr == d.to && !s.dead)
            {
                s.machine.handle_datagram(snow, d.from, &d.bytes);
            }
            self.pump();
        }
        self.observer.handle_timeout(now);
        for s in self.supervisors.iter_mut().filter(|s| !s.dead) {
            s.machine.handle_timeout(snow);
        }
        self.pump();
    }

    /// Runs until `cond` holds or `limit` of virtual time passed; returns
    /// whether it held.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.elapsed + limit;
        while !cond(self) {
            if self.elapsed >= end {
                return false;
            }
            let step = (self.next_wakeup() - self.elapsed).max(Duration::from_micros(100));
            self.run_for(step.min(end - self.elapsed));
        }
        true
    }

    /// How often each raised message is in any stream, and in which.
    pub fn written_counts(&self) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for s in &self.supervisors {
            for m in &s.written {
                *seen.entry(m.clone()).or_insert(0) += 1;
            }
        }
        seen
    }

    /// Messages raised but in no stream.
    pub fn missing(&self) -> BTreeSet<String> {
        let seen = self.written_counts();
        self.raised
            .iter()
            .filter(|m| !seen.contains_key(*m))
            .cloned()
            .collect()
    }

    /// Messages written more than once to any one stream.
    pub fn doubled_in_one_stream(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for s in &self.supervisors {
            let mut seen = BTreeSet::new();
            for m in &s.written {
                if !seen.insert(m) {
                    out.push((s.name.clone(), m.clone()));
                }
            }
        }
        out
    }

    /// The supervisor the observer works with, by index.
    pub fn chosen(&self) -> Option<usize> {
        let c = self.observer.session().chosen()?;
        self.supervisors.iter().position(|s| s.addr == c)
    }
}
