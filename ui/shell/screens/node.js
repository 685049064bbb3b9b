import * as api from "../api.js";
import { h, kv, bytes, notAvailable } from "../dom.js";
import { list } from "./common.js";

export async function node(el) {
  el.append(h("h1", {}, "Node"));
  const s = await api.get("/api/v1/node");
  const limits = s.limits || {};
  const max = limits.max_storage_bytes;
  const used = s.store ? s.store.disk_bytes : null;
  const storage = h("div", { class: "card", "data-testid": "storage" }, h("h2", {}, "Storage"),
    kv([["blocks", `${s.store.blocks} (${bytes(s.store.block_bytes)})`], ["on disk", bytes(used)],
      ["Mimei objects", s.mimei_count], ["bound", max ? bytes(max) : "none (full node)"]]));
  if (max) {
    const fill = h("div");
    fill.style.width = `${Math.min(100, (100 * used) / max).toFixed(1)}%`; // CSSOM: allowed by the CSP
    storage.append(h("div", { class: "bar" }, fill));
  }
  el.append(storage);

  const sync = await api.get("/api/v1/sync");
  const toggle = h("button", { class: "secondary" });
  const paint = (p) => { toggle.textContent = p ? "Resume sync" : "Pause sync"; toggle.dataset.paused = p; };
  paint(sync.paused);
  toggle.onclick = async () => paint((await api.put("/api/v1/sync", { paused: toggle.dataset.paused !== "true" })).paused);
  el.append(h("div", { class: "card" }, h("h2", {}, "This node"), kv([
    ["version", s.version], ["profile", limits.profile === "light" ? "light (own data only, bounded)" : "full"],
    ["max connections", limits.max_connections], ["node ID", s.node], ["data dir", s.data_dir],
  ]), h("p", {}, toggle)));

  const net = h("div", { class: "card", "data-testid": "network" }, h("h2", {}, "Network"));
  el.append(net);
  const found = await api.available("/api/v1/net");
  if (!found.length) { net.append(notAvailable("Peers and NAT status", "/api/v1/net")); return; }
  for (const r of found.filter((r) => r.methods.includes("get") && !r.path.includes("{"))) {
    const box = h("div");
    net.append(h("h2", {}, r.path.replace("/api/v1/net/", "") || "status"), box);
    try {
      const data = await api.get(r.path);
      if (Array.isArray(data) || (data && Object.values(data).some(Array.isArray))) await list(box, r.path, "none");
      else box.append(kv(Object.entries(data || {}).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v])));
    } catch (e) { box.append(h("p", { class: "error" }, e.message)); }
  }
}
