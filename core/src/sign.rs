//! Signatures (docs/src/concepts/protocol.md#signing): HMAC-SHA256 over the API path and the sorted
//! pairs, or the legacy MD5 scheme of TOP.

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
        if value.eq_ignore_ascii_case("sha256") {
            Some(Self::Sha256)
        } else if value.eq_ignore_ascii_case("md5") {
            Some(Self::Md5)
        } else {
            None
        }
    }
}

impl std::fmt::Display for SignMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Up to this many pairs are ordered through an index array on the stack (no allocation).
const INLINE_PAIRS: usize = 64;

/// Calls `f(key, value)` for every pair in ascending byte order of the key. Equal keys keep the
/// order they were given in (stable sort), so duplicate keys sign deterministically.
fn for_each_sorted<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)], mut f: impl FnMut(&str, &str)) {
    let by_key = |a: usize, b: usize| pairs[a].0.as_ref().cmp(pairs[b].0.as_ref());
    if pairs.len() <= INLINE_PAIRS {
        let mut order = [0u8; INLINE_PAIRS];
        let order = &mut order[..pairs.len()];
        for (i, slot) in order.iter_mut().enumerate() {
            // i < INLINE_PAIRS <= u8::MAX, so the cast is exact.
            *slot = i as u8;
        }
        order.sort_by(|&a, &b| by_key(usize::from(a), usize::from(b)));
        for &i in order.iter() {
            let (k, v) = &pairs[usize::from(i)];
            f(k.as_ref(), v.as_ref());
        }
    } else {
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by(|&a, &b| by_key(a, b));
        for i in order {
            let (k, v) = &pairs[i];
            f(k.as_ref(), v.as_ref());
        }
    }
}

/// The string that is signed: `prefix` followed by every key and value, keys in ascending byte
/// order, no separators, values raw. Signs exactly the pairs given (nothing is dropped).
///
/// ```
/// let s = iop_core::string_to_sign("/order/get", &[("order_id", "1"), ("app_key", "k")]);
/// assert_eq!(s, "/order/getapp_keykorder_id1");
/// ```
pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(prefix: &str, pairs: &[(K, V)]) -> String {
    let len = prefix.len()
        + pairs
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
            .sum::<usize>();
    let mut out = String::with_capacity(len);
    out.push_str(prefix);
    for_each_sorted(pairs, |k, v| {
        out.push_str(k);
        out.push_str(v);
    });
    out
}

