import * as api from "../api.js";
import { h, form, errorBox, newest } from "../dom.js";
import { need, has } from "./common.js";
const enc = encodeURIComponent;
export async function orgs(el, bus) {
  el.append(h("h1", {}, "Organizations"));
  const card = h("div", { class: "card" });
  el.append(card);
  const found = await need(card, "Organizations", "/api/v1/orgs");
  if (!found) return;
  const box = h("ul", { class: "list", "data-testid": "orgs" });
  const chat = h("div", { "data-testid": "org-chat" });
  let open = null;
  // The chat box is built once per open org and moved into each re-render, so live
  // refreshes never wipe a message being typed (or the button being clicked).
  let composer = null;
  const invites = new Map(); // org → the invite made last
  const showOrg = async (o) => {

    open = o;
    const msgs = h("ul", { class: "list" });
    const parts = [h("h2", {}, o.name), o.about ? h("p", { class: "muted" }, o.about) : null,
      h("p", { class: "muted" }, `${(o.members || []).length} members · you: ${o.my_role || "application pending"}`),
      // Anyone can find the org by this ID and apply (no invite needed).
      h("p", { class: "muted" }, "ID ", h("code", { "data-testid": "org-id" }, o.org))];
    if (o.applications && o.applications.length && has(found, "/api/v1/orgs/{org}/applications/{user}/approve", "post")) {
      parts.push(h("h2", {}, "Applications"), h("ul", { class: "list" }, o.applications.map((a) => {
        const user = a.user || a;
        return h("li", { class: "row" }, h("span", {}, a.name || String(user).slice(0, 16) + "…"), a.note ? h("span", { class: "muted" }, a.note) : null,
          h("button", { onclick: async () => { await api.post(`/api/v1/orgs/${enc(o.org)}/applications/${enc(user)}/approve`); refresh(); } }, "Approve"));
      })));
    }
    if (o.my_role === "admin" && has(found, "/api/v1/orgs/{org}/invite", "post")) {
      // Kept per org: a live re-render must not wipe an invite just made.
      const out = h("p", { class: "muted", "data-testid": "org-invite" }, invites.get(o.org) || "");
      parts.push(h("p", {}, h("button", {
        class: "secondary",
        onclick: async () => {
          const { invite } = await api.post(`/api/v1/orgs/${enc(o.org)}/invite`);
          invites.set(o.org, invite);
          if (open && open.org === o.org) for (const p of chat.querySelectorAll('[data-testid="org-invite"]')) p.textContent = invite;
        },
      }, "Make an invite")), out);
    }
    parts.push(h("h2", {}, "Chat"), msgs);

    if (o.my_role) {
      if (!composer || composer.org !== o.org) {
        composer = {
          org: o.org,
          el: form([{ name: "text", label: "Message", type: "textarea", required: true }], "Post",
            async (v) => { await api.post(`/api/v1/orgs/${enc(o.org)}/chat`, { text: v.text }); await showOrg(open); }),
        };
      }
      parts.push(composer.el);
    }

    chat.replaceChildren(h("div", { class: "card" }, parts));
    try {
      const list = await api.get(`/api/v1/orgs/${enc(o.org)}/chat`);
      if (!list.length) msgs.append(h("li", { class: "muted" }, "No messages yet."));
      const names = new Map((o.members || []).filter((m) => m.name).map((m) => [m.user, m.name]));
      const who = (u) => names.get(u) || `${String(u).slice(0, 12)}…`;
      for (const m of list) msgs.append(h("li", {}, h("span", { class: "muted" }, `${who(m.author)} · ${new Date(m.time).toLocaleString()}`), h("div", {}, m.text)));

    } catch (e) { msgs.append(h("li", {}, errorBox(e))); }
  };
  const turn = newest();
  const refresh = async () => {
    const current = turn();
    const boxRows = []; // built whole, then swapped in if still the newest
    let list = [];
    try {
      list = await api.get("/api/v1/orgs");
      if (!list.length) boxRows.push(h("li", { class: "muted" }, "You are in no organization yet."));
      for (const o of list) boxRows.push(h("li", { class: "row" }, h("button", { class: "secondary", onclick: () => showOrg(o) }, o.name), h("span", { class: "muted" }, o.my_role || "pending")));
    } catch (e) { boxRows.push(h("li", {}, errorBox(e))); }
    if (!current()) return;
    box.replaceChildren(...boxRows);
    const again = open && list.find((o) => o.org === open.org);
    if (again) await showOrg(again);
  };
  card.append(h("h2", {}, "Yours"), box);
  if (has(found, "/api/v1/orgs", "post")) {
    card.append(h("h2", {}, "Create an organization"),
      form([{ name: "name", label: "Name", required: true }, { name: "about", label: "About" }], "Create",
        async (v) => { await api.post("/api/v1/orgs", { name: v.name, about: v.about }); refresh(); }));
  }
  if (has(found, "/api/v1/orgs/apply", "post")) {
    // An invite goes through the member who made it; an org ID alone is looked up on
    // the network and the application goes to the org's admins.
    card.append(h("h2", {}, "Join an organization"),
      form([{ name: "invite", label: "Org invite (leither:org:…) or org ID", required: true }, { name: "note", label: "A note" }], "Apply",
        async (v) => {
          const t = v.invite.trim();
          const body = t.startsWith("leither:") ? { invite: t } : { org: t };
          await api.post("/api/v1/orgs/apply", { ...body, note: v.note });
          refresh();
        }));
  }
  el.append(chat);
  bus.listeners.add((ev) => { if (/org|chat/.test(String(ev.kind || ""))) refresh(); });
  await refresh();
}
