//! The `iop` command: seller tokens from a shell (`iop token create|refresh`), the cron job that
//! keeps them alive (`iop refresh-due`), what a store holds (`iop tokens list|remove`), signature diagnosis (`iop sign explain`, `iop doctor`),
//! any API call (`iop call`) and a demo of the whole token life against an offline gateway
//! (`iop demo`). Exit statuses: see [`failure`].

mod authorize;
mod call;
mod cli;
mod credentials;
mod demo;
mod doctor;
mod failure;
mod refresh_due;
mod shell;
mod show;
mod sign_explain;
mod token_cmd;
mod tokens;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, SignCommand, TokenCommand, TokensCommand};

fn main() -> ExitCode {
    forbid_core_dumps();
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Token(TokenCommand::Create(args)) => token_cmd::create(&cli.app, args),
        Command::Token(TokenCommand::Refresh(args)) => token_cmd::refresh(&cli.app, args),
        Command::RefreshDue(args) => refresh_due::run(&cli.app, args),
        Command::Tokens(TokensCommand::List(args)) => tokens::list(args),
        Command::Tokens(TokensCommand::Remove(args)) => tokens::remove(args),
        Command::Sign(SignCommand::Explain(args)) => sign_explain::run(&cli.app, args),
        Command::Call(args) => call::run(&cli.app, args),
        Command::Doctor(args) => doctor::run(&cli.app, args),
        Command::Demo(args) => demo::run(&cli.app, args),
        Command::Authorize(args) => authorize::run(&cli.app, args),
        Command::Completions(args) => shell::completions(args.shell),
        Command::Man => shell::man(),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            // Each line of the message terminal-safe (a key or stored value quoted in it
            // cannot reach the terminal raw); the message's own line breaks kept.
            let lines: Vec<_> = failure
                .message()
                .split('\n')
                .map(show::escape_controls)
                .collect();
            eprintln!("iop: {}", lines.join("\n"));
            failure.exit_code()
        }
    }
}

/// Makes the process non-dumpable: no core file, and no `ptrace` or `/proc/PID/mem` reads by
/// other processes of the same user. The CLI holds the app secret and tokens for its whole
/// life, so this is done before anything is read. Best effort: a refusal changes nothing else.
fn forbid_core_dumps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes integer arguments only and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    #[cfg(unix)]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `none` is a valid rlimit that outlives the call, which only reads it.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &none);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn the_process_becomes_non_dumpable() {
        super::forbid_core_dumps();
        // SAFETY: PR_GET_DUMPABLE takes no pointer.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        assert_eq!(dumpable, 0);
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: `limit` is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) }, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
    }
}
