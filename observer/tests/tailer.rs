//! The log tailer against real files: rotation by rename, copy-truncate,
//! delete and re-create, a file appearing late, partial lines — and a seeded
//! generated sequence of those actions checked against a model: every line
//! is read exactly once, in order.

mod common;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Rng, append};
use observer::tailer::{LogTailer, TailState};

/// An empty `app.log` in a fresh folder, followed from its (empty) end.
fn empty_followed() -> (tempfile::TempDir, PathBuf, LogTailer) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    File::create(&p).unwrap();
    let t = LogTailer::at_end(&p, Instant::now());
    (dir, p, t)
}

/// What copy-truncate does to the live file after the copy.
fn truncate(path: &Path) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

fn poll(t: &mut LogTailer) -> (Vec<String>, TailState) {
    let mut lines = Vec::new();
    let out = t.poll(Instant::now(), &mut Vec::new(), &mut |l: &[u8]| {
        lines.push(String::from_utf8_lossy(l).into_owned())
    });
    (lines, out.state)
}

#[test]
fn starts_at_the_end_and_reads_appended_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    append(&p, b"old 1\nold 2\n");
    let mut t = LogTailer::at_end(&p, Instant::now());
    append(&p, b"new 1\n");
    assert_eq!(poll(&mut t).0, ["new 1"]);
}

#[test]
fn partial_last_line_waits_for_its_newline() {
    let (_dir, p, mut t) = empty_followed();
    append(&p, b"first half ");
    assert!(poll(&mut t).0.is_empty());
    append(&p, b"second half\nnext");
    assert_eq!(poll(&mut t).0, ["first half second half"]);
    append(&p, b"\n");
    assert_eq!(poll(&mut t).0, ["next"]);
}

#[test]
fn rename_rotation_finishes_the_old_file_then_reads_the_new_from_its_start() {
    let (dir, p, mut t) = empty_followed();
    // A writer that keeps its descriptor across the rename.
    let mut old = OpenOptions::new().append(true).open(&p).unwrap();
    old.write_all(b"a\n").unwrap();
    std::fs::rename(&p, dir.path().join("app.log.1")).unwrap();
    old.write_all(b"b\n").unwrap();
    append(&p, b"c\n");
    assert_eq!(poll(&mut t).0, ["a", "b", "c"]);
    old.write_all(b"late\n").unwrap();
    append(&p, b"d\n");
    assert_eq!(poll(&mut t).0, ["late", "d"]);
}

#[test]
fn copy_truncate_reads_from_the_start_again() {
    let (dir, p, mut t) = empty_followed();
    append(&p, b"one\ntwo\n");
    assert_eq!(poll(&mut t).0, ["one", "two"]);
    std::fs::copy(&p, dir.path().join("app.log.1")).unwrap();
    truncate(&p);
    append(&p, b"three\n");
    assert_eq!(poll(&mut t).0, ["three"]);
    // Truncated and refilled past the old offset between two looks: the
    // fingerprint of the first bytes tells.
    truncate(&p);
    append(&p, b"four is a longer line\n");
    assert_eq!(poll(&mut t).0, ["four is a longer line"]);
}

#[test]
fn delete_and_recreate_reads_the_new_file_from_its_start() {
    let (_dir, p, mut t) = empty_followed();
    append(&p, b"x\n");
    std::fs::remove_file(&p).unwrap();
    append(&p, b"y\n");
    assert_eq!(poll(&mut t).0, ["x", "y"]);
}

#[test]
fn a_file_appearing_late_is_reported_missing_then_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("late.log");
    let mut t = LogTailer::at_end(&p, Instant::now());
    assert_eq!(poll(&mut t), (vec![], TailState::Missing));
    append(&p, b"hello\n");
    assert_eq!(
        poll(&mut t),
        (vec!["hello".to_string()], TailState::Following)
    );
}

#[test]
fn long_lines_are_cut_and_invalid_utf8_is_kept() {
    let (_dir, p, mut t) = empty_followed();
    let mut long = vec![b'x'; 100_000];
    long.push(b'\n');
    append(&p, &long);
    append(&p, b"bad \xff byte\n");
    let (lines, _) = poll(&mut t);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].len(), 64 * 1024);
    assert_eq!(lines[1], "bad \u{fffd} byte");
}

/// The model: lines written, in order. Rotations, truncations and deletes
/// happen after the tailer has looked (as a notification would make it),
/// and never in the middle of a line.
#[test]
fn generated_sequences_read_every_line_exactly_once() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        let (dir, p, mut t) = empty_followed();
        let mut written: Vec<String> = Vec::new();
        let mut read: Vec<String> = Vec::new();
        let mut partial: Option<String> = None;
        let mut n = 0u64;
        let mut actions = Vec::new();
        for _ in 0..80 {
            let a = rng.next() % 10;
            match a {
                0..=3 => {
                    let k = 1 + rng.next() % 5;
                    let mut buf = String::new();
                    if let Some(rest) = partial.take() {
                        buf.push_str(&rest);
                        buf.push('\n');
                    }
                    for _ in 0..k {
                        n += 1;
                        let line = format!(
                            "seed {seed} line {n} {}",
                            "z".repeat((rng.next() % 40) as usize)
                        );
                        buf.push_str(&line);
                        buf.push('\n');
                        written.push(line);
                    }
                    append(&p, buf.as_bytes());
                    actions.push("append");
                }
                4 if partial.is_none() => {
                    n += 1;
                    let line = format!("seed {seed} partial {n} abcdefgh");
                    let cut = 1 + (rng.next() as usize % (line.len() - 1));
                    append(&p, &line.as_bytes()[..cut]);
                    partial = Some(line[cut..].to_string());
                    written.push(line);
                    actions.push("partial");
                }
                5 => {
                    read.extend(poll(&mut t).0);
                    actions.push("poll");
                }
                6..=8 if partial.is_none() => {
                    read.extend(poll(&mut t).0);
                    match a {
                        6 => {
                            if p.exists() {
                                std::fs::rename(&p, dir.path().join(format!("app.log.{n}")))
                                    .unwrap();
                            }
                            actions.push("rename");
                        }
                        7 => {
                            if p.exists() {
                                // logrotate moves older copies away first:
                                // the copy is always a new file.
                                std::fs::copy(&p, dir.path().join(format!("app.log.{n}.copy")))
                                    .unwrap();
                                truncate(&p);
                            }
                            actions.push("truncate");
                        }
                        _ => {
                            if p.exists() {
                                std::fs::remove_file(&p).unwrap();
                            }
                            actions.push("delete");
                        }
                    }
                    if rng.next().is_multiple_of(2) {
                        File::create(&p).unwrap();
                    }
                }
                _ => {}
            }
        }
        if let Some(rest) = partial.take() {
            append(&p, format!("{rest}\n").as_bytes());
        }
        read.extend(poll(&mut t).0);
        read.extend(poll(&mut t).0);
        assert_eq!(read, written, "seed {seed}; actions {actions:?}");
    }
}
