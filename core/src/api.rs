//! API names and the call style they imply (PROTOCOL.md §1).

use crate::error::Result;

/// The two call styles of the gateway. The API name decides; the user never picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// "System" REST-path API (`/auth/token/refresh`): `{base}/rest{api}`, signed with the path as
    /// prefix, token sent as `access_token`.
    Gop,
    /// "Business" dotted API (`aliexpress.solution.product.list.get`): `{base}/sync` with
    /// `method={api}`, no sign prefix, token sent as `session`.
    Top,
}

/// A validated API name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiName {
    name: String,
    style: Style,
}

impl ApiName {
    /// Validates `name`: refuses empty and whitespace-only names, surrounding whitespace, control
    /// characters, a GOP path with a trailing slash, a query part or a fragment, and a TOP name
    /// with characters other than letters, digits, `.`, `_` and `-`.
    pub fn parse(name: &str) -> Result<Self> {
        todo!("{name}")
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// GOP or TOP.
    pub fn style(&self) -> Style {
        self.style
    }
}
