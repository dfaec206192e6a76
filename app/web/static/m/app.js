// The H5 client: residents report problems (随手拍), follow and rate them, book repairs (乐修匠) and
// sign up for classes (菜鸟学堂); grid workers work their grids' queue against the 10-minute clock.
// Hash routes (#/report, #/ticket/<id>, ...) keep it one static page.
import {
  OPEN_STATUSES,
  REPAIR_CATEGORY,
  REPAIR_STATUS,
  SIGNUP_STATUS,
  TICKET_ACTION,
  TICKET_STATUS,
  api,
  apiAll,
  busy,
  centroid,
  fmtCountdown,
  fmtTime,
  gridLabel,
  h,
  logout,
  newKey,
  polygonPoints,
  projection,
  s,
  saveTokens,
  toast,
  tokens,
  useStore,
} from "../web/api.js";

useStore("linli.m");

const view = document.getElementById("view");
let me = null;
let ticker = null; // the queue's countdown interval, stopped on every route change

const DEMO_RESIDENTS = [
  ["刘奶奶（西一路社区）", "ok:resident_liu"],
  ["周大爷（尚德路社区）", "ok:resident_zhou"],
];

const isWorker = () => me?.roles.some((r) => r.role === "grid_worker");
const yuan = (cents) => (cents === null || cents === undefined ? "—" : `${(cents / 100).toFixed(2)} 元`);

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function show(...children) {
  view.replaceChildren(...children);
}

// ---- login ----

async function loggedIn(pair) {
  saveTokens(pair);
  me = await api("me");
  go(isWorker() ? "#/queue" : "#/report");
}

function loginView() {
  const code = h("input", { id: "code", placeholder: "ok:我的名字", autocomplete: "off" });
  const user = h("input", { id: "username", autocomplete: "username" });
  const pass = h("input", { id: "password", type: "password", autocomplete: "current-password" });
  const wechat = (btn, c) =>
    busy(btn, async () => loggedIn(await api("auth/wechat/login", { method: "POST", json: { code: c } })));
  return h(
    "section",
    null,
    h("h2", null, "居民登录（演示微信登录）"),
    h(
      "div",
      { class: "demo-users" },
      DEMO_RESIDENTS.map(([name, c]) =>
        h("button", { class: "wide", type: "button", onclick: (e) => wechat(e.currentTarget, c) }, `我是${name}`),
      ),
    ),
    h("label", { for: "code" }, "或输入微信登录码"),
    h("div", { class: "row" }, code, h("button", { type: "button", onclick: (e) => wechat(e.currentTarget, code.value.trim()) }, "登录")),
    h("h2", null, "网格员、工作人员登录"),
    h(
      "form",
      {
        id: "staff-login",
        onsubmit: (e) => {
          e.preventDefault();
          const body = new URLSearchParams({ username: user.value.trim(), password: pass.value });
          busy(e.submitter, async () =>
            loggedIn(
              await api("auth/token", {
                method: "POST",
                body,
                headers: { "Content-Type": "application/x-www-form-urlencoded" },
              }),
            ),
          );
        },
      },
      h("label", { for: "username" }, "用户名"),
      user,
      h("label", { for: "password" }, "密码"),
      pass,
      h("button", { class: "wide", type: "submit" }, "登录"),
    ),
  );
}

// ---- map of the grids: tap to choose a point ----

async function gridMap(onPick) {
  const grids = await apiAll("grids", { coord_system: "wgs84" });
  const proj = projection(grids, 360);
  const pin = s("circle", { class: "pin", r: 7, cx: -20, cy: -20 });
  const svg = s(
    "svg",
    { class: "map", id: "grid-map", viewBox: `0 0 ${proj.width} ${proj.height}`, role: "img", "aria-label": "网格地图，点一下选择位置" },
    grids.map((g, i) => {
      const fill = ["#dcebd5", "#cfe3f0", "#f3e4c8", "#e8d5ec"][i % 4];
      const polys = polygonPoints(g.boundary, proj).map((pts) => s("polygon", { points: pts, fill }, s("title", null, g.name)));
      const [cx, cy] = proj.toXY(centroid(g.boundary));
      return [polys, gridLabel(g.name).map((line, k) => s("text", { x: cx, y: cy - 4 + k * 13, "text-anchor": "middle" }, line))];
    }),
    pin,
  );
  svg.addEventListener("click", (e) => {
    const pt = svg.createSVGPoint();
    pt.x = e.clientX;
    pt.y = e.clientY;
    const { x, y } = pt.matrixTransform(svg.getScreenCTM().inverse());
    const [lng, lat] = proj.toLngLat(x, y);
    onPick({ lat: +lat.toFixed(6), lng: +lng.toFixed(6), coord_system: "wgs84" }, "地图选点");
  });
  svg.place = ({ lat, lng }) => {
    const [x, y] = proj.toXY([lng, lat]);
    pin.setAttribute("cx", x);
    pin.setAttribute("cy", y);
  };
  return svg;
}

