//! The result enum, the one mapping of core errors to results, and `Failure`, a failed call
//! on its way to C. Depends on no other module of the crate.

use std::ffi::CStr;

use iop_core::{Error, ErrorClass};

/// The outcome of a call. The numbers are part of the ABI: fixed, never reused, never
/// renumbered; new values are only ever appended.
///
/// `IOP_RESULT_OK` is success. Values 1-4 are mistakes in the arguments, found before anything
/// was sent. Values 5-11 are errors the gateway answered with, by what to do about them. The
/// rest are failures to deliver or understand a call, of the token store, and panics.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum iop_result {
    /// Success.
    IOP_RESULT_OK = 0,
    /// A required pointer argument was NULL.
    IOP_RESULT_NULL_ARGUMENT = 1,
    /// A string argument was not valid UTF-8.
    IOP_RESULT_INVALID_UTF8 = 2,
    /// An argument was refused: a malformed API name or base URL, plain `http` to a host that
    /// is not loopback, a zero timeout, an unknown sign method, …
    IOP_RESULT_INVALID_ARGUMENT = 3,
    /// The output buffer is too small (`iop_sign` needs 65 bytes).
    IOP_RESULT_BUFFER_TOO_SMALL = 4,
    /// The gateway rejected the signature (`IncompleteSignature`): wrong app secret, or a
    /// signing mistake. Do not retry.
    IOP_RESULT_SIGNATURE = 5,
    /// The seller must authorize the app again (`InvalidCode`, `IllegalRefreshToken`,
    /// `AUTH_TYPE_UNSUPPORTED`). Do not retry.
    IOP_RESULT_REAUTHORIZE = 6,
    /// The access token is invalid or expired (`IllegalAccessToken`): refresh it, then retry.
    IOP_RESULT_ACCESS_TOKEN_INVALID = 7,
    /// Rate limited (`ApiCallLimit`, `AppCallLimit`, …): wait `iop_error_retry_after_ms`.
    IOP_RESULT_RATE_LIMITED = 8,
    /// A transient platform failure (ISP or SYSTEM error, HTTP 5xx): retrying later may work.
    IOP_RESULT_GATEWAY_RETRYABLE = 9,
    /// The request or the app's set-up is wrong (`MissingParameter`, `InvalidAppKey`,
    /// `InsufficientPermission`, …): fix it, do not retry.
    IOP_RESULT_GATEWAY_CLIENT = 10,
    /// A gateway error code this library does not know.
    IOP_RESULT_GATEWAY_UNKNOWN = 11,
    /// The answer was not the gateway's JSON (an HTML error page, empty, truncated), or held a
    /// string C cannot represent.
    IOP_RESULT_DECODE = 12,
    /// The request could not be delivered or its answer not read (connection refused or reset).
    IOP_RESULT_TRANSPORT = 13,
    /// A connect or read timeout passed.
    IOP_RESULT_TIMEOUT = 14,
    /// The token store failed to load or save (unreadable directory, corrupted file, conflict,
    /// a record of another app).
    IOP_RESULT_STORE = 15,
    /// The token manager found that the seller must authorize the app again (refresh token
    /// dead or expired).
    IOP_RESULT_REAUTHORIZATION_REQUIRED = 16,
    /// A bug: the library panicked. The panic was caught; the library stays usable.
    IOP_RESULT_PANIC = 17,
    /// An error of a kind this version of the C binding does not name yet.
    IOP_RESULT_OTHER = 18,
    /// The redirect back from the authorization page was refused and no code was exchanged:
    /// its `state` is missing or not the expected one (a forged or stale redirect), the
    /// platform reported an error (the seller declined), or it has no code.
    IOP_RESULT_AUTHORIZATION = 19,
    /// The token manager holds no token set for the seller key asked for: the seller never
    /// authorized the app here, or was removed. Nothing was sent. Store the seller's token set
    /// first (`iop_manager_put`, `iop_manager_complete_authorization`).
    IOP_RESULT_UNKNOWN_SELLER = 20,
}

/// Every result value, in numeric order.
pub(crate) const ALL: [iop_result; 21] = [
    iop_result::IOP_RESULT_OK,
    iop_result::IOP_RESULT_NULL_ARGUMENT,
    iop_result::IOP_RESULT_INVALID_UTF8,
    iop_result::IOP_RESULT_INVALID_ARGUMENT,
    iop_result::IOP_RESULT_BUFFER_TOO_SMALL,
    iop_result::IOP_RESULT_SIGNATURE,
    iop_result::IOP_RESULT_REAUTHORIZE,
    iop_result::IOP_RESULT_ACCESS_TOKEN_INVALID,
    iop_result::IOP_RESULT_RATE_LIMITED,
    iop_result::IOP_RESULT_GATEWAY_RETRYABLE,
    iop_result::IOP_RESULT_GATEWAY_CLIENT,
    iop_result::IOP_RESULT_GATEWAY_UNKNOWN,
    iop_result::IOP_RESULT_DECODE,
    iop_result::IOP_RESULT_TRANSPORT,
    iop_result::IOP_RESULT_TIMEOUT,
    iop_result::IOP_RESULT_STORE,
    iop_result::IOP_RESULT_REAUTHORIZATION_REQUIRED,
    iop_result::IOP_RESULT_PANIC,
    iop_result::IOP_RESULT_OTHER,
    iop_result::IOP_RESULT_AUTHORIZATION,
    iop_result::IOP_RESULT_UNKNOWN_SELLER,
];

