import * as api from "../api.js";
import { h, form, errorBox, newest } from "../dom.js";
import { need, has, itemsOf } from "./common.js";

// Apps run in their own origin, http://<app-id>.localhost:<port>: a launch code from
// the node becomes a session of that origin only; the app never sees the shell's token.
export async function apps(el) {
  el.append(h("h1", {}, "Apps"));
  const card = h("div", { class: "card" });
  el.append(card);
  const found = await need(card, "Apps", "/api/v1/apps");
  if (!found) return;
  const frame = h("div", { "data-testid": "app-frame" });
  const box = h("ul", { class: "list", "data-testid": "apps" });
  const launch = async (id) => {
    const l = await api.post(`/api/v1/apps/${encodeURIComponent(id)}/launch`);
    return l.url;
  };
  const turn = newest();
  const refresh = async () => {
    const current = turn();
    const boxRows = []; // built whole, then swapped in if still the newest
    try {
      const items = itemsOf(await api.get("/api/v1/apps"));
      if (!items.length) boxRows.push(h("li", { class: "muted" }, "No apps installed."));
      for (const a of items) {
        const id = a.id || a.app || a.app_id;
        const name = a.name || (a.manifest && a.manifest.name) || id;
        boxRows.push(h("li", { class: "row" }, h("strong", {}, name), h("span", { class: "muted" }, String(id).slice(0, 16) + "…"),
          h("button", {
            onclick: async () => {
              frame.replaceChildren(h("div", { class: "row" }, h("h2", {}, name)),
                h("iframe", { class: "app", src: await launch(id), title: name }));
            },
          }, "Open"),
          h("button", { class: "secondary", onclick: async () => window.open(await launch(id), "_blank", "noopener") }, "Open in a window")));
      }
    } catch (e) { boxRows.push(h("li", {}, errorBox(e))); }
    if (!current()) return;
    box.replaceChildren(...boxRows);
  };
  card.append(h("h2", {}, "Installed"), box);
  if (has(found, "/api/v1/apps/install", "post")) {
    card.append(h("h2", {}, "Install"),
      form([{ name: "app", label: "App ID or name", required: true }], "Install",
        async (v) => { await api.post("/api/v1/apps/install", { app: v.app.trim() }); refresh(); }));
  }
  el.append(frame);
  await refresh();
}
