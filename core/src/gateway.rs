//! Gateway base URLs (docs/src/concepts/protocol.md#call-styles): AliExpress, Lazada's auth host
//! and its country hosts.

use crate::api::{ApiName, Style};
use crate::error::{Error, Result};

/// AliExpress Open Platform: token calls and business calls.
pub const ALIEXPRESS: &str = "https://api-sg.aliexpress.com";
/// Lazada Open Platform: token calls (`/auth/token/create`, `/auth/token/refresh`).
pub const LAZADA_AUTH: &str = "https://auth.lazada.com";

/// A Lazada country with its own business-call host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LazadaCountry {
    /// Singapore, `api.lazada.sg`.
    Sg,
    /// Malaysia, `api.lazada.com.my`.
    My,
    /// Vietnam, `api.lazada.vn`.
    Vn,
    /// Thailand, `api.lazada.co.th`.
    Th,
    /// Philippines, `api.lazada.com.ph`.
    Ph,
    /// Indonesia, `api.lazada.co.id`.
    Id,
}

impl std::fmt::Display for LazadaCountry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl LazadaCountry {
    /// Every country, in a fixed order.
    pub const ALL: [Self; 6] = [Self::Sg, Self::My, Self::Vn, Self::Th, Self::Ph, Self::Id];

    /// The base URL of this country's business calls, e.g. `https://api.lazada.sg`.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Sg => "https://api.lazada.sg",
            Self::My => "https://api.lazada.com.my",
            Self::Vn => "https://api.lazada.vn",
            Self::Th => "https://api.lazada.co.th",
            Self::Ph => "https://api.lazada.com.ph",
            Self::Id => "https://api.lazada.co.id",
        }
    }

    /// The country code as the gateway writes it (`sg`, `my`, …).
    pub fn code(self) -> &'static str {
        match self {
            Self::Sg => "sg",
            Self::My => "my",
            Self::Vn => "vn",
            Self::Th => "th",
            Self::Ph => "ph",
            Self::Id => "id",
        }
    }

    /// The country code (same as [`LazadaCountry::code`]), for bindings that show enums by name.
    pub fn as_str(self) -> &'static str {
        self.code()
    }

    /// Parses a country code as the gateway writes it (`sg`, `my`, `vn`, `th`, `ph`, `id`),
    /// ignoring ASCII case. Never falls back to a default country.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code))
    }
}

/// Whether `host`, as it appears in a URL (IPv6 in brackets), is a loopback address:
/// `localhost`, `127.0.0.0/8` or `::1`. The one rule for where plain `http` may go, used by
/// [`Gateway::new`] and by the HTTP transport. Names under `.localhost` are not taken on trust:
/// resolving them is up to the system's resolver, which may send them to a remote host.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A gateway: scheme, host and optional port, with no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    base: String,
    stripped_suffix: Option<&'static str>,
    loopback: bool,
}

impl Gateway {
    /// Parses a base URL. Accepts the vendor style `…/rest` and `…/sync` (and a trailing slash)
    /// and strips it; refuses any other path, a query, user info, a scheme other than `https`,
    /// and `http` unless the host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    ///
    /// ```
    /// use iop_core::Gateway;
    /// let g = Gateway::new("https://api-sg.aliexpress.com/sync").unwrap();
    /// assert_eq!(g.base_url(), "https://api-sg.aliexpress.com");
    /// assert_eq!(g.stripped_suffix(), Some("/sync"));
    /// assert!(Gateway::new("http://api-sg.aliexpress.com").is_err());
    /// assert!(Gateway::new("http://127.0.0.1:8080").is_ok());
    /// ```
    pub fn new(base_url: &str) -> Result<Self> {
        // The URL is not a secret, but keep messages short and never echo a query or user info.
        let refuse = |why: &str| Err(Error::InvalidRequest(format!("base URL: {why}")));
        let trimmed = base_url.trim();
        let url = match url::Url::parse(trimmed) {
            Ok(url) => url,
            Err(e) => return refuse(&format!("not a URL ({e})")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("user info is not allowed");
        }
        if url.query().is_some() || trimmed.contains('?') {
            return refuse("a query part is not allowed");
        }
        if url.fragment().is_some() {
            return refuse("a fragment is not allowed");
        }
        let Some(host) = url.host() else {
            return refuse("no host");
        };
        let loopback = is_loopback_host(&host.to_string());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return refuse("plain http is allowed only to a loopback host; use https"),
            other => return refuse(&format!("scheme {other:?} is not supported; use https")),
        }
        let stripped_suffix = match url.path().trim_end_matches('/') {
            "" => None,
            "/rest" => Some("/rest"),
            "/sync" => Some("/sync"),
            _ => {
                return refuse(
                    "only a bare host, or a vendor-style `/rest` or `/sync` path, is accepted",
                );
            }
        };
        Ok(Self {
            base: url.origin().ascii_serialization(),
            stripped_suffix,
            loopback,
        })
    }

