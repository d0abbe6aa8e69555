//! Keeping secrets out of text: the one table of secret names, the redaction of bodies that
//! end up in error messages and log lines, and the one way a URL is shown ([`url()`]).
//!
//! Two nets, in this order:
//! 1. **By value** ([`Redactor`]): the exact secret values a request sent (app secret, access
//!    token, refresh token, authorization code, signature) are searched in the text whatever
//!    their shape: raw, percent-encoded (`%XX` in either case, `+` or `%20` for a space, doubly
//!    encoded `%25XX`), JSON-escaped (`\"`, `\/`, `\uXXXX`, escaped again inside a string),
//!    HTML-escaped (`&quot;`, `&#NN;`, `&#xHH;`, `&amp;…`), in any ASCII case, and cut off by the
//!    end of the text. A proxy's error page that echoes the request, in whatever form, shows
//!    `[redacted]` in their place.
//! 2. **By name** ([`SECRET_NAMES`]): values of secret JSON fields and form parameters are
//!    masked too, for secrets the request did not send (a truncated token set carries new ones).

use zeroize::Zeroizing;

/// What replaces a secret in text.
pub const REDACTED: &str = "[redacted]";

/// A name whose value is a secret, and where that name is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretName {
    /// The parameter or field name, as on the wire.
    pub name: &'static str,
    /// A request parameter: hidden in `Request`'s Debug, in [`crate::explain()`], and its value
    /// redacted from decode snippets of the answer.
    pub param: bool,
    /// A JSON field of an answer (a token set): masked in decode snippets. `code` is not one:
    /// it is the envelope's result code there.
    pub answer_field: bool,
}

/// The one table of secret names. Every other list in the SDK (and in the bindings, the CLI and
/// the emulator) derives from it: [`is_secret_param`], [`is_secret_answer_field`].
pub const SECRET_NAMES: &[SecretName] = &[
    SecretName {
        name: "access_token",
        param: true,
        answer_field: true,
    },
    SecretName {
        name: "session",
        param: true,
        answer_field: true,
    },
    SecretName {
        name: "refresh_token",
        param: true,
        answer_field: true,
    },
    SecretName {
        name: "code",
        param: true,
        answer_field: false,
    },
    SecretName {
        name: "sign",
        param: true,
        answer_field: true,
    },
    SecretName {
        name: "app_secret",
        param: false,
        answer_field: true,
    },
];

/// Request parameters whose values are secrets (derived from [`SECRET_NAMES`]).
pub const SECRET_PARAMS: &[&str] = &["access_token", "session", "refresh_token", "code", "sign"];

/// Whether the value of request parameter `key` is a secret (exact name, see [`SECRET_NAMES`]).
pub fn is_secret_param(key: &str) -> bool {
    SECRET_NAMES.iter().any(|s| s.param && s.name == key)
}

/// Whether the value of answer field `key` is a secret (ASCII case ignored).
pub fn is_secret_answer_field(key: &str) -> bool {
    SECRET_NAMES
        .iter()
        .any(|s| s.answer_field && s.name.eq_ignore_ascii_case(key))
}

/// Shortest value a [`Redactor`] searches for: shorter values cannot be secret and would mask
/// ordinary words.
pub const MIN_SECRET_LEN: usize = 4;

