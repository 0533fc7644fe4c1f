//! `isoforge rebuild BUILD_INFO`: rebuild what a BUILD_INFO records, from scratch, and compare.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use isoforge_exec::Progress;

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The BUILD_INFO of the build to reproduce (e.g. a release's, or output/<id>/BUILD_INFO).
    pub build_info: PathBuf,
    /// Repository (path or URL) holding the recorded commit [default: the git repository of
    /// the current directory].
    #[arg(long, value_name = "REPO")]
    pub source: Option<OsString>,
    /// Fresh directory for the checkout and the rebuilt output [default: rebuild/<build-id>,
    /// cleared first].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Echo every line the tools print.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    isoforge_exec::cancel::install()?;
    let progress = Progress::new(args.verbose);
    let recorded = isoforge_verify::rebuild::read_build_info(&args.build_info)?;
    let source = match args.source {
        Some(s) => s,
        None => current_repository()?,
    };
    let dir = match args.dir {
        Some(d) => d,
        None => {
            // Only a parsed (checked, hex) commit names the directory, and it is removed
            // beneath `rebuild/` only.
            let name = recorded.build_id();
            isoforge_fs::Dir::create(Path::new("rebuild"))?.remove_tree(&name)?;
            PathBuf::from("rebuild").join(name)
        }
    };
    let report = isoforge_verify::rebuild::rebuild(
        &isoforge_verify::rebuild::Options {
            build_info: args.build_info.clone(),
            source,
            dir,
            verbose: args.verbose,
        },
        &progress,
    )?;
    println!();
    for o in &report.outcomes {
        let got = o
            .got
            .map(|d| d.hex())
            .unwrap_or_else(|| "(not produced)".into());
        println!(
            "{}: {}",
            o.name,
            if o.matches() {
                "reproduced"
            } else {
                "DIFFERENT"
            }
        );
        println!("  recorded {}", o.expected);
        println!("  rebuilt  {got}  ({})", o.rebuilt.display());
    }
    for (tool, was, now) in &report.tool_differences {
        println!("note: {tool} was {was} in the recorded build, {now} here");
    }
    for e in &report.explained {
        println!(
            "isoforge diff of {} (recorded vs rebuilt): {}",
            e.name, e.summary
        );
        println!("  in brief: {} {}", e.name, e.brief);
        println!("  report: {} (also .html, .json)", e.text.display());
    }
    if report.matches() {
        println!(
            "REPRODUCED: the rebuild matches {}",
            args.build_info.display()
        );
        Ok(exit::OK)
    } else {
        println!(
            "DIFFERENT: the rebuild does not match {}",
            args.build_info.display()
        );
        Ok(exit::DIFFERENT)
    }
}

fn current_repository() -> anyhow::Result<OsString> {
    isoforge_exec::git::toplevel(Path::new("."))
        .map(OsString::from)
        .map_err(|e| {
            anyhow::anyhow!(
                "the current directory is not in a git repository ({e}); pass --source REPO"
            )
        })
}