/// Uppercase hex of `bytes`, written into a fixed buffer before the one `String` is made.
fn upper_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut buf = [0u8; 64];
    let n = bytes.len().min(32);
    for (i, b) in bytes[..n].iter().enumerate() {
        buf[2 * i] = DIGITS[usize::from(b >> 4)];
        buf[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    // Only ASCII hex digits were written, so this is always valid UTF-8.
    std::str::from_utf8(&buf[..2 * n])
        .map(str::to_owned)
        .unwrap_or_default()
}

/// The signature of `pairs` under `prefix` (the API path for GOP, `""` for TOP), as uppercase hex.
///
/// - [`SignMethod::Sha256`]: HMAC-SHA256 keyed with the app secret over
///   `prefix + key1 + value1 + key2 + value2 …` (keys in byte order), 64 hex characters.
/// - [`SignMethod::Md5`]: MD5 over `secret + prefix + base + secret`, 32 hex characters. The
///   gateway accepts MD5 on `/sync` (TOP) calls only, whose prefix is empty, so in practice this
///   is the TOP SDKs' `MD5(secret + base + secret)`. For a non-empty prefix the secret wraps the
///   whole input: the vendor Java SDKs build `prefix + base` first and add the secret around it
///   for MD5 only (a path API signed with MD5 is rejected by the gateway anyway; see
///   [`crate::explain()`]).
///
/// The input is streamed into the hash: the string-to-sign is never built.
///
/// ```
/// use iop_core::{AppSecret, SignMethod, sign};
/// let secret = AppSecret::new("helloworld");
/// let sig = sign(SignMethod::Sha256, &secret, "/order/get", &[
///     ("access_token", "test"), ("app_key", "123456"), ("order_id", "1234"),
///     ("sign_method", "sha256"), ("timestamp", "1517820392000"),
/// ]);
/// assert_eq!(sig, "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A");
/// ```
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    method: SignMethod,
    secret: &AppSecret,
    prefix: &str,
    pairs: &[(K, V)],
) -> String {
    match method {
        SignMethod::Sha256 => {
            use hmac::Mac as _;
            let Ok(mut mac) =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.secret().as_bytes())
            else {
                // HMAC takes keys of any length (long keys are hashed), so this cannot happen.
                unreachable!("HMAC-SHA256 accepts keys of any length")
            };
            mac.update(prefix.as_bytes());
            for_each_sorted(pairs, |k, v| {
                mac.update(k.as_bytes());
                mac.update(v.as_bytes());
            });
            upper_hex(&mac.finalize().into_bytes())
        }
        SignMethod::Md5 => {
            use md5::Digest as _;
            let mut hash = md5::Md5::new();
            hash.update(secret.secret().as_bytes());
            hash.update(prefix.as_bytes());
            for_each_sorted(pairs, |k, v| {
                hash.update(k.as_bytes());
                hash.update(v.as_bytes());
            });
            hash.update(secret.secret().as_bytes());
            upper_hex(&hash.finalize())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP_PAIRS: [(&str, &str); 4] = [
        ("timestamp", "1517820392000"),
        ("method", "aliexpress.solution.product.list.get"),
        ("sign_method", "md5"),
        ("app_key", "123456"),
    ];

    #[test]
    fn md5_is_secret_base_secret() {
        let secret = AppSecret::new("helloworld");
        // Python: hashlib.md5(("helloworld" + base + "helloworld").encode()).hexdigest().upper()
        assert_eq!(
            sign(SignMethod::Md5, &secret, "", &TOP_PAIRS),
            "10749F05DEA4B75AABD193E70BB60EE7"
        );
        // A prefix goes right after the leading secret, as in the vendor Java SDK.
        assert_eq!(
            sign(SignMethod::Md5, &secret, "/x", &TOP_PAIRS),
            "168FB649A6943A9519E616374F48240B"
        );
    }

    #[test]
    fn long_hmac_keys_are_hashed_not_refused() {
        let secret = AppSecret::new("k".repeat(100));
        assert_eq!(
            sign(SignMethod::Sha256, &secret, "/p", &[("a", "1")]),
            "A03E06CC73E6304AAAFB87338F7E86DD5E8C2DCAC6E1A2EB023C45394B6E4BE5"
        );
    }

    #[test]
    fn many_pairs_sort_like_few() {
        let pairs: Vec<(String, String)> = (0..200)
            .rev()
            .map(|i| (format!("k{i:03}"), i.to_string()))
            .collect();
        let s = string_to_sign("", &pairs);
        assert!(s.starts_with("k0000k0011k0022"));
        assert!(s.ends_with("k199199"));
    }

    #[test]
    fn duplicate_keys_keep_their_order() {
        assert_eq!(
            string_to_sign("", &[("b", "2"), ("a", "x"), ("b", "1")]),
            "axb2b1"
        );
    }

    #[test]
    fn parse_ignores_ascii_case() {
        assert_eq!(SignMethod::parse("SHA256"), Some(SignMethod::Sha256));
        assert_eq!(SignMethod::parse("Md5"), Some(SignMethod::Md5));
        assert_eq!(SignMethod::parse("hmac"), None);
        assert_eq!(SignMethod::parse(""), None);
        assert_eq!(SignMethod::Md5.to_string(), "md5");
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        use crate::secret::constant_time_eq;
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = AppSecret::new("helloworld");
        assert_eq!(format!("{s:?}"), "AppSecret([redacted])");
    }
}
