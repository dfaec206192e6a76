"""End to end in a real browser: Debian's Chromium, driven by Playwright, against the server
(uvicorn subprocess on loopback) loaded with the demo subdistrict, on each database backend.

* A resident reports a problem with a photo in the H5 client (/m/), a grid worker claims it from
  the queue (live countdown), checks in on site and resolves it, the resident confirms and rates,
  and the staff dashboard (/admin/) shows the figures move; the CSV export contains the ticket.
* A resident confirms a repair quote, books a repair, and signs a neighbour up for a class (refused
  without consent, with the server's zh-CN message shown).

Browsers are never downloaded: /usr/bin/chromium must exist (`apt-get install -y chromium`); the
tests fail, not skip, without it. Screenshots go to var/e2e-artifacts/<backend>/
(LINLI_E2E_ARTIFACTS overrides).
"""

import contextlib
import http.server
import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.conftest import BACKENDS, PG_URL
from tests.dbutil import DatabaseFactory
from tests.server import ROOT, serving

CHROMIUM = Path(os.environ.get("LINLI_E2E_CHROMIUM", "/usr/bin/chromium"))
PHOTO_SIZE = (640, 480)
# Inside 西一路社区第1网格 (xyl-xyl-g1), one of 张网格's grids (WGS-84, as browsers report it).
SPOT = {"latitude": 34.2705, "longitude": 108.949}
GRID = "xyl-xyl-g1"

expect.set_options(timeout=20_000)


@dataclass
class Server:
    base: str
    backend: str
    artifacts: Path
    tiles: list[str]  # paths the map tile server was asked for


@contextlib.contextmanager
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A stand-in for a map tile server on loopback (settings.web.tile_url): a grey 256 px PNG
    for every /{z}/{x}/{y}.png, and the list of tiles asked for."""
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (210, 210, 200)).save(buf, format="PNG")
    png, asked = buf.getvalue(), []

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/{{z}}/{{x}}/{{y}}.png", asked
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo subdistrict (loaded by `python -m app.demo`, as `make run` does) served by uvicorn."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"e2e_{backend}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    dbs = DatabaseFactory(backend, workdir=tmp, pg_url=PG_URL, worker=f"e2e_{worker}")
    tiles = contextlib.ExitStack()
    tile_url, asked = tiles.enter_context(tile_server())
    request.addfinalizer(tiles.close)
    env = {
        **os.environ,
        "LINLI_WEB__TILE_URL": tile_url,
        "LINLI_WEB__TILE_ATTRIBUTION": "底图：本地测试瓦片",
        "DATABASE_URL": dbs.copy(),
        "LINLI_ENV": "dev",
        "LINLI_MEDIA__ROOT": str(tmp / "media"),
        "LINLI_PASSWORD__TIME_COST": "1",
        "LINLI_PASSWORD__MEMORY_COST_KIB": "8",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "app.demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    try:
        with serving(env, tmp / "server.log") as base:
            artifacts = Path(os.environ.get("LINLI_E2E_ARTIFACTS", ROOT / "var" / "e2e-artifacts")) / backend
            artifacts.mkdir(parents=True, exist_ok=True)
            print(f"\nE2E screenshots ({backend}): {artifacts}")  # noqa: T201
            yield Server(base, backend, artifacts, asked)
    finally:
        dbs.drop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's Chromium "
            "(apt-get install -y chromium); browsers are never downloaded",
            pytrace=False,
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", PHOTO_SIZE, (200, 80, 40)).save(path, quality=85)
    return path


class Pages:
    """Browser contexts for one test; every page's script errors and CSP violations are collected."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.browser, self.server = browser, server
        self.errors: list[str] = []
        self.contexts: list = []  # type: ignore[type-arg]

    def open(self, path: str, *, phone: bool = True) -> Page:
        ctx = self.browser.new_context(
            viewport={"width": 420, "height": 900} if phone else {"width": 1280, "height": 1000},
            locale="zh-CN",
            geolocation=SPOT,
            permissions=["geolocation"],
        )
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.errors.append(f"console: {msg.text}")

        page.on("console", console)
        page.goto(self.server.base + path)
        return page

    def shot(self, page: Page, name: str) -> None:
        page.screenshot(path=str(self.server.artifacts / f"{name}.png"), full_page=True)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def pages(browser: Browser, server: Server) -> Iterator[Pages]:
    p = Pages(browser, server)
    yield p
    p.close()