function currentPosition() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) return reject(new Error("no geolocation"));
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lng: p.coords.longitude, coord_system: "wgs84" }),
      reject,
      { enableHighAccuracy: true, timeout: 15000 },
    );
  });
}

// ---- photos ----

function photoPicker(id) {
  const ids = [];
  const previews = h("div", { class: "photos" });
  const input = h("input", { id, type: "file", accept: "image/*" }); // camera or album, as the phone offers
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    await busy(input, async () => {
      const photo = await api("uploads", { method: "POST", form });
      ids.push(photo.id);
      previews.append(h("img", { src: URL.createObjectURL(file), alt: "已上传的照片" }));
      toast("照片已上传", "ok");
    });
    input.value = "";
  });
  return { ids, el: h("div", null, input, previews) };
}

const photoList = (photos) =>
  photos?.length ? h("div", { class: "photos" }, photos.map((p) => h("img", { src: p.thumbnail_url, alt: "照片" }))) : null;

// ---- report ----

async function reportView() {
  const cats = (await api("categories")).items.filter((c) => c.is_active);
  const category = h("select", { id: "category" }, cats.map((c) => h("option", { value: c.id }, c.name)));
  const desc = h("textarea", { id: "description", placeholder: "哪里、什么问题？比如：3号楼门口路灯不亮" });
  const photos = photoPicker("photo");
  let point = null;
  const chosen = h("p", { class: "chosen", id: "chosen" }, "还没有选择位置");
  const map = await gridMap(pick);
  async function pick(p, how) {
    point = p;
    map.place(p);
    chosen.textContent = `${how}：${p.lat.toFixed(5)}, ${p.lng.toFixed(5)}`;
    try {
      const loc = await api("grids/locate", { params: p });
      chosen.textContent += `（${loc.grid.name}）`;
    } catch {
      chosen.textContent += "（不在任何网格内）";
    }
  }
  const key = newKey(); // one report = one key, so a retried tap never files it twice
  return h(
    "form",
    {
      id: "report-form",
      onsubmit: (e) => {
        e.preventDefault();
        busy(e.submitter, async () => {
          const body = { category_id: category.value, description: desc.value.trim(), photo_ids: photos.ids };
          if (point) body.location = point;
          const t = await api("tickets", { method: "POST", json: body, headers: { "Idempotency-Key": key } });
          toast(`已上报，工单号 ${t.number}`, "ok");
          go(`#/ticket/${t.id}`);
        });
      },
    },
    h("h2", null, "随手拍：上报问题"),
    h("label", { for: "category" }, "问题类别"),
    category,
    h("label", { for: "description" }, "问题描述"),
    desc,
    h("label", { for: "photo" }, "拍照或选照片"),
    photos.el,
    h("label", null, "位置"),
    h(
      "button",
      {
        class: "plain wide",
        type: "button",
        id: "use-gps",
        onclick: (e) =>
          busy(e.currentTarget, async () => {
            try {
              await pick(await currentPosition(), "我的位置");
            } catch {
              toast("没能取得位置，请在下面地图上点一下");
            }
          }),
      },
      "用我现在的位置",
    ),
    h("p", { class: "muted" }, "或者在地图上点一下问题所在的地方："),
    map,
    chosen,
    h("button", { class: "wide", type: "submit", id: "submit-report" }, "提交"),
  );
}

// ---- tickets ----

function statusBadge(status, late) {
  const cls = late ? "late" : OPEN_STATUSES.includes(status) ? "open" : "done";
  return h("span", { class: `badge ${cls}` }, late ? `${TICKET_STATUS[status]} · 超时` : TICKET_STATUS[status] || status);
}

