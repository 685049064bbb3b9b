import * as api from "../api.js";
import { h, form, fetched, showList, coalesced } from "../dom.js";
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
  const refresh = coalesced(async () => {
    const got = await fetched(api.get("/api/v1/apps").then(itemsOf));
    showList(box, got, (items) => {
      if (!items.length) return [h("li", { class: "muted" }, "No apps installed.")];
      return items.map((a) => {
        const id = a.id || a.app || a.app_id;
        const name = a.name || (a.manifest && a.manifest.name) || id;
        return h("li", { class: "row" }, h("strong", {}, name), h("span", { class: "muted" }, String(id).slice(0, 16) + "…"),
          h("button", {
            onclick: async () => {
              frame.replaceChildren(h("div", { class: "row" }, h("h2", {}, name)),
                h("iframe", { class: "app", src: await launch(id), title: name }));
            },
          }, "Open"),
          h("button", { class: "secondary", onclick: async () => window.open(await launch(id), "_blank", "noopener") }, "Open in a window"));
      });
    });
  });
  card.append(h("h2", {}, "Installed"), box);
  if (has(found, "/api/v1/apps/install", "post")) {
    card.append(h("h2", {}, "Install"),
      form([{ name: "app", label: "App ID or name", required: true }], "Install",
        async (v) => { await api.post("/api/v1/apps/install", { app: v.app.trim() }); refresh(); }));
  }
  el.append(frame);
  await refresh();
}
