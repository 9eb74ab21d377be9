//! The real observer core against the real supervisor state machine in
//! virtual time (see `sim/mod.rs`): delivery under loss, duplication and
//! reordering, configuration under loss, failover from a killed supervisor
//! within 3 s, and a lossy supervisor kept. Each scenario runs over many
//! seeds; a failure prints its seed.

mod sim;

use std::time::{Duration, Instant};

use sim::{Link, Seeded, Sim};

const SEC: Duration = Duration::from_secs(1);

/// A configuration of several chunks that runs nothing (events are raised
/// by the simulation).
fn big_config() -> String {
    let mut text = String::from("# simulated host\n");
    for i in 0..80 {
        text.push_str(&format!(
            "# filler line {i:04} to make the configuration span chunks\n"
        ));
    }
    text
}

fn bad_link() -> Link {
    Link {
        loss: 20,
        duplicate: 10,
        reorder: 20,
        reorder_by: Duration::from_millis(80),
        delay: Duration::from_millis(2),
    }
}

/// Raises one event every `every` for `n` events.
fn raise_every(sim: &mut Sim, n: usize, every: Duration) {
    for _ in 0..n {
        sim.raise();
        sim.run_for(every);
    }
}

#[test]
fn events_reach_the_stream_exactly_once_over_a_lossy_duplicating_reordering_link() {
    let started = Instant::now();
    for seed in 0..200 {
        let _s = Seeded(seed, "lossy link");
        let mut sim = Sim::new(seed);
        sim.add_supervisor("sup-a", &big_config(), bad_link());
        assert!(
            sim.run_until(60 * SEC, |s| s.observer.session().version().is_some()),
            "the configuration never arrived"
        );
        // Bursts and a trickle, so datagrams carry one and many events.
        for _ in 0..5 {
            for _ in 0..20 {
                sim.raise();
            }
            raise_every(&mut sim, 5, Duration::from_millis(300));
        }
        assert!(
            sim.run_until(120 * SEC, |s| s.missing().is_empty()
                && s.observer.queue_len() == 0),
            "missing after 120 s: {:?}",
            sim.missing()
        );
        assert_eq!(sim.doubled_in_one_stream(), Vec::<(String, String)>::new());
        assert_eq!(sim.observer.queue_len(), 0, "everything acknowledged");
    }
    eprintln!("200 lossy-link scenarios in {:?}", started.elapsed());
}

#[test]
fn a_failing_spool_still_delivers_and_reports_the_problem() {
    for seed in 0..20 {
        let _s = Seeded(seed, "failing spool");
        let mut sim = Sim::new(seed);
        sim.add_supervisor("sup-a", "# empty\n", Link::clean());
        assert!(sim.run_until(10 * SEC, |s| s.observer.session().version().is_some()));
        sim.spool_fails = true;
        raise_every(&mut sim, 5, Duration::from_millis(200));
        sim.spool_fails = false;
        raise_every(&mut sim, 1, Duration::from_millis(200));
        assert!(sim.run_until(20 * SEC, |s| s.missing().is_empty()));
        // The spool problem was raised and cleared as SYSTEM events (not
        // tagged `sim`): everything the simulation raised arrived once.
        assert!(sim.doubled_in_one_stream().is_empty());
    }
}

/// Two supervisors on clean links; the observer works with one, raising an
/// event every 0.5 s; that one is killed. Returns the virtual time from the
/// kill until the other one's stream has an event.
fn failover_after_kill(seed: u64) -> (Duration, Sim) {
    let mut sim = Sim::new(seed);
    sim.add_supervisor("sup-a", "# same\n", Link::clean());
    sim.add_supervisor("sup-b", "# same\n", Link::clean());
    assert!(sim.run_until(10 * SEC, |s| s.observer.session().version().is_some()));
    // Work a while, then kill at a seeded moment between two events.
    raise_every(&mut sim, 10, Duration::from_millis(500));
    let offset = Duration::from_millis(sim.rng.below(500));
    sim.run_for(offset);
    let victim = sim.chosen().expect("a supervisor is chosen");
    let other = 1 - victim;
    let before = sim.supervisors[other].written.len();
    let requests_before = sim.supervisors[other].machine.counters().config_requests;
    sim.kill(victim);
    let killed_at = sim.elapsed();
    let mut reached = None;
    for _ in 0..40 {
        sim.raise();
        for _ in 0..50 {
            sim.run_for(Duration::from_millis(10));
            if reached.is_none() && sim.supervisors[other].written.len() > before {
                reached = Some(sim.elapsed() - killed_at);
            }
        }
    }
    assert!(sim.run_until(30 * SEC, |s| s.missing().is_empty()
        && s.observer.queue_len() == 0));
    assert_eq!(sim.chosen(), Some(other));
    // The new supervisor was asked for the configuration again.
    assert!(sim.supervisors[other].machine.counters().config_requests > requests_before);
    (
        reached.expect("no event ever reached the other supervisor"),
        sim,
    )
}