impl iop_result {
    /// The value's name as static text.
    pub fn name(self) -> &'static CStr {
        match self {
            Self::IOP_RESULT_OK => c"IOP_RESULT_OK",
            Self::IOP_RESULT_NULL_ARGUMENT => c"IOP_RESULT_NULL_ARGUMENT",
            Self::IOP_RESULT_INVALID_UTF8 => c"IOP_RESULT_INVALID_UTF8",
            Self::IOP_RESULT_INVALID_ARGUMENT => c"IOP_RESULT_INVALID_ARGUMENT",
            Self::IOP_RESULT_BUFFER_TOO_SMALL => c"IOP_RESULT_BUFFER_TOO_SMALL",
            Self::IOP_RESULT_SIGNATURE => c"IOP_RESULT_SIGNATURE",
            Self::IOP_RESULT_REAUTHORIZE => c"IOP_RESULT_REAUTHORIZE",
            Self::IOP_RESULT_ACCESS_TOKEN_INVALID => c"IOP_RESULT_ACCESS_TOKEN_INVALID",
            Self::IOP_RESULT_RATE_LIMITED => c"IOP_RESULT_RATE_LIMITED",
            Self::IOP_RESULT_GATEWAY_RETRYABLE => c"IOP_RESULT_GATEWAY_RETRYABLE",
            Self::IOP_RESULT_GATEWAY_CLIENT => c"IOP_RESULT_GATEWAY_CLIENT",
            Self::IOP_RESULT_GATEWAY_UNKNOWN => c"IOP_RESULT_GATEWAY_UNKNOWN",
            Self::IOP_RESULT_DECODE => c"IOP_RESULT_DECODE",
            Self::IOP_RESULT_TRANSPORT => c"IOP_RESULT_TRANSPORT",
            Self::IOP_RESULT_TIMEOUT => c"IOP_RESULT_TIMEOUT",
            Self::IOP_RESULT_STORE => c"IOP_RESULT_STORE",
            Self::IOP_RESULT_REAUTHORIZATION_REQUIRED => c"IOP_RESULT_REAUTHORIZATION_REQUIRED",
            Self::IOP_RESULT_PANIC => c"IOP_RESULT_PANIC",
            Self::IOP_RESULT_OTHER => c"IOP_RESULT_OTHER",
            Self::IOP_RESULT_AUTHORIZATION => c"IOP_RESULT_AUTHORIZATION",
            Self::IOP_RESULT_UNKNOWN_SELLER => c"IOP_RESULT_UNKNOWN_SELLER",
        }
    }
}

/// The one mapping of core errors to results: gateway errors by their class, the rest by kind.
impl From<&Error> for iop_result {
    fn from(error: &Error) -> Self {
        match error {
            Error::Gateway(gateway) => match gateway.class() {
                ErrorClass::Signature => Self::IOP_RESULT_SIGNATURE,
                ErrorClass::Reauthorize => Self::IOP_RESULT_REAUTHORIZE,
                ErrorClass::Refresh => Self::IOP_RESULT_ACCESS_TOKEN_INVALID,
                ErrorClass::RateLimited => Self::IOP_RESULT_RATE_LIMITED,
                ErrorClass::Retryable => Self::IOP_RESULT_GATEWAY_RETRYABLE,
                ErrorClass::Client => Self::IOP_RESULT_GATEWAY_CLIENT,
                _ => Self::IOP_RESULT_GATEWAY_UNKNOWN,
            },
            Error::Decode { .. } => Self::IOP_RESULT_DECODE,
            Error::Transport { .. } => Self::IOP_RESULT_TRANSPORT,
            Error::Timeout { .. } => Self::IOP_RESULT_TIMEOUT,
            Error::InvalidRequest(_) => Self::IOP_RESULT_INVALID_ARGUMENT,
            Error::Store { .. } => Self::IOP_RESULT_STORE,
            Error::ReauthorizationRequired { .. } => Self::IOP_RESULT_REAUTHORIZATION_REQUIRED,
            Error::Authorization(_) => Self::IOP_RESULT_AUTHORIZATION,
            Error::UnknownSeller { .. } => Self::IOP_RESULT_UNKNOWN_SELLER,
            _ => Self::IOP_RESULT_OTHER,
        }
    }
}

/// A failed call on its way to C: the result and the detail an `iop_error` will carry.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) result: iop_result,
    pub(crate) message: String,
    pub(crate) gateway: Option<iop_core::GatewayError>,
    pub(crate) status: Option<u16>,
    pub(crate) retry_after_ms: Option<i64>,
}

