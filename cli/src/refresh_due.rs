//! `iop refresh-due`: the cron job that refreshes every stored token expiring soon.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use iop_core::{RefreshDueOptions, RefreshReport, TokenManager};

use crate::cli::{AppArgs, RefreshDueArgs};
use crate::credentials::{App, Stdin};
use crate::failure::{
    EXIT_FAILED, EXIT_FAILED_AND_REAUTHORIZE, EXIT_OK, EXIT_REAUTHORIZE, Outcome,
};
use crate::show;
use crate::token_cmd::{open_store, store_name};

/// Refreshes what is due, shows progress on a terminal, then the summary and the problems.
pub(crate) fn run(app_args: &AppArgs, args: &RefreshDueArgs) -> Outcome {
    let app = App::resolve(app_args, &mut Stdin::default())?;
    let client = app.client()?;
    let store = open_store(&args.store, false)?;
    let manager = TokenManager::new(client, store);

    let bar = std::io::stderr().is_terminal().then(progress_bar);
    let progress = bar.clone().map(|bar| {
        Box::new(move |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }) as Box<dyn Fn(usize, usize) + Send + Sync>
    });
    let report = manager.refresh_due(RefreshDueOptions {
        within: args.within,
        concurrency: usize::from(args.concurrency),
        progress,
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let mut out = std::io::stdout().lock();
    for line in report_lines(&report, args) {
        // Lines quote seller keys and store errors.
        writeln!(out, "{}", show::escape_controls(&line))?;
    }
    Ok(exit_code(&report))
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("refresh-due {bar:40} {pos}/{len} sellers, {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

/// The summary line, then one line per failure and per seller who must authorize again.
fn report_lines(report: &RefreshReport, args: &RefreshDueArgs) -> Vec<String> {
    let total = report.refreshed.len()
        + report.skipped.len()
        + report.failed.len()
        + report.reauthorization_required.len();
    let mut lines = vec![format!(
        "refresh-due: {total} stored, {} refreshed, {} not due, {} failed, {} must reauthorize \
         (window {}, store {})",
        report.refreshed.len(),
        report.skipped.len(),
        report.failed.len(),
        report.reauthorization_required.len(),
        show::span(args.within),
        store_name(&args.store),
    )];
    for (key, class, message) in &report.failed {
        lines.push(format!("failed: {key}: {class:?}: {message}"));
    }
    for (key, left) in &report.reauthorization_required {
        let left = match left {
            Some(left) => format!("its access token expires in {}", show::span(*left)),
            None => "its access token has expired".to_owned(),
        };
        lines.push(format!(
            "reauthorize: {key}: the seller must authorize the app again; {left}"
        ));
    }
    lines
}

/// 0 all fine, 1 failures, 3 reauthorization needed, 4 both.
fn exit_code(report: &RefreshReport) -> ExitCode {
    ExitCode::from(
        match (
            report.failed.is_empty(),
            report.reauthorization_required.is_empty(),
        ) {
            (true, true) => EXIT_OK,
            (false, true) => EXIT_FAILED,
            (true, false) => EXIT_REAUTHORIZE,
            (false, false) => EXIT_FAILED_AND_REAUTHORIZE,
        },
    )
}
