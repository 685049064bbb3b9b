// End to end: a real node, the notes example published and installed with the CLI,
// opened in headless Chromium through a launch code on its own origin; a note
// survives a reload and a restart of the node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Node, cli, tempDir, ROOT, CHROMIUM, CHROMIUM_ARGS, requireTool } from "../lib/node.js";

test("notes app: create a note, reload, restart the node", { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, existsSync(CHROMIUM), `Chromium (${CHROMIUM})`)) return;
  const { chromium } = await import("playwright-core");
  const dir = tempDir();
  let node = await Node.start(dir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(async () => {
    await browser.close();
    await node.stop();
    node.remove();
  });

  const pub = JSON.parse(cli(dir, "--json", "app", "publish", join(ROOT, "ui/examples/notes")));
  cli(dir, "app", "install", "notes");
  const launch = await node.api("POST", `/api/v1/apps/${pub.id}/launch`);
  assert.match(launch.url, new RegExp(`^http://${pub.id}\\.localhost:${node.port}/\\?launch=`));

  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(launch.url);
  // The launch code is exchanged for a cookie and removed from the address.
  assert.equal(page.url(), `http://${pub.id}.localhost:${node.port}/`);
  await page.waitForSelector("body[data-ready=true]");
  assert.equal(await page.locator("#notes li").count(), 0);

  await page.fill("#title", "Shopping");
  await page.fill("#body", "milk, bread");
  await page.click("#save");
  await page.waitForSelector("#notes li h2:text('Shopping')");

  // The page cannot reach the node's main API: CSP connect-src is its own origin.
  const other = await page.evaluate(
    (u) => fetch(u + "/api/v1/mimei").then((r) => r.status, () => "blocked"),
    node.url,
  );
  assert.equal(other, "blocked");
  // And the session cookie is HttpOnly: scripts cannot read it.
  assert.equal(await page.evaluate(() => document.cookie), "");

  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  assert.equal(await page.locator("#notes li h2").innerText(), "Shopping");

  // Restart: a new port, same data; the session cookie (per host, not port) still holds.
  await node.stop();
  node = await Node.start(dir);
  await page.goto(`http://${pub.id}.localhost:${node.port}/`);
  await page.waitForSelector("body[data-ready=true]");
  assert.equal(await page.locator("#notes li h2").innerText(), "Shopping");
  assert.equal(await page.locator("#notes li p").innerText(), "milk, bread");
  assert.deepEqual(errors, []);
});

test("notes app framed by the node's own origin, as the shell does", { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, existsSync(CHROMIUM), `Chromium (${CHROMIUM})`)) return;
  const { chromium } = await import("playwright-core");
  const node = await Node.start();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(async () => {
    await browser.close();
    await node.stop();
    node.remove();
  });
  const pub = JSON.parse(cli(node.dir, "--json", "app", "publish", join(ROOT, "ui/examples/notes")));
  cli(node.dir, "app", "install", "notes");
  const page = await browser.newPage();
  await page.goto(node.url + "/api/v1/openapi.json"); // any page of the main origin
  const { url } = await node.api("POST", `/api/v1/apps/${pub.id}/launch`);
  await page.evaluate((u) => {
    const f = document.createElement("iframe");
    f.src = u;
    document.body.append(f);
  }, url);
  const deadline = Date.now() + 20_000;
  let frame;
  while (!(frame = page.frames().find((f) => f.url().startsWith(`http://${pub.id}.localhost`))) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(frame, "the app frame loaded");
  await frame.waitForSelector("body[data-ready=true]");
  await frame.fill("#title", "Framed");
  await frame.click("#save");
  await frame.waitForSelector("#notes li h2:text('Framed')");
  // The shell's page cannot look into the app's frame (different origins).
  const peek = await page.evaluate(() => {
    try {
      return document.querySelector("iframe").contentDocument === null ? "blocked" : "open";
    } catch (_) {
      return "blocked";
    }
  });
  assert.equal(peek, "blocked");
});
