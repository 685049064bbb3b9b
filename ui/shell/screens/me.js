import * as api from "../api.js";
import { h, kv, form } from "../dom.js";
import { phraseView } from "../onboarding.js";
import { need, has } from "./common.js";

const when = (s) => (s ? new Date(s * 1000).toLocaleDateString() : "—");

export async function me(el) {
  const id = await api.get("/api/v1/identity");
  el.append(h("h1", {}, "Me"));

  // Profile and devices: /api/v1/social/profile (social API).
  const profile = h("div", { class: "card" }, h("h2", {}, "Profile"));
  el.append(profile);
  const social = await need(profile, "Profile", "/api/v1/social");
  let p = null;
  if (social && has(social, "/api/v1/social/profile")) {
    try {
      p = await api.get("/api/v1/social/profile");
      profile.append(kv([["name", p.name || "(no name yet)"], ["bio", p.bio || "—"]]));
    } catch (e) { profile.append(h("p", { class: "error" }, e.message)); }
    if (has(social, "/api/v1/social/profile", "put")) {
      profile.append(form([
        { name: "name", label: "Display name", required: true, value: p && p.name },
        { name: "bio", label: "Bio", type: "textarea", value: p && p.bio },
      ], "Save profile", async (v) => { await api.put("/api/v1/social/profile", v); location.reload(); }));
    }
  }

  el.append(h("div", { class: "card" }, h("h2", {}, "Identity"), kv([
    ["user ID", id.user], ["account", id.account], ["keys kept in", id.keys === "keyring" ? "OS keyring" : "encrypted key file"],
  ])));

  const devices = h("div", { class: "card", "data-testid": "devices" }, h("h2", {}, "Devices"),
    kv([["this device", id.device], ["node ID", id.node]]));
  el.append(devices);
  if (p && Array.isArray(p.devices) && p.devices.length) {
    devices.append(h("ul", { class: "list" }, p.devices.map((d) =>
      h("li", {}, `${d.name} — since ${when(d.created)} — ${String(d.node).slice(0, 16)}…${d.node === id.node ? " (this one)" : ""}`))));
  }
  devices.append(h("p", { class: "muted" }, "Another device joins by restoring your recovery phrase on it."));

  const backup = h("div", { class: "card" }, h("h2", {}, "Recovery phrase backup"),
    h("p", {}, "Your 24 words restore your identity on a new device. Show them only where nobody can watch."));
  const reveal = h("button", {
    class: "secondary",
    onclick: async () => {
      const r = await api.post("/api/v1/identity/phrase");
      reveal.replaceWith(phraseView(r.phrase));
    },
  }, "Show recovery phrase");
  backup.append(reveal);
  el.append(backup);
}
