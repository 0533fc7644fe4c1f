//! `<iso>.intoto.json`: an in-toto Statement v1 with a SLSA provenance v1 predicate naming the
//! same inputs as BUILD_INFO and the ISO as its subject. Like BUILD_INFO it carries no time
//! or place of the build, so it is reproducible and can be signed by anyone who rebuilt.

use serde_json::{Value, json};

use crate::BuildInfo;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
pub const BUILD_TYPE: &str = "https://git.silverlabs.uk/SilverLABS/isoforge/buildtypes/live-iso/v1";
const BUILDER: &str = "https://git.silverlabs.uk/SilverLABS/isoforge/builder";

/// The statement for `info`, whose first artefact is the ISO, as pretty JSON with sorted keys.
pub fn statement(info: &BuildInfo) -> String {
    let subject: Vec<Value> = info
        .artefacts
        .iter()
        .map(|a| json!({ "name": a.name, "digest": { "sha256": a.sha256 } }))
        .collect();
    let mut deps = vec![
        json!({
            "uri": format!("git+commit:{}", info.commit),
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
            "uri": "config/packages.lock",
            "digest": { "sha256": info.package_lock_sha256 },
            "annotations": { "use": "package lock" },
        }));
    }
    if info.builder_digest != "none" {
        deps.push(json!({
            "uri": "builder",
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
                "metadata": { "invocationId": format!("{}@{}", info.source, info.commit) },
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

    #[test]
    fn names_the_iso_and_the_inputs() {
        let info = crate::tests::sample();
        let text = statement(&info);
        assert_eq!(text, statement(&info), "deterministic");
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
        assert!(deps.iter().any(
            |d| d["uri"] == "config/packages.lock" && d["digest"]["sha256"] == "ef".repeat(32)
        ));
        assert_eq!(
            v["predicate"]["buildDefinition"]["internalParameters"]["sourceDateEpoch"],
            1_700_000_000
        );
    }
}
