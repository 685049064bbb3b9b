// Measures the notes app in headless Chromium (issue 5): load time, cold (a fresh
// browser context: empty cache, new session) and warm (reload), and database
// operations per second through the SDK from the app's page.
//
// Run: node tests/e2e/bench-apps.mjs [runs=5] [ops=300]   (after `npm ci` in tests/;
// LEITHER_BIN names the binary, default target/debug/leither; use a release build for
// figures: cargo build --release -p leither-core && LEITHER_BIN=target/release/leither)
import { join } from "node:path";
import { loadavg } from "node:os";
import { chromium } from "playwright-core";
import { Node, cli, ROOT, CHROMIUM, CHROMIUM_ARGS, BIN } from "../lib/node.js";

const runs = Number(process.argv[2] || 5);
const ops = Number(process.argv[3] || 300);

const node = await Node.start();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const pub = JSON.parse(cli(node.dir, "--json", "app", "publish", join(ROOT, "ui/examples/notes")));
  cli(node.dir, "app", "install", "notes");

  // What the page reports: first contentful paint, and when the notes list is rendered.
  const timing = (page) =>
    page.evaluate(() => {
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      return { fcp: fcp ? fcp.startTime : NaN, ready: performance.now() };
    });

  const cold = [];
  let page;
  let context;
  for (let i = 0; i < runs; i++) {
    if (context) await context.close();
    context = await browser.newContext();
    page = await context.newPage();
    const { url } = await node.api("POST", `/api/v1/apps/${pub.id}/launch`);
    await page.goto(url);
    await page.waitForSelector("body[data-ready=true]");
    cold.push(await timing(page));
  }
  const warm = [];
  for (let i = 0; i < runs; i++) {
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    warm.push(await timing(page));
  }

  const db = await page.evaluate(async (n) => {
    const sdk = await import("/_leither/sdk.js");
    const rate = async (f) => {
      const t = performance.now();
      for (let i = 0; i < n; i++) await f(i);
      return n / ((performance.now() - t) / 1000);
    };
    const put = await rate((i) => sdk.db.put(`bench/${String(i).padStart(6, "0")}`, { i, text: "x".repeat(100) }));
    const get = await rate((i) => sdk.db.get(`bench/${String(i).padStart(6, "0")}`));
    const t = performance.now();
    const batches = Math.max(1, Math.floor(n / 100));
    for (let b = 0; b < batches; b++) {
      await sdk.batch(Array.from({ length: 100 }, (_, i) => ({ op: "db_put", key: `batch/${b}/${i}`, value: "y".repeat(100) })));
    }
    const batched = (batches * 100) / ((performance.now() - t) / 1000);
    const t2 = performance.now();
    const all = await sdk.db.scan({ prefix: "bench/" });
    const scanMs = performance.now() - t2;
    return { put, get, batched, scanned: all.length, scanMs };
  }, ops);

  const r = {
    binary: BIN,
    load: loadavg().map((x) => x.toFixed(2)).join(" "),
    runs,
    cold_fcp_ms: median(cold.map((x) => x.fcp)),
    cold_ready_ms: median(cold.map((x) => x.ready)),
    warm_fcp_ms: median(warm.map((x) => x.fcp)),
    warm_ready_ms: median(warm.map((x) => x.ready)),
    db_put_per_s: Math.round(db.put),
    db_get_per_s: Math.round(db.get),
    db_batched_puts_per_s: Math.round(db.batched),
    db_scan: `${db.scanned} entries in ${db.scanMs.toFixed(1)} ms`,
  };
  console.log(JSON.stringify(r, null, 2));
} finally {
  await browser.close();
  await node.stop();
  node.remove();
}
