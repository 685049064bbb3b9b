import * as api from "../api.js";
import { h, form } from "../dom.js";
import { need, has, list } from "./common.js";

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
  const stream = h("div"), convs = h("div");
  const refresh = async () => {
    stream.replaceChildren(); convs.replaceChildren();
    if (has(found, "/api/v1/social/stream")) await list(stream, "/api/v1/social/stream", "Nothing in your stream yet.");
    if (has(found, "/api/v1/social/conversations")) await list(convs, "/api/v1/social/conversations", "No conversations yet.");
  };
  card.append(h("div", { class: "grid2" },
    h("div", {}, h("h2", {}, "Stream"), stream), h("div", {}, h("h2", {}, "Conversations"), convs)));
  if (has(found, "/api/v1/social/messages", "post")) {
    card.append(h("h2", {}, "Send a message"), form(
      [{ name: "to", label: "To (user ID)", required: true }, { name: "text", label: "Message", type: "textarea", required: true }],
      "Send", async (v) => { await api.post("/api/v1/social/messages", { to: v.to.trim(), text: v.text }); refresh(); }));
  }
  bus.listeners.add((ev) => { if (/message|stream|social/.test(String(ev.kind || ""))) refresh(); });
  await refresh();
}