def resident_login(page: Page, name: str = "刘奶奶") -> None:
    page.get_by_role("button", name=f"我是{name}", exact=False).click()


def staff_login(page: Page, form: str, username: str) -> None:
    page.fill(f"{form} #username", username)
    page.fill(f"{form} #password", "linli2026")
    page.click(f"{form} button[type=submit]")


def kpis(page: Page) -> dict[str, int]:
    box = page.locator("#kpis")
    expect(box).to_be_visible()
    return {k: int(box.get_attribute(f"data-{k}") or "-1") for k in ("tickets", "resolved", "rated")}


def grid_open(page: Page) -> int:
    return int(page.locator(f"#grid-map g[data-grid='{GRID}']").get_attribute("data-open") or "-1")


def expect_dashboard(page: Page, *, open_in_grid: int, **figures: int) -> None:
    """Refresh the dashboard and wait until it shows these figures."""
    page.click("#refresh")
    for key, value in figures.items():
        expect(page.locator("#kpis")).to_have_attribute(f"data-{key}", str(value))
    expect(page.locator(f"#grid-map g[data-grid='{GRID}']")).to_have_attribute("data-open", str(open_in_grid))


def test_report_claim_resolve_and_rate_move_the_dashboard(pages: Pages, photo: Path) -> None:
    # The leader's dashboard before.
    admin = pages.open("/admin/", phone=False)
    staff_login(admin, "#login", "jd_admin")
    before = kpis(admin)
    open_before = grid_open(admin)
    # The configured tiles lie under the grids (the page's CSP allows their host, or it fails).
    expect(admin.locator("#grid-map g.tiles image").first).to_be_attached()
    expect(admin.get_by_text("底图：本地测试瓦片")).to_be_visible()
    admin.wait_for_function(
        "() => [...document.querySelectorAll('#grid-map g.tiles image')].length > 0"
        " && performance.getEntriesByType('resource').some((e) => e.name.endsWith('.png'))"
    )
    assert any(path.endswith(".png") for path in pages.server.tiles)
    pages.shot(admin, "01-dashboard-before")

    # 刘奶奶 reports a broken light with a photo, located by the browser's geolocation.
    resident = pages.open("/m/")
    resident_login(resident)
    resident.select_option("#category", label="设施损坏")
    resident.fill("#description", "E2E：2号楼楼道灯不亮了")
    resident.set_input_files("#photo", str(photo))
    expect(resident.locator("#report-form .photos img")).to_have_count(1)
    resident.click("#use-gps")
    expect(resident.locator("#chosen")).to_contain_text("西一路社区第1网格")
    pages.shot(resident, "02-resident-report")
    resident.click("#submit-report")
    ticket = resident.locator("#ticket")
    expect(ticket).to_have_attribute("data-status", "submitted")
    expect(ticket.locator(".photos img")).to_have_count(1)
    number = ticket.locator(".muted").first.inner_text().split()[1]
    assert number.startswith("T")
    pages.shot(resident, "03-resident-ticket")
    # The dashboard counts it, open in its grid on the map.
    expect_dashboard(admin, open_in_grid=open_before + 1, tickets=before["tickets"] + 1)

    # 张网格 sees it in his grids' queue with a running countdown to the 10-minute deadline.
    worker = pages.open("/m/")
    staff_login(worker, "#staff-login", "wg_zhang")
    card = worker.locator(f"#queue .card[data-number='{number}']")
    expect(card).to_be_visible()
    clock = card.locator(".countdown")
    expect(clock).to_have_text(re.compile(r"^\d{1,2}分[0-5]\d秒$"))
    first = clock.inner_text()
    expect(clock).not_to_have_text(first)  # it ticks
    pages.shot(worker, "04-worker-queue")
    card.locator("button.claim").click()
    wt = worker.locator("#ticket")
    expect(wt).to_have_attribute("data-status", "claimed")
    worker.click("#arrive")
    expect(wt).to_have_attribute("data-status", "on_site")
    worker.fill("#resolve-note", "已更换灯泡，楼道灯恢复")
    worker.set_input_files("#after-photo", str(photo))
    expect(worker.locator("#resolve-form .photos img")).to_have_count(1)
    worker.click("#resolve-form button[type=submit]")
    expect(wt).to_have_attribute("data-status", "resolved")
    expect(wt.locator(".timeline li")).to_have_count(4)  # create, claim, arrive, resolve
    pages.shot(worker, "05-worker-resolved")

    # Resolved: one more 办结, and no longer open on the map.
    expect_dashboard(admin, open_in_grid=open_before, resolved=before["resolved"] + 1)

    # 刘奶奶 sees it resolved, confirms and gives five stars.
    resident.reload()
    expect(ticket).to_have_attribute("data-status", "resolved")
    expect(ticket.locator(".timeline")).to_contain_text("已更换灯泡")
    resident.click("#confirm-form [data-star='5']")
    resident.fill("#confirm-form-comment", "修得很快，谢谢")
    resident.click("#confirm-form button[type=submit]")
    expect(ticket).to_have_attribute("data-status", "closed")
    expect(resident.locator("#rated")).to_have_text("您的评分：★★★★★")
    pages.shot(resident, "06-resident-rated")

    expect_dashboard(admin, open_in_grid=open_before, rated=before["rated"] + 1)
    after = kpis(admin)
    assert after == {
        "tickets": before["tickets"] + 1,
        "resolved": before["resolved"] + 1,
        "rated": before["rated"] + 1,
    }
    expect(admin.locator("#kpi-satisfied .muted")).to_contain_text(f"/ {after['rated']} 件满意")
    expect(admin.locator("#trend circle").first).to_be_visible()
    pages.shot(admin, "07-dashboard-after")

    # The CSV export (fetched with the staff token, saved through a blob URL) lists the ticket.
    with admin.expect_download() as dl:
        admin.click("#export-csv")
    csv_text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    assert dl.value.suggested_filename.endswith(".csv")
    assert number in csv_text

    assert pages.errors == []


