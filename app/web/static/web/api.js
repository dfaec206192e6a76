// Shared by the H5 client (/m/) and the dashboard (/admin/): API calls with the bearer token
// (refreshed once on a 401), the {"code","message","details"} error envelope, small DOM helpers.
// Text from the server is only ever put into the page as text nodes, never as HTML.

export const API = new URL("../api/v1/", import.meta.url).pathname;

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let storeKey = "linli";
export function useStore(name) {
  storeKey = name;
}

export function tokens() {
  try {
    return JSON.parse(localStorage.getItem(storeKey));
  } catch {
    return null;
  }
}

export function saveTokens(pair) {
  localStorage.setItem(storeKey, JSON.stringify({ access: pair.access_token, refresh: pair.refresh_token }));
}

export async function logout() {
  const t = tokens();
  localStorage.removeItem(storeKey);
  if (t?.refresh) {
    await send("auth/logout", { method: "POST", json: { refresh_token: t.refresh } }).catch(() => null);
  }
}

export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== null && v !== undefined && v !== "") q.append(key, v);
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

function send(path, { method = "GET", params, json, form, body, headers = {} } = {}) {
  const h = { ...headers };
  const t = tokens();
  if (t?.access) h.Authorization = `Bearer ${t.access}`;
  let payload = body;
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (form) {
    payload = form;
  }
  return fetch(API + path + query(params), { method, headers: h, body: payload });
}

let refreshing = null;
async function refresh() {
  const t = tokens();
  if (!t?.refresh) return false;
  refreshing ??= fetch(`${API}auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: t.refresh }),
  })
    .then(async (res) => {
      if (!res.ok) return false;
      saveTokens(await res.json());
      return true;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

async function toError(res) {
  let env = {};
  try {
    env = await res.json();
  } catch {
    /* not JSON: keep the generic message */
  }
  return new ApiError(res.status, env.code || `http.${res.status}`, env.message || `请求失败（${res.status}）`, env.details);
}

/** Call the API; returns the parsed JSON (or the Response with raw: true), throws ApiError. */
export async function api(path, opts = {}) {
  let res = await send(path, opts);
  if (res.status === 401 && !opts.noRefresh && (await refresh())) res = await send(path, opts);
  if (!res.ok) throw await toError(res);
  if (opts.raw) return res;
  return res.status === 204 ? null : res.json();
}

/** All pages of a cursor-paginated list. */
export async function apiAll(path, params = {}, max = 10) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < max; i++) {
    const page = await api(path, { params: { ...params, cursor, limit: 100 } });
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/** A key for Idempotency-Key: one per user action, reused on its retries. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- DOM ----

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else el.setAttribute(k, v === true ? "" : v);
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h("button", {class: "big", onclick}, "文字", child...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  return append(el, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttrs(el, attrs);
  return append(el, children);
}

export function toast(message, kind = "error") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(box._timer);
  box._timer = setTimeout(() => (box.hidden = true), 6000);
}

/** Show an error the way users understand it: the server's zh-CN message. */
export function showError(err) {
  if (err instanceof ApiError) return toast(err.message);
  console.error(err); // a bug or the network, not a refusal the user can read
  toast("网络不好，请稍后再试");
}

/** Run an async action from a button: disabled while running, errors shown. */
export async function busy(button, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- formatting ----

const TZ = { timeZone: "Asia/Shanghai" };
export function fmtTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString("zh-CN", { ...TZ, month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** 9分05秒 / 超时 3分12秒 */
export function fmtCountdown(seconds) {
  const late = seconds < 0;
  const s = Math.abs(Math.trunc(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  const text = h ? `${h}小时${m}分` : `${m}分${sec}秒`;
  return late ? `超时 ${text}` : text;
}

export function pct(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

export const TICKET_STATUS = {
  submitted: "待接单",
  claimed: "已接单",
  on_site: "已到场",
  escalated: "已吹哨",
  department_handling: "部门处理中",
  department_done: "部门已处理",
  resolved: "已办结，待您确认",
  closed: "已完成",
  rejected: "不予受理",
  merged: "已合并",
};
export const OPEN_STATUSES = ["submitted", "claimed", "on_site", "escalated", "department_handling", "department_done"];

export const TICKET_ACTION = {
  create: "上报问题",
  claim: "网格员接单",
  assign: "派单",
  arrive: "到场处理",
  resolve: "办结",
  escalate: "吹哨上报部门",
  accept_escalation: "部门报到",
  department_resolve: "部门处理完毕",
  recall: "收回吹哨",
  reject: "不予受理",
  merge: "合并",
  confirm: "确认并评价",
  reopen: "重新打开",
  auto_close: "自动关闭",
};

export const REPAIR_STATUS = {
  requested: "等师傅接单",
  accepted: "师傅已接单",
  scheduled: "已约好上门时间",
  on_site: "师傅已上门",
  quoted: "待您确认报价",
  in_progress: "维修中",
  completed: "已完工",
  settled: "已结算",
  rated: "已评价",
  cancelled: "已取消",
};

export const REPAIR_CATEGORY = {
  appliance: "家电",
  plumbing: "水暖",
  electrical: "电路",
  lock: "门锁",
  furniture: "家具",
  drain: "管道疏通",
  other: "其他",
};

export const SIGNUP_STATUS = {
  confirmed: "已报上",
  waitlisted: "候补中",
  attended: "已上课",
  no_show: "未到",
  cancelled: "已取消",
};

/** Polygon rings of a GeoJSON Polygon or MultiPolygon, as [[lng, lat], ...] lists. */
export function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

/** An equirectangular projection of the grids' bounding box into a width x height SVG box. */
export function projection(grids, width, pad = 8) {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const g of grids)
    for (const ring of rings(g.boundary))
      for (const [x, y] of ring) {
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
        minY = Math.min(minY, y);
        maxY = Math.max(maxY, y);
      }
  if (!Number.isFinite(minX)) [minX, minY, maxX, maxY] = [0, 0, 1, 1];
  const kx = Math.cos(((minY + maxY) / 2) * (Math.PI / 180)); // metres per degree of longitude shrink
  const scale = (width - 2 * pad) / Math.max((maxX - minX) * kx, 1e-9);
  const height = Math.round((maxY - minY) * scale + 2 * pad);
  return {
    width,
    height,
    bbox: [minX, minY, maxX, maxY],
    toXY: ([lng, lat]) => [pad + (lng - minX) * kx * scale, pad + (maxY - lat) * scale],
    toLngLat: (x, y) => [minX + (x - pad) / (kx * scale), maxY - (y - pad) / scale],
  };
}

export function polygonPoints(geometry, proj) {
  return rings(geometry).map((ring) => ring.map((p) => proj.toXY(p).map((v) => v.toFixed(1)).join(",")).join(" "));
}

/** Two short lines for a grid on a map: "西一路" and "第1网格". */
export function gridLabel(name) {
  const m = /^(.*?)社区(.*)$/.exec(name);
  return m ? [m[1], m[2]] : [name, ""];
}

/** The mean of a grid's outer ring's corners: where its label goes. */
export function centroid(geometry) {
  const ring = rings(geometry)[0] || [[0, 0]];
  const pts = ring.length > 1 ? ring.slice(0, -1) : ring;
  return [pts.reduce((a, p) => a + p[0], 0) / pts.length, pts.reduce((a, p) => a + p[1], 0) / pts.length];
}
