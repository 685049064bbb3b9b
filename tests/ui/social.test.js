// Two real `leither run` processes joined over libp2p on loopback, each driven through
// its own shell UI in Chromium (issue 6, test 3; issue 5's cross-node app test):
// Alice and Bob become friends, message each other, form an organization and chat in
// it, and Bob installs the notes app Alice published, from the network, and uses it.
//
// LEITHER_BIN: the node binary (default ../../target/debug/leither).
// CHROMIUM: the browser (default /usr/bin/chromium).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { Node, BIN, cli, tempDir, ROOT, CHROMIUM, CHROMIUM_ARGS } from "../lib/node.js";

const LONG = { timeout: 60_000 }; // deliveries cross the network on a loaded 2-core machine
// A test may take several such steps; its own limit is longer, so a failure names the step.
const TEST = { timeout: 180_000 };

/** A two-node test: on failure the error also carries what both screens showed. */
function twoNodes(name, opts, fn) {
  test(name, opts, async () => {
    try {
      await fn();
    } catch (e) {
      const screen = async (who, page) => {
        const text = await page?.locator("main").innerText({ timeout: 2_000 }).catch((err) => `(unreadable: ${err.message})`);
        return `--- ${who}'s screen ---\n${String(text).slice(0, 3_000)}`;
      };
      e.message += `\n${await screen("Alice", pa)}\n${await screen("Bob", pb)}`;
      throw e;
    }
  });
}
let alice, bob, browser, pa, pb, aliceUser, bobUser;

/** A node whose network listens on loopback only and joins through `boot`. */
function writeConfig(dir, boot) {
  fs.writeFileSync(path.join(dir, "config.toml"),
    `[net]\nlisten = ["/ip4/127.0.0.1/tcp/0"]\nmdns = false\n${boot ? `bootstrap = ["${boot}"]\n` : ""}`);
}

async function until(what, fn, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function openShell(node) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await ctx.newPage();
  page.problems = [];
  page.on("console", (m) => { if (m.type() === "error" && !/Failed to load resource/.test(m.text())) page.problems.push(m.text()); });
  page.on("pageerror", (e) => page.problems.push(String(e)));
  await page.goto(`${node.url}/#token=${node.token}`);
  await page.getByRole("heading", { name: "Me" }).waitFor();
  return page;
}

/** SCREENSHOTS=1: keep the screen in docs/screenshots/ (the two-node screens). */
async function shot(page, name) {
  if (process.env.SCREENSHOTS !== "1") return;
  fs.mkdirSync(path.join(ROOT, "docs/screenshots"), { recursive: true });
  await page.screenshot({ path: path.join(ROOT, "docs/screenshots", `${name}.png`) });
}

