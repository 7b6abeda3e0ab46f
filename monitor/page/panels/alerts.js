// Live alerts, newest first, filterable by severity and kind, each with Acknowledge and Snooze.
// Acknowledge: POST /api/alerts/{id}/ack {"by", "note"}; the answer is the alert with its `ack`.
// Snooze: POST /api/snoozes {"mmsi", "kind", "until", "reason"}: later alerts of that vessel and kind
// are still listed, marked `snoozed`, but not published. `until` is on the feed clock, as the alerts'
// times are (monitor/operator.py): the page counts the duration from the newest feed time it has seen.
import { send } from "../api.js";
import { byTimeDesc } from "../model.js";
import { fmtDateTime, fmtDuration, fmtNum, fmtTime, formDialog, h, kindLabel, oncePerFrame, toast } from "../ui.js";

const SHOWN = 300; // rows drawn at most; the filters narrow the rest
const SEVERITIES = ["critical", "warning", "info"];
const OPERATOR_KEY = "chokepoint.operator";
const SNOOZE_HOURS = [["1", "1 hour"], ["4", "4 hours"], ["12", "12 hours"], ["24", "24 hours"], ["72", "3 days"]];

// One line of facts per kind, from `details` (CONTRACT's alert table).
function facts(a) {
  const d = a.details || {};
  switch (a.kind) {
    case "transit": return `${d.direction ?? ""} in ${fmtDuration(d.duration_s)}`;
    case "dark": return `silent ${fmtDuration(d.silent_s)} since ${fmtTime(d.last_seen)}`;
    case "reappeared": return `after ${fmtDuration(d.gap_s)}, ${fmtNum(d.distance_km)} km away`;
    case "position_jump": return `${fmtNum(d.distance_km)} km, ${fmtNum(d.implied_knots, 0)} kn implied`;
    case "loiter": return `${fmtDuration(d.duration_s)} within ${fmtNum(d.radius_m, 0)} m`;
    case "wrong_way": return `cog ${fmtNum(d.cog, 0)}° against lane ${fmtNum(d.bearing, 0)}°`;
    case "encounter": return `with ${d.other_mmsi} for ${fmtDuration(d.duration_s)}, ${fmtNum(d.distance_m, 0)} m`;
    case "posture_change": return `${d.from} → ${d.to} (${d.set_by}): ${d.reason ?? ""}`;
    case "interference": case "interference_cleared":
      return `${d.type ?? ""}: ${d.vessels_affected ?? "?"} of ${d.vessels_heard ?? "?"} vessels`;
    case "identity_change": return `${d.field}: ${d.from} → ${d.to}`;
    case "draught_change": return `draught ${d.from} → ${d.to} m${d.during_dark ? " while dark" : ""}`;
    case "corridor_departure": return `${fmtNum(d.distance_m, 0)} m outside ${d.corridor ?? "the corridor"}`;
    default: return a.zone ? "" : Object.keys(d).length ? JSON.stringify(d).slice(0, 120) : "";
  }
}

