//! `<iso>.intoto.json`: an in-toto Statement v1 with a SLSA provenance v1 predicate naming the
//! same inputs as BUILD_INFO and the ISO as its subject. Every dependency is a URI (the
//! repository `@` the commit, the snapshot, `pkg:` URLs for packages and the builder). The
//! statement is a record of one run: its `invocationId` is fresh for every build, so it is
//! written after the ISO, is no input to it, and is not compared by `isoforge verify`.

use serde_json::{Value, json};

use crate::BuildInfo;

/// What the statement says about this run beyond BUILD_INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Where the commit can be fetched: a git URL such as `https://host/owner/repo`.
    pub repository: String,
    /// The package lock, relative to the repository (`<config dir>/packages-<flavor>.lock`).
    pub lock: String,
    /// Unique to this build: a random UUID (see [`invocation_id`]).
    pub invocation_id: String,
    /// The overlays' regular files (`<config dir>/includes.chroot/...`) and the hooks
    /// (`<config dir>/hooks/NAME`), relative to the repository, with their sha256, listed as
    /// inputs; the overlays' symlinks and owners and the hooks' modes are pinned by
    /// `Profile-Sha256`.
    pub overlay_files: Vec<(String, String)>,
}

/// A random (version 4) UUID from the kernel's random source.
pub fn invocation_id() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// The repository as an SPDX-style download location: `git+<url>@<commit>`.
fn source_uri(repository: &str, commit: &str) -> String {
    let url = repository.strip_prefix("git+").unwrap_or(repository);
    format!("git+{url}@{commit}")
}

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
pub const BUILD_TYPE: &str = "https://git.silverlabs.uk/SilverLABS/isoforge/buildtypes/live-iso/v1";
const BUILDER: &str = "https://git.silverlabs.uk/SilverLABS/isoforge/builder";

