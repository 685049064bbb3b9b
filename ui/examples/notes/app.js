// Notes: each note is a JSON value under `note/<time>-<random>` in the app's own
// database. Live events keep several open windows in step.
import { db, events, LeitherError } from "/_leither/sdk.js";

const list = document.getElementById("notes");
const status = document.getElementById("status");

function say(text, error = false) {
  status.textContent = text;
  status.className = error ? "error" : "";
}

async function render() {
  const notes = await db.scan({ prefix: "note/" });
  notes.reverse(); // newest first
  list.replaceChildren(
    ...notes.map(({ key, value }) => {
      const note = JSON.parse(value);
      const li = document.createElement("li");
      li.dataset.key = key;
      const h = document.createElement("h2");
      h.textContent = note.title;
      const p = document.createElement("p");
      p.textContent = note.body;
      const del = document.createElement("button");
      del.textContent = "Delete";
      del.addEventListener("click", async () => {
        await db.delete(key);
        await render();
      });
      li.append(h, p, del);
      return li;
    }),
  );
  say(`${notes.length} note${notes.length === 1 ? "" : "s"}`);
  document.body.dataset.ready = "true";
}

document.getElementById("new-note").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const title = document.getElementById("title");
  const body = document.getElementById("body");
  const key = `note/${Date.now().toString().padStart(15, "0")}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await db.put(key, { title: title.value, body: body.value, created: Date.now() });
    title.value = "";
    body.value = "";
    await render();
  } catch (e) {
    say(e instanceof LeitherError ? `${e.code}: ${e.message}` : String(e), true);
  }
});

events.subscribe((e) => {
  if (e.kind === "db_changed") render().catch(() => {});
});

render().catch((e) => {
  say(e instanceof LeitherError ? `${e.code}: ${e.message}` : String(e), true);
  document.body.dataset.ready = "error";
});
