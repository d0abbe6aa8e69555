//! Secret newtypes: app secret, access token, refresh token, authorization code.
//!
//! Debug prints `Name([redacted])`; there is no `Display`; the value is reached only through
//! `.secret()`; the memory is zeroed on drop; there is no derived `PartialEq` (compare with
//! [`constant_time_eq`] where needed).

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Accumulate every difference so the loop never exits early; `black_box` keeps the
    // optimizer from turning it back into a short-circuiting comparison.
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

/// Fewer characters than this and [`mask`] shows none of them.
pub const MASK_MIN_CHARS: usize = 12;

/// How every part of iop shows a secret to people (the CLI, examples, the C and Python
/// bindings): `…` followed by its last 4 characters, or `…` alone when it has fewer than
/// [`MASK_MIN_CHARS`] characters.
///
/// The end, not the start: the tokens of one platform share their first characters (every
/// AliExpress access and refresh token starts with `5000`), so only the end tells an old token
/// from its replacement.
///
/// ```
/// use iop_core::secret::mask;
/// assert_eq!(mask("50000501a2b3c4d5e6f7k3Fz"), "…k3Fz");
/// assert_eq!(mask("50001601a2b3c4d5e6f7Q9wX"), "…Q9wX");
/// assert_eq!(mask("short"), "…");
/// ```
pub fn mask(secret: &str) -> String {
    let count = secret.chars().count();
    if count < MASK_MIN_CHARS {
        return "…".to_owned();
    }
    let tail: String = secret.chars().skip(count - 4).collect();
    format!("…{tail}")
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(zeroize::Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(zeroize::Zeroizing::new(value.into()))
            }

            /// The secret value. Every read of a secret goes through here.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// The secret as shown to people: see [`mask`].
            pub fn masked(&self) -> String {
                mask(self.secret())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        /// Serializes the plain value: used only to write a token set to a store or to JSON the
        /// user asked for.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.secret())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::new)
            }
        }
    };
}

secret_type!(
    /// The application secret (`app_secret`): the HMAC key of every signature.
    AppSecret
);
secret_type!(
    /// A seller's access token, sent as `access_token` (GOP) or `session` (TOP).
    AccessToken
);
secret_type!(
    /// A seller's refresh token, exchanged at `/auth/token/refresh` for a new token set.
    RefreshToken
);
secret_type!(
    /// An authorization code from the seller's OAuth redirect; single use, valid 30 minutes.
    AuthCode
);
