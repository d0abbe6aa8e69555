//! Why a command failed, and the exit status that tells a shell or cron about it.

use std::process::ExitCode;

use iop_core::{Error, ErrorClass};

/// Exit status: everything worked.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the command failed (gateway error, network, store, a problem found by `doctor`).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status: the command line or the environment is incomplete or malformed.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status: a seller must authorize the app again (refresh token dead or refused).
pub(crate) const EXIT_REAUTHORIZE: u8 = 3;
/// Exit status of `refresh-due`: some refreshes failed and some sellers must authorize again.
pub(crate) const EXIT_FAILED_AND_REAUTHORIZE: u8 = 4;

/// The table printed under `iop --help`.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit status:
  0  everything worked
  1  failed: gateway error, network, token store; `doctor` found a problem;
     `refresh-due`: some refreshes failed (run again later)
  2  usage: missing credentials or arguments, malformed -p KEY=VALUE
  3  a seller must authorize the app again (refresh token dead or refused)
  4  `refresh-due` only: both 1 and 3 happened";

/// A failure of the command, with the message shown on stderr. Never holds a secret.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Missing or malformed input: exit 2.
    Usage(String),
    /// The command failed: exit 1.
    Failed(String),
    /// The seller must authorize again: exit 3.
    Reauthorize(String),
}

impl Failure {
    /// The exit status of this failure.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Failed(_) => EXIT_FAILED,
            Self::Reauthorize(_) => EXIT_REAUTHORIZE,
        })
    }

    /// The message for stderr.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Usage(m) | Self::Failed(m) | Self::Reauthorize(m) => m,
        }
    }

    /// A failure from a core error, with `context` in front and a hint after for the classic
    /// cases (wrong secret, dead refresh token).
    pub(crate) fn from_core(context: &str, error: &Error) -> Self {
        let mut message = format!("{context}: {error}");
        match error.class() {
            ErrorClass::Signature => message.push_str(
                "\nhint: the gateway rejected the signature; check IOP_APP_SECRET against the app \
                 key (`iop doctor`), and see what is signed with `iop sign explain API -p KEY=VALUE`",
            ),
            ErrorClass::Reauthorize => {
                message.push_str("\nhint: the seller must authorize the app again");
                return Self::Reauthorize(message);
            }
            _ => {}
        }
        if matches!(error, Error::ReauthorizationRequired { .. }) {
            return Self::Reauthorize(message);
        }
        Self::Failed(message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Failed(format!("cannot write the output: {error}"))
    }
}

/// What a command returns.
pub(crate) type Outcome = Result<ExitCode, Failure>;

/// Success.
pub(crate) fn ok() -> Outcome {
    Ok(ExitCode::from(EXIT_OK))
}