    /// A gateway for a fixed, known-good https base URL.
    fn fixed(base: &'static str) -> Self {
        Self {
            base: base.to_owned(),
            stripped_suffix: None,
            loopback: false,
        }
    }

    /// AliExpress (`https://api-sg.aliexpress.com`).
    pub fn aliexpress() -> Self {
        Self::fixed(ALIEXPRESS)
    }

    /// Lazada's auth host (`https://auth.lazada.com`), for token calls.
    pub fn lazada_auth() -> Self {
        Self::fixed(LAZADA_AUTH)
    }

    /// A Lazada country's business host.
    pub fn lazada(country: LazadaCountry) -> Self {
        Self::fixed(country.base_url())
    }

    /// The base URL, without a trailing slash or suffix.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The vendor-style suffix the caller's URL carried (`"/rest"` or `"/sync"`), if any.
    pub fn stripped_suffix(&self) -> Option<&'static str> {
        self.stripped_suffix
    }

    /// Whether the host is a loopback address (plain `http` is allowed only then).
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The gateway of token calls (`/auth/token/…`): Lazada's auth host for a Lazada country
    /// host, which serves business calls only; `self` otherwise.
    ///
    /// ```
    /// use iop_core::{Gateway, LazadaCountry};
    /// let sg = Gateway::lazada(LazadaCountry::Sg);
    /// assert_eq!(sg.token_gateway(), Gateway::lazada_auth());
    /// assert_eq!(Gateway::aliexpress().token_gateway(), Gateway::aliexpress());
    /// ```
    pub fn token_gateway(&self) -> Gateway {
        if LazadaCountry::ALL
            .iter()
            .any(|country| country.base_url() == self.base)
        {
            Self::lazada_auth()
        } else {
            self.clone()
        }
    }

    /// The gateway a call of `api` really goes to: [`Gateway::token_gateway`] for a token
    /// call, `self` otherwise. The client and [`crate::explain()`] both follow it.
    ///
    /// ```
    /// use iop_core::{ApiName, Gateway, LazadaCountry};
    /// let th = Gateway::lazada(LazadaCountry::Th);
    /// let refresh = ApiName::parse("/auth/token/refresh").unwrap();
    /// assert_eq!(th.for_api(&refresh).endpoint(&refresh), "https://auth.lazada.com/rest/auth/token/refresh");
    /// ```
    pub fn for_api(&self, api: &ApiName) -> std::borrow::Cow<'_, Gateway> {
        if api.is_token_call() {
            std::borrow::Cow::Owned(self.token_gateway())
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }

    /// The URL a call goes to: `{base}/rest{api}` for GOP, `{base}/sync` for TOP.
    ///
    /// ```
    /// use iop_core::{ApiName, Gateway};
    /// let g = Gateway::aliexpress();
    /// let api = ApiName::parse("/auth/token/refresh").unwrap();
    /// assert_eq!(g.endpoint(&api), "https://api-sg.aliexpress.com/rest/auth/token/refresh");
    /// ```
    pub fn endpoint(&self, api: &ApiName) -> String {
        match api.style() {
            Style::Gop => format!("{}/rest{}", self.base, api.as_str()),
            Style::Top => format!("{}/sync", self.base),
        }
    }
}