#[test]
fn after_a_kill_the_first_event_reaches_another_supervisor_within_3_s() {
    let mut worst = Duration::ZERO;
    for seed in 0..100 {
        let _s = Seeded(seed, "kill -9 failover");
        let (took, sim) = failover_after_kill(seed);
        assert!(
            took <= 3 * SEC,
            "first event reached the other supervisor after {took:?}"
        );
        // Nothing lost (checked in failover_after_kill) and nothing doubled:
        // every event in exactly one stream.
        let counts = sim.written_counts();
        let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubled.is_empty(), "doubled: {doubled:?}");
        worst = worst.max(took);
    }
    eprintln!("worst failover over 100 seeds: {worst:?}");
}

#[test]
fn a_supervisor_with_30_percent_loss_both_ways_is_kept() {
    for seed in 0..100 {
        let _s = Seeded(seed, "lossy supervisor kept");
        let mut sim = Sim::new(seed);
        sim.add_supervisor("sup-a", "# same\n", Link::clean());
        assert!(sim.run_until(10 * SEC, |s| s.observer.session().version().is_some()));
        sim.add_supervisor("sup-b", "# same\n", Link::clean());
        sim.run_for(3 * SEC);
        assert_eq!(sim.chosen(), Some(0));
        sim.supervisors[0].link.loss = 30;
        for _ in 0..240 {
            sim.raise();
            sim.run_for(Duration::from_millis(500));
            assert_eq!(
                sim.chosen(),
                Some(0),
                "left the lossy supervisor at {:?}",
                sim.elapsed()
            );
        }
        assert!(sim.run_until(60 * SEC, |s| s.missing().is_empty()));
        assert!(sim.doubled_in_one_stream().is_empty());
    }
}

#[test]
fn a_supervisor_that_answers_but_acknowledges_nothing_for_ten_seconds_is_left() {
    for seed in 0..20 {
        let _s = Seeded(seed, "no acknowledgement for 10 s");
        let mut sim = Sim::new(seed);
        sim.beacon_interval = SEC;
        sim.add_supervisor("sup-a", "# same\n", Link::clean());
        assert!(sim.run_until(10 * SEC, |s| s.observer.session().version().is_some()));
        sim.add_supervisor("sup-b", "# same\n", Link::clean());
        sim.run_for(3 * SEC);
        assert_eq!(sim.chosen(), Some(0));
        // A runs and beacons and answers probes, but cannot write its
        // stream, so it acknowledges nothing.
        sim.supervisors[0].stream_fails = true;
        let msg = sim.raise();
        let from = sim.elapsed();
        let mut moved = None;
        while sim.elapsed() < from + 20 * SEC {
            sim.run_for(Duration::from_millis(100));
            if moved.is_none() && sim.chosen() == Some(1) {
                moved = Some(sim.elapsed() - from);
            }
        }
        let moved = moved.expect("never moved");
        assert!(
            moved >= 10 * SEC && moved <= 11 * SEC,
            "moved after {moved:?}"
        );
        assert_eq!(sim.supervisors[1].written, vec![msg]);
        assert!(sim.supervisors[0].written.is_empty());
    }
}

#[test]
fn a_changed_host_file_reaches_the_observer_over_a_lossy_link() {
    for seed in 0..50 {
        let _s = Seeded(seed, "configuration change");
        let mut sim = Sim::new(seed);
        sim.add_supervisor("sup-a", "# first\n", bad_link());
        assert!(sim.run_until(60 * SEC, |s| s.observer.session().version().is_some()));
        let first = sim.observer.session().version();
        raise_every(&mut sim, 5, Duration::from_millis(200));
        sim.change_config(0, &big_config());
        assert!(
            sim.run_until(120 * SEC, |s| s.observer.session().version() != first),
            "the new configuration never arrived"
        );
        raise_every(&mut sim, 5, Duration::from_millis(200));
        assert!(sim.run_until(120 * SEC, |s| s.missing().is_empty()));
        assert!(sim.doubled_in_one_stream().is_empty());
    }
}
