import * as api from "../api.js";
import { h, form, fetched, showList, coalesced } from "../dom.js";
import { need, has } from "./common.js";

const enc = encodeURIComponent;

export async function friends(el, bus) {
  el.append(h("h1", {}, "Friends"));
  const card = h("div", { class: "card" });
  el.append(card);
  const found = await need(card, "Friends", "/api/v1/social");
  if (!found) return;
  const box = h("ul", { class: "list", "data-testid": "friends" });
  const refresh = coalesced(async () => {
    const got = await fetched(api.get("/api/v1/social/friends"));
    showList(box, got, (list) => {
      if (!list.length) return [h("li", { class: "muted" }, "No friends yet.")];
      return list.map((f) => {
        const actions = [];
        if (f.state === "incoming" && has(found, "/api/v1/social/friends/{user}/accept", "post")) {
          actions.push(h("button", { onclick: async () => { await api.post(`/api/v1/social/friends/${enc(f.user)}/accept`); refresh(); } }, "Accept"));
          actions.push(h("button", { class: "secondary", onclick: async () => { await api.post(`/api/v1/social/friends/${enc(f.user)}/decline`); refresh(); } }, "Decline"));
        }
        return h("li", { class: "row" },
          h("span", {}, h("strong", {}, f.name || "(no name)"), " ", h("span", { class: "muted" }, `${String(f.user).slice(0, 16)}… · ${f.state || ""}`),
            f.note ? h("span", { class: "muted" }, ` · “${f.note}”`) : null),
          actions);
      });
    });
  });
  card.append(h("h2", {}, "Your friends and requests"), box);
  if (has(found, "/api/v1/social/friends", "post")) {
    card.append(h("h2", {}, "Add a friend"),
      form([{ name: "who", label: "Their user ID or invite (leither:friend:…), or their name", required: true },
        { name: "note", label: "A note for them" }], "Send friend request",
      async (v) => {
        const who = v.who.trim();
        // A user ID is 52 base32hex characters; anything else not an invite is a
        // display name, looked up on the network (refused if several people carry it).
        const to = who.startsWith("leither:") ? { invite: who }
          : /^[0-9a-v]{52}$/.test(who) ? { user: who } : { name: who };
        await api.post("/api/v1/social/friends", { ...to, note: v.note });
        refresh();
      }));
  }
  if (has(found, "/api/v1/social/invite", "post")) {
    const out = h("p", { class: "muted" });
    card.append(h("h2", {}, "Invite someone"), h("p", {},
      h("button", { class: "secondary", onclick: async () => { const r = await api.post("/api/v1/social/invite"); out.textContent = r.invite; } }, "Make an invite")), out);
  }
  bus.listeners.add((ev) => { if (/friend/.test(String(ev.kind || ""))) refresh(); });
  await refresh();
}
