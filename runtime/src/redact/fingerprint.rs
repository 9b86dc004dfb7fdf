//! Keyed pseudonyms for `#[redact(fingerprint)]`.
//!
//! A fingerprint is the first 4 bytes (8 hex characters) of HMAC-SHA256 over the UTF-8 bytes of
//! the value, under a key held by the process. The same value gives the same fingerprint for as
//! long as the key is the same, so two log lines about the same session can be correlated, while
//! nobody without the key can test a guess ("is this the fingerprint of `alice@example.com`?").
//! A plain hash would allow exactly that guess, so observa never uses one.
//!
//! The key is chosen once per process, on first use (or by [`init_fingerprint_key`]):
//! 1. a key installed with [`set_fingerprint_key`] before first use;
//! 2. otherwise the bytes of the [`KEY_ENV`] environment variable (`OBSERVA_REDACT_KEY`), when it
//!    holds at least [`MIN_KEY_BYTES`] bytes;
//! 3. otherwise a random key drawn for this process: fingerprints are then stable within the
//!    process only. Set a deployment key to correlate across replicas and restarts.
//!
//! [`fingerprint_key_source`] tells which one is in force (the runtime logs a warning at start
//! when the environment variable was set but rejected).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use std::sync::OnceLock;
use zeroize::Zeroize;

/// The environment variable read for the deployment key.
pub const KEY_ENV: &str = "OBSERVA_REDACT_KEY";

/// The shortest accepted key, in bytes. Use 32 random bytes (for example the 64 characters of
/// `openssl rand -hex 32`).
pub const MIN_KEY_BYTES: usize = 16;

/// Number of HMAC output bytes kept (8 hex characters).
const FINGERPRINT_BYTES: usize = 4;

/// An HMAC-SHA256 key for fingerprints.
///
/// Use it directly to compute the same pseudonyms outside of a log line (to search logs for the
/// fingerprint of a known session, say), or install it with [`set_fingerprint_key`].
#[derive(Clone)]
pub struct FingerprintKey {
    mac: Hmac<Sha256>,
}

impl FingerprintKey {
    /// A key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn new(key: &[u8]) -> Result<Self, FingerprintKeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(FingerprintKeyError::TooShort { len: key.len() });
        }
        match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mac) => Ok(Self { mac }),
            // HMAC accepts keys of any length; kept for API completeness.
            Err(_) => Err(FingerprintKeyError::TooShort { len: key.len() }),
        }
    }

    /// A random key for this process only (64 bytes, the HMAC-SHA256 block size).
    pub fn random() -> Self {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&random_bytes(0));
        bytes[32..].copy_from_slice(&random_bytes(1));
        let mut key: hmac::digest::Key<Hmac<Sha256>> = bytes.into();
        bytes.zeroize();
        let mac = <Hmac<Sha256> as KeyInit>::new(&key);
        key.as_mut_slice().zeroize();
        Self { mac }
    }

    /// The fingerprint of `text` under this key.
    pub fn fingerprint(&self, text: &str) -> Fingerprint {
        self.fingerprint_bytes(text.as_bytes())
    }

    /// The fingerprint of raw bytes under this key.
    pub fn fingerprint_bytes(&self, bytes: &[u8]) -> Fingerprint {
        let mut mac = self.mac.clone();
        mac.update(bytes);
        let out = mac.finalize().into_bytes();
        let mut fp = [0u8; FINGERPRINT_BYTES];
        fp.copy_from_slice(&out[..FINGERPRINT_BYTES]);
        Fingerprint(fp)
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintKey").finish_non_exhaustive()
    }
}

/// Why a fingerprint key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FingerprintKeyError {
    /// The key has fewer than [`MIN_KEY_BYTES`] bytes.
    TooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// A key is already in force (installed earlier or chosen by a first fingerprint); the
    /// process keeps it so that its pseudonyms stay consistent.
    AlreadySet,
}

impl fmt::Display for FingerprintKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(
                f,
                "fingerprint key has {len} bytes; at least {MIN_KEY_BYTES} are required"
            ),
            Self::AlreadySet => f.write_str(
                "a fingerprint key is already in force; install the key before the first fingerprint",
            ),
        }
    }
}

impl std::error::Error for FingerprintKeyError {}

/// Where the fingerprint key in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// Installed with [`set_fingerprint_key`].
    Installed,
    /// Read from [`KEY_ENV`].
    Environment,
    /// Drawn at random for this process.
    Random {
        /// True when [`KEY_ENV`] was set but refused (too short or not UTF-8).
        env_rejected: bool,
    },
}

/// A keyed pseudonym: 4 bytes shown as 8 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; FINGERPRINT_BYTES]);

