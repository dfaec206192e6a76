// The staff dashboard: the 10-minute response rate, 办结率 and 满意率 with their daily trend, the
// grid map coloured by overdue open tickets, the overdue list and the CSV / Excel exports.
import {
  OPEN_STATUSES,
  TICKET_STATUS,
  api,
  apiAll,
  busy,
  fmtCountdown,
  fmtTime,
  h,
  logout,
  pct,
  saveTokens,
  toast,
  tokens,
  useStore,
} from "../web/api.js";
import { gridMap, trendChart } from "./charts.js";

useStore("linli.admin");

const view = document.getElementById("view");
const DAY = 86400000;
const LINES = [
  { key: "responded_on_time_rate", name: "10分钟响应率", color: "#c8102e" },
  { key: "closure_rate", name: "办结率", color: "#1f6fb2" },
  { key: "satisfied_rate", name: "满意率", color: "#e8a400" },
];
let me = null;
let days = 7;
let refresher = null;

/** Which figures this account may see: the widest scope of its roles. */
async function statsScope() {
  const order = ["superadmin", "subdistrict_admin", "community_admin", "department_staff", "grid_worker"];
  const role = [...me.roles].sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role))[0];
  if (!role) return null;
  if (role.role === "superadmin") {
    const sub = (await api("subdistricts")).items[0];
    return sub && { scope: "subdistrict", scope_id: sub.id, subdistrict_id: sub.id };
  }
  if (role.role === "subdistrict_admin") return { scope: "subdistrict", scope_id: role.subdistrict_id, subdistrict_id: role.subdistrict_id };
  if (role.role === "community_admin")
    return { scope: "community", scope_id: role.community_id, subdistrict_id: role.subdistrict_id, community_id: role.community_id };
  if (role.role === "department_staff") return { scope: "department", scope_id: role.department_id, subdistrict_id: role.subdistrict_id };
  if (role.role === "grid_worker" && me.grid_ids.length) return { scope: "grid", scope_id: me.grid_ids[0], subdistrict_id: role.subdistrict_id };
  return null;
}

function loginView() {
  const user = h("input", { id: "username", autocomplete: "username" });
  const pass = h("input", { id: "password", type: "password", autocomplete: "current-password" });
  return h(
    "form",
    {
      class: "card login",
      id: "login",
      onsubmit: (e) => {
        e.preventDefault();
        busy(e.submitter, async () => {
          const body = new URLSearchParams({ username: user.value.trim(), password: pass.value });
          saveTokens(await api("auth/token", { method: "POST", body, headers: { "Content-Type": "application/x-www-form-urlencoded" } }));
          render();
        });
      },
    },
    h("h2", null, "工作人员登录"),
    h("label", { for: "username" }, "用户名"),
    user,
    h("label", { for: "password" }, "密码"),
    pass,
    h("button", { class: "wide", type: "submit" }, "登录"),
  );
}

function kpi(id, label, value, sub) {
  return h("div", { class: "kpi", id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "muted" }, sub));
}

function kpis(st) {
  const mins = st.median_response_seconds === null ? "—" : `${Math.round(st.median_response_seconds / 6) / 10} 分钟`;
  return h(
    "div",
    { class: "kpis", id: "kpis", "data-tickets": st.tickets, "data-resolved": st.resolved, "data-rated": st.rated },
    kpi("kpi-response", "10分钟响应率", pct(st.responded_on_time_rate), `${st.responded_on_time} / ${st.response_due} 件按时响应`),
    kpi("kpi-closure", "办结率", pct(st.closure_rate), `${st.resolved} / ${st.valid_tickets} 件已办结`),
    kpi("kpi-satisfied", "满意率", pct(st.satisfied_rate), `${st.satisfied} / ${st.rated} 件满意`),
    kpi("kpi-tickets", "工单数", String(st.tickets), `响应用时中位数 ${mins}`),
    kpi("kpi-ontime", "按时办结率", pct(st.resolved_on_time_rate), `${st.resolved_on_time} / ${st.resolve_due} 件`),
    kpi("kpi-escalated", "吹哨", String(st.escalated), `重开 ${st.reopened} 件`),
  );
}

