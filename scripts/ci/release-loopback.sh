#!/usr/bin/env bash
# The `release` job's step (scripts/ci/release.sh) against a loopback stand-in for Gitea's
# release API (scripts/ci/fake-gitea.py), as scripts/test.sh runs it: no Gitea server can run
# on the CI machines. Publishes OUTPUT_DIR twice and checks that the release exists once with
# each asset once and byte-identical, and that the token appears in no output.
# Usage: scripts/ci/release-loopback.sh OUTPUT_DIR
# shellcheck source=scripts/ci/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$#" -eq 1 ] || { echo "usage: scripts/ci/release-loopback.sh OUTPUT_DIR" >&2; exit 2; }
outdir=$1
state=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT
token="isoforge-ci-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
python3 "$top/scripts/ci/fake-gitea.py" --token "$token" --state "$state" >"$state/port" &
server=$!
for _ in $(seq 50); do [ -s "$state/port" ] && break; sleep 0.1; done
port=$(cat "$state/port")
[ -n "$port" ] || { echo "FAIL: the fake Gitea did not start" >&2; exit 2; }

export GITEA_URL="http://127.0.0.1:$port" GITEA_REPO=silvermetal/iso RELEASE_TAG=v0.0.0-ci
for run in 1 2; do
  GITEA_TOKEN=$token "$top/scripts/ci/release.sh" "$outdir" >"$state/run$run.log" 2>&1 || {
    cat "$state/run$run.log"
    echo "FAIL: publish run $run" >&2
    exit 1
  }
  sed 's/^/  /' "$state/run$run.log"
  if grep -qF "$token" "$state/run$run.log"; then
    echo "FAIL: publish run $run printed the token" >&2
    exit 1
  fi
done

# One release; each file of SHA256SUMS, each ISO's provenance and SHA256SUMS attached once,
# with its own bytes.
python3 - "$state/releases.json" "$outdir" <<'EOF'
import hashlib, json, os, sys
releases = json.load(open(sys.argv[1]))
assert len(releases) == 1, f"expected one release, found {len(releases)}"
assets = releases[0]["assets"]
names = [a["name"] for a in assets]
assert len(names) == len(set(names)), f"an asset was uploaded twice: {names}"
want = ["SHA256SUMS"] + [l.split(None, 1)[1].lstrip("*").strip()
                         for l in open(os.path.join(sys.argv[2], "SHA256SUMS"))]
want += [f"{n}.intoto.json" for n in want if n.endswith(".iso") and f"{n}.intoto.json" not in want]
assert sorted(names) == sorted(want), f"assets {sorted(names)} != {sorted(want)}"
for a in assets:
    got = hashlib.sha256(open(os.path.join(sys.argv[2], a["name"]), "rb").read()).hexdigest()
    assert a["sha256"] == got, f"{a['name']}: uploaded bytes differ"
print(f"release {releases[0]['tag_name']}: {len(names)} assets, each once: {', '.join(sorted(names))}")
EOF
