// @leither/sdk: what a Mimei app uses to reach its node. An ES module with no
// dependencies. Served by the node on every app origin at /_leither/sdk.js.
//
// Every call goes to the app's own origin (`http://<app-id>.localhost:<port>`), which
// the node authorises with the app's session cookie: the app never holds the user's
// token or keys, and reaches only its own files and database plus what the user
// granted (see `app.info().grants`).

/** An API error: `code` is stable (e.g. `app_forbidden`, `no_such_key`). */
export class LeitherError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "LeitherError";
    this.status = status;
    this.code = code;
  }
}

let base = "";

/** Use another origin for the API (tests, or pages not served by the node). */
export function configure(options = {}) {
  if (options.base !== undefined) base = String(options.base).replace(/\/$/, "");
}

const enc = (s) => encodeURIComponent(s);
const encPath = (p) => String(p).split("/").filter((s) => s !== "").map(enc).join("/");
const query = (o) => {
  const q = Object.entries(o || {}).filter(([, v]) => v !== undefined && v !== null);
  return q.length ? "?" + q.map(([k, v]) => `${enc(k)}=${enc(String(v))}`).join("&") : "";
};

async function call(method, path, body, type) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    if (type === "json") {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    } else {
      init.body = body;
      init.headers["content-type"] = "application/octet-stream";
    }
  }
  const r = await fetch(base + path, init);
  if (!r.ok) {
    let code = "http_" + r.status, message = r.statusText;
    try {
      const e = (await r.json()).error;
      code = e.code;
      message = e.message;
    } catch (_) { /* not JSON */ }
    throw new LeitherError(r.status, code, message);
  }
  return r;
}

const json = async (method, path, body) => {
  const r = await call(method, path, body, body === undefined ? undefined : "json");
  return r.status === 204 ? null : r.json();
};

const b64 = (bytes) => {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
};
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The app itself: ID, data Mimei, manifest and granted permissions. */
export const app = {
  info: () => json("GET", "/api/v1/app"),
};

/** The app's own files. */
export const files = {
  /** Bytes of a file. */
  async read(path) {
    return new Uint8Array(await (await call("GET", `/api/v1/app/files/${encPath(path)}`)).arrayBuffer());
  },
  async readText(path) {
    return (await call("GET", `/api/v1/app/files/${encPath(path)}`)).text();
  },
  /** Write a string, bytes or a Blob. */
  write: (path, data) => call("PUT", `/api/v1/app/files/${encPath(path)}`, data).then((r) => r.json()),
  delete: (path) => json("DELETE", `/api/v1/app/files/${encPath(path)}`),
  list: (path = "", { recursive = false } = {}) => json("GET", `/api/v1/app/ls${query({ path, recursive })}`),
};

const value = (item) => (item.value !== undefined ? item.value : unb64(item.value_base64));

/** The app's own key-value database (values are strings; JSON helpers included). */
export const db = {
  /** The value of `key` as a string, or null. */
  async get(key) {
    try {
      return await (await call("GET", `/api/v1/app/db/${encPath(key)}`)).text();
    } catch (e) {
      if (e.code === "no_such_key") return null;
      throw e;
    }
  },
  async getJSON(key) {
    const v = await db.get(key);
    return v === null ? null : JSON.parse(v);
  },
  put: (key, value) => call("PUT", `/api/v1/app/db/${encPath(key)}`, typeof value === "string" ? value : JSON.stringify(value)).then(() => undefined),
  delete: async (key) => (await json("DELETE", `/api/v1/app/db/${encPath(key)}`)).existed,
  /** Entries in key order: `{prefix, start, end, limit}`; `reverse: true` gives the
   * last `limit` of them, in descending order (the newest page of a log). */
  async scan(range = {}) {
    return (await json("GET", `/api/v1/app/db${query(range)}`)).map((i) => ({ key: i.key, value: value(i) }));
  },
};

/**
 * Several changes to the app's own data, all or nothing. Each op is
 * `{op:"db_put", key, value}`, `{op:"db_delete", key}`,
 * `{op:"file_put", path, content}` (string or Uint8Array) or `{op:"file_delete", path}`.
 */
export async function batch(ops) {
  const wire = ops.map((o) => {
    if (o.op === "file_put" && o.content instanceof Uint8Array) return { op: o.op, path: o.path, content_base64: b64(o.content) };
    if (o.op === "db_put" && typeof o.value !== "string") return { op: o.op, key: o.key, value: JSON.stringify(o.value) };
    return o;
  });
  return json("POST", "/api/v1/batch", { ops: wire });
}

/** Background tasks: timed database jobs the node runs for the app (with limits). */
export const tasks = {
  list: () => json("GET", "/api/v1/app/tasks"),
  /** `{ops: [{op:"db_put", key, value}|{op:"db_delete", key}], delaySecs, everySecs}`; `"$now"` = run time. */
  schedule: ({ ops, delaySecs, everySecs }) => json("POST", "/api/v1/app/tasks", { ops, delay_secs: delaySecs, every_secs: everySecs }),
  cancel: (id) => json("DELETE", `/api/v1/app/tasks/${enc(id)}`),
};

/** Other Mimei (permission `mimei.read`; public Mimei only). */
export const mimei = {
  info: (id) => json("GET", `/api/v1/mimei/${enc(id)}`),
  list: (id, path = "", { version, recursive = false } = {}) => json("GET", `/api/v1/mimei/${enc(id)}/ls${query({ path, version, recursive })}`),
  async read(id, path, { version } = {}) {
    return new Uint8Array(await (await call("GET", `/api/v1/mimei/${enc(id)}/files/${encPath(path)}${query({ version })}`)).arrayBuffer());
  },
  async readText(id, path, { version } = {}) {
    return (await call("GET", `/api/v1/mimei/${enc(id)}/files/${encPath(path)}${query({ version })}`)).text();
  },
  async dbGet(id, key, { version } = {}) {
    try {
      return await (await call("GET", `/api/v1/mimei/${enc(id)}/db/${encPath(key)}${query({ version })}`)).text();
    } catch (e) {
      if (e.code === "no_such_key") return null;
      throw e;
    }
  },
  async dbScan(id, range = {}) {
    return (await json("GET", `/api/v1/mimei/${enc(id)}/db${query(range)}`)).map((i) => ({ key: i.key, value: value(i) }));
  },
};

/** The user's profile (permission `profile.read`). */
export const profile = {
  get: () => json("GET", "/api/v1/social/profile"),
};

/** The user's direct messages with friends (permission `messages`). */
export const messages = {
  conversations: () => json("GET", "/api/v1/social/conversations"),
  /** Messages with `user`, newest first: `{before, limit}`. */
  list: (user, page = {}) => json("GET", `/api/v1/social/conversations/${enc(user)}/messages${query(page)}`),
  send: (user, text) => json("POST", `/api/v1/social/conversations/${enc(user)}/messages`, { text }),
};

/** Live changes to the app's own data over a WebSocket. */
export const events = {
  /** Calls `handler(event)` for each `{kind:"files_changed"|"db_changed", id}`; returns a stop function. */
  subscribe(handler) {
    const origin = base || location.origin;
    const ws = new WebSocket(origin.replace(/^http/, "ws") + "/api/v1/app/events");
    ws.onmessage = (m) => {
      try {
        handler(JSON.parse(m.data));
      } catch (_) { /* ignore malformed */ }
    };
    return () => ws.close();
  },
};

export default { app, files, db, batch, tasks, mimei, profile, messages, events, configure, LeitherError };