async function trend(scope, now) {
  const n = Math.min(days, 14);
  const start = new Date(now - (n - 1) * DAY);
  start.setHours(0, 0, 0, 0);
  const stats = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const from = new Date(start.getTime() + i * DAY);
      const to = new Date(Math.min(from.getTime() + DAY, now));
      return api("stats/response", { params: { scope: scope.scope, scope_id: scope.scope_id, date_from: from.toISOString(), date_to: to.toISOString() } }).then((st) => ({
        label: `${from.getMonth() + 1}/${from.getDate()}`,
        tickets: st.tickets,
        series: Object.fromEntries(LINES.map((l) => [l.key, st[l.key]])),
      }));
    }),
  );
  return h(
    "section",
    { class: "card" },
    h("h3", null, `最近 ${n} 天趋势（按上报日期）`),
    trendChart(stats, LINES),
    h("div", { class: "legend muted" }, h("span", null, h("i", { class: "sw-response" }), "10分钟响应率"), h("span", null, h("i", { class: "sw-closure" }), "办结率"), h("span", null, h("i", { class: "sw-satisfied" }), "满意率"), h("span", null, "灰柱：工单数")),
  );
}

async function mapAndOverdue(scope) {
  const [grids, open, tiles] = await Promise.all([
    apiAll("grids", { coord_system: "wgs84", community_id: scope.community_id }),
    apiAll("tickets", { view: "all", status: OPEN_STATUSES, community_id: scope.community_id }),
    fetch("/web/config.json").then((r) => (r.ok ? r.json() : {})),
  ]);
  const counts = new Map();
  for (const t of open) {
    if (!t.grid_id) continue;
    const c = counts.get(t.grid_id) || { open: 0, overdue: 0 };
    c.open += 1;
    if (t.response_overdue || t.resolve_overdue) c.overdue += 1;
    counts.set(t.grid_id, c);
  }
  const names = new Map(grids.map((g) => [g.id, g.name]));
  const overdue = open.filter((t) => t.response_overdue || t.resolve_overdue);
  return [
    h("section", { class: "card" }, h("h3", null, `网格地图：未办结 ${open.length} 件，超时 ${overdue.length} 件`), gridMap(grids, counts, tiles)),
    h(
      "section",
      { class: "card", id: "overdue" },
      h("h3", null, `超时工单（${overdue.length}）`),
      overdue.length
        ? h(
            "table",
            null,
            h("tr", null, ["工单号", "分类", "问题", "网格", "状态", "超时"].map((t) => h("th", null, t))),
            overdue.map((t) =>
              h(
                "tr",
                { "data-number": t.number },
                h("td", null, t.number),
                h("td", null, t.category_name),
                h("td", null, t.description),
                h("td", null, names.get(t.grid_id) || "—"),
                h("td", null, TICKET_STATUS[t.status] || t.status),
                h("td", null, t.response_overdue ? `响应${fmtCountdown(t.seconds_to_respond ?? 0)}` : `办结${fmtCountdown(t.seconds_to_resolve ?? 0)}`),
              ),
            ),
          )
        : h("p", { class: "muted" }, "没有超时的工单"),
    ),
  ];
}

function workersTable(st) {
  return h(
    "section",
    { class: "card" },
    h("h3", null, "网格员"),
    h(
      "table",
      { id: "workers" },
      h("tr", null, ["姓名", "经手", "按时响应率", "响应中位数", "办结", "平均评分"].map((t) => h("th", null, t))),
      st.workers.map((w) =>
        h(
          "tr",
          null,
          h("td", null, w.display_name),
          h("td", null, String(w.handled)),
          h("td", null, pct(w.responded_on_time_rate)),
          h("td", null, w.median_response_seconds === null ? "—" : `${Math.round(w.median_response_seconds / 60)} 分钟`),
          h("td", null, String(w.resolved)),
          h("td", null, w.mean_rating === null ? "—" : w.mean_rating.toFixed(1)),
        ),
      ),
    ),
  );
}

