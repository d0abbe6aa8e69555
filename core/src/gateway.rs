//! Gateway base URLs (PROTOCOL.md §1): AliExpress, Lazada's auth host and its country hosts.

use crate::api::{ApiName, Style};
use crate::error::Result;

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

impl LazadaCountry {
    /// Every country, in a fixed order.
    pub const ALL: [Self; 6] = [Self::Sg, Self::My, Self::Vn, Self::Th, Self::Ph, Self::Id];

    /// The base URL of this country's business calls, e.g. `https://api.lazada.sg`.
    pub fn base_url(self) -> &'static str {
        todo!("{self:?}")
    }

    /// Parses a country code as the gateway writes it (`sg`, `my`, `vn`, `th`, `ph`, `id`),
    /// ignoring ASCII case. Never falls back to a default country.
    pub fn parse(code: &str) -> Option<Self> {
        todo!("{code}")
    }
}

/// A gateway: scheme, host and optional port, with no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    base: String,
    stripped_suffix: Option<&'static str>,
}

impl Gateway {
    /// Parses a base URL. Accepts the vendor style `…/rest` and `…/sync` (and a trailing slash)
    /// and strips it; refuses any other path, a query, user info, a scheme other than `https`,
    /// and `http` unless the host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn new(base_url: &str) -> Result<Self> {
        todo!("{base_url}")
    }

    /// AliExpress (`https://api-sg.aliexpress.com`).
    pub fn aliexpress() -> Self {
        todo!()
    }

    /// Lazada's auth host (`https://auth.lazada.com`), for token calls.
    pub fn lazada_auth() -> Self {
        todo!()
    }

    /// A Lazada country's business host.
    pub fn lazada(country: LazadaCountry) -> Self {
        todo!("{country:?}")
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
        todo!()
    }

    /// The URL a call goes to: `{base}/rest{api}` for GOP, `{base}/sync` for TOP.
    pub fn endpoint(&self, api: &ApiName) -> String {
        let _ = Style::Gop;
        todo!("{api:?}")
    }
}
