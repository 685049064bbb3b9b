// The real desktop app (Tauri, WebKitGTK) driven over WebDriver: tauri-driver +
// Debian's WebKitWebDriver, on an X display (Xvfb in CI). The app starts, its
// in-process node answers the API, onboarding and the main screens work in the
// window, and closing the window leaves the node running.
//
// DESKTOP_BIN: the app (default ../../target/debug/leither-desktop).
// TAURI_DRIVER: tauri-driver (default: on PATH or ~/.cargo/bin).
// SCREENSHOTS=1: also write the window's screens to docs/screenshots/desktop-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { remote } from "webdriverio";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const BIN = process.env.DESKTOP_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug/leither-desktop");
const DRIVER = process.env.TAURI_DRIVER || (() => {
  try { return execFileSync("sh", ["-c", "command -v tauri-driver"]).toString().trim(); } catch { return path.join(os.homedir(), ".cargo/bin/tauri-driver"); }
})();
const SHOTS = path.join(repo, "docs/screenshots");
const PORT = 4444 + (process.pid % 1000);

let driver, browser, dataDir;

async function waitFor(what, f, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try { const v = await f(); if (v) return v; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function apiInfo() {
  const info = JSON.parse(fs.readFileSync(path.join(dataDir, "api.json"), "utf8"));
  info.token = fs.readFileSync(path.join(dataDir, "api-token"), "utf8").trim();
  return info;
}

async function api(p) {
  const { url, token } = apiInfo();
  const r = await fetch(url + p, { headers: { Authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json() };
}

function alive(pid) { try { process.kill(pid, 0); return true; } catch { return false; } }

async function shot(name) {
  if (process.env.SCREENSHOTS !== "1") return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await browser.saveScreenshot(path.join(SHOTS, `desktop-${name}.png`));
}

async function text(sel) { return (await browser.$(sel)).getText(); }

before(async () => {
  assert.ok(process.env.DISPLAY, "needs an X display (run under Xvfb)");
  assert.ok(fs.existsSync(BIN), `${BIN} missing: cargo build -p leither-desktop`);
  assert.ok(fs.existsSync(DRIVER), `${DRIVER} missing: cargo install tauri-driver --locked`);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "leither-desktop-"));
  const env = { ...process.env, LEITHER_DATA_DIR: dataDir, RUST_LOG: "info", DBUS_SESSION_BUS_ADDRESS: "disabled:" };
  delete env.LEITHER_PASSPHRASE;
  driver = spawn(DRIVER, ["--port", String(PORT)], { env, stdio: ["ignore", "inherit", "inherit"] });
  await waitFor("tauri-driver", async () => (await fetch(`http://127.0.0.1:${PORT}/status`)).ok, 15000);
  browser = await remote({
    hostname: "127.0.0.1",
    port: PORT,
    logLevel: "warn",
    capabilities: {
      browserName: "wry",
      // WebKitWebDriver speaks classic WebDriver only (no BiDi webSocketUrl).
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application: BIN, args: ["--listen", "127.0.0.1:0"] },
    },
  });
});

after(async () => {
  try { if (browser) await browser.deleteSession(); } catch { /* window already gone */ }
  if (driver) driver.kill();
  // The app may outlive the session (close-to-tray): end it by the pid it wrote.
  try { const { pid } = apiInfo(); if (alive(pid)) process.kill(pid, "SIGTERM"); } catch { /* gone */ }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test("the app starts its node and shows onboarding in the window", async () => {
  await waitFor("onboarding", async () => (await text("h1")) === "Welcome to Leither");
  const { url, pid } = apiInfo();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(alive(pid));
  const r = await api("/api/v1/identity");
  assert.equal(r.status, 200);
  assert.equal(r.body.state, "none");
  // The token came from the shell, not from the address.
  assert.ok(!(await browser.getUrl()).includes(apiInfo().token));
  await shot("onboarding");
});

test("onboarding in the window, then the main screens render", async () => {
  await (await browser.$("#f-device_name")).setValue("desktop test");
  await (await browser.$("button[type=submit]")).click();
  // No keyring here: the shell asks for a key-file passphrase.
  const pass = await browser.$("#f-passphrase");
  await pass.waitForExist({ timeout: 20000 });
  await pass.setValue("desktop test passphrase");
  await (await browser.$("button[type=submit]")).click();
  await (await browser.$("[data-testid=phrase]")).waitForExist({ timeout: 30000 });
  const words = await browser.$$("[data-testid=phrase] span");
  assert.equal(words.length, 24);
  await (await browser.$("button=I have written it down")).click();
  await waitFor("Me", async () => (await text("h1")) === "Me");
  const id = (await api("/api/v1/identity")).body;
  assert.equal(id.state, "ready");
  await waitFor("user ID on Me", async () => (await text("main")).includes(id.user));
  await shot("me");
  for (const [link, heading] of [["Friends", "Friends"], ["Messages", "Messages"], ["Organizations", "Organizations"], ["Apps", "Apps"], ["Node", "Node"]]) {
    await (await browser.$(`a=${link}`)).click();
    await waitFor(heading, async () => (await text("h1")) === heading);
  }
  await waitFor("storage card", async () => (await text("[data-testid=storage]")).includes("Mimei objects"));
  await waitFor("live events", async () => (await text("#live")) === "live");
  await shot("node");
});

test("closing the window keeps the node running", async () => {
  const { pid } = apiInfo();
  const visible = () => {
    try { return execFileSync("xdotool", ["search", "--all", "--onlyvisible", "--pid", String(pid), "--name", "^Leither$"]).toString().trim(); } catch { return ""; }
  };
  const win = visible().split("\n")[0];
  assert.ok(win, "the window is on screen before closing");
  // What the title bar's close button does (Xvfb has no window manager to send it).
  // (WebDriver's Close Window would end the session, and the driver then kills the app.)
  // Debian's python3 (apt python3-xlib), not a pyenv one.
  // Under load the first WM_DELETE_WINDOW is sometimes not delivered to GTK (seen on
  // this machine by hand as well as in the test): press "close" again, as a user would.
  await waitFor("window hidden", async () => {
    execFileSync("/usr/bin/python3", [path.join(here, "close-window.py"), win]);
    await new Promise((r) => setTimeout(r, 1500));
    return visible() === "";
  }, 15000);

  assert.ok(alive(pid), "the app process must survive its window");
  const r = await api("/api/v1/node");
  assert.equal(r.status, 200);
  assert.ok(r.body.user);
});