impl Fingerprint {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_BYTES] {
        &self.0
    }

    /// The 8 hex characters, without allocating.
    pub fn to_hex(&self) -> [u8; 2 * FINGERPRINT_BYTES] {
        let mut out = [0u8; 2 * FINGERPRINT_BYTES];
        crate::encode::hex::encode_into(&mut out, &self.0);
        out
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        // Always ASCII hex digits.
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(")?;
        fmt::Display::fmt(self, f)?;
        f.write_str(")")
    }
}

struct State {
    key: FingerprintKey,
    source: KeySource,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Installs the deployment key. Call it once at start, before the first fingerprint
/// (`observa::init` does it from its configuration); a key already in force is kept and
/// [`FingerprintKeyError::AlreadySet`] returned.
pub fn set_fingerprint_key(key: &[u8]) -> Result<(), FingerprintKeyError> {
    let key = FingerprintKey::new(key)?;
    let mut installed = false;
    STATE.get_or_init(|| {
        installed = true;
        State {
            key,
            source: KeySource::Installed,
        }
    });
    if installed {
        Ok(())
    } else {
        Err(FingerprintKeyError::AlreadySet)
    }
}

/// Chooses the key now (environment or random) if none is in force yet, and says where it came
/// from. The runtime calls it at start so that the first log line does not pay for it.
pub fn init_fingerprint_key() -> KeySource {
    state().source
}

/// Where the key in force came from (chooses it if none is yet).
pub fn fingerprint_key_source() -> KeySource {
    state().source
}

/// The fingerprint of `text` under the process key.
pub fn fingerprint(text: &str) -> Fingerprint {
    state().key.fingerprint(text)
}

fn state() -> &'static State {
    STATE.get_or_init(from_env_or_random)
}

fn from_env_or_random() -> State {
    match std::env::var(KEY_ENV) {
        Ok(mut v) => {
            let key = FingerprintKey::new(v.as_bytes());
            v.zeroize();
            match key {
                Ok(key) => State {
                    key,
                    source: KeySource::Environment,
                },
                Err(_) => State {
                    key: FingerprintKey::random(),
                    source: KeySource::Random { env_rejected: true },
                },
            }
        }
        Err(std::env::VarError::NotPresent) => State {
            key: FingerprintKey::random(),
            source: KeySource::Random {
                env_rejected: false,
            },
        },
        Err(std::env::VarError::NotUnicode(_)) => State {
            key: FingerprintKey::random(),
            source: KeySource::Random { env_rejected: true },
        },
    }
}

/// 32 bytes from the operating system: `/dev/urandom` where it exists, mixed with the std
/// `RandomState` keys (themselves drawn from the OS) so that a missing device still yields an
/// unpredictable key.
fn random_bytes(domain: u8) -> [u8; 32] {
    use sha2::Digest;
    use std::hash::{BuildHasher, Hasher};

    let mut hasher = Sha256::new();
    hasher.update([domain]);
    let mut os = [0u8; 32];
    if read_urandom(&mut os) {
        hasher.update(os);
    }
    os.zeroize();
    for i in 0u64..4 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        hasher.update(h.finish().to_le_bytes());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.update(now.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    let out = hasher.finalize();
    let mut key = [0u8; 32];
    key.copy_from_slice(&out);
    key
}

#[cfg(unix)]
fn read_urandom(buf: &mut [u8; 32]) -> bool {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok()
}

#[cfg(not(unix))]
fn read_urandom(_buf: &mut [u8; 32]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_stable() {
        let a = FingerprintKey::new(b"0123456789abcdef-key-a").unwrap();
        let b = FingerprintKey::new(b"0123456789abcdef-key-b").unwrap();
        assert_eq!(a.fingerprint("s3ss10n"), a.fingerprint("s3ss10n"));
        assert_ne!(a.fingerprint("s3ss10n"), b.fingerprint("s3ss10n"));
        assert_ne!(a.fingerprint("s3ss10n"), a.fingerprint("s3ss10m"));
        assert_eq!(a.fingerprint("x").to_string().len(), 8);
    }

    #[test]
    fn matches_hmac_sha256() {
        // RFC 4231 test case 2 has a 4-byte key; use test case 1's 20-byte key instead.
        let key = FingerprintKey::new(&[0x0b; 20]).unwrap();
        // HMAC-SHA256(0x0b*20, "Hi There") = b0344c61d8db3853...
        assert_eq!(key.fingerprint("Hi There").to_string(), "b0344c61");
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            FingerprintKey::new(b"short").unwrap_err(),
            FingerprintKeyError::TooShort { len: 5 }
        );
    }

    #[test]
    fn random_keys_differ() {
        let a = FingerprintKey::random();
        let b = FingerprintKey::random();
        assert_ne!(a.fingerprint("x"), b.fingerprint("x"));
    }
}
