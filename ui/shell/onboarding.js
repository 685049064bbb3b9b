// First run: create a new identity or restore one from its recovery phrase.
import * as api from "./api.js";
import { h, form } from "./dom.js";

export function phraseView(phrase) {
  return h("div", { class: "phrase", "data-testid": "phrase" }, phrase.split(/\s+/).map((w) => h("span", {}, w)));
}

export function onboarding(main, done) {
  let passNeeded = false;
  const kept = {}; // what was typed, kept when the form is rebuilt to ask for a passphrase
  const keep = (fields) => fields.map((f) => ({ ...f, value: kept[f.name] }));
  const body = h("div");
  const tabs = h("div", { class: "tabs" });
  const panel = (which) => {
    for (const b of tabs.children) b.classList.toggle("active", b.dataset.tab === which);
    body.replaceChildren(which === "create" ? createForm() : restoreForm());
  };
  tabs.append(
    h("button", { class: "secondary active", "data-tab": "create", onclick: () => panel("create") }, "Create a new identity"),
    h("button", { class: "secondary", "data-tab": "restore", onclick: () => panel("restore") }, "Restore from recovery phrase"));

  const passField = () => ({ name: "passphrase", label: "Passphrase for the key file (this system has no keyring)", type: "password", required: true });
  const retry = (e, rebuild) => {
    if (e.code !== "passphrase_required" || passNeeded) throw e;
    passNeeded = true;
    body.replaceChildren(h("p", { class: "notice" }, "No OS keyring works here, so your keys go into an encrypted file: choose a passphrase for it."), rebuild());
  };
  const createForm = () => form(
    keep([{ name: "device_name", label: "Name of this device", placeholder: "laptop" }].concat(passNeeded ? [passField()] : [])),
    "Create identity",
    async (v) => {
      Object.assign(kept, v);
      let r;
      try {
        r = await api.post("/api/v1/identity/create", { device_name: v.device_name || null, passphrase: v.passphrase || null });
      } catch (e) { return retry(e, createForm); }
      main.replaceChildren(h("div", { class: "center card" },
        h("h1", {}, "Your recovery phrase"),
        h("p", {}, "Write these 24 words down and keep them safe. They are the only way to restore your identity on a new device; nobody can reset them for you."),
        phraseView(r.recovery_phrase),
        h("button", { onclick: done }, "I have written it down")));
    });
  const restoreForm = () => form(
    keep([{ name: "phrase", label: "Recovery phrase (24 words)", type: "textarea", required: true },
      { name: "device_name", label: "Name of this device", placeholder: "laptop" }].concat(passNeeded ? [passField()] : [])),
    "Restore identity",
    async (v) => {
      Object.assign(kept, v);
      try {
        await api.post("/api/v1/identity/restore", { phrase: v.phrase, device_name: v.device_name || null, passphrase: v.passphrase || null });
      } catch (e) { return retry(e, restoreForm); }
      done();
    });

  main.replaceChildren(h("div", { class: "center card", "data-testid": "onboarding" },
    h("h1", {}, "Welcome to Leither"),
    h("p", {}, "Leither is your own cloud: your files, friends and messages live on your devices. First, who are you?"),
    tabs, body));
  panel("create");
}

export function unlock(main, done) {
  main.replaceChildren(h("div", { class: "center card" },
    h("h1", {}, "Unlock your keys"),
    h("p", {}, "Your keys are in an encrypted file on this device. Enter its passphrase."),
    form([{ name: "passphrase", label: "Passphrase", type: "password", required: true }], "Unlock",
      async (v) => { await api.post("/api/v1/identity/unlock", { passphrase: v.passphrase }); done(); })));
}
