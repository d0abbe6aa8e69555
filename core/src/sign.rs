//! Signatures (PROTOCOL.md §3): HMAC-SHA256 over the API path and the sorted pairs, or the legacy
//! MD5 scheme of TOP.

use crate::secret::AppSecret;

/// How a request is signed; sent as `sign_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignMethod {
    /// `sha256`: HMAC-SHA256, 64 uppercase hex characters. Valid for every API.
    #[default]
    Sha256,
    /// `md5`: legacy TOP scheme, MD5(secret + base + secret), 32 uppercase hex characters.
    Md5,
}

impl SignMethod {
    /// The wire value: `"sha256"` or `"md5"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Md5 => "md5",
        }
    }

    /// Parses the wire value, ignoring ASCII case; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        todo!("{value}")
    }
}

/// The string that is signed: `prefix` followed by every key and value, keys in ascending byte
/// order, no separators, values raw. Signs exactly the pairs given (nothing is dropped).
pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(prefix: &str, pairs: &[(K, V)]) -> String {
    todo!("{prefix}{}", pairs.len())
}

/// The signature of `pairs` under `prefix` (the API path for GOP, `""` for TOP), as uppercase hex.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    method: SignMethod,
    secret: &AppSecret,
    prefix: &str,
    pairs: &[(K, V)],
) -> String {
    todo!("{method:?}{secret:?}{prefix}{}", pairs.len())
}
