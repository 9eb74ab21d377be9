//! The LAN's pre-shared key: 32 random bytes, kept in a file as 64 hex
//! characters (surrounding whitespace allowed).

use std::fmt;
use std::path::Path;

use chacha20poly1305::aead::Generate;

/// A 32-byte pre-shared key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "key file {path}: {problem}; a key file holds exactly 64 hex characters (make one with `supervisor --gen-key FILE`)"
    )]
    Malformed { path: String, problem: String },
    #[error("the system's random number generator failed: {0}")]
    Random(String),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, KeyError> {
        <[u8; 32]>::try_generate()
            .map(Key)
            .map_err(|e| KeyError::Random(e.to_string()))
    }

    /// The key's file form: 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the file form; `Err` says what is wrong, without the key.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(format!("found {} characters", text.chars().count()));
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
            bytes[i] = u8::from_str_radix(hex, 16)
                .map_err(|_| format!("`{hex}` at position {} is not hex", 2 * i + 1))?;
        }
        Ok(Key(bytes))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        // A key file is tiny; refuse to read something huge by mistake.
        if meta.len() > 4096 {
            return Err(KeyError::Malformed {
                path: shown,
                problem: format!("file is {} bytes", meta.len()),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        Key::from_hex(&text).map_err(|problem| KeyError::Malformed {
            path: shown,
            problem,
        })
    }
}

/// A random `u64` from the operating system's generator (run ids, event id
/// seeds).
pub fn random_u64() -> Result<u64, KeyError> {
    u64::try_generate().map_err(|e| KeyError::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let key = Key::generate().unwrap();
        assert_eq!(
            Key::from_hex(&format!("  {}\n", key.to_hex())).unwrap(),
            key
        );
    }

    #[test]
    fn malformed_key_text_is_explained() {
        assert_eq!(Key::from_hex("abc").unwrap_err(), "found 3 characters");
        let bad = format!("{}zz", "0".repeat(62));
        assert!(Key::from_hex(&bad).unwrap_err().contains("not hex"));
        assert!(Key::from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn malformed_key_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("wire-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.key");
        std::fs::write(&path, "not a key").unwrap();
        let err = Key::load(&path).unwrap_err().to_string();
        assert!(err.contains("bad.key"), "{err}");
        assert!(err.contains("64 hex characters"), "{err}");
        let missing = Key::load(&dir.join("missing.key")).unwrap_err().to_string();
        assert!(missing.contains("cannot read key file"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", Key::from_bytes([7; 32])), "Key(..)");
    }
}
