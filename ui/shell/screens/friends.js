import * as api from "../api.js";
import { h, form } from "../dom.js";
import { need, has, list } from "./common.js";

export async function friends(el, bus) {
  el.append(h("h1", {}, "Friends"));
  const card = h("div", { class: "card" });
  el.append(card);
  const found = await need(card, "Friends", "/api/v1/social");
  if (!found) return;
  if (has(found, "/api/v1/social/friends", "post")) {
    card.append(h("h2", {}, "Add a friend"),
      form([{ name: "user", label: "Their user ID", required: true }], "Send friend request",
        async (v) => { await api.post("/api/v1/social/friends", { user: v.user.trim() }); refresh(); }));
  }
  const box = h("div");
  card.append(h("h2", {}, "Your friends"), box);
  const refresh = async () => { box.replaceChildren(); if (has(found, "/api/v1/social/friends")) await list(box, "/api/v1/social/friends", "No friends yet."); };
  if (has(found, "/api/v1/social/requests")) {
    const req = h("div");
    card.append(h("h2", {}, "Requests"), req);
    await list(req, "/api/v1/social/requests", "No pending requests.");
  }
  bus.listeners.add((ev) => { if (String(ev.kind || "").includes("friend")) refresh(); });
  await refresh();
}