function ticketCard(t) {
  return h(
    "a",
    { class: "card", href: `#/ticket/${t.id}`, "data-number": t.number },
    h("h3", null, t.category_name, " ", statusBadge(t.status, t.response_overdue || t.resolve_overdue)),
    h("div", null, t.description),
    h("div", { class: "muted" }, `${t.number} · ${fmtTime(t.submitted_at)}`),
  );
}

async function mineView() {
  const items = (await api("tickets", { params: { view: "mine" } })).items;
  return h(
    "section",
    { id: "my-tickets" },
    h("h2", null, "我的上报"),
    items.length ? items.map(ticketCard) : h("p", { class: "muted" }, "还没有上报过问题"),
  );
}

function stars(onRate) {
  let value = 0;
  const buttons = [1, 2, 3, 4, 5].map((n) =>
    h("button", {
      type: "button",
      "aria-label": `${n} 星`,
      "data-star": n,
      onclick: () => {
        value = n;
        buttons.forEach((b, i) => b.classList.toggle("on", i < n));
      },
    }, "★"),
  );
  return { el: h("div", { class: "row stars" }, buttons), value: () => value };
}

function rateForm(id, submit) {
  const rating = stars();
  const comment = h("input", { id: `${id}-comment`, placeholder: "想说的话（可不填）" });
  return h(
    "form",
    {
      class: "card",
      id,
      onsubmit: (e) => {
        e.preventDefault();
        if (!rating.value()) return toast("请点星星打分");
        busy(e.submitter, () => submit({ rating: rating.value(), comment: comment.value.trim() || null }));
      },
    },
    h("h3", null, "问题解决了吗？请打分"),
    rating.el,
    h("label", { for: `${id}-comment` }, "评价"),
    comment,
    h("button", { class: "wide", type: "submit" }, "确认并评价"),
  );
}

function workerActions(t) {
  const act = (path, json) => async () => {
    await api(`tickets/${t.id}/${path}`, { method: "POST", json });
    toast("已提交", "ok");
    render();
  };
  const out = [];
  if (t.status === "submitted")
    out.push(h("button", { class: "wide", id: "claim", onclick: (e) => busy(e.currentTarget, act("claim")) }, "接单"));
  if (t.assignee_id === me.id && t.status === "claimed") {
    const arrive = async () => {
      let p;
      try {
        p = await currentPosition();
      } catch {
        return toast("没能取得位置，请打开定位后再打卡");
      }
      await act("arrive", p)();
    };
    out.push(h("button", { class: "wide", id: "arrive", onclick: (e) => busy(e.currentTarget, arrive) }, "到场打卡"));
  }
  if (t.assignee_id === me.id && ["claimed", "on_site"].includes(t.status)) {
    const note = h("textarea", { id: "resolve-note", placeholder: "处理结果，比如：已更换灯泡" });
    const after = photoPicker("after-photo");
    out.push(
      h(
        "form",
        {
          class: "card",
          id: "resolve-form",
          onsubmit: (e) => {
            e.preventDefault();
            busy(e.submitter, act("resolve", { note: note.value.trim(), photo_ids: after.ids }));
          },
        },
        h("h3", null, "办结"),
        h("label", { for: "resolve-note" }, "处理结果"),
        note,
        h("label", { for: "after-photo" }, "处理后照片"),
        after.el,
        h("button", { class: "wide", type: "submit" }, "办结"),
      ),
    );
  }
  return out;
}

async function ticketView(id) {
  const t = await api(`tickets/${id}`, { params: { coord_system: "wgs84" } });
  const mine = t.reporter?.id === me.id;
  return h(
    "section",
    { id: "ticket", "data-status": t.status },
    h("h2", null, `${t.category_name} `, statusBadge(t.status, t.response_overdue || t.resolve_overdue)),
    h("p", null, t.description),
    h("p", { class: "muted" }, `工单号 ${t.number} · 上报于 ${fmtTime(t.submitted_at)}`),
    t.assignee ? h("p", null, `处理人：${t.assignee.display_name}`) : null,
    photoList(t.photos),
    t.after_photos?.length ? [h("h3", null, "处理后"), photoList(t.after_photos)] : null,
    t.rating ? h("p", { id: "rated" }, `您的评分：${"★".repeat(t.rating)}`) : null,
    mine && t.status === "resolved"
      ? rateForm("confirm-form", async (body) => {
          await api(`tickets/${t.id}/confirm`, { method: "POST", json: body });
          toast("谢谢您的评价", "ok");
          render();
        })
      : null,
    isWorker() ? workerActions(t) : null,
    h("h3", null, "处理经过"),
    h(
      "ol",
      { class: "timeline" },
      t.timeline.map((e) =>
        h(
          "li",
          null,
          h("strong", null, TICKET_ACTION[e.action] || e.action),
          e.actor ? ` · ${e.actor.display_name}` : "",
          h("div", { class: "muted" }, fmtTime(e.at)),
          e.note ? h("div", null, e.note) : null,
        ),
      ),
    ),
  );
}

