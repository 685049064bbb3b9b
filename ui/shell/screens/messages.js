import * as api from "../api.js";
import { h, form, newest, fetched, showList, coalesced } from "../dom.js";
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
  // The open conversation keeps its parts in place: the messages are updated only
  // when they change and the message box is made once per conversation and never
  // moved, so live events never take the focus (or a click) from the user.
  let view = null;
  const threadTurn = newest();
  const showThread = async (user, name) => {
    const current = threadTurn();
    open = user;
    if (!view || view.user !== user) {
      view = {
        user,
        msgs: h("ul", { class: "list" }, h("li", { class: "muted" }, "Loading…")),
        composer: form([{ name: "text", label: "Message", type: "textarea", required: true }], "Send",
          async (v) => { await api.post(`/api/v1/social/conversations/${enc(user)}/messages`, { text: v.text }); await showThread(user); }),
      };
      thread.replaceChildren(h("h2", {}, `With ${name || String(user).slice(0, 16) + "…"}`), view.msgs, view.composer);
    }
    const got = await fetched(api.get(`/api/v1/social/conversations/${enc(user)}/messages`));
    if (!current()) return;
    showList(view.msgs, got, (list) => (list.length
      ? list.map((m) => h("li", {}, h("span", { class: "muted" }, `${m.outgoing ? "me" : "them"} · ${time(m.time)} · ${m.status || ""}`), h("div", {}, m.text)))
      : [h("li", { class: "muted" }, "No messages yet.")]));
    if ((got.data || []).some((m) => m.status === "unread") && has(found, "/api/v1/social/conversations/{user}/read", "post")) {
      await api.post(`/api/v1/social/conversations/${enc(user)}/read`).catch(() => {});
    }
  };

  const refresh = coalesced(async () => {
    const [stream_, convs_] = await Promise.all([
      fetched(api.get("/api/v1/social/stream").then((s) => (s && s.items) || [])),
      fetched(api.get("/api/v1/social/conversations")),
    ]);
    showList(stream, stream_, (items) => (items.length
      ? items.map((it) => h("li", {}, h("span", { class: "muted" }, `${it.kind} · ${time(it.time)}`), h("div", {}, it.text)))
      : [h("li", { class: "muted" }, "Nothing in your stream yet.")]));
    showList(convs, convs_, (list) => (list.length
      ? list.map((c) => h("li", { class: "row" }, h("button", { class: "secondary", onclick: () => showThread(c.user, c.name) }, c.name || String(c.user).slice(0, 16) + "…"),
        c.unread ? h("strong", {}, `${c.unread} new`) : null, c.last ? h("span", { class: "muted" }, c.last.text) : null))
      : [h("li", { class: "muted" }, "No conversations yet. Message a friend from here:")]));
    if (open) await showThread(open);
  });
  card.append(h("div", { class: "grid2" },
    h("div", {}, h("h2", {}, "Stream"), stream),
    h("div", {}, h("h2", {}, "Conversations"), convs,
      form([{ name: "user", label: "New conversation with (friend's user ID)", required: true }], "Open",
        async (v) => showThread(v.user.trim())))), thread);
  bus.listeners.add((ev) => { if (/message|stream|receipt|social/.test(String(ev.kind || ""))) refresh(); });
  await refresh();
}