def test_repair_quote_booking_and_signing_up_a_neighbour(pages: Pages) -> None:
    page = pages.open("/m/")
    resident_login(page)

    # 刘奶奶's demo repair waits for her to accept the (free for her) quote.
    page.click("nav.tabs >> text=维修")
    page.locator("#repairs a.card", has_text="水龙头").click()
    order = page.locator("#repair")
    expect(order).to_have_attribute("data-status", "quoted")
    expect(order.locator(".quote")).to_contain_text("您需付")
    page.click("#confirm-quote")
    expect(order).to_have_attribute("data-status", "in_progress")

    # And books a new one.
    page.click("nav.tabs >> text=维修")
    page.select_option("#repair-category", "electrical")
    page.fill("#repair-description", "E2E：卧室插座没电")
    page.fill("#repair-time", "周末上午")
    page.click("#repair-form button[type=submit]")
    expect(order).to_have_attribute("data-status", "requested")
    expect(order).to_contain_text("卧室插座没电")
    pages.shot(page, "08-repair-booked")

    # 菜鸟学堂: signing a neighbour up without her consent is refused with the server's message...
    page.click("nav.tabs >> text=学堂")
    session = page.locator("#classes .card", has_text="还剩").first
    session.get_by_role("button", name="替家人报名").click()
    form = session.locator("form.other-signup")
    form.get_by_label("学员姓名").fill("E2E王奶奶")
    form.get_by_label("关系").select_option("neighbour")
    form.get_by_role("button", name="替他报名").click()
    expect(page.locator("#toast")).to_have_text("替他人报名须先征得本人同意")
    # ...and accepted with it; she appears under 我的报名.
    form.get_by_label("已征得老人本人同意").check()
    form.get_by_role("button", name="替他报名").click()
    expect(page.locator("#toast")).to_contain_text("已为E2E王奶奶报名")
    expect(page.locator("#classes")).to_contain_text("学员：E2E王奶奶")
    pages.shot(page, "09-class-signup")

    # The 422 of the refused signup is logged by the browser as a failed request, nothing else.
    unexpected = [e for e in pages.errors if "422" not in e]
    assert unexpected == []
