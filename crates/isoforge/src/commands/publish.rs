//! `isoforge publish`: attaches an output directory (the ISO, BUILD_INFO, the provenance and
//! SHA256SUMS) to a Gitea release. The directory is checked against its SHA256SUMS first, and
//! each file is hashed again through the descriptor it is uploaded from, so what is
//! published is what was checked. The Gitea side lives in [`isoforge_publish`].

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use isoforge_http::Secret;
use isoforge_publish::{Asset, Retry, Target};
use sha2::{Digest, Sha256};

use crate::commands::{check, net};
use crate::exit;

const SUMS_NAME: &str = "SHA256SUMS";

#[derive(clap::Args, Debug)]
#[command(
    after_help = "The token comes from the environment variable GITEA_TOKEN (scope \
write:repository); it is never printed, and is refused over plain http:// except to loopback.\n\n\
Exit status: 0 published (or already complete), 1 the directory does not match its SHA256SUMS \
(nothing uploaded), 2 error."
)]
pub struct Args {
    /// The build's output directory: SHA256SUMS and the files it lists (the ISO, BUILD_INFO,
    /// the provenance).
    #[arg(value_name = "OUTPUT_DIR")]
    pub dir: PathBuf,

    /// The Gitea server, e.g. https://git.example.org.
    #[arg(long, value_name = "URL")]
    pub gitea: String,

    /// The repository, OWNER/NAME.
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: String,

    /// The release's tag (created with the release when the tag has none).
    #[arg(long, value_name = "TAG")]
    pub tag: String,

    /// Further tries of a request after HTTP 5xx, 429 or a network failure.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,

    #[command(flatten)]
    pub http: net::HttpArgs,

    /// Configuration directory; its profile's REPORT_CONTACT is named with an anomaly.
    #[arg(long, value_name = "DIR", default_value = "config")]
    pub config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let target = Target::new(&args.gitea, &args.repo, &args.tag)?;
    let token = match std::env::var("GITEA_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Secret::new(t.trim()),
        _ => bail!(
            "GITEA_TOKEN is not set: create a token with the write:repository scope in Gitea \
             (Settings, Applications) and pass it in the environment"
        ),
    };
    if !target.gitea.starts_with("https://") && !isoforge_http::is_loopback(&target.gitea) {
        bail!(
            "--gitea {}: refusing to send the token over plain http; use https",
            target.gitea
        );
    }

    // Nothing leaves the machine unless the directory matches its SHA256SUMS.
    let report = check::check_dir(&args.dir, false)?;
    let anomalies = report.anomalies();
    if !anomalies.is_empty() {
        for a in &anomalies {
            eprintln!("{a}");
        }
        eprintln!("report it to {}", check::report_contact(&args.config));
        eprintln!(
            "isoforge: publish refused: {} does not match its SHA256SUMS; nothing was uploaded",
            args.dir.display()
        );
        return Ok(exit::DIFFERENT);
    }
    let assets = assets(&args.dir)?;

    let http = args.http.agent();
    let retry = Retry {
        retries: args.retries,
        ..Retry::default()
    };
    let done = isoforge_publish::publish(&http, &token, &target, &assets, &retry, &mut |line| {
        eprintln!("{line}")
    })?;
    println!(
        "published {} on {}/{}/{}: {} uploaded, {} already there (release id {})",
        target.tag,
        target.gitea,
        target.owner,
        target.repo,
        done.uploaded.len(),
        done.present.len(),
        done.release_id
    );
    Ok(exit::OK)
}

/// The files SHA256SUMS lists, each ISO's provenance, then SHA256SUMS itself (last, so a release that has it is
/// complete): each a plain name in the directory, opened without following a symlink,
/// hashed through that descriptor and compared with its listing again.
fn assets(dir: &Path) -> anyhow::Result<Vec<Asset>> {
    let sums_path = dir.join(SUMS_NAME);
    let entries = isoforge_checksums::read_sums(&sums_path)?;
    let mut names: Vec<&str> = Vec::new();
    for l in &entries {
        let name = l.entry.name.strip_prefix("./").unwrap_or(&l.entry.name);
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            bail!(
                "{}:{}: {name:?}: a release asset is a file name in the directory, not a path",
                sums_path.display(),
                l.line
            );
        }
        if names.contains(&name) {
            bail!("{}:{}: {name} is listed twice", sums_path.display(), l.line);
        }
        names.push(name);
    }
    let needed = [
        ("an ISO (*.iso)", names.iter().any(|n| n.ends_with(".iso"))),
        ("BUILD_INFO", names.contains(&"BUILD_INFO")),
    ];
    for (what, present) in needed {
        if !present {
            bail!(
                "{}: lists no {what}; is {} an isoforge output directory?",
                sums_path.display(),
                dir.display()
            );
        }
    }
    // Each ISO's provenance is published with it. It is unique to its build (invocationId),
    // so SHA256SUMS, which lists what every rebuild reproduces, need not list it.
    let provenance: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(".iso"))
        .map(|iso| format!("{iso}.intoto.json"))
        .filter(|p| !names.contains(&p.as_str()))
        .collect();
    let mut assets = Vec::new();
    for (l, name) in entries.iter().zip(&names) {
        let asset = open_asset(dir, name)?;
        if asset.sha256 != l.entry.digest.0 {
            bail!(
                "{}: changed while being published (sha256 {} now, {} listed); nothing more is uploaded",
                dir.join(name).display(),
                isoforge_checksums::Sha256Digest(asset.sha256),
                l.entry.digest
            );
        }
        assets.push(asset);
    }
    for p in &provenance {
        assets.push(open_asset(dir, p).with_context(|| {
            format!("{}: the ISO's provenance is missing", dir.join(p).display())
        })?);
    }
    assets.push(open_asset(dir, SUMS_NAME)?);
    Ok(assets)
}

fn open_asset(dir: &Path, name: &str) -> anyhow::Result<Asset> {
    let path = dir.join(name);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("{}: cannot open (a symlink is refused)", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("{}: cannot read its metadata", path.display()))?;
    if !meta.is_file() {
        bail!("{}: not a regular file; refused", path.display());
    }
    let mut hasher = Sha256::new();
    let size = io::copy(&mut file, &mut hasher)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(Asset {
        name: name.to_string(),
        file,
        size,
        sha256: hasher.finalize().into(),
    })
}
