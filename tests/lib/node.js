// Start and stop real `leither` nodes for the JavaScript tests.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The `leither` binary: $LEITHER_BIN, else the cargo target dir's debug build. */
export const BIN =
  process.env.LEITHER_BIN || join(process.env.CARGO_TARGET_DIR || join(ROOT, "target"), "debug", "leither");

const env = (dir) => ({ ...process.env, LEITHER_DATA_DIR: dir, LEITHER_PASSPHRASE: "test passphrase", RUST_LOG: process.env.LEITHER_TEST_LOG || "warn" });

/** Run a CLI command on a data dir; returns stdout (throws on failure). */
export function cli(dir, ...args) {
  return execFileSync(BIN, ["--data-dir", dir, ...args], { env: env(dir), encoding: "utf8" });
}

export function tempDir() {
  return mkdtempSync(join(tmpdir(), "leither-js-"));
}

/** A running `leither run` process on `dir` (a fresh temp dir if absent). */
export class Node {
  static async start(dir = tempDir()) {
    if (!existsSync(BIN)) throw new Error(`no leither binary at ${BIN} (cargo build, or set LEITHER_BIN)`);
    const child = spawn(BIN, ["--data-dir", dir, "run", "--listen", "127.0.0.1:0"], {
      env: env(dir),
      stdio: ["ignore", "ignore", "inherit"],
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        const info = JSON.parse(readFileSync(join(dir, "api.json"), "utf8"));
        if (info.pid === child.pid) {
          const n = new Node();
          Object.assign(n, { dir, child, url: info.url, port: Number(new URL(info.url).port) });
          n.token = readFileSync(join(dir, "api-token"), "utf8").trim();
          return n;
        }
      } catch (_) { /* not yet */ }
      if (child.exitCode !== null) throw new Error(`leither exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill("SIGKILL");
    throw new Error("node did not start within 30 s");
  }

  /** An API call with the user's token; returns parsed JSON (throws on HTTP errors). */
  async api(method, path, body) {
    const r = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} -> ${r.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** SIGTERM and wait for a clean exit. */
  async stop() {
    if (this.child.exitCode !== null) return;
    const done = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await done;
  }

  remove() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Chromium for Playwright: $CHROMIUM or /usr/bin/chromium, with the flags that work here. */
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** In CI a missing tool fails the test; elsewhere the test is skipped with the reason. */
export function requireTool(t, ok, what) {
  if (ok) return true;
  if (process.env.CI === "true") throw new Error(`${what} is missing (required in CI)`);
  t.skip(`${what} is missing`);
  return false;
}
