// Small DOM helpers shared by the panels: element building (text always through textContent, never
// innerHTML, so a vessel name can never inject markup), form dialogs, toasts and formatting.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// A modal form. fields: [{name, label, type: "text"|"password"|"select"|"textarea"|"datetime-local",
// options: [[value, label]], value, required, placeholder}]. Resolves with {name: value} or null when
// cancelled. `submit(values)` may be given: it runs before the dialog closes and a thrown Error is shown
// in the dialog, so the operator can correct the input (a wrong token, a refused zone) without retyping.
export function formDialog({ title, text, fields, ok = "OK", danger = false, submit = null }) {
  return new Promise((resolve) => {
    const inputs = {};
    const error = h("div", { class: "error", role: "alert" });
    const form = h("form", { method: "dialog" },
      h("h3", {}, title),
      text ? h("p", {}, text) : null,
      fields.map((f) => {
        const id = `f-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
        let input;
        if (f.type === "select") {
          input = h("select", { id, name: f.name },
            f.options.map(([value, label]) => h("option", { value, selected: value === f.value }, label)));
        } else if (f.type === "textarea") {
          input = h("textarea", { id, name: f.name, rows: 3, placeholder: f.placeholder });
          input.value = f.value ?? "";
        } else {
          input = h("input", { id, name: f.name, type: f.type || "text", required: f.required,
            placeholder: f.placeholder, autocomplete: f.type === "password" ? "off" : null });
          input.value = f.value ?? "";
        }
        inputs[f.name] = input;
        return [h("label", { for: id }, f.label), input];
      }),
      error,
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "btn", value: "cancel", onclick: () => finish(null) }, "Cancel"),
        h("button", { type: "submit", class: danger ? "btn danger" : "btn primary", value: "ok" }, ok)));
    const dialog = h("dialog", {}, form);
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
      if (submit) {
        try {
          await submit(values);
        } catch (exc) {
          error.textContent = exc.message || String(exc);
          return;
        }
      }
      finish(values);
    });
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(null); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// `fn` run at most once per animation frame however often the result is called: a burst of updates
// (a page of vessels, a stream of alerts, mouse moves) becomes one redraw.
export function oncePerFrame(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}

export function toast(message, kind = "info") {
  const el = h("div", { class: `toast ${kind}` }, message);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

// Times are shown in UTC, as the feed and the alerts give them: a watch floor compares them with logs
// and reports written in UTC, whatever the browser's time zone.
export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().slice(11, 19) + "Z";
}

export function fmtDateTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().slice(0, 16).replace("T", " ") + "Z";
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.round(seconds);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  const hrs = Math.floor(s / 3600);
  return `${hrs} h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")}`;
}

export function fmtNum(value, digits = 1) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

export function fmtLatLon(pos) {
  if (!pos || typeof pos.lat !== "number") return "–";
  const lat = `${Math.abs(pos.lat).toFixed(4)}°${pos.lat >= 0 ? "N" : "S"}`;
  const lon = `${Math.abs(pos.lon).toFixed(4)}°${pos.lon >= 0 ? "E" : "W"}`;
  return `${lat} ${lon}`;
}

export function kindLabel(kind) {
  return String(kind || "").replaceAll("_", " ");
}

// A watched vessel's voyage (GET /api/vessels/{mmsi} and the roster's `voyage`) in one line: its transits
// in order, strait names from `zoneNames`, with the days between chokepoints, e.g. "Strait of Hormuz out →
// 8.4 d → Straits of Malacca and Singapore in". Null when it has none.
export function fmtVoyage(voyage, zoneNames) {
  const transits = voyage?.transits || [];
  if (!transits.length) return null;
  const legs = new Map((voyage.legs || []).map((l) => [`${l.from}|${l.arrived}`, l.days]));
  const parts = [];
  transits.forEach((t, i) => {
    if (i > 0) {
      const days = legs.get(`${transits[i - 1].strait}|${t.entered}`);
      parts.push(days === undefined ? "→" : `→ ${fmtNum(days)} d →`);
    }
    parts.push(`${zoneNames.get(t.strait) || t.strait} ${t.direction === "inbound" ? "in" : "out"}`);
  });
  return parts.join(" ");
}
