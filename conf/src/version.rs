//! The version of an expanded host configuration: a hash of its text, so the
//! supervisor and observer agree on "same configuration" without a counter
//! that would have to survive restarts.

use std::fmt;

use sha2::{Digest, Sha256};

/// First 8 bytes (big-endian) of the SHA-256 of the expanded text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConfigVersion(pub u64);

impl ConfigVersion {
    pub fn of(text: &str) -> ConfigVersion {
        let digest = Sha256::digest(text.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        ConfigVersion(u64::from_be_bytes(first))
    }
}

impl fmt::Display for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_sha256_prefix() {
        // sha256("") = e3b0c44298fc1c14...
        assert_eq!(ConfigVersion::of("").0, 0xe3b0_c442_98fc_1c14);
        assert_eq!(ConfigVersion::of("").to_string(), "e3b0c44298fc1c14");
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(ConfigVersion::of("abc").to_string(), "ba7816bf8f01cfea");
    }

    #[test]
    fn display_pads_to_16_digits() {
        assert_eq!(ConfigVersion(1).to_string(), "0000000000000001");
    }
}
