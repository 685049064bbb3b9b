#!/usr/bin/env python3
"""The API from Python (SPEC A2), standard library only: a client driven by the
OpenAPI document creates a Mimei, writes a file and database entries (one atomic
batch), reads them back, and gets JSON errors with stable codes.

Run: python3 tests/clients/test_api.py  (LEITHER_BIN names the binary; default
$CARGO_TARGET_DIR/debug/leither or target/debug/leither)."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LEITHER_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "debug", "leither"
)


class Node:
    """A `leither run` process on a temporary data directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="leither-py-")
        env = dict(os.environ, LEITHER_PASSPHRASE="test passphrase", RUST_LOG="warn")
        env.pop("LEITHER_DATA_DIR", None)
        self.proc = subprocess.Popen(
            [BIN, "--data-dir", self.dir, "run", "--listen", "127.0.0.1:0"],
            env=env, stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with open(os.path.join(self.dir, "api.json")) as f:
                    info = json.load(f)
                if info["pid"] == self.proc.pid:
                    self.url = info["url"]
                    with open(os.path.join(self.dir, "api-token")) as f:
                        self.token = f.read().strip()
                    return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("leither exited with %s" % self.proc.returncode)
            time.sleep(0.025)
        self.proc.kill()
        raise RuntimeError("node did not start within 30 s")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """Calls operations named in the node's OpenAPI document."""

    def __init__(self, url, token):
        self.url, self.token = url, token
        with urllib.request.urlopen(url + "/api/v1/openapi.json") as r:
            self.doc = json.load(r)

    def call(self, method, template, params=None, query=None, body=None, raw=None):
        if method.lower() not in self.doc["paths"].get(template, {}):
            raise AssertionError("the OpenAPI document has no %s %s" % (method, template))
        path = template
        for k, v in (params or {}).items():
            safe = "/" if k in ("path", "key") else ""
            path = path.replace("{%s}" % k, urllib.parse.quote(str(v), safe=safe))
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                status, ctype, text = r.status, r.headers.get("content-type", ""), r.read()
        except urllib.error.HTTPError as e:
            status, ctype, text = e.code, e.headers.get("content-type", ""), e.read()
        value = json.loads(text) if "json" in ctype and text else text
        return status, value


class ApiFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.api = Client(cls.node.url, cls.node.token)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def test_files_database_batch_and_errors(self):
        api = self.api
        s, m = api.call("POST", "/api/v1/mimei", body={"mark": "from-python"})
        self.assertEqual(s, 201, m)
        mid = m["id"]
        s, _ = api.call("PUT", "/api/v1/mimei/{id}/files/{path}",
                        params={"id": mid, "path": "a/b.txt"}, raw=b"hello from python")
        self.assertEqual(s, 200)
        s, body = api.call("GET", "/api/v1/mimei/{id}/files/{path}", params={"id": mid, "path": "a/b.txt"})
        self.assertEqual(body, b"hello from python")

        s, v = api.call("POST", "/api/v1/batch", body={"mimei": mid, "ops": [
            {"op": "db_put", "key": "k1", "value": "v1"},
            {"op": "db_put", "key": "k2", "value_base64": "//4="},
            {"op": "file_delete", "path": "a/b.txt"},
        ]})
        self.assertEqual((s, v), (200, {"applied": 3}))
        s, items = api.call("GET", "/api/v1/mimei/{id}/db", params={"id": mid})
        self.assertEqual([(i["key"], i.get("value"), i.get("value_base64")) for i in items],
                         [("k1", "v1", None), ("k2", None, "//4=")])
        s, _ = api.call("GET", "/api/v1/mimei/{id}/stat", params={"id": mid}, query={"path": "a/b.txt"})
        self.assertEqual(s, 404)

        # A failing batch changes nothing.
        s, e = api.call("POST", "/api/v1/batch", body={"mimei": mid, "ops": [
            {"op": "db_delete", "key": "k1"},
            {"op": "db_put", "key": "", "value": "empty keys are invalid"},
        ]})
        self.assertEqual(s, 400, e)
        self.assertIn(e["error"]["code"], ("invalid_argument", "too_large", "bad_request"))
        s, v = api.call("GET", "/api/v1/mimei/{id}/db/{key}", params={"id": mid, "key": "k1"})
        self.assertEqual((s, v), (200, b"v1"))

        s, e = api.call("GET", "/api/v1/mimei/{id}", params={"id": "nope"})
        self.assertEqual((s, e["error"]["code"]), (400, "invalid_id"))

    def test_token_is_required(self):
        req = urllib.request.Request(self.node.url + "/api/v1/node")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req)
        self.assertEqual(cm.exception.code, 401)
        self.assertEqual(json.load(cm.exception)["error"]["code"], "unauthorized")


if __name__ == "__main__":
    unittest.main(verbosity=2)
