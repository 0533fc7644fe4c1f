#!/usr/bin/env python3
"""A loopback stand-in for the two Gitea release endpoints `isoforge publish` uses.

No Gitea server can run on the CI machines, so the release job's script is exercised against
this: the shapes follow Gitea's API documentation (swagger `Release` and `Attachment`), and the
token is checked as Gitea checks it (`Authorization: token <t>`).

  fake-gitea.py --token T --state DIR     prints the port it listens on (127.0.0.1), then serves

DIR/releases.json holds what was published, for the caller to check.
"""
import argparse
import email.parser
import email.policy
import hashlib
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATE = {"next_id": 1, "releases": []}
BLOBS = {}


def release_json(base, owner, repo, rel):
    return {
        "id": rel["id"],
        "tag_name": rel["tag_name"],
        "name": rel["name"],
        "draft": False,
        "prerelease": False,
        "url": f"{base}/api/v1/repos/{owner}/{repo}/releases/{rel['id']}",
        "assets": [asset_json(base, owner, repo, a) for a in rel["assets"]],
    }


def asset_json(base, owner, repo, a):
    return {
        "id": a["id"],
        "name": a["name"],
        "size": a["size"],
        "download_count": 0,
        "uuid": a["uuid"],
        "browser_download_url": f"{base}/{owner}/{repo}/releases/download/attachments/{a['uuid']}",
    }


class Handler(BaseHTTPRequestHandler):
    token = ""
    state_dir = "."

    def log_message(self, fmt, *args):  # quiet: the caller prints what it needs
        pass

    def base(self):
        return f"http://{self.headers.get('Host', '127.0.0.1')}"

    def reply(self, code, body=None, raw=None):
        data = raw if raw is not None else json.dumps({} if body is None else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if self.headers.get("Authorization") == f"token {self.token}":
            return True
        self.reply(401, {"message": "token is required"})
        return False

    def save(self):
        path = os.path.join(self.state_dir, "releases.json")
        with open(path + ".tmp", "w") as f:
            json.dump(STATE["releases"], f, indent=1)
        os.replace(path + ".tmp", path)

    def find(self, owner, repo, pred):
        for r in STATE["releases"]:
            if r["repo"] == f"{owner}/{repo}" and pred(r):
                return r
        return None

    def do_GET(self):
        u = urlparse(self.path)
        m = re.fullmatch(r"/([^/]+)/([^/]+)/releases/download/attachments/([0-9a-f-]+)", u.path)
        if m:
            blob = BLOBS.get(m.group(3))
            return self.reply(200, raw=blob) if blob is not None else self.reply(404, {"message": "not found"})
        if not self.authorized():
            return
        with LOCK:
            m = re.fullmatch(r"/api/v1/repos/([^/]+)/([^/]+)/releases/tags/([^/]+)", u.path)
            if m:
                o, r, tag = m.groups()
                rel = self.find(o, r, lambda x: x["tag_name"] == tag)
                if rel is None:
                    return self.reply(404, {"message": "release not found"})
                return self.reply(200, release_json(self.base(), o, r, rel))
            m = re.fullmatch(r"/api/v1/repos/([^/]+)/([^/]+)/releases/(\d+)(/assets)?", u.path)
            if m:
                o, r, rid, assets = m.groups()
                rel = self.find(o, r, lambda x: x["id"] == int(rid))
                if rel is None:
                    return self.reply(404, {"message": "release not found"})
                j = release_json(self.base(), o, r, rel)
                return self.reply(200, j["assets"] if assets else j)
        self.reply(404, {"message": "not found"})

    def do_POST(self):
        if not self.authorized():
            return
        u = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            m = re.fullmatch(r"/api/v1/repos/([^/]+)/([^/]+)/releases", u.path)
            if m:
                o, r = m.groups()
                req = json.loads(body or b"{}")
                tag = req.get("tag_name")
                if not tag:
                    return self.reply(422, {"message": "tag_name is required"})
                if self.find(o, r, lambda x: x["tag_name"] == tag):
                    return self.reply(409, {"message": "release already exists"})
                rel = {"id": STATE["next_id"], "repo": f"{o}/{r}", "tag_name": tag,
                       "name": req.get("name", tag), "assets": []}
                STATE["next_id"] += 1
                STATE["releases"].append(rel)
                self.save()
                return self.reply(201, release_json(self.base(), o, r, rel))
            m = re.fullmatch(r"/api/v1/repos/([^/]+)/([^/]+)/releases/(\d+)/assets", u.path)
            if m:
                o, r, rid = m.groups()
                rel = self.find(o, r, lambda x: x["id"] == int(rid))
                if rel is None:
                    return self.reply(404, {"message": "release not found"})
                head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
                msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
                part = next((p for p in msg.iter_parts()
                             if p.get_param("name", header="content-disposition") == "attachment"), None)
                if part is None:
                    return self.reply(400, {"message": "no attachment field"})
                data = part.get_payload(decode=True) or b""
                name = parse_qs(u.query).get("name", [part.get_filename()])[0]
                if any(a["name"] == name for a in rel["assets"]):
                    return self.reply(409, {"message": "asset already exists"})
                uuid = hashlib.sha256(f"{rid}/{name}".encode()).hexdigest()[:32]
                a = {"id": STATE["next_id"], "name": name, "size": len(data), "uuid": uuid,
                     "sha256": hashlib.sha256(data).hexdigest()}
                STATE["next_id"] += 1
                BLOBS[uuid] = data
                rel["assets"].append(a)
                self.save()
                return self.reply(201, asset_json(self.base(), o, r, a))
        self.reply(404, {"message": "not found"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--token", required=True)
    ap.add_argument("--state", required=True)
    a = ap.parse_args()
    Handler.token = a.token
    Handler.state_dir = a.state
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    sys.stdout.close()
    srv.serve_forever()


if __name__ == "__main__":
    main()
