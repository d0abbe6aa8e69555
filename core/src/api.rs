//! API names and the call style they imply (docs/src/concepts/protocol.md#call-styles).

use crate::error::{Error, Result};

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
    ///
    /// ```
    /// use iop_core::{ApiName, Style};
    /// assert_eq!(ApiName::parse("/auth/token/refresh").unwrap().style(), Style::Gop);
    /// assert_eq!(ApiName::parse("aliexpress.solution.product.list.get").unwrap().style(), Style::Top);
    /// assert!(ApiName::parse("/order/get/").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Self> {
        let refuse = |why: &str| Err(Error::InvalidRequest(format!("API name {name:?}: {why}")));
        if name.trim().is_empty() {
            return refuse("empty");
        }
        if name.trim() != name {
            return refuse("surrounding whitespace");
        }
        if name.chars().any(char::is_control) {
            return refuse("control character");
        }
        if let Some(path) = name.strip_prefix('/') {
            if name.contains('?') {
                return refuse("a path API takes no query part; pass parameters separately");
            }
            if name.contains('#') {
                return refuse("a path API takes no fragment");
            }
            if name.ends_with('/') {
                return refuse("trailing slash (the gateway signs the path without it)");
            }
            if path.split('/').any(str::is_empty) {
                return refuse("empty path segment");
            }
            if let Some(c) = path.chars().find(|c| !is_name_char(*c) && *c != '/') {
                return refuse(&format!("character {c:?} not allowed in a path API"));
            }
            Ok(Self {
                name: name.to_owned(),
                style: Style::Gop,
            })
        } else {
            if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
                return refuse(&format!(
                    "character {c:?} not allowed in a dotted API name (path APIs start with '/')"
                ));
            }
            Ok(Self {
                name: name.to_owned(),
                style: Style::Top,
            })
        }
    }

    /// The prefix of the string-to-sign: the path for GOP, `""` for TOP.
    pub fn sign_prefix(&self) -> &str {
        sign_prefix_of(&self.name)
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// GOP or TOP.
    pub fn style(&self) -> Style {
        self.style
    }

    /// Whether this is a token call (`/auth/token/create`, `/auth/token/refresh`, any
    /// `/auth/token/…`): it goes to [`crate::Gateway::token_gateway`].
    pub fn is_token_call(&self) -> bool {
        self.style == Style::Gop && self.name.starts_with("/auth/token/")
    }
}

/// The sign prefix rule (docs/src/concepts/protocol.md#signing) for an API name given as text: the
/// path for a path (GOP) API, `""` for a dotted (TOP) one. The one home of that rule for the
/// bindings.
pub fn sign_prefix_of(api: &str) -> &str {
    if api.starts_with('/') { api } else { "" }
}

impl Style {
    /// `"GOP"` or `"TOP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gop => "GOP",
            Self::Top => "TOP",
        }
    }

    /// `"gop"` or `"top"`: the stable name in log fields and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gop => "gop",
            Self::Top => "top",
        }
    }

    /// The style of an API name given as text: a leading `/` makes a path (GOP) API.
    pub fn of(api: &str) -> Self {
        if api.starts_with('/') {
            Self::Gop
        } else {
            Self::Top
        }
    }
}

impl std::fmt::Display for Style {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Letters, digits, `.`, `_` and `-`: the characters of API names and path segments.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl std::fmt::Display for ApiName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl std::str::FromStr for ApiName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        let gop = ApiName::parse("/auth/token/create").unwrap();
        assert_eq!(gop.style(), Style::Gop);
        assert_eq!(gop.sign_prefix(), "/auth/token/create");
        let top = ApiName::parse("aliexpress.solution.product.list.get").unwrap();
        assert_eq!(top.style(), Style::Top);
        assert_eq!(top.sign_prefix(), "");
        assert_eq!(top.as_str(), "aliexpress.solution.product.list.get");
        assert!(ApiName::parse("/a-b/c_d/e.f/G1").is_ok());
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "",
            "   ",
            " /order/get",
            "/order/get ",
            "/order/get/",
            "/",
            "/order//get",
            "/order/get?x=1",
            "/order/get#f",
            "/order/\nget",
            "/order/get\u{7}",
            "/order/g et",
            "aliexpress.product get",
            "aliexpress.product/get",
            "aliexpress\tget",
            "https://api-sg.aliexpress.com/rest/order/get",
        ] {
            let err = ApiName::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{bad:?}: {err:?}");
        }
    }
}
