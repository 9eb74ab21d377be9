//! Reading one configuration file: the size limit every configuration file
//! shares, and lines that are not UTF-8 reported at their line instead of
//! failing the whole file. [`crate::expand`] (host and include files) and
//! [`crate::supervisor`] (`ax436.conf`) read through here; nothing else in
//! the crate touches the file system.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::ConfError;
use crate::model::Origin;

/// Largest configuration file read, for `ax436.conf` and host/include files.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("no such file")]
    NotFound,
    #[error("the file is {size} bytes; at most {MAX_CONFIG_FILE_BYTES} are read")]
    TooLarge { size: u64 },
    #[error("cannot read the file: {0}")]
    Io(io::Error),
}

/// Reads a whole configuration file, refusing more than
/// [`MAX_CONFIG_FILE_BYTES`] even if the file grows while being read.
pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>, ReadError> {
    let io_error = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            ReadError::NotFound
        } else {
            ReadError::Io(e)
        }
    };
    let file = File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    if size > MAX_CONFIG_FILE_BYTES {
        return Err(ReadError::TooLarge { size });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Turns file bytes into text line by line: a line that is not UTF-8 is an
/// error at its line and left empty, so the other lines keep their numbers.
pub(crate) fn decode_lines(
    bytes: &[u8],
    label: &str,
    chain: &[(String, usize)],
) -> (String, Vec<ConfError>) {
    let mut text = String::with_capacity(bytes.len());
    let mut errors = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            text.push('\n');
        }
        match std::str::from_utf8(raw) {
            Ok(line) => text.push_str(line),
            Err(_) => errors.push(ConfError::new(
                Origin {
                    file: label.to_string(),
                    line: i + 1,
                    included_from: chain.to_vec(),
                },
                "the line is not UTF-8 text",
            )),
        }
    }
    (text, errors)
}
