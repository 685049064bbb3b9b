import * as api from "../api.js";
import { h, form, newest, update, fetched, showList, coalesced } from "../dom.js";
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
  // The open org's view keeps its parts in place: the head and the messages are
  // updated only when they change, and the message box is made once per org and
  // never moved, so live events never take the focus (or a click) from the user.
  let view = null;
  const invites = new Map(); // org → the invite made last
  const orgTurn = newest();
  const showOrg = async (o) => {
    const current = orgTurn();
    open = o;
    if (!view || view.org !== o.org) {
      view = { org: o.org, head: h("div"), msgs: h("ul", { class: "list" }, h("li", { class: "muted" }, "Loading…")), composer: h("div") };
      chat.replaceChildren(h("div", { class: "card" }, view.head, h("h2", {}, "Chat"), view.msgs, view.composer));
    }
    update(view.head, JSON.stringify([o, invites.get(o.org)]), () => {
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
      return parts;
    });
    update(view.composer, String(!!o.my_role), () => (o.my_role
      ? [form([{ name: "text", label: "Message", type: "textarea", required: true }], "Post",
        async (v) => { await api.post(`/api/v1/orgs/${enc(o.org)}/chat`, { text: v.text }); await showOrg(open); })]
      : []));
    const names = new Map((o.members || []).filter((m) => m.name).map((m) => [m.user, m.name]));
    const who = (u) => names.get(u) || `${String(u).slice(0, 12)}…`;
    const got = await fetched(api.get(`/api/v1/orgs/${enc(o.org)}/chat`)
      .then((list) => list.map((m) => ({ who: who(m.author), time: m.time, text: m.text }))));
    if (!current()) return;
    showList(view.msgs, got, (list) => (list.length
      ? list.map((m) => h("li", {}, h("span", { class: "muted" }, `${m.who} · ${new Date(m.time).toLocaleString()}`), h("div", {}, m.text)))
      : [h("li", { class: "muted" }, "No messages yet.")]));
  };
  let byOrgNow = new Map(); // the orgs as last fetched
  const refresh = coalesced(async () => {
    const got = await fetched(api.get("/api/v1/orgs"));
    const list = got.data || [];
    const byOrg = new Map(list.map((o) => [o.org, o]));
    // The buttons stay while names and roles are the same; each opens the org as it is now.
    showList(box, { ...got, data: got.data && list.map((o) => ({ org: o.org, name: o.name, my_role: o.my_role })) }, (list) => {
      if (!list.length) return [h("li", { class: "muted" }, "You are in no organization yet.")];
      return list.map((o) => h("li", { class: "row" }, h("button", { class: "secondary", onclick: () => byOrgNow.has(o.org) && showOrg(byOrgNow.get(o.org)) }, o.name), h("span", { class: "muted" }, o.my_role || "pending")));
    });
    byOrgNow = byOrg;
    const again = open && byOrg.get(open.org);
    if (again) await showOrg(again);
  });
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
