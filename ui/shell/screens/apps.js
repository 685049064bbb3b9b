import * as api from "../api.js";
import { h, form, errorBox } from "../dom.js";
import { need, has, itemsOf } from "./common.js";

// Apps run in their own origin, http://<app-id>.localhost:<port>, framed by the shell:
// they cannot read the shell's token or storage.
function appOrigin(id) { return `${location.protocol}//${id}.localhost:${location.port}`; }

export async function apps(el) {
  el.append(h("h1", {}, "Apps"));
  const card = h("div", { class: "card" });
  el.append(card);
  const found = await need(card, "Apps", "/api/v1/apps");
  if (!found) return;
  const frame = h("div");
  const box = h("ul", { class: "list" });
  const refresh = async () => {
    box.replaceChildren();
    try {
      const items = itemsOf(await api.get("/api/v1/apps"));
      if (!items.length) box.append(h("li", { class: "muted" }, "No apps installed."));
      for (const a of items) {
        const id = a.id || a.app_id;
        box.append(h("li", { class: "row" }, h("span", {}, a.name || id), h("button", {
          class: "secondary",
          onclick: async () => {
            let src = appOrigin(id) + "/";
            if (has(found, "/api/v1/apps/{id}/launch", "post")) {
              const l = await api.post(`/api/v1/apps/${encodeURIComponent(id)}/launch`);
              if (l && l.url) src = l.url;
            }
            frame.replaceChildren(h("iframe", { class: "app", src, title: a.name || id, sandbox: "allow-scripts allow-forms allow-same-origin" }));
          },
        }, "Open")));
      }
    } catch (e) { box.append(h("li", {}, errorBox(e))); }
  };
  card.append(h("h2", {}, "Installed"), box);
  if (has(found, "/api/v1/apps", "post")) {
    card.append(h("h2", {}, "Install"),
      form([{ name: "id", label: "App ID or name", required: true }], "Install",
        async (v) => { await api.post("/api/v1/apps", { id: v.id.trim() }); refresh(); }));
  }
  el.append(frame);
  await refresh();
}