/// The statement for `info`, whose first artefact is the ISO, as pretty JSON with sorted keys.
pub fn statement(info: &BuildInfo, run: &Run) -> String {
    let source = source_uri(&run.repository, &info.commit);
    let subject: Vec<Value> = info
        .artefacts
        .iter()
        .map(|a| json!({ "name": a.name, "digest": { "sha256": a.sha256 } }))
        .collect();
    let mut deps = vec![
        json!({
            "uri": source,
            "digest": { "gitCommit": info.commit },
        }),
        json!({ "uri": info.snapshot_url, "annotations": { "use": "pinned snapshot" } }),
    ];
    deps.extend(info.installed.iter().map(|p| {
        let uri = format!(
            "pkg:deb/debian/{}@{}?arch={}",
            p.name, p.version, p.architecture
        );
        match &p.sha256 {
            Some(sha) => json!({
                "uri": uri,
                "digest": { "sha256": sha },
                "annotations": { "use": "installed in the image" },
            }),
            None => json!({ "uri": uri, "annotations": { "use": "installed in the image" } }),
        }
    }));
    if info.package_lock_sha256 != "none" {
        deps.push(json!({
            "uri": format!("{source}#{}", run.lock),
            "digest": { "sha256": info.package_lock_sha256 },
            "annotations": { "use": "package lock" },
        }));
    }
    let hooks = std::path::Path::new(&info.config_dir).join("hooks");
    deps.extend(run.overlay_files.iter().map(|(path, sha256)| {
        let is_hook = std::path::Path::new(path).parent() == Some(hooks.as_path());
        json!({
            "uri": format!("{source}#{path}"),
            "digest": { "sha256": sha256 },
            "annotations": { "use": if is_hook { "hook" } else { "overlay file" } },
        })
    }));
    if info.builder_digest != "none" {
        deps.push(json!({
            // A rootfs tarball, not an OCI image: a generic package named by its digest.
            "uri": format!(
                "pkg:generic/isoforge-builder-rootfs?checksum=sha256:{}",
                info.builder_digest
            ),
            "digest": { "sha256": info.builder_digest },
            "annotations": { "use": "builder rootfs (isoforge builder build)" },
        }));
    }
    deps.extend(info.build_tools.iter().map(|(n, v)| {
        json!({
            "uri": format!("pkg:deb/debian/{n}@{v}"),
            "annotations": { "use": "build tool" },
        })
    }));
    let env: serde_json::Map<String, Value> = info
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let s = json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "source": source,
                    "configDir": info.config_dir,
                    "runtime": info.runtime,
                    "commit": info.commit,
                    "profile": info.source,
                    "profileSha256": info.profile_sha256,
                    "version": info.version,
                    "architecture": info.architecture,
                    "snapshotTimestamp": info.snapshot_timestamp,
                    "mirror": info.mirror,
                },
                "internalParameters": {
                    "sourceDateEpoch": info.source_date_epoch,
                    "sourceDateEpochOrigin": info.source_date_epoch_origin,
                    "packageSource": info.package_source,
                    "packageLockSha256": info.package_lock_sha256,
                    "builderDigest": info.builder_digest,
                    "environment": env,
                    "kernel": info.kernel,
                },
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {
                    "id": format!("{BUILDER}/{}", info.runtime),
                    "version": { "isoforge": info.build_tool },
                },
                "metadata": { "invocationId": run.invocation_id },
            },
        },
    });
    let mut text = serde_json::to_string_pretty(&s).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run {
        Run {
            repository: "https://git.example.org/owner/isoforge".into(),
            lock: "config/packages.lock".into(),
            invocation_id: invocation_id().unwrap(),
            overlay_files: Vec::new(),
        }
    }

    #[test]
    fn invocation_ids_are_fresh_uuids() {
        let (a, b) = (invocation_id().unwrap(), invocation_id().unwrap());
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "version 4: {a}");
        assert!("89ab".contains(&parts[3][..1]), "RFC 4122 variant: {a}");
    }

    #[test]
    fn uris_and_run_details() {
        let mut info = crate::sample();
        info.builder_digest = "3a".repeat(32);
        info.runtime = "chroot".into();
        info.config_dir = "profiles/silvermetal".into();
        let r = Run {
            lock: "profiles/silvermetal/packages.lock".into(),
            overlay_files: vec![
                (
                    "profiles/silvermetal/includes.chroot/etc/motd".into(),
                    "ab".repeat(32),
                ),
                (
                    "profiles/silvermetal/hooks/10-a.hook.chroot".into(),
                    "cd".repeat(32),
                ),
            ],
            ..run()
        };
        let v: Value = serde_json::from_str(&statement(&info, &r)).unwrap();
        let def = &v["predicate"]["buildDefinition"];
        let source = format!("git+https://git.example.org/owner/isoforge@{}", info.commit);
        assert_eq!(def["externalParameters"]["source"], source.as_str());
        assert_eq!(def["externalParameters"]["runtime"], "chroot");
        assert_eq!(
            def["externalParameters"]["configDir"],
            "profiles/silvermetal"
        );
        let deps = def["resolvedDependencies"].as_array().unwrap();
        assert_eq!(deps[0]["uri"], source.as_str());
        let motd = deps
            .iter()
            .find(|d| d["annotations"]["use"] == "overlay file")
            .unwrap();
        assert_eq!(
            motd["uri"],
            format!("{source}#profiles/silvermetal/includes.chroot/etc/motd").as_str()
        );
        assert_eq!(motd["digest"]["sha256"], "ab".repeat(32).as_str());
        let hook = deps
            .iter()
            .find(|d| d["annotations"]["use"] == "hook")
            .unwrap();
        assert_eq!(
            hook["uri"],
            format!("{source}#profiles/silvermetal/hooks/10-a.hook.chroot").as_str()
        );
        assert!(
            deps.iter().any(
                |d| d["uri"] == format!("{source}#profiles/silvermetal/packages.lock").as_str()
            )
        );
        let builder = deps
            .iter()
            .find(|d| {
                d["annotations"]["use"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("builder")
            })
            .unwrap();
        assert_eq!(
            builder["uri"],
            format!(
                "pkg:generic/isoforge-builder-rootfs?checksum=sha256:{}",
                "3a".repeat(32)
            )
            .as_str()
        );
        // Every dependency is a URI with a scheme.
        for d in deps {
            let uri = d["uri"].as_str().unwrap();
            let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or("");
            assert!(
                !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)),
                "{uri}"
            );
        }
        assert_eq!(
            v["predicate"]["runDetails"]["metadata"]["invocationId"],
            r.invocation_id.as_str()
        );
        // Another build, another id; nothing else changes.
        let again = statement(
            &info,
            &Run {
                invocation_id: invocation_id().unwrap(),
                ..r.clone()
            },
        );
        assert_ne!(again, statement(&info, &r));
        assert_eq!(
            again.replace(&again_id(&again), "ID"),
            statement(&info, &r).replace(&r.invocation_id, "ID")
        );
    }

    fn again_id(text: &str) -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        v["predicate"]["runDetails"]["metadata"]["invocationId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn names_the_iso_and_the_inputs() {
        let info = crate::sample();
        let r = run();
        let text = statement(&info, &r);
        assert_eq!(text, statement(&info, &r), "deterministic for one run");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], PREDICATE_TYPE);
        assert_eq!(v["subject"][0]["name"], "silvermetal-1.1.0-amd64.iso");
        assert_eq!(v["subject"][0]["digest"]["sha256"], "cd".repeat(32));
        let deps = v["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap();
        assert_eq!(deps[0]["digest"]["gitCommit"], info.commit);
        let base = deps
            .iter()
            .find(|d| d["uri"] == "pkg:deb/debian/base-files@12.4+deb12u13?arch=amd64")
            .unwrap();
        assert_eq!(base["digest"]["sha256"], "12".repeat(32));
        assert!(deps.iter().any(|d| {
            d["uri"]
                == format!(
                    "git+https://git.example.org/owner/isoforge@{}#config/packages.lock",
                    info.commit
                )
                .as_str()
                && d["digest"]["sha256"] == "ef".repeat(32)
        }));
        assert_eq!(
            v["predicate"]["buildDefinition"]["internalParameters"]["sourceDateEpoch"],
            1_700_000_000
        );
    }
}
