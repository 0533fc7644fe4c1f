//! The installed packages of a root file system (or of the build host), from dpkg's status
//! file: what BUILD_INFO records.

use std::path::Path;

use crate::{Error, io_err};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

/// Every package dpkg considers installed under `root`, sorted by name.
pub fn installed(root: &Path) -> Result<Vec<Installed>, Error> {
    let path = root.join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&path)
        .map_err(io_err(format!("cannot read {}", path.display())))?;
    let paragraphs = isoforge_deb822::parse(&text)
        .map_err(|e| Error::Invalid(format!("{}:{e}", path.display())))?;
    let mut out: Vec<Installed> = paragraphs
        .iter()
        .filter(|p| {
            p.get("Status")
                .is_some_and(|s| s.split_whitespace().last() == Some("installed"))
        })
        .filter_map(|p| {
            Some(Installed {
                name: p.get("Package")?.to_string(),
                version: p.get("Version")?.to_string(),
                architecture: p.get("Architecture").unwrap_or("all").to_string(),
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The versions of `names` installed on the build host (`None` where not installed).
pub fn host_versions(names: &[&str]) -> Result<Vec<(String, Option<String>)>, Error> {
    let all = installed(Path::new("/"))?;
    Ok(names
        .iter()
        .map(|n| {
            let v = all.iter().find(|p| p.name == *n).map(|p| p.version.clone());
            (n.to_string(), v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hosts_dpkg_status() {
        // The build host is Debian: dpkg itself must be listed, as dpkg-query reports it.
        let v = host_versions(&["dpkg"]).unwrap();
        let mut cmd = isoforge_exec::tool("dpkg-query");
        cmd.args(["-W", "-f", "${Version}", "dpkg"]);
        let want = isoforge_exec::capture(cmd).expect("dpkg-query");
        assert_eq!(
            v[0].1.as_deref(),
            Some(String::from_utf8_lossy(&want).as_ref())
        );
    }
}
