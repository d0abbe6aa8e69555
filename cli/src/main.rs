//! The `iop` command: seller tokens from a shell (`iop token create|refresh`), the cron job that
//! keeps them alive (`iop refresh-due`), signature diagnosis (`iop sign explain`, `iop doctor`),
//! any API call (`iop call`) and a demo of the whole token life against an offline gateway
//! (`iop demo`). Exit statuses: see [`failure`].

mod call;
mod cli;
mod credentials;
mod demo;
mod doctor;
mod failure;
mod refresh_due;
mod show;
mod sign_explain;
mod token_cmd;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, SignCommand, TokenCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Token(TokenCommand::Create(args)) => token_cmd::create(&cli.app, args),
        Command::Token(TokenCommand::Refresh(args)) => token_cmd::refresh(&cli.app, args),
        Command::RefreshDue(args) => refresh_due::run(&cli.app, args),
        Command::Sign(SignCommand::Explain(args)) => sign_explain::run(&cli.app, args),
        Command::Call(args) => call::run(&cli.app, args),
        Command::Doctor(args) => doctor::run(&cli.app, args),
        Command::Demo(args) => demo::run(&cli.app, args),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("iop: {}", failure.message());
            failure.exit_code()
        }
    }
}
