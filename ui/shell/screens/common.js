// Rendering of data from APIs that land after this UI (social, orgs, apps, net): the
// screens ask the node's OpenAPI document which routes exist and show what they return.
import * as api from "../api.js";
import { h, notAvailable, errorBox } from "../dom.js";

/** The routes under `prefix`, or a "not available yet" notice appended to `el`. */
export async function need(el, what, prefix) {
  const found = await api.available(prefix);
  if (!found.length) { el.append(notAvailable(what, prefix)); return null; }
  return found;
}

export function has(found, path, method = "get") {
  return found.some((r) => r.path === path && r.methods.includes(method));
}

/** A human line for one item of a list the API returned. */
export function label(item) {
  if (item == null || typeof item !== "object") return String(item);
  const name = item.display_name || item.name || item.title || item.nickname;
  const text = item.text || item.body || item.message || item.last_message;
  const who = item.user || item.from || item.id || item.app_id;
  return [name, text, who && who !== name ? `(${String(who).slice(0, 16)}…)` : null].filter(Boolean).join(" — ") || JSON.stringify(item);
}

export function itemsOf(data) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === "object") {
    for (const k of ["items", "friends", "messages", "conversations", "orgs", "apps", "peers", "entries", "stream"]) {
      if (Array.isArray(data[k])) return data[k];
    }
  }
  return [];
}

/** GET `path` and show its items as a list (or an error). */
export async function list(el, path, empty) {
  const ul = h("ul", { class: "list" });
  try {
    const items = itemsOf(await api.get(path));
    if (!items.length) ul.append(h("li", { class: "muted" }, empty));
    for (const it of items) ul.append(h("li", {}, label(it)));
  } catch (e) { ul.append(h("li", {}, errorBox(e))); }
  el.append(ul);
  return ul;
}
