// A panel fed by one GET endpoint that may not exist yet in this daemon (roster, interference, traffic
// land with their own issues): a 404 shows "not available yet" and the panel keeps asking, so it fills
// itself in when a daemon that has the endpoint answers, with no change to the page.
import { getJson } from "../api.js";
import { h } from "../ui.js";

export function createEndpointPanel({ id, title, path, pollMs = 15000, render, tools = null, onData = null }) {
  const body = h("div", { class: "panel-body", "data-list": id });
  const foot = h("div", { class: "panel-foot" });
  const badge = h("span", { class: "count" }); // empty (hidden) until the endpoint answers
  const element = h("div", { class: "panel" }, tools ? h("div", { class: "panel-tools" }, tools) : null, body, foot);
  let data;
  let status = "loading";

  async function refresh() {
    try {
      data = await getJson(path);
      status = "ok";
    } catch (exc) {
      data = undefined;
      status = exc.status === 404 ? "missing" : `error: ${exc.message}`;
    }
    onData?.(data);
    show();
  }

  function show() {
    if (status === "ok") {
      const { content, count } = render(data);
      body.replaceChildren(content);
      badge.textContent = count === undefined ? "✓" : String(count);
      foot.textContent = `${path} · updated ${new Date().toISOString().slice(11, 19)}Z`;
    } else if (status === "missing") {
      body.replaceChildren(h("div", { class: "empty", "data-state": "unavailable" },
        `${title}: not available yet.`, h("br"), `This daemon does not serve ${path}; the panel fills in when it does.`));
      badge.textContent = "";
      foot.textContent = `${path}: 404`;
    } else {
      body.replaceChildren(h("div", { class: "empty" }, status === "loading" ? "Loading…" : `${title}: ${status}`));
      foot.textContent = path;
    }
  }

  show();
  refresh();
  setInterval(refresh, pollMs);
  return { id, title, badge, element, refresh, onShow: refresh };
}

// A simple table: columns [[header, (row) => text, "num"?]].
export function table(rows, columns, onRow = null) {
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, columns.map(([head]) => h("th", {}, head)))),
    h("tbody", {}, rows.map((r) => h("tr", { class: onRow ? "click" : null, onclick: onRow ? () => onRow(r) : null },
      columns.map(([, get, cls]) => h("td", { class: cls || null }, textOf(get(r))))))));
}

function textOf(value) {
  return value === null || value === undefined || value === "" ? "–" : String(value);
}
