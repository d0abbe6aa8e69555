//! `iop completions SHELL` and the hidden `iop man`: shell integration generated from the same
//! clap definitions as the command line itself, so they never drift from it.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::failure::{Failure, Outcome, ok};

/// Prints the completion script of `shell` on stdout.
pub(crate) fn completions(shell: Shell) -> Outcome {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "iop", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    ok()
}

/// Prints the manual page, `iop(1)`, as roff on stdout.
pub(crate) fn man() -> Outcome {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Failure::Failed(format!("cannot render the manual page: {e}")))?;
    let page = String::from_utf8_lossy(&out);
    std::io::stdout()
        .lock()
        .write_all(title_first(&page).as_bytes())?;
    ok()
}

/// The page with its `.TH` line first, as man pages usually start (tools such as `file`,
/// `mandb` and lintian look there): clap_mangen writes its definition of the apostrophe
/// string (`.ie`/`.el … Aq`) above it, which works as well below it.
fn title_first(page: &str) -> String {
    let mut preamble = String::new();
    let mut rest = page;
    while rest.starts_with(".ie ") || rest.starts_with(".el ") {
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        preamble.push_str(&rest[..end]);
        rest = &rest[end..];
    }
    match rest.strip_prefix(".TH ") {
        Some(after) => {
            let end = after.find('\n').map_or(after.len(), |i| i + 1);
            format!(".TH {}{preamble}{}", &after[..end], &after[end..])
        }
        None => page.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::title_first;

    #[test]
    fn the_title_comes_first_and_nothing_is_lost() {
        let page = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH iop 1\n.SH NAME\n";
        let moved = title_first(page);
        assert_eq!(
            moved,
            ".TH iop 1\n.ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.SH NAME\n"
        );
        assert_eq!(title_first(".TH x 1\n"), ".TH x 1\n");
        assert_eq!(title_first("no title"), "no title");
    }
}
