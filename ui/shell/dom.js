// Tiny DOM helpers: build elements without innerHTML (the CSP forbids inline script,
// and text from the network is always set as text).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

export function notAvailable(what, prefix) {
  return h("div", { class: "notice", "data-testid": "not-available" },
    h("strong", {}, `${what}: not available yet.`), " ",
    `This node does not serve the ${prefix} API yet, so there is nothing to show here. ` +
    "The screen fills in as soon as the node has it.");
}

/** Refreshes may overlap and finish out of order. `const current = turn()` at the
 * start of one; after its fetches, apply the result only while `current()` (no newer
 * refresh started), so an older answer never overwrites a newer one. */
export function newest() {
  let n = 0;
  return () => { const mine = ++n; return () => mine === n; };
}

/** `fn` run at most once at a time: calls while it runs make it run once more after,
 * however many there were (a burst of live events costs two refreshes, not one each).
 * The promise a call returns settles after a run that started after the call. */
export function coalesced(fn) {
  let running = null, again = false;
  return () => {
    if (running) { again = true; return running; }
    running = (async () => {
      try { do { again = false; await fn(); } while (again); } finally { running = null; }
    })();
    return running;
  };
}

const shown = new WeakMap(); // element → the signature of what it shows

/** Show `build()` (a list of children) in `el`, but only when `sig` (a string that
 * names the content) differs from what `el` shows: a live refresh that changes nothing
 * leaves the DOM alone, so focus, selection and a click in progress survive it. */
export function update(el, sig, build) {
  if (shown.get(el) === sig) return;
  shown.set(el, sig);
  el.replaceChildren(...build());
}

/** The outcome of a fetch, as `{ data }` or `{ failed }`, for `showList`. */
export async function fetched(promise) {
  try { return { data: await promise }; } catch (e) { return { failed: e }; }
}

/** `update` a list from a `fetched` outcome: `rows(data)`, or the error. The rows
 * are built only when the data changed (the data is their signature). */
export function showList(el, got, rows) {
  update(el, got.failed ? `error ${got.failed.message}` : JSON.stringify(got.data),
    () => (got.failed ? [h("li", {}, errorBox(got.failed))] : rows(got.data)));
}

export function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e.message || String(e));
}

export function bytes(n) {
  if (n == null) return "—";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, x = Number(n);
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return `${x.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** A form whose submit runs `action(values)`, showing errors under it. */
export function form(fields, label, action) {
  const inputs = {};
  const msg = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit" }, label);
  const el = h("form", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      msg.textContent = ""; button.disabled = true;
      const values = Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.value]));
      try { await action(values); if (el.isConnected) el.reset(); } catch (e) { msg.textContent = e.message || String(e); }
      finally { button.disabled = false; }
    },
  },
  fields.map((f) => {
    const i = f.type === "textarea"
      ? h("textarea", { name: f.name, id: "f-" + f.name, placeholder: f.placeholder, required: f.required })
      : h("input", { name: f.name, id: "f-" + f.name, type: f.type || "text", placeholder: f.placeholder, required: f.required, autocomplete: "off" });
    if (f.value) i.value = f.value;
    inputs[f.name] = i;
    return [h("label", { for: "f-" + f.name }, f.label), i];
  }),
  h("p", {}, button), msg);
  return el;
}