async function download(button, path, params) {
  await busy(button, async () => {
    const res = await api(path, { params, raw: true });
    const name = /filename="?([^";]+)"?/.exec(res.headers.get("content-disposition") || "")?.[1] || "export";
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`已导出 ${name}`, "ok");
  });
}

function toolbar(scope, from) {
  const period = h(
    "select",
    { id: "period", "aria-label": "统计时段" },
    [7, 30, 90].map((n) => h("option", { value: n, selected: n === days }, `最近 ${n} 天`)),
  );
  period.addEventListener("change", () => {
    days = Number(period.value);
    render();
  });
  const ticketParams = (format) => ({ format, date_from: from.toISOString(), community_id: scope.community_id });
  return h(
    "div",
    { class: "toolbar" },
    period,
    h("button", { class: "plain", id: "refresh", onclick: () => render() }, "刷新"),
    h("button", { id: "export-csv", onclick: (e) => download(e.currentTarget, "tickets/export", ticketParams("csv")) }, "导出工单 CSV"),
    h("button", { id: "export-xlsx", onclick: (e) => download(e.currentTarget, "tickets/export", ticketParams("xlsx")) }, "导出工单 Excel"),
    scope.subdistrict_id
      ? h(
          "button",
          {
            id: "export-hours",
            class: "plain",
            onclick: (e) =>
              download(e.currentTarget, "courses/volunteer-hours/export", { subdistrict_id: scope.subdistrict_id, community_id: scope.community_id, date_from: from.toISOString() }),
          },
          "导出志愿时长 CSV",
        )
      : null,
  );
}

async function dashboard() {
  const scope = await statsScope();
  if (!scope) return h("p", { class: "card" }, "这个账号没有可查看的统计范围。");
  const now = Date.now();
  const from = new Date(now - days * DAY);
  const [st, trendPanel, [mapPanel, overduePanel]] = await Promise.all([
    api("stats/response", { params: { scope: scope.scope, scope_id: scope.scope_id, date_from: from.toISOString(), date_to: new Date(now).toISOString() } }),
    trend(scope, now),
    mapAndOverdue(scope),
  ]);
  return h(
    "div",
    { id: "dashboard" },
    h("h2", null, `${st.scope_name} · 最近 ${days} 天`),
    h("p", { class: "muted" }, `统计时间 ${fmtTime(st.as_of)}；按时率只计已到期的工单。`),
    toolbar(scope, from),
    kpis(st),
    h("div", { class: "panels" }, mapPanel, trendPanel, overduePanel, workersTable(st)),
  );
}

let renders = 0; // only the latest render may draw (a refresh click, the timer)

async function render() {
  const seq = ++renders;
  clearInterval(refresher);
  const logoutBtn = document.getElementById("logout");
  if (!tokens()) {
    me = null;
    logoutBtn.hidden = true;
    document.getElementById("who").textContent = "";
    return view.replaceChildren(loginView());
  }
  try {
    me = await api("me");
  } catch {
    await logout();
    return render();
  }
  document.getElementById("who").textContent = me.display_name;
  logoutBtn.hidden = false;
  let el;
  try {
    el = await dashboard();
  } catch (err) {
    el = h("div", null, h("p", { class: "card" }, err.message || "加载失败"), h("button", { onclick: () => render() }, "重试"));
  }
  if (seq !== renders) return;
  view.replaceChildren(el);
  refresher = setInterval(render, 60000);
}

document.getElementById("logout").addEventListener("click", async () => {
  await logout();
  render();
});
render();