export function createAlertsPanel(ctx) {
  const { model } = ctx;
  const sev = Object.fromEntries(SEVERITIES.map((s) => [s, true]));
  const kindSelect = h("select", { "aria-label": "kind", onchange: () => schedule() }, h("option", { value: "" }, "All kinds"));
  const openOnly = h("input", { type: "checkbox", onchange: () => schedule() });
  const chips = SEVERITIES.map((s) => {
    const box = h("input", { type: "checkbox", checked: true, onchange: () => { sev[s] = box.checked; schedule(); } });
    return h("label", { class: `chip sev-${s}` }, box, s);
  });
  const list = h("div", { class: "panel-body", "data-list": "alerts" });
  const foot = h("div", { class: "panel-foot" });
  const badge = h("span", { class: "count" }, "0");
  const element = h("div", { class: "panel" },
    h("div", { class: "panel-tools" }, chips, kindSelect, h("label", { class: "chip" }, openOnly, "unacknowledged")),
    list, foot);
  const kinds = new Set();
  const fresh = new Set();

  const schedule = oncePerFrame(() => render());

  function render() {
    const all = [...model.alerts.values()];
    const shown = all.filter((a) => sev[a.severity] !== false && (!kindSelect.value || a.kind === kindSelect.value) &&
      (!openOnly.checked || !a.ack)).sort(byTimeDesc);
    list.replaceChildren(...(shown.length ? shown.slice(0, SHOWN).map(row)
      : [h("div", { class: "empty" }, all.length ? "No alert matches the filters." : "No alerts yet.")]));
    foot.textContent = `${Math.min(shown.length, SHOWN)} shown of ${shown.length} matching, ${all.length} received`;
    const open = all.filter((a) => a.severity === "critical" && !a.ack).length;
    badge.textContent = String(open || all.length);
    badge.classList.toggle("hot", open > 0);
    badge.title = open ? `${open} unacknowledged critical` : `${all.length} alerts`;
    fresh.clear();
  }

  function row(a) {
    const v = a.vessel;
    const who = [];
    if (a.mmsi !== null && a.mmsi !== undefined) {
      who.push(h("a", { onclick: () => { model.select(a.mmsi); ctx.view.panToVessel(a.mmsi); } },
        `${v?.name || "(no name)"} · ${a.mmsi}`));
      if (v?.watch?.length) who.push(h("span", { class: "mark watch" }, v.watch.join(", ")));
    }
    if (a.zone) who.push(` in ${a.zone.name || a.zone.id}`);
    const marks = [];
    if (a.ack) marks.push(h("span", { class: "mark acked", title: `by ${a.ack.by} at ${fmtDateTime(a.ack.time)}${a.ack.note ? `: ${a.ack.note}` : ""}` }, "acked"));
    if (a.snoozed) marks.push(h("span", { class: "mark snoozed", title: "not published: a snooze holds it" }, "snoozed"));
    if (a._snoozeSet) marks.push(h("span", { class: "mark snoozed", title: "later alerts of this vessel and kind are held" }, `snooze to ${fmtTime(a._snoozeSet)}`));
    return h("div", { class: `alert sev-${a.severity}${fresh.has(a.id) ? " fresh" : ""}`, dataset: { id: a.id, kind: a.kind, mmsi: a.mmsi ?? "" } },
      h("div", { class: "bar" }),
      h("div", { class: "head" }, h("span", { class: "kind" }, kindLabel(a.kind)),
        h("span", { class: "time", title: a.time }, fmtDateTime(a.time)), marks),
      h("div", { class: "who facts" }, who.length ? who : "—"),
      h("div", { class: "facts" }, `${a.severity} · ${a.posture ?? ""}${facts(a) ? ` · ${facts(a)}` : ""}`),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "btn small", "data-action": "ack", disabled: Boolean(a.ack), onclick: () => acknowledge(a) }, a.ack ? "Acked" : "Ack"),
        h("button", { type: "button", class: "btn small", "data-action": "snooze", disabled: a.mmsi === null || a.mmsi === undefined,
          title: "hold this vessel's later alerts back from MQTT and the sinks", onclick: () => snooze(a) }, "Snooze")));
  }

  async function acknowledge(a) {
    const values = await formDialog({
      title: `Acknowledge ${kindLabel(a.kind)}`,
      text: `${a.vessel?.name || a.mmsi || ""} ${fmtDateTime(a.time)}`,
      fields: [{ name: "by", label: "By (name or call sign)", required: true, value: sessionStorage.getItem(OPERATOR_KEY) || "" },
        { name: "note", label: "Note", type: "textarea" }],
      ok: "Acknowledge",
      submit: async (v) => {
        const answer = await send("POST", `/api/alerts/${encodeURIComponent(a.id)}/ack`, { by: v.by, note: v.note });
        sessionStorage.setItem(OPERATOR_KEY, v.by);
        model.updateAlert(a.id, { ack: answer?.ack ?? { by: v.by, note: v.note, time: new Date().toISOString() } });
      },
    });
    if (values) toast(`Acknowledged: ${kindLabel(a.kind)}`);
  }

  async function snooze(a) {
    const values = await formDialog({
      title: `Snooze ${a.vessel?.name || a.mmsi}`,
      text: "Later alerts are still listed here, marked snoozed, but not published to MQTT or other sinks.",
      fields: [
        { name: "kind", label: "Alerts", type: "select", value: a.kind, options: [[a.kind, `${kindLabel(a.kind)} only`], ["*", "every kind"]] },
        { name: "hours", label: "For (feed time)", type: "select", value: "1", options: SNOOZE_HOURS },
        { name: "reason", label: "Reason", required: true, placeholder: "e.g. known survey vessel" },
      ],
      ok: "Snooze",
      submit: async (v) => {
        // From the feed clock as the page knows it: the newest of the vessel fixes and this alert.
        const base = Math.max(model.feedTime ?? 0, Date.parse(a.time) || 0) || Date.now();
        const until = new Date(base + Number(v.hours) * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
        if (!v.reason) throw new Error("a reason is required");
        await send("POST", "/api/snoozes", { mmsi: a.mmsi, kind: v.kind, until, reason: v.reason });
        model.updateAlert(a.id, { _snoozeSet: until });
      },
    });
    if (values) toast(`Snoozed ${a.vessel?.name || a.mmsi} for ${values.hours} h`);
  }

  model.on("alerts", (added, live) => {
    for (const a of added) {
      if (!kinds.has(a.kind)) {
        kinds.add(a.kind);
        const options = [...kinds].sort().map((k) => h("option", { value: k }, kindLabel(k)));
        const current = kindSelect.value;
        kindSelect.replaceChildren(h("option", { value: "" }, "All kinds"), ...options);
        kindSelect.value = current;
      }
      if (live) fresh.add(a.id);
    }
    schedule();
  });

  return { id: "alerts", title: "Alerts", badge, element, onShow: schedule };
}