async function go(page, link) {
  await page.getByRole("link", { name: link, exact: true }).click();
  await page.getByRole("heading", { name: link, exact: true }).waitFor();
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `${BIN} missing: build it with cargo build --workspace --bins --tests`);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium`);
  const da = tempDir();
  writeConfig(da);
  alice = await Node.start(da);
  // The API answers before the network's listeners report their addresses.
  const st = await until("Alice's TCP listen address", async () => {
    const s = await alice.api("GET", "/api/v1/net/status");
    return s.listen.some((a) => a.includes("/tcp/")) && s;
  }, 20_000);
  const boot = st.listen.find((a) => a.includes("/tcp/"));
  const db = tempDir();
  writeConfig(db, boot.includes("/p2p/") ? boot : `${boot}/p2p/${st.node}`);
  bob = await Node.start(db);
  aliceUser = (await alice.api("GET", "/api/v1/node")).user;
  bobUser = (await bob.api("GET", "/api/v1/node")).user;
  await alice.api("PUT", "/api/v1/social/profile", { name: "Alice" });
  await bob.api("PUT", "/api/v1/social/profile", { name: "Bob" });
  await until("Bob connected to Alice", async () => (await bob.api("GET", "/api/v1/net/peers")).length > 0);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  pa = await openShell(alice);
  pb = await openShell(bob);
});

after(async () => {
  if (browser) await browser.close();
  for (const n of [alice, bob]) if (n) { await n.stop(); n.remove(); }
});

twoNodes("Bob adds Alice with her invite and she accepts, in their own UIs", TEST, async () => {
  await go(pa, "Friends");
  await pa.getByRole("button", { name: "Make an invite" }).click();
  const invite = await until("an invite", async () => {
    const t = await pa.locator("p.muted").filter({ hasText: "leither:friend:" }).innerText();
    return t.trim();
  });
  await go(pb, "Friends");
  await pb.getByLabel("Their user ID or invite (leither:friend:…)").fill(invite);
  await pb.getByLabel("A note for them").fill("it's Bob");
  await pb.getByRole("button", { name: "Send friend request" }).click();
  await pb.getByTestId("friends").getByText("outgoing").waitFor();

  // The request crosses the network and shows up live on Alice's screen.
  const row = pa.getByTestId("friends").locator("li").filter({ hasText: "it's Bob" });
  await row.getByRole("button", { name: "Accept" }).click(LONG);
  await pa.getByTestId("friends").locator("li").filter({ hasText: "Bob" }).filter({ hasText: "friend" }).waitFor(LONG);
  // Bob's side learns of the acceptance (refresh on the live event or on re-entering).
  await until("Bob sees Alice as a friend", async () => {
    const list = await bob.api("GET", "/api/v1/social/friends");
    return list.some((f) => f.user === aliceUser && f.state === "friend");
  });
  await go(pb, "Me");
  await go(pb, "Friends");
  await pb.getByTestId("friends").locator("li").filter({ hasText: "Alice" }).filter({ hasText: "friend" }).waitFor();
  await shot(pb, "two-nodes-friends");
  assert.deepEqual([...pa.problems, ...pb.problems], [], "no script or CSP errors");
});

twoNodes("a direct message from Alice appears on Bob's screen, and his reply on hers", TEST, async () => {
  await go(pa, "Messages");
  await go(pb, "Messages");
  await pa.getByLabel("New conversation with (friend's user ID)").fill(bobUser);
  await pa.getByRole("button", { name: "Open", exact: true }).click();
  const threadA = pa.getByTestId("thread");
  await threadA.getByLabel("Message").fill("Hello Bob, lunch at noon?");
  await threadA.getByRole("button", { name: "Send" }).click();
  await threadA.getByText("Hello Bob, lunch at noon?").waitFor();

  // Bob's conversation list updates live; he opens it and answers.
  await pb.getByTestId("conversations").getByRole("button", { name: "Alice" }).click(LONG);
  const threadB = pb.getByTestId("thread");
  await threadB.getByText("Hello Bob, lunch at noon?").waitFor(LONG);
  // While Bob types, Alice's next message arrives and his screen updates live: his
  // typing goes on in the same box (a re-render must not take the focus).
  await threadB.getByLabel("Message").fill("Yes, see");
  await threadA.getByLabel("Message").fill("Or one?");
  await threadA.getByRole("button", { name: "Send" }).click();
  await threadB.getByText("Or one?").waitFor(LONG);
  await pb.keyboard.type(" you there");
  await threadB.getByRole("button", { name: "Send" }).click();
  await threadA.getByText("Yes, see you there").waitFor(LONG);
  await shot(pa, "two-nodes-messages");
  assert.deepEqual([...pa.problems, ...pb.problems], [], "no script or CSP errors");
});

twoNodes("Alice creates an org, Bob applies with its invite, she approves, both chat", TEST, async () => {
  await go(pa, "Organizations");
  await pa.getByLabel("Name", { exact: true }).fill("Garden club");
  await pa.getByLabel("About").fill("tomatoes and more");
  await pa.getByRole("button", { name: "Create" }).click();
  await pa.getByTestId("orgs").getByRole("button", { name: "Garden club" }).click();
  const chatA = pa.getByTestId("org-chat");
  await chatA.getByRole("button", { name: "Make an invite" }).click();
  const invite = (await until("an org invite", async () => (await chatA.getByTestId("org-invite").innerText()).trim())).trim();
  assert.match(invite, /^leither:org:/);

  await go(pb, "Organizations");
  await pb.getByLabel("Org invite (leither:org:…)").fill(invite);
  await pb.getByLabel("A note").fill("I grow beans");
  await pb.getByRole("button", { name: "Apply" }).click();
  await pb.getByTestId("orgs").getByText("pending").waitFor(LONG);

  // The application reaches Alice over the network; she approves it in her UI.
  await until("the application on Alice's node", async () => {
    const orgs = await alice.api("GET", "/api/v1/orgs");
    return orgs.some((o) => (o.applications || []).length > 0);
  });
  await go(pa, "Me");
  await go(pa, "Organizations");
  await pa.getByTestId("orgs").getByRole("button", { name: "Garden club" }).click();
  await chatA.getByRole("button", { name: "Approve" }).click();
  await chatA.getByText("2 members").waitFor(LONG);

  // Bob becomes a member, and both see each other's posts.
  await until("Bob's membership", async () => (await bob.api("GET", "/api/v1/orgs")).some((o) => o.my_role === "member"));
  await go(pb, "Me");
  await go(pb, "Organizations");
  await pb.getByTestId("orgs").getByRole("button", { name: "Garden club" }).click();
  const chatB = pb.getByTestId("org-chat");
  // Bob starts typing; Alice's welcome arrives on his screen live, and his typing goes
  // on in the same box.
  await chatB.getByLabel("Message").fill("Beans are");
  await chatA.getByLabel("Message").fill("Welcome, Bob");
  await chatA.getByRole("button", { name: "Post" }).click();
  await chatB.getByText("Welcome, Bob").waitFor(LONG);
  await pb.keyboard.type(" up!");
  await chatB.getByRole("button", { name: "Post" }).click();
  await chatB.getByText("Beans are up!").waitFor();
  await chatA.getByText("Beans are up!").waitFor(LONG);
  await shot(pb, "two-nodes-org-chat");
  assert.deepEqual([...pa.problems, ...pb.problems], [], "no script or CSP errors");
});

twoNodes("Bob finds Alice's second org by its ID alone and applies to its admin", TEST, async () => {
  await go(pa, "Organizations");
  await pa.getByLabel("Name", { exact: true }).fill("Chess club");
  await pa.getByRole("button", { name: "Create" }).click();
  await pa.getByTestId("orgs").getByRole("button", { name: "Chess club" }).click();
  await pa.getByTestId("org-chat").getByRole("heading", { name: "Chess club" }).waitFor();
  const id = (await pa.getByTestId("org-chat").getByTestId("org-id").innerText()).trim();
  assert.match(id, /^[0-9a-v]{52}$/);
  // Alice's node publishes the org's records on the DHT; Bob only has the ID.
  await until("the org on the DHT", async () => {
    const r = await bob.api("GET", `/api/v1/orgs/${id}/lookup`).catch(() => null);
    return r && r.name === "Chess club";
  });
  await go(pb, "Organizations");
  await pb.getByLabel("Org invite (leither:org:…) or org ID").fill(id);
  await pb.getByLabel("A note").fill("checkmate");
  await pb.getByRole("button", { name: "Apply" }).click();
  await pb.getByTestId("orgs").getByRole("button", { name: "Chess club" }).waitFor(LONG);
  await until("Bob's application on Alice's node", async () => {
    const o = await alice.api("GET", `/api/v1/orgs/${id}`);
    return (o.applications || []).some((a) => a.user === bobUser && a.note === "checkmate");
  });
});

twoNodes("Bob installs the notes app Alice published, from the network, and his note persists", { timeout: 120_000 }, async () => {
  const pub = JSON.parse(cli(alice.dir, "--json", "app", "publish", path.join(ROOT, "ui/examples/notes")));
  assert.deepEqual(await bob.api("GET", "/api/v1/apps"), [], "Bob has no apps yet");

  await go(pb, "Apps");
  await pb.getByLabel("App ID or name").fill(pub.id);
  await pb.getByRole("button", { name: "Install" }).click();
  const row = pb.getByTestId("apps").locator("li").filter({ hasText: "Notes" });
  await row.waitFor(LONG);

  const openNotes = async () => {
    await pb.getByTestId("apps").locator("li").filter({ hasText: "Notes" }).getByRole("button", { name: "Open", exact: true }).click();
    const app = pb.frameLocator("iframe.app");
    await app.locator("body[data-ready=true]").waitFor(LONG);
    return app;
  };
  let app = await openNotes();
  await app.locator("#title").fill("Seeds to buy");
  await app.locator("#body").fill("beans, peas");
  await app.locator("#save").click();
  await app.locator("#notes li h2", { hasText: "Seeds to buy" }).waitFor();
  await shot(pb, "two-nodes-app-installed");

  // Reload the shell: the note is still there.
  await pb.reload();
  await go(pb, "Apps");
  app = await openNotes();
  await app.locator("#notes li h2", { hasText: "Seeds to buy" }).waitFor();

  // Restart Bob's node on the same data dir: the app and the note are still there.
  await pb.context().close();
  await bob.stop();
  bob = await Node.start(bob.dir);
  pb = await openShell(bob);
  await go(pb, "Apps");
  app = await openNotes();
  await app.locator("#notes li h2", { hasText: "Seeds to buy" }).waitFor();
  assert.equal(await app.locator("#notes li p").first().innerText(), "beans, peas");
  assert.deepEqual(pb.problems, [], "no script or CSP errors");
});
