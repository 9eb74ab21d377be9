//! Build script of the supervisor and the observer: puts the commit being
//! built into `AX436_COMMIT`, which `--version` prints.
//!
//! The commit comes from `AX436_COMMIT` when set (a package built from a
//! tarball can pass it), else from git when this workspace is the top of a
//! git work tree, else it is `unknown`: a build never fails for want of git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=AX436_COMMIT");
    let commit = std::env::var("AX436_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(commit_from_git)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=AX436_COMMIT={}", commit.trim());
}

/// The short hash of HEAD, and rebuild triggers for when HEAD moves.
fn commit_from_git() -> Option<String> {
    // Only this workspace's own history: a tarball unpacked inside some
    // other repository must not report that repository's commit.
    let workspace = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR")?)
        .parent()?
        .canonicalize()
        .ok()?;
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?)
        .canonicalize()
        .ok()?;
    if top != workspace {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD itself (a checkout), the branch it names (a commit) and the
    // packed refs (a branch packed by gc); only files that exist, because
    // cargo re-runs a build script on every build for a missing one.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}

/// One line of git's output, or `None` when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.trim();
    (!line.is_empty()).then(|| line.to_string())
}
