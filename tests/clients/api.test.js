// The API from JavaScript (SPEC A2): a client built on the OpenAPI document creates a
// Mimei, writes files and database entries (one atomic batch), reads them back, and
// gets JSON errors with stable codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Node } from "../lib/node.js";
import { OpenApiClient } from "./openapi_client.js";

test("Mimei files, database and batch from a JavaScript client", { timeout: 60_000 }, async (t) => {
  const node = await Node.start();
  t.after(async () => {
    await node.stop();
    node.remove();
  });
  const api = await OpenApiClient.connect(node.url, node.token);
  assert.ok(Object.keys(api.doc.paths).length > 20);

  const created = await api.call("POST", "/api/v1/mimei", { json: { mark: "from-js" } });
  assert.equal(created.status, 201);
  const id = created.value.id;

  let r = await api.call("PUT", "/api/v1/mimei/{id}/files/{path}", { params: { id, path: "docs/hello.txt" }, body: "hi from js" });
  assert.equal(r.status, 200);
  r = await api.call("GET", "/api/v1/mimei/{id}/files/{path}", { params: { id, path: "docs/hello.txt" } });
  assert.equal(r.value, "hi from js");

  r = await api.call("POST", "/api/v1/batch", {
    json: { mimei: id, ops: [
      { op: "db_put", key: "a", value: "1" },
      { op: "db_put", key: "b", value: "2" },
      { op: "file_put", path: "docs/two.txt", content: "two" },
    ] },
  });
  assert.equal(r.status, 200, JSON.stringify(r.value));
  r = await api.call("GET", "/api/v1/mimei/{id}/db", { params: { id } });
  assert.deepEqual(r.value.map((e) => [e.key, e.value]), [["a", "1"], ["b", "2"]]);

  // A failing batch changes nothing.
  r = await api.call("POST", "/api/v1/batch", {
    json: { mimei: id, ops: [{ op: "db_delete", key: "a" }, { op: "file_delete", path: "nope" }] },
  });
  assert.equal(r.status, 404);
  assert.equal(r.value.error.code, "no_such_path");
  r = await api.call("GET", "/api/v1/mimei/{id}/db/{key}", { params: { id, key: "a" } });
  assert.equal(r.status, 200);

  r = await api.call("POST", "/api/v1/mimei/{id}/backup", { params: { id }, json: { message: "js" } });
  assert.equal(r.value.number, 0);
  r = await api.call("GET", "/api/v1/mimei/{id}/ls", { params: { id }, query: { path: "docs", version: "0" } });
  assert.deepEqual(r.value.map((e) => e.path).sort(), ["docs/hello.txt", "docs/two.txt"]);

  r = await api.call("GET", "/api/v1/mimei/{id}", { params: { id: "not-an-id" } });
  assert.equal(r.status, 400);
  assert.equal(r.value.error.code, "invalid_id");
});
