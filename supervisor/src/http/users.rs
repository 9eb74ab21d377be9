//! The HTTP users file (`http_users:`) and password checks.
//!
//! One user a line: `NAME ROLE HASH`, where ROLE is `viewer` (reads pages,
//! the API and metrics) or `operator` (also acts: acknowledges problems),
//! and HASH is an Argon2id hash in the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$…`) as `supervisor hash-password NAME
//! ROLE` prints it. `#` starts a comment line. Errors name `FILE:LINE`, like
//! every other configuration file of 436, and all of them are reported.
//!
//! Argon2id with the crate's default parameters (19 MiB, 2 passes, the
//! OWASP recommendation) costs tens of milliseconds per check by design, so
//! a successful check is remembered for [`CREDENTIAL_CACHE_TTL`] under a
//! SHA-256 of the name and password (never the password itself), and checks
//! run on the blocking pool, never on the supervisor's loop.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use conf::{ConfError, ConfErrors, Origin};
use sha2::{Digest, Sha256};

/// How long a successful password check is remembered.
pub const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(300);

/// Most remembered checks; past it the cache is emptied (a flood of
/// distinct good passwords is not a case worth more code).
const CREDENTIAL_CACHE_MAX: usize = 1024;

/// Largest users file read.
const MAX_USERS_FILE_BYTES: u64 = 1 << 20;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads pages, the API and metrics.
    Viewer,
    /// Also acts (acknowledges problems).
    Operator,
}

impl Role {
    pub fn parse(word: &str) -> Option<Role> {
        match word {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

/// One line of the users file.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The PHC string, checked to parse when the file was read.
    hash: String,
}

/// The users file, read once at start.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: HashMap<String, User>,
}

/// Whether `name` can be a user name: letters, digits, `.`, `_`, `-`, `@`
/// (no `:`, which ends the name in HTTP basic authentication).
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl Users {
    /// Reads the users file; errors are labelled with the path as given.
    pub fn load(path: &Path) -> Result<Users, ConfErrors> {
        let label = path.display().to_string();
        let whole_file =
            |message: String| ConfErrors(vec![ConfError::new(origin(&label, 0), message)]);
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_USERS_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| whole_file(format!("cannot read the users file: {e}")))?;
        if bytes.len() as u64 > MAX_USERS_FILE_BYTES {
            return Err(whole_file(format!(
                "file is larger than {MAX_USERS_FILE_BYTES} bytes"
            )));
        }
        let text = String::from_utf8_lossy(&bytes);
        Users::parse(&text, &label)
    }

    /// Parses the text of a users file; `label` names it in errors.
    pub fn parse(text: &str, label: &str) -> Result<Users, ConfErrors> {
        let mut users: HashMap<String, User> = HashMap::new();
        let mut lines_of: HashMap<String, usize> = HashMap::new();
        let mut errors = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut bad =
                |message: String| errors.push(ConfError::new(origin(label, line_no), message));
            let words: Vec<&str> = line.split_whitespace().collect();
            let [name, role, hash] = words.as_slice() else {
                bad(format!(
                    "expected `NAME ROLE HASH` (make the line with `supervisor hash-password NAME ROLE`), found {} words",
                    words.len()
                ));
                continue;
            };
            if !valid_user_name(name) {
                bad(format!(
                    "user name `{name}` may hold only letters, digits, `.`, `_`, `-` and `@` (at most 64)"
                ));
                continue;
            }
            let Some(role) = Role::parse(role) else {
                bad(format!(
                    "role must be `viewer` or `operator`, found `{role}`"
                ));
                continue;
            };
            match PasswordHash::new(hash) {
                Ok(h) if h.algorithm.as_str() == "argon2id" => {}
                Ok(h) => {
                    bad(format!(
                        "password hash of `{name}` uses `{}`; only argon2id hashes from `supervisor hash-password` are accepted",
                        h.algorithm
                    ));
                    continue;
                }
                Err(e) => {
                    bad(format!(
                        "password hash of `{name}` is not a PHC string ({e}); make one with `supervisor hash-password`"
                    ));
                    continue;
                }
            }
            if let Some(first) = lines_of.get(*name) {
                bad(format!(
                    "user `{name}` is listed twice (first at line {first})"
                ));
                continue;
            }
            lines_of.insert(name.to_string(), line_no);
            users.insert(
                name.to_string(),
                User {
                    name: name.to_string(),
                    role,
                    hash: hash.to_string(),
                },
            );
        }
        if errors.is_empty() {
            Ok(Users { users })
        } else {
            Err(ConfErrors(errors))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// The user's role when `password` is theirs. Slow (Argon2): call it off
    /// the loop, or through [`CredentialCache`].
    pub fn check(&self, name: &str, password: &str) -> Option<Role> {
        let user = self.users.get(name)?;
        let hash = PasswordHash::new(&user.hash).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()
            .map(|()| user.role)
    }
}

fn origin(label: &str, line: usize) -> Origin {
    Origin {
        file: label.to_string(),
        line,
        included_from: Vec::new(),
    }
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password is empty")]
    Empty,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// An Argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    if password.is_empty() {
        return Err(HashError::Empty);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

/// Successful checks remembered for a while, keyed by a digest of the
/// name and password.
#[derive(Debug, Default)]
pub struct CredentialCache {
    good: HashMap<[u8; 32], (Role, Instant)>,
}

impl CredentialCache {
    pub fn key(name: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    pub fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<Role> {
        match self.good.get(key) {
            Some((role, until)) if *until > now => Some(*role),
            Some(_) => {
                self.good.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&mut self, key: [u8; 32], role: Role, now: Instant) {
        if self.good.len() >= CREDENTIAL_CACHE_MAX {
            self.good.clear();
        }
        self.good.insert(key, (role, now + CREDENTIAL_CACHE_TTL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_password_checks_and_wrong_one_does_not() {
        let hash = hash_password("correct horse").unwrap();
        let users = Users::parse(&format!("# team\nana operator {hash}\n\n"), "users").unwrap();
        assert_eq!(users.check("ana", "correct horse"), Some(Role::Operator));
        assert_eq!(users.check("ana", "correct horse "), None);
        assert_eq!(users.check("bob", "correct horse"), None);
    }

    #[test]
    fn every_bad_line_is_reported_with_file_and_line() {
        let hash = hash_password("pw").unwrap();
        let text = format!(
            "ana operator {hash}\nbob admin {hash}\ncarl viewer not-a-hash\nd:e viewer {hash}\nana viewer {hash}\nonly two\n"
        );
        let errors: Vec<String> = Users::parse(&text, "etc/users")
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(
            errors[0].starts_with("etc/users:2: role must be"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("etc/users:3: password hash of `carl`"),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("etc/users:4: user name `d:e`"),
            "{errors:?}"
        );
        assert!(
            errors[3].starts_with("etc/users:5: user `ana` is listed twice (first at line 1)"),
            "{errors:?}"
        );
        assert!(
            errors[4].starts_with("etc/users:6: expected `NAME ROLE HASH`"),
            "{errors:?}"
        );
    }

    #[test]
    fn cache_forgets_after_its_time() {
        let mut cache = CredentialCache::default();
        let t0 = Instant::now();
        let key = CredentialCache::key("ana", "pw");
        cache.insert(key, Role::Viewer, t0);
        assert_eq!(cache.get(&key, t0), Some(Role::Viewer));
        assert_eq!(cache.get(&CredentialCache::key("ana", "pw2"), t0), None);
        assert_eq!(cache.get(&key, t0 + CREDENTIAL_CACHE_TTL), None);
    }
}