// ---- grid worker's queue ----

async function queueView() {
  const items = (await api("tickets", { params: { view: "queue" } })).items;
  const started = Date.now();
  const clocks = [];
  const cards = items.map((t) => {
    const responding = t.status === "submitted";
    const seconds = responding ? t.seconds_to_respond : t.seconds_to_resolve;
    const clock = h("span", { class: "countdown" });
    clocks.push({ clock, seconds });
    return h(
      "div",
      { class: "card", "data-number": t.number },
      h("h3", null, t.category_name, " ", statusBadge(t.status, false)),
      h("div", null, t.description),
      h("div", null, responding ? "响应倒计时 " : "办结倒计时 ", clock),
      h("div", { class: "muted" }, `${t.number} · ${fmtTime(t.submitted_at)}`),
      h(
        "div",
        { class: "row" },
        responding
          ? h(
              "button",
              {
                class: "claim",
                onclick: (e) =>
                  busy(e.currentTarget, async () => {
                    await api(`tickets/${t.id}/claim`, { method: "POST" });
                    toast("已接单", "ok");
                    go(`#/ticket/${t.id}`);
                  }),
              },
              "接单",
            )
          : null,
        h("a", { class: "button plain", href: `#/ticket/${t.id}` }, "详情"),
      ),
    );
  });
  const tick = () => {
    const gone = (Date.now() - started) / 1000;
    if (gone > 30 && location.hash === "#/queue") return render(); // pick up new reports
    for (const { clock, seconds } of clocks) {
      if (seconds === null || seconds === undefined) continue;
      const left = seconds - gone;
      clock.textContent = fmtCountdown(left);
      clock.classList.toggle("late", left < 0);
      clock.closest(".card").classList.toggle("late", left < 0);
    }
  };
  const section = h(
    "section",
    { class: "queue", id: "queue" },
    h("h2", null, "我的网格待办"),
    cards.length ? cards : h("p", { class: "muted" }, "暂时没有待办"),
    h("button", { class: "plain wide", onclick: () => render() }, "刷新"),
  );
  section.start = () => {
    tick();
    return setInterval(tick, 1000);
  };
  return section;
}

// ---- repairs (乐修匠) ----

async function repairsView() {
  const items = (await api("repairs/orders", { params: { view: "mine" } })).items;
  const category = h("select", { id: "repair-category" }, Object.entries(REPAIR_CATEGORY).map(([v, n]) => h("option", { value: v }, n)));
  const desc = h("textarea", { id: "repair-description", placeholder: "哪里坏了？比如：厨房水龙头关不紧" });
  const when = h("input", { id: "repair-time", placeholder: "比如：工作日下午" });
  const address = h("input", { id: "repair-address", value: me.address || "", placeholder: "门牌号" });
  const key = newKey();
  return h(
    "section",
    { id: "repairs" },
    h("h2", null, "我的维修"),
    items.length
      ? items.map((o) =>
          h(
            "a",
            { class: "card", href: `#/repair/${o.id}` },
            h("h3", null, `${o.category_name} `, h("span", { class: "badge" }, REPAIR_STATUS[o.status] || o.status)),
            h("div", null, o.description),
            h("div", { class: "muted" }, `${o.number} · ${fmtTime(o.requested_at)}`),
          ),
        )
      : h("p", { class: "muted" }, "还没有维修单"),
    h(
      "form",
      {
        class: "card",
        id: "repair-form",
        onsubmit: (e) => {
          e.preventDefault();
          busy(e.submitter, async () => {
            const body = { category: category.value, description: desc.value.trim(), preferred_time: when.value.trim() };
            if (address.value.trim()) body.address = address.value.trim();
            const o = await api("repairs/orders", { method: "POST", json: body, headers: { "Idempotency-Key": key } });
            toast(`已预约，单号 ${o.number}`, "ok");
            go(`#/repair/${o.id}`);
          });
        },
      },
      h("h3", null, "乐修匠：预约上门维修"),
      h("label", { for: "repair-category" }, "维修类别"),
      category,
      h("label", { for: "repair-description" }, "哪里坏了"),
      desc,
      h("label", { for: "repair-time" }, "方便的时间"),
      when,
      h("label", { for: "repair-address" }, "地址"),
      address,
      h("button", { class: "wide", type: "submit" }, "预约"),
    ),
  );
}

