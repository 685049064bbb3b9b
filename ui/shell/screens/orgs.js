import * as api from "../api.js";
import { h, form } from "../dom.js";
import { need, has, list } from "./common.js";

export async function orgs(el, bus) {
  el.append(h("h1", {}, "Organizations"));
  const card = h("div", { class: "card" });
  el.append(card);
  const found = await need(card, "Organizations", "/api/v1/orgs");
  if (!found) return;
  const box = h("div");
  const refresh = async () => { box.replaceChildren(); await list(box, "/api/v1/orgs", "You are in no organization yet."); };
  card.append(h("h2", {}, "Yours"), box);
  if (has(found, "/api/v1/orgs", "post")) {
    card.append(h("h2", {}, "Create an organization"),
      form([{ name: "name", label: "Name", required: true }], "Create",
        async (v) => { await api.post("/api/v1/orgs", { name: v.name }); refresh(); }));
  }
  bus.listeners.add((ev) => { if (String(ev.kind || "").includes("org")) refresh(); });
  await refresh();
}