impl Failure {
    /// A failure with a result and a message, no gateway detail.
    pub(crate) fn new(result: iop_result, message: impl Into<String>) -> Self {
        Self {
            result,
            message: message.into(),
            gateway: None,
            status: None,
            retry_after_ms: None,
        }
    }

    /// A NULL pointer argument.
    pub(crate) fn null(what: &str) -> Self {
        Self::new(
            iop_result::IOP_RESULT_NULL_ARGUMENT,
            format!("{what} is NULL"),
        )
    }

    /// A caught panic.
    pub(crate) fn panic() -> Self {
        Self::new(
            iop_result::IOP_RESULT_PANIC,
            "internal error: the library panicked (a bug; please report it)",
        )
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::from(&error)
    }
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        let gateway = match error {
            Error::Gateway(g) => Some(g.clone()),
            Error::ReauthorizationRequired { gateway, .. } => gateway.clone(),
            _ => None,
        };
        let status = match error {
            Error::Decode { status, .. } => Some(*status),
            _ => gateway.as_ref().map(|g| g.status),
        };
        let retry_after_ms = error
            .retry_after()
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            result: iop_result::from(error),
            message: error.to_string(),
            gateway,
            status,
            retry_after_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed_and_names_match() {
        for (i, value) in ALL.iter().enumerate() {
            assert_eq!(*value as usize, i);
            let name = value.name().to_str().unwrap_or_default();
            assert_eq!(name, format!("{value:?}"));
        }
    }

    fn gateway(code: &str, error_type: &str, message: &str) -> iop_core::GatewayError {
        iop_core::GatewayError {
            status: 200,
            error_type: Some(error_type.to_owned()),
            code: code.to_owned(),
            message: Some(message.to_owned()),
            sub_code: None,
            sub_msg: None,
            request_id: Some("req".to_owned()),
        }
    }

    #[test]
    fn one_mapping_of_core_errors() {
        use iop_result::*;
        let cases = [
            (
                gateway("IncompleteSignature", "ISV", "m"),
                IOP_RESULT_SIGNATURE,
            ),
            (
                gateway("IllegalRefreshToken", "ISV", "m"),
                IOP_RESULT_REAUTHORIZE,
            ),
            (gateway("InvalidCode", "ISV", "m"), IOP_RESULT_REAUTHORIZE),
            (
                gateway("IllegalAccessToken", "ISV", "m"),
                IOP_RESULT_ACCESS_TOKEN_INVALID,
            ),
            (
                gateway("ApiCallLimit", "ISV", "this ban will last 3 seconds"),
                IOP_RESULT_RATE_LIMITED,
            ),
            (
                gateway("ServiceBusy", "ISP", "m"),
                IOP_RESULT_GATEWAY_RETRYABLE,
            ),
            (
                gateway("MissingParameter", "ISV", "m"),
                IOP_RESULT_GATEWAY_CLIENT,
            ),
            (
                gateway("NeverHeardOfIt", "ISV", "m"),
                IOP_RESULT_GATEWAY_UNKNOWN,
            ),
        ];
        for (g, expected) in cases {
            let code = g.code.clone();
            let failure = Failure::from(Error::Gateway(g));
            assert_eq!(failure.result, expected, "{code}");
            assert_eq!(failure.gateway.map(|g| g.code), Some(code));
        }
        let rate = Failure::from(Error::Gateway(gateway(
            "ApiCallLimit",
            "ISV",
            "this ban will last 3 seconds",
        )));
        assert_eq!(rate.retry_after_ms, Some(3000));
        let decode = Failure::from(Error::Decode {
            status: 502,
            snippet: "<html>".to_owned(),
        });
        assert_eq!(decode.result, IOP_RESULT_DECODE);
        assert_eq!(decode.status, Some(502));
        let transport = Error::Transport {
            message: "refused".to_owned(),
            sent: false,
            source: None,
        };
        assert_eq!(iop_result::from(&transport), IOP_RESULT_TRANSPORT);
        let timeout = Error::Timeout {
            after: std::time::Duration::from_secs(1),
            sent: true,
        };
        assert_eq!(iop_result::from(&timeout), IOP_RESULT_TIMEOUT);
        let invalid = Error::InvalidRequest("bad".to_owned());
        assert_eq!(iop_result::from(&invalid), IOP_RESULT_INVALID_ARGUMENT);
        let store = Error::Store {
            key: "k".to_owned(),
            message: "m".to_owned(),
            source: None,
        };
        assert_eq!(iop_result::from(&store), IOP_RESULT_STORE);
        let unknown = Error::UnknownSeller {
            key: "nobody".to_owned(),
        };
        assert_eq!(iop_result::from(&unknown), IOP_RESULT_UNKNOWN_SELLER);
        let reauth = Failure::from(Error::ReauthorizationRequired {
            key: "k".to_owned(),
            reason: "dead".to_owned(),
            gateway: Some(gateway("IllegalRefreshToken", "ISV", "m")),
        });
        assert_eq!(reauth.result, IOP_RESULT_REAUTHORIZATION_REQUIRED);
        assert_eq!(
            reauth.gateway.map(|g| g.code).as_deref(),
            Some("IllegalRefreshToken")
        );
    }
}
