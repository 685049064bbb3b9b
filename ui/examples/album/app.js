// Album: each photo is a file `photos/<id>-<name>` in the app's own Mimei; its
// caption and metadata are `photo/<id>` in the database. A photo and its record are
// written in one batch, so the album never shows half an upload.
import { batch, db, files, LeitherError } from "/_leither/sdk.js";

const grid = document.getElementById("grid");
const status = document.getElementById("status");
const urls = [];

function say(text, error = false) {
  status.textContent = text;
  status.className = error ? "error" : "";
}

async function render() {
  urls.splice(0).forEach((u) => URL.revokeObjectURL(u));
  const photos = await db.scan({ prefix: "photo/" });
  const figures = await Promise.all(
    photos.map(async ({ key, value }) => {
      const meta = JSON.parse(value);
      const bytes = await files.read(meta.path);
      const url = URL.createObjectURL(new Blob([bytes], { type: meta.type || "image/*" }));
      urls.push(url);
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = url;
      img.alt = meta.caption || meta.name;
      const cap = document.createElement("figcaption");
      cap.textContent = meta.caption || meta.name;
      const del = document.createElement("button");
      del.textContent = "×";
      del.title = "Remove";
      del.addEventListener("click", async () => {
        await batch([{ op: "db_delete", key }, { op: "file_delete", path: meta.path }]);
        await render();
      });
      cap.append(del);
      fig.append(img, cap);
      return fig;
    }),
  );
  grid.replaceChildren(...figures);
  say(`${photos.length} photo${photos.length === 1 ? "" : "s"}`);
  document.body.dataset.ready = "true";
}

document.getElementById("add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("file");
  const caption = document.getElementById("caption").value;
  try {
    for (const f of input.files) {
      const id = `${Date.now()}${Math.random().toString(36).slice(2, 6)}`;
      const path = `photos/${id}-${f.name.replace(/[^A-Za-z0-9._-]/g, "_")}`;
      const content = new Uint8Array(await f.arrayBuffer());
      await batch([
        { op: "file_put", path, content },
        { op: "db_put", key: `photo/${id}`, value: { path, name: f.name, type: f.type, caption, added: Date.now() } },
      ]);
    }
    input.value = "";
    await render();
  } catch (e) {
    say(e instanceof LeitherError ? `${e.code}: ${e.message}` : String(e), true);
  }
});

render().catch((e) => say(e instanceof LeitherError ? `${e.code}: ${e.message}` : String(e), true));
