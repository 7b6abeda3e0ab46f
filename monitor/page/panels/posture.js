// The posture, always in the top bar with its reason. Changing it (PUT /api/posture {"level", "reason"})
// needs the token. It is fetched at start, again on every live posture_change alert (a rule or another
// operator changed it), and every half minute in case the stream missed one.
import { getJson, send } from "../api.js";
import { fmtDateTime, formDialog, toast } from "../ui.js";

const LEVELS = ["NORMAL", "ELEVATED", "HIGH", "CRITICAL"]; // the default levels (README, Posture)
const POLL_MS = 30000;

export function createPosture(ctx) {
  const box = document.getElementById("posture");
  const level = document.getElementById("posture-level");
  const reason = document.getElementById("posture-reason");
  let current = null;

  function show(p) {
    current = p;
    box.dataset.level = p.level;
    level.textContent = p.level;
    const why = p.reason || (p.set_by === "config" ? "operator's level from the configuration" : "no reason given");
    reason.replaceChildren(why, Object.assign(document.createElement("span"), {
      className: "muted", textContent: `  · ${p.set_by || "?"} · since ${fmtDateTime(p.since)}` +
        (p.operator_level && p.operator_level !== p.level ? ` · operator level ${p.operator_level}` : ""),
    }));
    reason.title = why;
  }

  async function refresh() {
    try {
      show(await getJson("/api/posture"));
    } catch (exc) {
      reason.textContent = `posture unavailable: ${exc.message}`;
    }
  }

  document.getElementById("posture-change").addEventListener("click", async () => {
    const levels = current && !LEVELS.includes(current.level) ? [...LEVELS, current.level] : LEVELS;
    const values = await formDialog({
      title: "Change posture",
      text: "Sets the operator's level: limits and severities change at once. Needs the bearer token.",
      fields: [
        { name: "level", label: "Level", type: "select", value: current?.level, options: levels.map((l) => [l, l]) },
        { name: "reason", label: "Reason", required: true, placeholder: "e.g. tanker struck off Fujairah" },
      ],
      ok: "Set posture",
      submit: async (v) => show(await send("PUT", "/api/posture", { level: v.level, reason: v.reason })),
    });
    if (values) toast(`Posture set to ${values.level}`);
  });

  ctx.model.on("alerts", (added) => {
    if (added.some((a) => a.kind === "posture_change")) refresh();
  });
  refresh();
  setInterval(refresh, POLL_MS);
}
