import * as api from "../api.js";
import { h, kv, form } from "../dom.js";
import { phraseView } from "../onboarding.js";
import { need, has, list } from "./common.js";

export async function me(el) {
  const id = await api.get("/api/v1/identity");
  el.append(h("h1", {}, "Me"));

  const profile = h("div", { class: "card" }, h("h2", {}, "Profile"));
  el.append(profile);
  const social = await need(profile, "Profile", "/api/v1/social");
  if (social && has(social, "/api/v1/social/profile")) {
    try {
      const p = await api.get("/api/v1/social/profile");
      profile.append(kv([["name", p.display_name || p.name], ["about", p.about || p.bio]]));
    } catch (e) { profile.append(h("p", { class: "error" }, e.message)); }
    if (has(social, "/api/v1/social/profile", "put")) {
      profile.append(form([{ name: "display_name", label: "Display name", required: true }, { name: "about", label: "About" }],
        "Save profile", async (v) => { await api.put("/api/v1/social/profile", v); location.reload(); }));
    }
  }

  el.append(h("div", { class: "card" }, h("h2", {}, "Identity"), kv([
    ["user ID", id.user], ["account", id.account], ["keys kept in", id.keys === "keyring" ? "OS keyring" : "encrypted key file"],
  ])));

  const devices = h("div", { class: "card", "data-testid": "devices" }, h("h2", {}, "Devices"),
    kv([["this device", id.device], ["node ID", id.node]]));
  el.append(devices);
  if (social && has(social, "/api/v1/social/devices")) await list(devices, "/api/v1/social/devices", "no other devices");
  else devices.append(h("p", { class: "muted" }, "Other devices join by restoring your recovery phrase on them."));

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
