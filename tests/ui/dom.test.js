// The shell's refresh helpers (ui/shell/dom.js), in Node: no browser needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { coalesced, newest } from "../../ui/shell/dom.js";

const tick = () => new Promise((r) => setTimeout(r, 5));

test("a burst of refreshes runs the work twice, and each call sees a run that began after it", async () => {
  let runs = 0, data = 0;
  const seen = [];
  const refresh = coalesced(async () => { runs++; const d = data; await tick(); seen.push(d); });
  const first = refresh();
  const calls = [];
  for (let i = 1; i <= 100; i++) { data = i; calls.push(refresh()); }
  await Promise.all([first, ...calls]);
  assert.equal(runs, 2, "one run, then one more for the whole burst");
  assert.deepEqual(seen, [0, 100], "the second run read the data as of the last call");
  await refresh();
  assert.equal(runs, 3, "a call after the burst runs again");
});

test("a failing run does not wedge later refreshes", async () => {
  let n = 0;
  const refresh = coalesced(async () => { n++; if (n === 1) throw new Error("offline"); });
  await assert.rejects(refresh(), /offline/);
  await refresh();
  assert.equal(n, 2);
});

test("only the newest of overlapping renders applies", () => {
  const turn = newest();
  const a = turn();
  const b = turn();
  assert.equal(a(), false);
  assert.equal(b(), true);
});
