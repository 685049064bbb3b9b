// A small generic client of the Leither API driven by its OpenAPI document: every
// call names an operation (method + path template) that must exist in the document.
export class OpenApiClient {
  static async connect(url, token) {
    const doc = await (await fetch(url + "/api/v1/openapi.json")).json();
    return new OpenApiClient(url, token, doc);
  }

  constructor(url, token, doc) {
    Object.assign(this, { url, token, doc });
  }

  /** Call `method template` with path params, query and a JSON or raw body. */
  async call(method, template, { params = {}, query = {}, json, body } = {}) {
    const op = this.doc.paths?.[template]?.[method.toLowerCase()];
    if (!op) throw new Error(`the OpenAPI document has no ${method} ${template}`);
    let path = template.replace(/\{(\w+)\}/g, (_, k) => {
      if (!(k in params)) throw new Error(`missing path parameter ${k}`);
      return k === "path" || k === "key" ? String(params[k]).split("/").map(encodeURIComponent).join("/") : encodeURIComponent(params[k]);
    });
    const q = new URLSearchParams(query).toString();
    if (q) path += "?" + q;
    const headers = { authorization: `Bearer ${this.token}` };
    if (json !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(this.url + path, { method, headers, body: json !== undefined ? JSON.stringify(json) : body });
    const text = await r.text();
    let value = text;
    if ((r.headers.get("content-type") || "").includes("json") && text) value = JSON.parse(text);
    return { status: r.status, value };
  }
}
