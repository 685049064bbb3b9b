// The one way the UI talks to the node: its HTTP API on this same origin.
//
// The token comes from the desktop shell (window.__LEITHER__, injected only on this
// origin) or from a `#token=` link printed by `leither ui` (a URL fragment never
// reaches the server); it is kept in this origin's localStorage and nowhere else.

const KEY = "leither.token";

export function takeToken() {
  const injected = window.__LEITHER__ && window.__LEITHER__.token;
  if (injected) return injected;
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m) {
    localStorage.setItem(KEY, m[1]);
    history.replaceState(null, "", location.pathname + "#/");
    return m[1];
  }
  return localStorage.getItem(KEY);
}

export function setToken(t) { localStorage.setItem(KEY, t.trim()); }
export function forgetToken() { localStorage.removeItem(KEY); }
export const inDesktop = () => Boolean(window.__LEITHER__);

let token = null;
export function useToken(t) { token = t; }

/** An API error, with the node's stable code. */
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  const init = { method, headers };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(path, init); } catch (e) { throw new ApiError(0, "offline", "the node does not answer"); }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!resp.ok) {
    const err = data && data.error ? data.error : { code: "http_" + resp.status, message: text || resp.statusText };
    throw new ApiError(resp.status, err.code, err.message);
  }
  return data;
}

export const get = (p) => call("GET", p);
export const post = (p, b = {}) => call("POST", p, b);
export const put = (p, b = {}) => call("PUT", p, b);

// Which routes this node has: screens whose API has not landed say so.
let spec = null;
export async function routes() {
  if (!spec) {
    const doc = await get("/api/v1/openapi.json");
    spec = doc && doc.paths ? doc.paths : {};
  }
  return spec;
}

/** Paths (and their methods) under `prefix` that this node serves. */
export async function available(prefix) {
  const paths = await routes();
  return Object.keys(paths).filter((p) => p.startsWith(prefix))
    .map((p) => ({ path: p, methods: Object.keys(paths[p]) }));
}

/** Live events: calls `onEvent(obj)`; reconnects; reports state to `onState(bool)`. */
export function events(onEvent, onState) {
  let ws, closed = false, delay = 500;
  const open = () => {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}/api/v1/events?token=${encodeURIComponent(token)}`);
    ws.onopen = () => { delay = 500; onState(true); };
    ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch { /* not JSON: ignore */ } };
    ws.onclose = () => { onState(false); if (!closed) setTimeout(open, delay = Math.min(delay * 2, 10000)); };
  };
  open();
  return () => { closed = true; ws && ws.close(); };
}