async function repairView(id) {
  const o = await api(`repairs/orders/${id}`);
  const post = (path) => async () => {
    await api(`repairs/orders/${o.id}/${path}`, { method: "POST" });
    toast("已提交", "ok");
    render();
  };
  const mine = o.resident_id === me.id || o.requested_by_id === me.id;
  return h(
    "section",
    { id: "repair", "data-status": o.status },
    h("h2", null, `${o.category_name} `, h("span", { class: "badge" }, REPAIR_STATUS[o.status] || o.status)),
    h("p", null, o.description),
    h("p", { class: "muted" }, `单号 ${o.number} · ${o.address}`),
    o.craftsman ? h("p", null, `师傅：${o.craftsman.display_name}`) : null,
    o.scheduled_for ? h("p", null, `上门时间：${fmtTime(o.scheduled_for)}`) : null,
    o.quote
      ? h(
          "div",
          { class: "card quote" },
          h("h3", null, "报价"),
          h("table", null, o.quote.lines.map((l) => h("tr", null, h("td", null, l.name), h("td", null, `×${l.quantity}`), h("td", null, yuan(l.due_cents))))),
          h("p", null, `原价 ${yuan(o.quote.list_total_cents)}，减免 ${yuan(o.quote.subsidy_cents)}，`, h("strong", null, `您需付 ${yuan(o.quote.due_cents)}`)),
        )
      : null,
    mine && o.status === "quoted"
      ? h(
          "div",
          { class: "row" },
          h("button", { id: "confirm-quote", onclick: (e) => busy(e.currentTarget, post("confirm-quote")) }, "同意报价"),
          h("button", { class: "plain", onclick: (e) => busy(e.currentTarget, post("decline-quote")) }, "不接受"),
        )
      : null,
    mine && o.status === "settled"
      ? rateForm("repair-rate", async (body) => {
          await api(`repairs/orders/${o.id}/rate`, { method: "POST", json: body });
          toast("谢谢您的评价", "ok");
          render();
        })
      : null,
    h("h3", null, "进度"),
    h(
      "ol",
      { class: "timeline" },
      o.timeline.map((e) =>
        h("li", null, h("strong", null, REPAIR_STATUS[e.to_status] || e.action), e.actor ? ` · ${e.actor.display_name}` : "", h("div", { class: "muted" }, fmtTime(e.at)), e.note ? h("div", null, e.note) : null),
      ),
    ),
  );
}

// ---- classes (菜鸟学堂) ----

function signupForOther(session) {
  const name = h("input", { placeholder: "老人姓名", "aria-label": "学员姓名" });
  const phone = h("input", { placeholder: "电话（可不填）", "aria-label": "学员电话", inputmode: "tel" });
  const rel = h(
    "select",
    { "aria-label": "关系" },
    [["child", "子女"], ["relative", "亲属"], ["neighbour", "邻居"], ["volunteer", "志愿者"], ["other", "其他"]].map(([v, n]) => h("option", { value: v }, n)),
  );
  const consent = h("input", { type: "checkbox" });
  const key = newKey();
  return h(
    "form",
    {
      class: "other-signup",
      hidden: true,
      onsubmit: (e) => {
        e.preventDefault();
        busy(e.submitter, async () => {
          const body = {
            attendee: { name: name.value.trim(), phone: phone.value.trim() || null },
            relationship: rel.value,
            consent: consent.checked,
          };
          const r = await api(`courses/sessions/${session.id}/signups`, { method: "POST", json: body, headers: { "Idempotency-Key": key } });
          toast(`已为${r.attendee.name}报名：${SIGNUP_STATUS[r.status]}`, "ok");
          render();
        });
      },
    },
    name,
    phone,
    rel,
    h("label", { class: "check" }, consent, "已征得老人本人同意"),
    h("button", { class: "wide", type: "submit" }, "替他报名"),
  );
}

