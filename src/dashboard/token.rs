//! The dashboard's login token: 256 random bits from the kernel, written as 64 hex digits in
//! `dashboard.token` (0600) in the project's private state directory, compared in constant time.
//!
//! The file is the token's only home besides the daemon's memory: it survives daemon restarts,
//! so a bookmarked link keeps working until someone rotates the token. It is read only when it is
//! what it should be (a regular file, ours, readable by nobody else, exactly one token); anything
//! else is replaced by a new token rather than trusted (see `paths::read_private_file`).

use std::fmt;
use std::path::Path;

use crate::paths::{self, Durability, PathsError};

/// Random bytes in a token: 256 bits, well above the 128 a guessing attack would have to beat.
const TOKEN_BYTES: usize = 32;
/// The longest token file read (a token and a newline fit many times over).
const MAX_TOKEN_FILE: usize = 1024;

/// A login token. `Debug` does not print it, so it cannot leak into a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// Why the token could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot get random bytes for the dashboard token: {0}")]
    Random(#[source] std::io::Error),
    #[error("dashboard token: {0}")]
    File(#[from] PathsError),
}

impl Token {
    /// A new token from the kernel's random source (`getrandom(2)`, which blocks only until the
    /// pool is initialised at boot).
    pub fn generate() -> Result<Token, TokenError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        let mut filled = 0;
        while filled < bytes.len() {
            match rustix::rand::getrandom(
                &mut bytes[filled..],
                rustix::rand::GetRandomFlags::empty(),
            ) {
                Ok(count) => filled += count,
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => return Err(TokenError::Random(errno.into())),
            }
        }
        Ok(Token(hex(&bytes)))
    }

    /// The token as text (64 lowercase hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this token. Takes the same time wherever the first difference is
    /// (only the length, which is public, shortens it), so timing does not leak the token.
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }

    /// The token of a file's content, if it holds one (surrounding whitespace allowed).
    fn parse(content: &[u8]) -> Option<Token> {
        let text = std::str::from_utf8(content).ok()?.trim();
        let valid = text.len() == TOKEN_BYTES * 2
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        valid.then(|| Token(text.to_string()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The token in `path`, or a new one written there when the file is absent or not a sound token
/// file (another owner, readable by others, not a regular file, not a token). The boolean says
/// whether a file that existed was replaced.
pub fn load_or_create(path: &Path) -> Result<(Token, bool), TokenError> {
    match paths::read_private_file(path, MAX_TOKEN_FILE) {
        Ok(Some(content)) => {
            if let Some(token) = Token::parse(&content) {
                return Ok((token, false));
            }
            Ok((write_new(path)?, true))
        }
        Ok(None) => Ok((write_new(path)?, false)),
        // Not ours, not private, not a file: never trusted, replaced (the rename replaces the
        // directory entry itself, whatever it is, inside our own private directory).
        Err(PathsError::Unsafe { .. }) => Ok((write_new(path)?, true)),
        Err(error) => Err(error.into()),
    }
}

/// Writes a new token to `path` (atomically, 0600, synced) and returns it.
pub fn write_new(path: &Path) -> Result<Token, TokenError> {
    let token = Token::generate()?;
    let mut content = token.as_str().as_bytes().to_vec();
    content.push(b'\n');
    paths::write_private_file(path, &content, Durability::Synced)?;
    Ok(token)
}

/// `a == b` in time that depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |difference, (x, y)| difference | (x ^ y));
    // Keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn private_temp() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        dir
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let first = Token::generate().expect("token");
        let second = Token::generate().expect("token");
        assert_eq!(first.as_str().len(), 64);
        assert!(first.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(first, second);
        assert_eq!(format!("{first:?}"), "Token(..)", "Debug must not show it");
    }

    #[test]
    fn matching_is_exact() {
        let token = Token::generate().expect("token");
        assert!(token.matches(token.as_str()));
        let mut other = token.as_str().to_string();
        other.replace_range(63.., if other.ends_with('0') { "1" } else { "0" });
        assert!(!token.matches(&other));
        assert!(!token.matches(&token.as_str()[..63]));
        assert!(!token.matches(""));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"b"));
    }

    #[test]
    fn the_file_is_created_private_and_read_back() {
        let dir = private_temp();
        let path = dir.path().join("dashboard.token");
        let (token, replaced) = load_or_create(&path).expect("create");
        assert!(!replaced);
        let metadata = std::fs::symlink_metadata(&path).expect("stat");
        assert_eq!(metadata.mode() & 0o7777, 0o600);
        assert!(metadata.file_type().is_file());
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("{}\n", token.as_str())
        );
        let (again, replaced) = load_or_create(&path).expect("load");
        assert_eq!(again, token);
        assert!(!replaced);

        let rotated = write_new(&path).expect("rotate");
        assert_ne!(rotated, token);
        assert_eq!(load_or_create(&path).expect("load").0, rotated);
    }

    #[test]
    fn an_unsound_file_is_replaced_not_trusted() {
        let dir = private_temp();
        let path = dir.path().join("dashboard.token");
        let planted = "a".repeat(64);

        // Readable by others: whoever could read it may know it.
        std::fs::write(&path, &planted).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (token, replaced) = load_or_create(&path).expect("load");
        assert!(replaced);
        assert_ne!(token.as_str(), planted);
        assert_eq!(
            std::fs::metadata(&path).expect("stat").mode() & 0o7777,
            0o600
        );

        // A symlink to a file holding a token: not followed.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, &planted).expect("write");
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(&elsewhere, &path).expect("symlink");
        let (token, replaced) = load_or_create(&path).expect("load");
        assert!(replaced);
        assert_ne!(token.as_str(), planted);
        assert!(!std::fs::symlink_metadata(&path).expect("stat").is_symlink());
        assert_eq!(std::fs::read_to_string(&elsewhere).expect("read"), planted);

        // Garbage, and a short token.
        for content in ["not a token", &planted[..40]] {
            std::fs::write(&path, content).expect("write");
            let (token, replaced) = load_or_create(&path).expect("load");
            assert!(replaced, "{content}");
            assert_eq!(token.as_str().len(), 64);
        }

        // Another owner (only root can arrange that).
        if rustix::process::geteuid().is_root() {
            std::fs::write(&path, &planted).expect("write");
            std::os::unix::fs::chown(&path, Some(65534), None).expect("chown");
            let (token, replaced) = load_or_create(&path).expect("load");
            assert!(replaced);
            assert_ne!(token.as_str(), planted);
            assert_eq!(
                std::fs::metadata(&path).expect("stat").uid(),
                rustix::process::geteuid().as_raw()
            );
        }
    }
}