impl std::str::FromStr for Gateway {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_gateways() {
        assert_eq!(
            Gateway::aliexpress().base_url(),
            "https://api-sg.aliexpress.com"
        );
        assert_eq!(Gateway::lazada_auth().base_url(), "https://auth.lazada.com");
        let hosts: Vec<&str> = LazadaCountry::ALL.iter().map(|c| c.base_url()).collect();
        assert_eq!(
            hosts,
            [
                "https://api.lazada.sg",
                "https://api.lazada.com.my",
                "https://api.lazada.vn",
                "https://api.lazada.co.th",
                "https://api.lazada.com.ph",
                "https://api.lazada.co.id",
            ]
        );
        for c in LazadaCountry::ALL {
            assert_eq!(LazadaCountry::parse(c.code()), Some(c));
            assert_eq!(LazadaCountry::parse(&c.code().to_uppercase()), Some(c));
            assert_eq!(Gateway::lazada(c).base_url(), c.base_url());
            assert_eq!(Gateway::new(c.base_url()).unwrap(), Gateway::lazada(c));
        }
        assert_eq!(LazadaCountry::parse("cb"), None);
        assert_eq!(LazadaCountry::parse(""), None);
    }

    #[test]
    fn vendor_suffixes_are_stripped() {
        for (input, suffix) in [
            ("https://api-sg.aliexpress.com", None),
            ("https://api-sg.aliexpress.com/", None),
            ("https://api-sg.aliexpress.com/rest", Some("/rest")),
            ("https://api-sg.aliexpress.com/rest/", Some("/rest")),
            ("https://api-sg.aliexpress.com/sync", Some("/sync")),
            ("HTTPS://API-SG.aliexpress.com/sync", Some("/sync")),
        ] {
            let g = Gateway::new(input).unwrap();
            assert_eq!(g.base_url(), "https://api-sg.aliexpress.com", "{input}");
            assert_eq!(g.stripped_suffix(), suffix, "{input}");
            assert!(!g.is_loopback());
        }
        assert_eq!(
            Gateway::new("https://example.com:8443/rest")
                .unwrap()
                .base_url(),
            "https://example.com:8443"
        );
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:1/rest",
            "http://[::1]:9000",
        ] {
            let g = Gateway::new(ok).unwrap();
            assert!(g.is_loopback(), "{ok}");
            assert!(g.base_url().starts_with("http://"), "{ok}");
        }
        assert_eq!(
            Gateway::new("http://[::1]:9000").unwrap().base_url(),
            "http://[::1]:9000"
        );
        for bad in [
            "http://api-sg.aliexpress.com",
            "http://10.0.0.1",
            "http://127.0.0.1.example.com",
            // The transport would refuse it: one loopback rule for both.
            "http://app.localhost:8080",
            "ftp://127.0.0.1",
            "https://user:pw@api-sg.aliexpress.com",
            "https://api-sg.aliexpress.com/rest?x=1",
            "https://api-sg.aliexpress.com/?",
            "https://api-sg.aliexpress.com/api",
            "https://api-sg.aliexpress.com/rest/order/get",
            "https://api-sg.aliexpress.com#x",
            "api-sg.aliexpress.com",
            "",
        ] {
            assert!(
                matches!(Gateway::new(bad), Err(Error::InvalidRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn endpoints() {
        let g = Gateway::new("http://127.0.0.1:9/sync").unwrap();
        let gop = ApiName::parse("/order/get").unwrap();
        let top = ApiName::parse("aliexpress.solution.product.list.get").unwrap();
        assert_eq!(g.endpoint(&gop), "http://127.0.0.1:9/rest/order/get");
        assert_eq!(g.endpoint(&top), "http://127.0.0.1:9/sync");
    }
}
