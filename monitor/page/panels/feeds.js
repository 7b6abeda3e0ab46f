// The live feeds (GET /api/feeds): each feed's state, counts and last error in a panel, and a small
// indicator in the top bar, green while every feed delivers, amber when one is stalled or failing, red
// when none is up. A click on the indicator opens the panel.
import { fmtDateTime, h } from "../ui.js";
import { createEndpointPanel, table } from "./endpoint.js";

const POLL_MS = 5000;

export function createFeedsPanel(ctx) {
  const indicator = document.getElementById("feeds");

  function summarise(data) {
    if (!indicator) return;
    const feeds = Array.isArray(data?.feeds) ? data.feeds : null;
    if (!feeds) {
      indicator.dataset.state = "unknown";
      indicator.textContent = "feeds –";
      indicator.title = "feeds: no answer";
      return;
    }
    const up = feeds.filter((f) => f.state === "connected" || f.state === "finished").length;
    const failing = feeds.filter((f) => f.state === "failing");
    const stalled = feeds.filter((f) => f.state === "stalled");
    indicator.dataset.state = !feeds.length || up === feeds.length ? "ok" : up === 0 ? "down" : "warn";
    indicator.textContent = `feeds ${up}/${feeds.length}`;
    indicator.title = feeds.map((f) => `${f.name} (${f.type}): ${f.state}`
      + (f.last_error && f.state !== "connected" ? ` – ${f.last_error}` : "")).join("\n")
      || "no feed configured";
    if (failing.length || stalled.length) indicator.dataset.problems = [...failing, ...stalled].map((f) => f.name).join(" ");
    else delete indicator.dataset.problems;
  }

  const panel = createEndpointPanel({
    id: "feeds",
    title: "Feeds",
    path: "/api/feeds",
    pollMs: POLL_MS,
    onData: summarise,
    render: (data) => {
      const feeds = Array.isArray(data?.feeds) ? data.feeds : [];
      if (!feeds.length) return { content: h("div", { class: "empty" }, "No feed configured."), count: 0 };
      const content = table(feeds, [
        ["Feed", (f) => f.name],
        ["Type", (f) => (f.format && f.format !== "nmea" ? `${f.type} · ${f.format}` : f.type)],
        ["State", (f) => f.state],
        ["Lines", (f) => f.lines, "num"],
        ["Rejected", (f) => f.rejected, "num"],
        ["Dups", (f) => f.duplicates, "num"],
        ["Last line", (f) => fmtDateTime(f.last_line)],
        ["Last error", (f) => (f.last_error ? `${f.last_error} (${fmtDateTime(f.last_error_at)})` : "")],
      ]);
      for (const [i, row] of [...content.querySelectorAll("tbody tr")].entries()) {
        row.dataset.feed = feeds[i].name;
        row.dataset.state = feeds[i].state;
      }
      return { content, count: feeds.length };
    },
  });
  indicator?.addEventListener("click", () => ctx.selectTab("feeds"));
  return panel;
}