async function classesView() {
  const [sessions, mine] = await Promise.all([api("courses"), api("courses/signups/mine", { params: { upcoming: true } })]);
  return h(
    "section",
    { id: "classes" },
    h("h2", null, "菜鸟学堂：学用智能手机"),
    sessions.items.map((c) => {
      const other = signupForOther(c);
      return h(
        "div",
        { class: "card", "data-session": c.id },
        h("h3", null, c.title),
        h("div", null, `${fmtTime(c.starts_at)} · ${c.venue}`),
        h("div", { class: "muted" }, c.seats_left > 0 ? `还剩 ${c.seats_left} 个名额` : `已满，候补 ${c.waitlist_length} 人`),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            {
              onclick: (e) =>
                busy(e.currentTarget, async () => {
                  const r = await api(`courses/sessions/${c.id}/signups`, { method: "POST", json: { relationship: "self" }, headers: { "Idempotency-Key": newKey() } });
                  toast(`报名成功：${SIGNUP_STATUS[r.status]}`, "ok");
                  render();
                }),
            },
            "我要报名",
          ),
          h("button", { class: "plain", onclick: () => (other.hidden = !other.hidden) }, "替家人报名"),
        ),
        other,
      );
    }),
    h("h2", null, "我的报名"),
    mine.length
      ? mine.map((r) =>
          h(
            "div",
            { class: "card" },
            h("h3", null, r.session.title, " ", h("span", { class: "badge" }, SIGNUP_STATUS[r.status])),
            h("div", null, `学员：${r.attendee.name} · ${fmtTime(r.session.starts_at)}`),
            r.waitlist_position ? h("div", { class: "muted" }, `候补第 ${r.waitlist_position} 位`) : null,
          ),
        )
      : h("p", { class: "muted" }, "还没有报名"),
  );
}

// ---- shell ----

const ROUTES = [
  [/^#\/report$/, reportView, "随手拍"],
  [/^#\/mine$/, mineView, "我的上报"],
  [/^#\/queue$/, queueView, "网格待办"],
  [/^#\/repairs$/, repairsView, "维修"],
  [/^#\/classes$/, classesView, "学堂"],
  [/^#\/ticket\/([\w-]+)$/, ticketView],
  [/^#\/repair\/([\w-]+)$/, repairView],
];

function tabs() {
  const list = [["#/report", "随手拍"], ["#/mine", "我的上报"], ["#/repairs", "维修"], ["#/classes", "学堂"]];
  if (isWorker()) list.unshift(["#/queue", "网格待办"]);
  const nav = document.getElementById("tabs");
  nav.replaceChildren(...list.map(([href, text]) => h("a", { href, class: location.hash === href ? "on" : "" }, text)));
  nav.hidden = false;
}

let renders = 0; // only the latest navigation may draw: a slow earlier view must not replace it

async function render() {
  const seq = ++renders;
  clearInterval(ticker);
  const logoutBtn = document.getElementById("logout");
  if (!tokens()) {
    me = null;
    document.getElementById("tabs").hidden = true;
    document.getElementById("who").textContent = "";
    logoutBtn.hidden = true;
    return show(loginView());
  }
  try {
    me ??= await api("me");
  } catch {
    await logout();
    return render();
  }
  if (seq !== renders) return;
  document.getElementById("who").textContent = me.display_name;
  logoutBtn.hidden = false;
  const route = ROUTES.find(([re]) => re.test(location.hash));
  if (!route) return go(isWorker() ? "#/queue" : "#/report");
  tabs();
  const [re, fn] = route;
  let el;
  try {
    el = await fn(...location.hash.match(re).slice(1));
  } catch (err) {
    el = h("div", null, h("p", null, err.message || "加载失败"), h("button", { onclick: () => render() }, "重试"));
  }
  if (seq !== renders) return;
  show(el);
  if (el.start) ticker = el.start();
}

document.getElementById("logout").addEventListener("click", async () => {
  await logout();
  me = null;
  go("#/");
});
window.addEventListener("hashchange", render);
render();
