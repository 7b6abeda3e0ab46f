// The daemon's HTTP API, same origin only. Reads need nothing; writes (posture, ack, snooze, zones)
// carry the bearer token, asked for once and kept in sessionStorage: it survives a reload but not
// closing the tab, so a shared watch-floor screen does not keep an operator's token for the next shift.
import { formDialog } from "./ui.js";

const TOKEN_KEY = "chokepoint.token";

export class ApiError extends Error {
  constructor(status, message, parameter = null) {
    super(message);
    this.status = status;
    this.parameter = parameter;
  }
}

async function failure(response) {
  // The daemon's errors are one JSON object {"error", "status", "parameter"?}; a proxy's may not be.
  let message = `${response.status} ${response.statusText}`;
  let parameter = null;
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") message = body.error;
    parameter = body?.parameter ?? null;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, parameter);
}

export async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export function hasToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new Event("token"));
}

// Asks for the token; resolves true when one was given.
export async function askToken(reason = "This action needs the daemon's bearer token (http.token).") {
  const values = await formDialog({
    title: "Operator token",
    text: `${reason} It is kept in this tab only.`,
    fields: [{ name: "token", label: "Bearer token", type: "password", required: true }],
    ok: "Use token",
  });
  if (!values || !values.token) return false;
  sessionStorage.setItem(TOKEN_KEY, values.token);
  document.dispatchEvent(new Event("token"));
  return true;
}

// A write with the token. Without a token, or when the daemon answers 401 (wrong or rotated token), it
// asks for one and tries again; cancelling the question rejects with the 401.
export async function send(method, path, body = undefined) {
  for (let attempt = 0; ; attempt += 1) {
    if (!hasToken() && !(await askToken())) throw new ApiError(401, "no token given");
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401 && attempt < 2) {
      forgetToken();
      if (!(await askToken("The daemon refused the token (401).")))
        throw new ApiError(401, "a valid bearer token is required");
      continue;
    }
    if (!response.ok) throw await failure(response);
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }
}

// Every vessel, page by page (`after` = the previous page's `next`, until null). `limit` asks for large
// pages; a daemon configured with a smaller http.vessels_page_max refuses it (400 on `limit`), and the
// pages then take its default size.
let pageLimit = 1000;
export async function allVessels() {
  const vessels = [];
  let after = 0;
  for (;;) {
    const query = new URLSearchParams({ after: String(after) });
    if (pageLimit) query.set("limit", String(pageLimit));
    let page;
    try {
      page = await getJson(`/api/vessels?${query}`);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 400 && exc.parameter === "limit" && pageLimit) {
        pageLimit = null;
        continue;
      }
      throw exc;
    }
    for (const v of page.vessels) vessels.push(v);
    if (page.next === null || page.next === undefined) return vessels;
    after = page.next;
  }
}