/// The secret values one request sent, to be removed from any text about its answer.
///
/// The copies are zeroed on drop. Debug shows only how many values it holds.
///
/// ```
/// use iop_core::redact::Redactor;
/// let mut r = Redactor::new();
/// r.add("50001qNs/xyz token");
/// let page = "<p>refresh_token=50001qNs%2Fxyz+token &amp; {\"t\":\"50001qNs\\/xyz token\"}</p>";
/// assert_eq!(
///     r.redact(page),
///     "<p>refresh_token=[redacted] &amp; {\"t\":\"[redacted]\"}</p>"
/// );
/// ```
#[derive(Default, Clone)]
pub struct Redactor {
    values: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.values.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor that removes nothing by value.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret value (ignored when shorter than [`MIN_SECRET_LEN`] bytes).
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= MIN_SECRET_LEN && !self.values.iter().any(|v| **v == secret.as_bytes()) {
            self.values.push(Zeroizing::new(secret.as_bytes().to_vec()));
            // Longest first, so that a secret containing another is removed whole.
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// Adds the values of the secret parameters among `pairs` (see [`is_secret_param`]).
    pub fn add_secret_params<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (k, v) in pairs {
            if is_secret_param(k) {
                self.add(v);
            }
        }
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every occurrence of every value, in any shape, replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_owned();
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut at = 0;
        while at < bytes.len() {
            if !text.is_char_boundary(at) {
                at += 1;
                continue;
            }
            let found = self
                .values
                .iter()
                .find_map(|secret| match_encoded(bytes, at, secret));
            match found {
                Some(end) if text.is_char_boundary(end) => {
                    out.push_str(&text[copied..at]);
                    out.push_str(REDACTED);
                    copied = end;
                    at = end;
                }
                _ => at += 1,
            }
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// If `secret` occurs at `at` in `text` in some encoding (or a prefix of it, cut by the end of
/// `text`), the end of its longest occurrence there. A depth-first search over the two readings a byte can
/// have (itself, or the start of an escape such as `&` of `&amp;`), with an explicit stack.
fn match_encoded(text: &[u8], at: usize, secret: &[u8]) -> Option<usize> {
    // (index in secret, position in text)
    // Most positions cannot start the secret: decide that without allocating.
    let first = secret.first()?;
    if match_char(text, at, *first) == [None, None] {
        return None;
    }
    let mut longest = None;
    let mut stack = vec![(0usize, at)];
    // Each state once, so that a hostile text cannot make the search exponential.
    let mut seen = std::collections::HashSet::new();
    while let Some((i, p)) = stack.pop() {
        if !seen.insert((i, p)) {
            continue;
        }
        if i == secret.len() {
            longest = longest.max(Some(p));
            continue;
        }
        if p == text.len() {
            // The text ends inside the secret: a truncated body. Enough of it matched to be
            // sure it is the secret's beginning.
            if i >= MIN_SECRET_LEN {
                longest = longest.max(Some(p));
            }
            continue;
        }
        let [raw, escaped] = match_char(text, p, secret[i]);
        // The raw reading is tried first (pushed last).
        if let Some(end) = escaped {
            stack.push((i + 1, end));
        }
        if let Some(end) = raw {
            stack.push((i + 1, end));
        }
    }
    longest
}

/// The ends of the forms of byte `c` at `p`: the byte itself (ASCII case ignored), and an
/// encoded form.
fn match_char(text: &[u8], p: usize, c: u8) -> [Option<usize>; 2] {
    let t = text[p];
    let raw = t.eq_ignore_ascii_case(&c).then_some(p + 1);
    let escaped = match t {
        b'+' if c == b' ' => Some(p + 1),
        b'%' => percent(text, p, c),
        b'\\' => json_escape(text, p, c),
        b'&' => html_entity(text, p, c),
        _ => None,
    };
    [raw, escaped]
}

/// `%XX`, `%25XX`, `%2525XX`…: hex in either case.
fn percent(text: &[u8], p: usize, c: u8) -> Option<usize> {
    let mut q = p + 1;
    loop {
        let hex = text.get(q..q + 2)?;
        let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        q += 2;
        if value == c {
            return Some(q);
        }
        // `%25` is an encoded `%`: the next two hex digits are one level further in.
        if value != b'%' {
            return None;
        }
    }
}

/// One or more backslashes, then `c` (escaped JSON inside a string gives several), `\/`,
/// `\uXXXX`, or the short escapes of control characters.
fn json_escape(text: &[u8], mut p: usize, c: u8) -> Option<usize> {
    while text.get(p) == Some(&b'\\') {
        p += 1;
    }
    let t = *text.get(p)?;
    if t.eq_ignore_ascii_case(&c) {
        // `\"`, `\\\"`, `\/`, and `\\` for a backslash.
        return Some(p + 1);
    }
    // The escaped character itself escaped again for another layer: `\&quot;`, `\%22`.
    match t {
        b'&' => return html_entity(text, p, c),
        b'%' => return percent(text, p, c),
        _ => {}
    }
    let short = match c {
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        0x08 => Some(b'b'),
        0x0c => Some(b'f'),
        _ => None,
    };
    if short == Some(t) {
        return Some(p + 1);
    }
    if t == b'u' {
        let hex = text.get(p + 1..p + 5)?;
        let value = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        return (value == u32::from(c)).then_some(p + 5);
    }
    None
}

/// `&quot;`, `&#NN;`, `&#xHH;`, and the same escaped again (`&amp;quot;`, `&amp;amp;`).
fn html_entity(text: &[u8], p: usize, c: u8) -> Option<usize> {
    const AMP: &[u8] = b"amp;";
    let starts_amp = |q: usize| {
        text.get(q..q + AMP.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(AMP))
    };
    let mut q = p + 1;
    let mut amps = 0;
    while starts_amp(q) {
        q += AMP.len();
        amps += 1;
    }
    let rest = &text[q..];
    let entity = rest
        .iter()
        .take(10)
        .position(|&b| b == b';')
        .and_then(|end| Some((std::str::from_utf8(&rest[..end]).ok()?, end)));
    let value = entity.and_then(|(name, _)| {
        if let Some(num) = name.strip_prefix('#') {
            match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            }
        } else {
            let value = match name.to_ascii_lowercase().as_str() {
                "quot" => b'"',
                "lt" => b'<',
                "gt" => b'>',
                "apos" => b'\'',
                "sol" => b'/',
                "equals" => b'=',
                "plus" => b'+',
                _ => return None,
            };
            Some(u32::from(value))
        }
    });
    match (value, entity) {
        (Some(v), Some((_, end))) if v == u32::from(c) => Some(q + end + 1),
        // `&amp;` (or `&amp;amp;`…) itself stands for `&`.
        _ if amps > 0 && c == b'&' => Some(q),
        _ => None,
    }
}

/// The most characters a decode snippet keeps of a body.
pub const SNIPPET_CHARS: usize = 200;

/// The first [`SNIPPET_CHARS`] characters of `body`, lossily decoded, with the values of
/// `redactor` and of secret names masked.
pub fn snippet(body: &[u8], redactor: &Redactor) -> String {
    // Mask over a longer prefix than is kept, so a value cut at the end is masked too, and an
    // encoded value (up to six bytes per byte) is seen whole.
    let head = &body[..body.len().min(8 * SNIPPET_CHARS)];
    let text = String::from_utf8_lossy(head);
    let mut text = redactor.redact(&text);
    for name in SECRET_NAMES.iter().filter(|s| s.answer_field) {
        text = mask_json_string_values(&text, name.name);
    }
    for name in SECRET_NAMES.iter().filter(|s| s.param) {
        text = mask_form_values(&text, name.name);
    }
    text.chars().take(SNIPPET_CHARS).collect()
}

/// Finds `needle` in `haystack` from `from`, ASCII case ignored.
fn find_ignore_case(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    (from..=h.len().checked_sub(n.len())?).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Replaces the value after every `key=` that starts a form parameter (at the start, or after
/// a character that cannot be part of a parameter name; key in any ASCII case) with
/// `[redacted]`, up to the next `&`, quote, `<`, whitespace or the end.
fn mask_form_values(text: &str, key: &str) -> String {
    let needle = format!("{key}=");
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = find_ignore_case(text, &needle, from) {
        let starts_name = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'));
        let after = at + needle.len();
        from = after;
        if !starts_name {
            continue;
        }
        let rest = &text[after..];
        let end = rest
            .find(|c: char| matches!(c, '&' | '"' | '\'' | '<') || c.is_whitespace())
            .unwrap_or(rest.len());
        if end > 0 && !rest[..end].starts_with(REDACTED) {
            out.push_str(&text[copied..after]);
            out.push_str(REDACTED);
            copied = after + end;
        }
        from = after + end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Replaces the string value after every `"key"` (any ASCII case) followed by `:` with
/// `[redacted]`.
fn mask_json_string_values(text: &str, key: &str) -> String {
    let quoted = format!("\"{key}\"");
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = find_ignore_case(text, &quoted, from) {
        let after_key = at + quoted.len();
        from = after_key;
        let rest = &text[after_key..];
        let trimmed = rest.trim_start();
        let Some(after_colon) = trimmed.strip_prefix(':') else {
            continue;
        };
        let value = after_colon.trim_start();
        let Some(inner) = value.strip_prefix('"') else {
            continue;
        };
        let value_start = text.len() - inner.len();
        // Skip the string, honouring escapes; an unterminated string runs to the end.
        let mut end = inner.len();
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i;
                break;
            }
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_start + end;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// What replaces the user information and hidden query values of a URL in [`url()`].
pub const URL_MASK: &str = "***";

/// Query parameters of store and proxy URLs whose values [`url()`] shows: options that are never
/// secrets. Every other value is masked.
pub const SHOWN_URL_PARAMS: &[&str] = &[
    "sslmode",
    "sslnegotiation",
    "ca_file",
    "durability",
    "insecure_plaintext",
    "connect_timeout",
    "application_name",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "keepalives",
    "keepalives_idle",
    "protocol",
    "host",
    "hostaddr",
    "port",
    "dbname",
];

/// A URL (or any text given where one was expected) as it may be shown: the one rule every
/// message, `Debug` output and log line of the SDK, its bindings and the CLI follows.
///
/// - Everything between `scheme://` (or the start, without a scheme) and the **last** `@` is
///   user information and becomes `***`, whether or not the text parses as a URL: a password
///   holding an unencoded `/`, `?`, `#` or `@` is hidden whole (so may be a part of the host or
///   path when the `@` was not the userinfo's; hiding too much is the safe side).
/// - Query values are shown only for the option names of [`SHOWN_URL_PARAMS`]; any other
///   value (`password=`, `access_token=`, …) becomes `***`.
/// - A fragment becomes `#***`.
/// - Text with no `@`, `?` or `#` (a directory path, `memory:`) is shown as it is, except for
///   `key=value` words whose key holds `pass` (a libpq connection string): their value is
///   masked.
///
/// ```
/// use iop_core::redact::url;
/// assert_eq!(url("postgres://iop:Secr3t/Part#x?y@db:5432/app?sslmode=require&password=pw"),
///            "postgres://***@db:5432/app?sslmode=require&password=***");
/// assert_eq!(url("redis://:pw@10.0.0.5:6379/0"), "redis://***@10.0.0.5:6379/0");
/// assert_eq!(url("https://api.example.com/rest?access_token=abc#frag"),
///            "https://api.example.com/rest?access_token=***#***");
/// assert_eq!(url("/var/lib/iop/tokens"), "/var/lib/iop/tokens");
/// assert_eq!(url("host=db user=iop password=hunter2"), "host=db user=iop password=***");
/// ```
pub fn url(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) if is_url_scheme(scheme) => (&text[..scheme.len() + 3], rest),
        _ => ("", text),
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(scheme);
    let rest = match rest.rfind('@') {
        Some(at) => {
            out.push_str(URL_MASK);
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, _)) => (rest, true),
        None => (rest, false),
    };
    match rest.split_once('?') {
        Some((before, query)) => {
            out.push_str(&mask_words(before));
            out.push('?');
            let pairs: Vec<String> = query.split('&').map(shown_query_pair).collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(&mask_words(rest)),
    }
    if fragment {
        out.push('#');
        out.push_str(URL_MASK);
    }
    out
}

/// Whether `text` is a URL scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`).
fn is_url_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// One `key=value` of a query as [`url`] shows it.
fn shown_query_pair(pair: &str) -> String {
    let Some((key, _)) = pair.split_once('=') else {
        return if pair.is_empty() {
            String::new()
        } else {
            URL_MASK.to_owned()
        };
    };
    let name: String = form_urlencoded::parse(format!("{key}=").as_bytes())
        .next()
        .map(|(name, _)| name.to_ascii_lowercase())
        .unwrap_or_default();
    if SHOWN_URL_PARAMS.contains(&name.as_str()) {
        pair.to_owned()
    } else {
        format!("{key}={URL_MASK}")
    }
}

/// `text` with the value of every whitespace-separated `key=value` word whose key holds `pass`
/// (any case) masked: a libpq connection string given where a URL was expected.
fn mask_words(text: &str) -> String {
    if !text.contains('=') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..word_end];
        match word.split_once('=') {
            Some((key, _)) if key.to_ascii_lowercase().contains("pass") => {
                out.push_str(key);
                out.push('=');
                out.push_str(URL_MASK);
                // A quoted value may hold spaces: it runs to its closing quote.
                let after = &rest[key.len() + 1..];
                let consumed = match after.strip_prefix('\'') {
                    Some(quoted) => closing_quote(quoted).map_or(after.len(), |end| end + 2),
                    None => word_end - key.len() - 1,
                };
                rest = &after[consumed..];
                continue;
            }
            _ => out.push_str(word),
        }
        rest = &rest[word_end..];
        let spaces = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..spaces]);
        rest = &rest[spaces..];
    }
    out
}

/// Where the single-quoted value that starts `quoted` (after its opening quote) ends: the
/// index of its closing quote, with `\` escaping the next character.
fn closing_quote(quoted: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(values: &[&str]) -> Redactor {
        let mut r = Redactor::new();
        for v in values {
            r.add(v);
        }
        r
    }

    #[test]
    fn the_table_says_each_use() {
        assert!(is_secret_param("code") && !is_secret_answer_field("code"));
        assert!(is_secret_param("sign") && is_secret_answer_field("SIGN"));
        assert!(!is_secret_param("app_secret") && is_secret_answer_field("app_secret"));
        assert!(!is_secret_param("app_key") && !is_secret_answer_field("app_key"));
        let params: Vec<&str> = SECRET_NAMES
            .iter()
            .filter(|s| s.param)
            .map(|s| s.name)
            .collect();
        assert_eq!(params, SECRET_PARAMS);
    }

    #[test]
    fn every_shape_of_a_value_is_redacted() {
        let secret = "50001qNs/a b\"c&d<e";
        let r = redactor(&[secret]);
        let json = serde_json::to_string(secret).unwrap();
        let json = &json[1..json.len() - 1];
        let json_twice = serde_json::to_string(json).unwrap();
        let json_twice = &json_twice[1..json_twice.len() - 1];
        let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let shapes = [
            secret.to_owned(),
            secret.to_uppercase(),
            form.clone(),
            form.replace('+', "%20"),
            form.to_lowercase(),
            form.replace('%', "%25"),
            json.to_owned(),
            json.replace('/', "\\/"),
            json_twice.to_owned(),
            secret
                .bytes()
                .map(|b| format!("\\u{:04x}", b))
                .collect::<String>(),
            secret
                .replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;"),
            secret
                .replace('&', "&#38;")
                .replace('"', "&#x22;")
                .replace('<', "&amp;lt;"),
        ];
        for shape in shapes {
            let text = format!("before [{shape}] after");
            assert_eq!(
                r.redact(&text),
                "before [[redacted]] after",
                "shape {shape:?}"
            );
        }
        // A hostile page cannot make the search slow.
        let r2 = redactor(&["&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&x"]);
        let hostile = format!("{}y", "&amp;&".repeat(300));
        let started = std::time::Instant::now();
        assert_eq!(r2.redact(&hostile), hostile);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Cut by the end of the text.
        assert_eq!(r.redact("x=50001qN"), "x=[redacted]");
        assert_eq!(r.redact("x=500"), "x=500");
    }

    #[test]
    fn short_values_and_other_text_stay() {
        let r = redactor(&["abc", "secret-value"]);
        assert_eq!(r.redact("abc secret-valu!"), "abc secret-valu!");
        assert_eq!(r.redact("é secret-value é"), "é [redacted] é");
        assert!(redactor(&[]).is_empty());
        assert_eq!(format!("{:?}", r), "Redactor { values: 1 }");
    }

    #[test]
    fn snippets_are_short_and_mask_secret_names() {
        let none = Redactor::new();
        let long = "x".repeat(1000);
        assert_eq!(snippet(long.as_bytes(), &none).len(), SNIPPET_CHARS);
        let s = snippet(
            br#"{"access_token" : "abc\"def","Refresh_Token":"ghi","x":"y","sign":"S"}"#,
            &none,
        );
        assert_eq!(
            s,
            r#"{"access_token" : "[redacted]","Refresh_Token":"[redacted]","x":"y","sign":"[redacted]"}"#
        );
        assert_eq!(
            snippet(br#"{"access_token":"abc"#, &none),
            r#"{"access_token":"[redacted]"#
        );
        assert_eq!(
            snippet(br#"{"access_token":null}"#, &none),
            r#"{"access_token":null}"#
        );
        assert_eq!(snippet(b"\xff\xfe<html>", &none), "\u{fffd}\u{fffd}<html>");
        let page = "<p>Blocked: /rest/order/get?app_key=k&ACCESS_TOKEN=AT1&sign=S1&design=ok \
                    body refresh_token=RT1\ncode=C1</p>";
        let s = snippet(page.as_bytes(), &none);
        for secret in ["AT1", "S1", "RT1", "C1"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert!(
            s.contains("app_key=k&ACCESS_TOKEN=[redacted]&sign=[redacted]&design=ok"),
            "{s}"
        );
        assert_eq!(
            snippet(br#"{"code":"IllegalRefreshToken"}"#, &none),
            r#"{"code":"IllegalRefreshToken"}"#
        );
        // By value and by name together: no double mask.
        let r = redactor(&["TOKEN-123"]);
        assert_eq!(
            snippet(b"refresh_token=TOKEN-123&x=1", &r),
            "refresh_token=[redacted]&x=1"
        );
    }

    #[test]
    fn urls_never_show_user_information_or_secret_values() {
        let hidden = "Secr3t";
        for (given, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:Secr3t@h:1/0", "redis://***@h:1/0"),
            ("redis://user:Secr3t@h:1/0", "redis://***@h:1/0"),
            // Passwords the URL parser cannot split: unencoded `/`, `#`, `?`, `@`.
            (
                "postgres://leaky:Secr3t/Part@db/app",
                "postgres://***@db/app",
            ),
            (
                "postgres://leaky:Secr3t#Part@db/app",
                "postgres://***@db/app",
            ),
            (
                "postgres://leaky:Secr3t?Part@db/app",
                "postgres://***@db/app",
            ),
            (
                "postgres://leaky:Secr3t@Part@db/app",
                "postgres://***@db/app",
            ),
            ("postgres://u:Secr3t@[::1/0", "postgres://***@[::1/0"),
            (
                "postgres://u@h/db?sslmode=require&password=Secr3t&ca_file=/etc/ca.pem",
                "postgres://***@h/db?sslmode=require&password=***&ca_file=/etc/ca.pem",
            ),
            (
                "POSTGRES://h/db?PassWord=Secr3t",
                "POSTGRES://h/db?PassWord=***",
            ),
            ("postgres://h/db?Secr3t", "postgres://h/db?***"),
            (
                "https://h/rest?access_token=Secr3t#Secr3t",
                "https://h/rest?access_token=***#***",
            ),
            ("http://a@b:Secr3t@host:8080/x", "http://***@host:8080/x"),
            ("user:Secr3t@host/x", "***@host/x"),
            ("redis:/user:Secr3t@host", "***@host"),
            ("/var/lib/iop", "/var/lib/iop"),
            ("./tokens", "./tokens"),
            ("memory:", "memory:"),
            ("not a url", "not a url"),
            ("", ""),
            (
                "host=db user=iop password=Secr3t dbname=app",
                "host=db user=iop password=*** dbname=app",
            ),
            (
                "host=db password='Sec r3t x' port=1",
                "host=db password=*** port=1",
            ),
            ("host=db PASSWORD='Secr3t", "host=db PASSWORD=***"),
        ] {
            let got = url(given);
            assert_eq!(got, shown, "{given}");
            assert!(!got.contains(hidden), "{given} -> {got}");
        }
    }
}
