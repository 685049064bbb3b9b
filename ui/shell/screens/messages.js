import * as api from "../api.js";
import { h, form, errorBox, newest } from "../dom.js";
import { need, has } from "./common.js";

const enc = encodeURIComponent;
const time = (ms) => (ms ? new Date(ms).toLocaleString() : "");

export async function messages(el, bus) {
  el.append(h("h1", {}, "Messages"));
  const log = h("pre", { class: "events", "data-testid": "events" });
  const liveCard = h("div", { class: "card" }, h("h2", {}, "Live updates"),
    h("p", { class: "muted" }, "Changes on this node arrive here as they happen (WebSocket /api/v1/events)."), log);
  bus.listeners.add((ev) => {
    log.textContent = `${new Date().toLocaleTimeString()} ${JSON.stringify(ev)}\n` + log.textContent.slice(0, 4000);
  });
  const card = h("div", { class: "card" });
  el.append(card, liveCard);
  const found = await need(card, "Messages", "/api/v1/social");
  if (!found) return;

  const stream = h("ul", { class: "list", "data-testid": "stream" });
  const convs = h("ul", { class: "list", "data-testid": "conversations" });
  const thread = h("div", { "data-testid": "thread" });
  let open = null;
  // Built once per open conversation and moved into each re-render, so live refreshes
  // never wipe a message being typed.
  let composer = null;

  const showThread = async (user, name) => {
    if (!composer || composer.user !== user) {
      composer = {
        user,
        name,
        el: form([{ name: "text", label: "Message", type: "textarea", required: true }], "Send",
          async (v) => { await api.post(`/api/v1/social/conversations/${enc(user)}/messages`, { text: v.text }); await showThread(user); }),
      };
    }
    open = user;
    name = name || composer.name;
    const msgs = h("ul", { class: "list" });
    thread.replaceChildren(h("h2", {}, `With ${name || String(user).slice(0, 16) + "…"}`), msgs, composer.el);

    try {
      const list = await api.get(`/api/v1/social/conversations/${enc(user)}/messages`);
      if (!list.length) msgs.append(h("li", { class: "muted" }, "No messages yet."));
      for (const m of list) msgs.append(h("li", {}, h("span", { class: "muted" }, `${m.outgoing ? "me" : "them"} · ${time(m.time)} · ${m.status || ""}`), h("div", {}, m.text)));
      if (has(found, "/api/v1/social/conversations/{user}/read", "post")) await api.post(`/api/v1/social/conversations/${enc(user)}/read`).catch(() => {});
    } catch (e) { msgs.append(h("li", {}, errorBox(e))); }
  };

  const turn = newest();
  const refresh = async () => {
    const current = turn();
    const streamRows = []; // built whole, then swapped in if still the newest
    const convsRows = [];
    try {
      const s = await api.get("/api/v1/social/stream");
      const items = (s && s.items) || [];
      if (!items.length) streamRows.push(h("li", { class: "muted" }, "Nothing in your stream yet."));
      for (const it of items) streamRows.push(h("li", {}, h("span", { class: "muted" }, `${it.kind} · ${time(it.time)}`), h("div", {}, it.text)));
    } catch (e) { streamRows.push(h("li", {}, errorBox(e))); }
    try {
      const list = await api.get("/api/v1/social/conversations");
      if (!list.length) convsRows.push(h("li", { class: "muted" }, "No conversations yet. Message a friend from here:"));
      for (const c of list) {
        convsRows.push(h("li", { class: "row" }, h("button", { class: "secondary", onclick: () => showThread(c.user, c.name) }, c.name || String(c.user).slice(0, 16) + "…"),
          c.unread ? h("strong", {}, `${c.unread} new`) : null, c.last ? h("span", { class: "muted" }, c.last.text) : null));
      }
    } catch (e) { convsRows.push(h("li", {}, errorBox(e))); }
    if (!current()) return;
    stream.replaceChildren(...streamRows);
    convs.replaceChildren(...convsRows);
    if (open) await showThread(open);
  };
  card.append(h("div", { class: "grid2" },
    h("div", {}, h("h2", {}, "Stream"), stream),
    h("div", {}, h("h2", {}, "Conversations"), convs,
      form([{ name: "user", label: "New conversation with (friend's user ID)", required: true }], "Open",
        async (v) => showThread(v.user.trim())))), thread);
  bus.listeners.add((ev) => { if (/message|stream|receipt|social/.test(String(ev.kind || ""))) refresh(); });
  await refresh();
}
