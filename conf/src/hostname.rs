//! Host names as the supervisor accepts them: the observer's name is used to
//! pick `hosts/<name>`, so it must never be able to name any other file.

use std::fmt;
use std::str::FromStr;

/// Longest accepted name, the DNS limit.
pub const MAX_HOST_NAME_LEN: usize = 253;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHostName {
    #[error("the name is empty")]
    Empty,
    #[error("the name is {0} characters long; at most 253 are allowed")]
    TooLong(usize),
    #[error("the name starts with `.`")]
    LeadingDot,
    #[error("the name contains {0:?}; only letters, digits, `.`, `_` and `-` are allowed")]
    BadCharacter(char),
}

/// A checked host name: `[A-Za-z0-9._-]`, 1–253 characters, not starting with
/// `.` — so it is always a plain file name inside the hosts folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostName(String);

impl HostName {
    pub fn new(name: &str) -> Result<HostName, InvalidHostName> {
        check_plain_name(name)?;
        Ok(HostName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rule shared by host names and include names.
pub(crate) fn check_plain_name(name: &str) -> Result<(), InvalidHostName> {
    if name.is_empty() {
        return Err(InvalidHostName::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(InvalidHostName::BadCharacter(c));
    }
    if name.len() > MAX_HOST_NAME_LEN {
        return Err(InvalidHostName::TooLong(name.len()));
    }
    if name.starts_with('.') {
        return Err(InvalidHostName::LeadingDot);
    }
    Ok(())
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for HostName {
    type Err = InvalidHostName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostName::new(s)
    }
}

impl AsRef<str> for HostName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for n in ["web1", "db-2.example.org", "A_b", "x", "a..b", "-x"] {
            assert_eq!(HostName::new(n).unwrap().as_str(), n);
        }
        assert!(HostName::new(&"a".repeat(253)).is_ok());
    }

    #[test]
    fn names_that_could_escape_the_folder_are_refused() {
        assert_eq!(HostName::new(""), Err(InvalidHostName::Empty));
        assert_eq!(
            HostName::new("../ax436.conf"),
            Err(InvalidHostName::BadCharacter('/'))
        );
        assert_eq!(
            HostName::new("a/b"),
            Err(InvalidHostName::BadCharacter('/'))
        );
        assert_eq!(HostName::new(".hidden"), Err(InvalidHostName::LeadingDot));
        assert_eq!(HostName::new(".."), Err(InvalidHostName::LeadingDot));
        assert_eq!(
            HostName::new("a b"),
            Err(InvalidHostName::BadCharacter(' '))
        );
        assert_eq!(HostName::new("é"), Err(InvalidHostName::BadCharacter('é')));
        assert_eq!(
            HostName::new("a\0"),
            Err(InvalidHostName::BadCharacter('\0'))
        );
        assert_eq!(
            HostName::new(&"a".repeat(254)),
            Err(InvalidHostName::TooLong(254))
        );
    }
}
