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
