"""Demo data: 西一路街道 (Xincheng District, Xi'an) with its communities, grids and one account per role.

Run with `python -m app.demo`. Idempotent: everything is looked up by its natural key (code,
username, openid) and only what is missing is created, so re-running changes nothing.
Grid boundaries follow the main streets of the area (北大街, 尚德路, 解放路, 西五路, 东新街) as
approximate WGS-84 polygons; they are illustrative, not official boundaries.
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import CareCategory, Role
from app.core.clock import SystemClock
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.numbering import LOCAL_TZ
from app.core.security import PasswordHashing
from app.org.models import Building, Category, Community, Department, DepartmentCategory, Grid, Subdistrict
from app.user.models import GridMember, User, UserIdentity, UserRole
from app.wechat.identity import WECHAT_PROVIDER, user_of

DEMO_PASSWORD = "linli2026"

SUBDISTRICT = {"code": "xyl", "name": "西一路街道", "city": "西安市", "district": "新城区"}

# West to east: three communities between 北大街 and 解放路, from 东/西新街 (south) to 西五路 (north).
_LNG = [108.9468, 108.9518, 108.9568, 108.9618]
_LAT = [34.2672, 34.2731, 34.2790]
COMMUNITIES = [("xyl-xyl", "西一路社区"), ("xyl-sdl", "尚德路社区"), ("xyl-xxj", "西新街社区")]

CATEGORIES = [
    # code, name, priority (1 = most urgent), respond minutes, resolve hours
    ("sanitation", "环境卫生", 3, 10, 24),
    ("facility", "设施损坏", 2, 10, 72),
    ("occupation", "占道/停车", 3, 10, 24),
    ("noise", "噪音扰民", 4, 10, 24),
    ("safety", "安全隐患", 1, 10, 12),
    ("water_heating", "供水供暖", 2, 10, 24),
    ("other", "其他", 5, 10, 72),
]
DEPARTMENTS = [
    ("城市管理执法中队", "029-87000001", ["occupation", "sanitation"]),
    ("环卫所", "029-87000002", ["sanitation"]),
    ("自来水公司新城营业所", "029-87000003", ["water_heating"]),
    ("热力公司新城分公司", "029-87000004", ["water_heating"]),
    ("西一路派出所", "029-87000005", ["safety", "noise"]),
    ("新城消防救援站", "029-87000006", ["safety"]),
    ("房屋管理所", "029-87000007", ["facility"]),
]
BUILDINGS = {  # community code → (compound, building, grid number)
    "xyl-xyl": [("西一路小区", "1号楼", 1), ("西一路小区", "2号楼", 1), ("省建三公司家属院", "3号楼", 3)],
    "xyl-sdl": [("尚德苑", "1号楼", 1), ("尚德苑", "5号楼", 2), ("尚俭路小区", "2号楼", 4)],
    "xyl-xxj": [("西新街小区", "6号楼", 1), ("革命公园东小区", "1号楼", 3)],
}


@dataclass(frozen=True)
class DemoAccount:
    username: str | None
    display_name: str
    role: Role
    scope: str | None = None  # community code, "subdistrict", or department name
    openid: str | None = None
    phone: str | None = None
    grids: tuple[str, ...] = ()
    part_time: bool = False
    care: CareCategory | None = None
    home: str | None = None  # community code
    building: str | None = None


ACCOUNTS = [
    DemoAccount("admin", "平台管理员", Role.SUPERADMIN, phone="13800000001"),
    DemoAccount("jd_admin", "王主任（街道）", Role.SUBDISTRICT_ADMIN, "subdistrict", phone="13800000002"),
    DemoAccount("sq_xyl", "李书记（西一路社区）", Role.COMMUNITY_ADMIN, "xyl-xyl", phone="13800000003"),
    DemoAccount("sq_sdl", "孙主任（尚德路社区）", Role.COMMUNITY_ADMIN, "xyl-sdl", phone="13800000004"),
    DemoAccount(
        "bm_cg", "赵队长（城管中队）", Role.DEPARTMENT_STAFF, "城市管理执法中队", phone="13800000005"
    ),
    DemoAccount(
        "wg_zhang",
        "张网格",
        Role.GRID_WORKER,
        "xyl-xyl",
        openid="wg_zhang",
        phone="13800000006",
        grids=("xyl-xyl-g1", "xyl-xyl-g2"),
    ),
    DemoAccount(
        "kd_li",
        "李师傅（快递员，兼职网格员）",
        Role.GRID_WORKER,
        "xyl-sdl",
        openid="courier_li",
        phone="13800000007",
        grids=("xyl-sdl-g1", "xyl-sdl-g2"),
        part_time=True,
    ),
    DemoAccount(
        "lxj_wang",
        "王师傅（乐修匠）",
        Role.CRAFTSMAN,
        "subdistrict",
        openid="craftsman_wang",
        phone="13800000008",
    ),
    DemoAccount(
        "xt_chen", "陈老师（菜鸟学堂）", Role.TEACHER, "xyl-xyl", openid="teacher_chen", phone="13800000009"
    ),
    DemoAccount(
        "xt_xiaowang",
        "小王（大学生志愿者，菜鸟学堂）",
        Role.TEACHER,
        "xyl-xyl",
        openid="teacher_xiaowang",
        phone="13800000010",
    ),
    DemoAccount(
        None,
        "刘奶奶",
        Role.RESIDENT,
        openid="resident_liu",
        phone="13900000001",
        care=CareCategory.LIVING_ALONE,
        home="xyl-xyl",
        building="1号楼",
    ),
    DemoAccount(
        None,
        "周大爷",
        Role.RESIDENT,
        openid="resident_zhou",
        phone="13900000002",
        care=CareCategory.EMPTY_NEST,
        home="xyl-sdl",
        building="5号楼",
    ),
]


def grid_polygon(col: int, row: int, quarter: int) -> dict[str, Any]:
    """Quarter `quarter` (0..3, SW, SE, NW, NE) of the community strip `col`."""
    west, east = _LNG[col], _LNG[col + 1]
    mid_lng = round((west + east) / 2, 6)
    south, north = _LAT[row], _LAT[row + 1]
    x0, x1 = (west, mid_lng) if quarter % 2 == 0 else (mid_lng, east)
    return {
        "type": "Polygon",
        "coordinates": [[[x0, south], [x1, south], [x1, north], [x0, north], [x0, south]]],
    }


async def _get_or_add(session: AsyncSession, model: type, where: dict[str, Any], **fields: Any) -> Any:
    stmt = select(model).filter_by(**where)
    found = await session.scalar(stmt)
    if found is None:
        found = model(**where, **fields)
        session.add(found)
        await session.flush()
    return found


async def load_demo(
    session: AsyncSession,
    hasher: PasswordHashing,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> None:
    """Create whatever part of the demo subdistrict is missing (and, given settings and the time,
    a few tickets in different states)."""
    sub = await _get_or_add(
        session,
        Subdistrict,
        {"code": SUBDISTRICT["code"]},
        **{k: v for k, v in SUBDISTRICT.items() if k != "code"},
    )
    communities: dict[str, Community] = {}
    grids: dict[str, Grid] = {}
    for col, (code, name) in enumerate(COMMUNITIES):
        communities[code] = await _get_or_add(
            session, Community, {"code": code}, subdistrict_id=sub.id, name=name
        )
        for n in range(1, 5):
            row, quarter = (n - 1) // 2, (n - 1) % 2
            gcode = f"{code}-g{n}"
            grids[gcode] = await _get_or_add(
                session,
                Grid,
                {"code": gcode},
                community_id=communities[code].id,
                name=f"{name}第{n}网格",
                boundary=grid_polygon(col, row, quarter),
            )
    buildings: dict[tuple[str, str], Building] = {}
    for ccode, items in BUILDINGS.items():
        for compound, bname, gnum in items:
            buildings[(ccode, bname)] = await _get_or_add(
                session,
                Building,
                {"community_id": communities[ccode].id, "name": f"{compound}{bname}"},
                compound=compound,
                grid_id=grids[f"{ccode}-g{gnum}"].id,
            )
    categories = {}
    for code, name, priority, respond, resolve in CATEGORIES:
        categories[code] = await _get_or_add(
            session,
            Category,
            {"subdistrict_id": sub.id, "code": code},
            name=name,
            priority=priority,
            respond_minutes=respond,
            resolve_hours=resolve,
        )
    departments = {}
    for name, phone, cats in DEPARTMENTS:
        dept = await _get_or_add(session, Department, {"subdistrict_id": sub.id, "name": name}, phone=phone)
        departments[name] = dept
        for cat in cats:
            await _get_or_add(
                session, DepartmentCategory, {"department_id": dept.id, "category_id": categories[cat].id}
            )
    for acc in ACCOUNTS:
        await _ensure_account(session, hasher, acc, sub.id, communities, departments, grids, buildings)
    if settings is not None and now is not None:
        await _ensure_tickets(session, settings, now)
        await _ensure_repairs_setup(session, settings, sub.id, now)
        await _ensure_repair_orders(session, settings, now)
        await _ensure_classes(session, settings, now)


class _At:
    """A clock the demo moves by hand, so its tickets have a believable history."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


# (description, category, reporter openid, WGS-84 point, hours ago, steps); a step is
# (action, actor username or openid, minutes after the report, body).
DEMO_TICKETS: list[tuple[str, str, str, tuple[float, float], float, list[tuple[Any, ...]]]] = [
    (
        "西一路小区北门垃圾堆放两天了，有异味",
        "sanitation",
        "resident_liu",
        (34.2690, 108.9480),
        72,
        [
            ("claim", "wg_zhang", 4, None),
            ("arrive", "wg_zhang", 15, (34.2690, 108.9480)),
            ("resolve", "wg_zhang", 90, "已联系环卫清运完毕"),
            ("confirm", "resident_liu", 300, 5),
        ],
    ),
    (
        "1号楼楼道灯不亮，老人晚上下楼不方便",
        "facility",
        "resident_liu",
        (34.2700, 108.9485),
        26,
        [("claim", "wg_zhang", 7, None), ("resolve", "wg_zhang", 240, "已更换声控灯")],
    ),
    (
        "尚德苑门口共享单车堵住消防通道",
        "occupation",
        "resident_zhou",
        (34.2700, 108.9530),
        20,
        [("claim", "kd_li", 6, None), ("escalate", "sq_sdl", 60, "城市管理执法中队")],
    ),
    (
        "5号楼下水管冻裂漏水",
        "water_heating",
        "resident_zhou",
        (34.2695, 108.9535),
        3,
        [("claim", "kd_li", 9, None), ("arrive", "kd_li", 25, (34.2695, 108.9536))],
    ),
    ("西一路口井盖松动，车过有响声", "safety", "resident_liu", (34.2710, 108.9492), 0.05, []),
    (
        "3号楼电梯口贴满了小广告，还写着骂人的话",
        "sanitation",
        "resident_zhou",
        (34.2698, 108.9532),
        1,
        [("claim", "kd_li", 5, None)],
    ),
]
# msgSecCheck answered "review" for this one: handled as usual, off the public board until staff
# of the community approve it (GET /api/v1/tickets?view=all&moderation=held).
DEMO_HELD = frozenset({"3号楼电梯口贴满了小广告，还写着骂人的话"})


async def _ensure_tickets(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """Report the demo tickets through the real services (once: they are recognised by text)."""
    from app.auth.dependencies import load_user_and_actor
    from app.org.service import GridIndexCache
    from app.ticket import schemas as ts
    from app.ticket import service as tickets
    from app.ticket.models import Ticket
    from app.ticket.state import TicketAction

    cache = GridIndexCache()
    for text, cat_code, reporter, (lat, lng), hours_ago, steps in DEMO_TICKETS:
        if await session.scalar(select(Ticket.id).where(Ticket.description == text)) is not None:
            continue
        clock = _At(now - timedelta(hours=hours_ago))
        category = await session.scalar(select(Category).where(Category.code == cat_code))
        assert category is not None
        user, actor = await _who(session, reporter, load_user_and_actor)
        body = ts.TicketCreate(
            category_id=category.id,
            description=text,
            location=ts.PointIn(lat=lat, lng=lng, coord_system="wgs84"),
        )
        ticket, _ = await tickets.create_ticket(
            session,
            actor=actor,
            reporter=user,
            clock=clock,
            settings=settings,
            cache=cache,
            data=body,
            screened=("held", None) if text in DEMO_HELD else ("visible", None),
        )
        start = clock.at
        for action, who, minutes, arg in steps:
            clock.at = start + timedelta(minutes=minutes)
            _, step_actor = await _who(session, who, load_user_and_actor)
            payload: Any = None
            if action == "arrive":
                payload = ts.ArriveIn(lat=arg[0], lng=arg[1], coord_system="wgs84")
            elif action == "resolve":
                payload = ts.ResolveIn(note=arg)
            elif action == "confirm":
                payload = ts.ConfirmIn(rating=arg, comment="处理很及时，谢谢网格员")
            elif action == "escalate":
                dept = await session.scalar(select(Department).where(Department.name == arg))
                assert dept is not None
                payload = ts.EscalateIn(department_id=dept.id, note="单车企业需城管协调清理")
            await tickets.apply_action(
                session,
                actor=step_actor,
                clock=clock,
                settings=settings,
                ticket_id=ticket.id,
                action=TicketAction(action),
                body=payload,
            )
        if steps:
            # Demo history is already past its alerts; only the fresh report can still breach.
            ticket.response_alert_level = ticket.resolve_alert_level = 2


# 乐修匠 price list: (category, name, unit, our price, market reference price), in yuan.
PRICE_LIST = [
    ("plumbing", "更换水龙头", "个", 20, 60),
    ("plumbing", "维修马桶水箱", "次", 30, 80),
    ("drain", "疏通下水道", "次", 40, 120),
    ("electrical", "更换开关插座", "个", 10, 40),
    ("electrical", "检修线路", "次", 30, 100),
    ("lock", "更换锁芯", "个", 30, 90),
    ("appliance", "清洗油烟机", "台", 50, 150),
    ("furniture", "维修桌椅柜门", "件", 15, 50),
]


async def _ensure_repairs_setup(
    session: AsyncSession, settings: Settings, subdistrict_id: Any, now: datetime
) -> None:
    """The published price list and 王师傅's craftsman profile, entered by 王主任 through the services."""
    from app.auth.dependencies import load_user_and_actor
    from app.repair import schemas as rs
    from app.repair import service as repairs
    from app.repair.models import Craftsman, PriceItem, RepairCategory

    _, admin = await _who(session, "jd_admin", load_user_and_actor)
    for cat, name, unit, price, market in PRICE_LIST:
        if await session.scalar(select(PriceItem.id).where(PriceItem.name == name)) is None:
            item = rs.PriceItemCreate(
                subdistrict_id=subdistrict_id,
                category=RepairCategory(cat),
                name=name,
                unit=unit,
                price_cents=price * 100,
                market_price_cents=market * 100,
            )
            await repairs.create_price_item(session, actor=admin, data=item, now=now)
    wang, _ = await _who(session, "lxj_wang", load_user_and_actor)
    if await session.get(Craftsman, wang.id) is None:
        profile = rs.CraftsmanIn(
            subdistrict_id=subdistrict_id,
            skills=[RepairCategory(s) for s in ("drain", "electrical", "lock", "plumbing")],
            organisation="区总工会乐修匠志愿服务队",
            max_active_orders=5,
        )
        await repairs.put_craftsman(session, actor=admin, user_id=wang.id, data=profile, settings=settings)


# 乐修匠 orders: (description, category, resident, hours ago, steps taken).
DEMO_REPAIRS = [
    ("厨房水龙头一直滴水，关不紧", "plumbing", "resident_liu", 20, ["accept", "schedule", "arrive", "quote"]),
    ("卫生间灯不亮了，开关好像坏了", "electrical", "resident_zhou", 2, []),
]


async def _ensure_repair_orders(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """Repair orders through the real services: one waiting for 刘奶奶 to confirm the quote."""
    from app.auth.dependencies import load_user_and_actor
    from app.repair import schemas as rs
    from app.repair import service as repairs
    from app.repair.models import PriceItem, RepairCategory, RepairOrder
    from app.repair.state import RepairAction

    for text, cat, who, hours_ago, steps in DEMO_REPAIRS:
        if await session.scalar(select(RepairOrder.id).where(RepairOrder.description == text)) is not None:
            continue
        clock = _At(now - timedelta(hours=hours_ago))
        user, actor = await _who(session, who, load_user_and_actor)
        order = await repairs.create_order(
            session,
            actor=actor,
            user=user,
            clock=clock,
            data=rs.OrderCreate(category=RepairCategory(cat), description=text, preferred_time="工作日下午"),
        )
        _, craftsman = await _who(session, "lxj_wang", load_user_and_actor)
        for i, action in enumerate(steps, start=1):
            clock.at = now - timedelta(hours=hours_ago) + timedelta(hours=i)
            body: Any = None
            if action == "schedule":
                body = rs.ScheduleIn(visit_at=clock.at + timedelta(hours=1), note="电话约好了")
                clock_after = clock.at + timedelta(hours=1)
            elif action == "arrive":
                clock.at = clock_after
            elif action == "quote":
                tap = await session.scalar(select(PriceItem).where(PriceItem.name == "更换水龙头"))
                assert tap is not None
                body = rs.QuoteIn(
                    items=[rs.QuoteItemIn(price_item_id=tap.id)],
                    materials=[rs.MaterialIn(name="水龙头（陶瓷阀芯）", unit_cost_cents=3500)],
                    note="阀芯老化，需要整个换掉",
                )
            await repairs.apply_action(
                session,
                actor=craftsman,
                clock=clock,
                settings=settings,
                order_id=order.id,
                action=RepairAction(action),
                body=body,
            )


def _saturday_at(now: datetime, weeks: int, hour: int, minute: int) -> datetime:
    """A Saturday morning in Xi'an, `weeks` after the coming one (negative: before it)."""
    local = now.astimezone(LOCAL_TZ)
    days = (5 - local.weekday()) % 7 or 7
    day = (local + timedelta(days=days + 7 * weeks)).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )
    return day.astimezone(UTC)


async def _ensure_classes(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """菜鸟学堂 through the real services: a class held last Saturday (attendance taken, hours
    credited), two coming ones (one full, with 周大爷 on the waitlist), proxy signups by the grid
    worker for 孙奶奶 who has no account, and 刘奶奶's one-on-one help request."""
    from app.auth.dependencies import load_user_and_actor
    from app.course import help as course_help
    from app.course import jobs as course_jobs
    from app.course import schemas as cs
    from app.course import service as courses
    from app.course.models import Course, Level, Relationship, Topic

    if (
        await session.scalar(select(Course.id).where(Course.title == "智能手机入门：微信和健康码"))
        is not None
    ):
        return
    teacher, teacher_actor = await _who(session, "xt_chen", load_user_and_actor)
    helper, _ = await _who(session, "xt_xiaowang", load_user_and_actor)
    liu, liu_actor = await _who(session, "resident_liu", load_user_and_actor)
    zhou, zhou_actor = await _who(session, "resident_zhou", load_user_and_actor)
    worker, worker_actor = await _who(session, "wg_zhang", load_user_and_actor)
    community_id = next(iter(teacher_actor.teacher_community_ids))
    last_week = _saturday_at(now, -1, 9, 30)
    if last_week + timedelta(hours=3) > now:  # it is Saturday morning: take the week before
        last_week -= timedelta(days=7)
    clock = _At(last_week - timedelta(days=3))

    basics = await courses.create_course(
        session,
        actor=teacher_actor,
        user=teacher,
        data=cs.CourseCreate(
            community_id=community_id,
            title="智能手机入门：微信和健康码",
            topics=[Topic.WECHAT, Topic.HEALTH_CODE],
            description="从开机、连无线网讲起：用微信和家人视频、出示健康码。请带上自己的手机。",
            level=Level.BEGINNER,
        ),
    )
    booking = await courses.create_course(
        session,
        actor=teacher_actor,
        user=teacher,
        data=cs.CourseCreate(
            community_id=community_id,
            title="手把手学网上挂号",
            topics=[Topic.HOSPITAL_BOOKING],
            description="在手机上预约西京医院、省人民医院的门诊号，以及怎样取消预约。",
            level=Level.BASIC,
        ),
    )

    def session_in(start: datetime, capacity: int, teachers: list[uuid.UUID]) -> cs.SessionCreate:
        return cs.SessionCreate(
            starts_at=start,
            ends_at=start + timedelta(minutes=90),
            venue="西一路社区党群服务中心二楼活动室",
            capacity=capacity,
            teacher_ids=teachers,
        )

    held = await courses.create_session(
        session,
        actor=teacher_actor,
        user=teacher,
        course_id=basics.id,
        data=session_in(last_week, 12, [teacher.id, helper.id]),
        settings=settings,
        now=clock.now(),
    )
    for_sun = cs.SignupCreate(
        attendee=cs.AttendeeIn(name="孙奶奶", phone="13900000011", age=81),
        relationship=Relationship.GRID_WORKER,
        consent=True,
        consent_note="上门走访时孙奶奶本人同意",
    )
    for user, actor, body in ((liu, liu_actor, cs.SignupCreate()), (worker, worker_actor, for_sun)):
        await courses.sign_up(session, actor=actor, user=user, clock=clock, session_id=held.id, data=body)
    roster = await courses._active_signups(session, held.id)
    await courses.roll_call(
        session,
        actor=teacher_actor,
        session_id=held.id,
        entries=[cs.RollCallEntry(signup_id=roster[0].id, present=True)],
        settings=settings,
        now=last_week + timedelta(minutes=10),
    )
    closed_at = last_week + timedelta(hours=3)
    await course_jobs._close(session, held.id, closed_at, closed_at)  # 孙奶奶 did not come

    clock.at = now
    next_week = await courses.create_session(
        session,
        actor=teacher_actor,
        user=teacher,
        course_id=basics.id,
        data=session_in(_saturday_at(now, 0, 9, 30), 12, [teacher.id]),
        settings=settings,
        now=now,
    )
    small = await courses.create_session(
        session,
        actor=teacher_actor,
        user=teacher,
        course_id=booking.id,
        data=session_in(_saturday_at(now, 0, 14, 30), 2, [teacher.id, helper.id]),
        settings=settings,
        now=now,
    )
    signups = [
        (liu, liu_actor, next_week.id, cs.SignupCreate()),
        (worker, worker_actor, next_week.id, for_sun),
        (liu, liu_actor, small.id, cs.SignupCreate()),
        (worker, worker_actor, small.id, for_sun),
        (zhou, zhou_actor, small.id, cs.SignupCreate()),  # full: waitlisted
    ]
    for user, actor, sid, body in signups:
        await courses.sign_up(session, actor=actor, user=user, clock=clock, session_id=sid, data=body)
    await course_help.create(
        session,
        actor=liu_actor,
        user=liu,
        data=cs.HelpCreate(
            topic=Topic.WECHAT,
            description="想学用微信和在外地的孙子视频通话，总是按错",
            preferred_time="工作日上午",
            community_id=community_id,
        ),
        now=now,
    )


async def _who(session: AsyncSession, name: str, load: Any) -> tuple[User, Any]:
    user_id = await session.scalar(select(User.id).where(User.username == name))
    if user_id is None:
        user_id = getattr(await user_of(session, name), "id", None)
    loaded = await load(session, user_id)
    assert loaded is not None
    return loaded


async def _ensure_account(
    session: AsyncSession,
    hasher: PasswordHashing,
    acc: DemoAccount,
    subdistrict_id: uuid.UUID,
    communities: dict[str, Community],
    departments: dict[str, Department],
    grids: dict[str, Grid],
    buildings: dict[tuple[str, str], Building],
) -> None:
    user = None
    if acc.username:
        user = await session.scalar(select(User).where(User.username == acc.username))
    elif acc.openid:
        user = await user_of(session, acc.openid)
    if user is not None:
        return
    home = communities[acc.home] if acc.home else None
    building = buildings[(acc.home, acc.building)] if acc.home and acc.building else None
    user = User(
        display_name=acc.display_name,
        username=acc.username,
        phone=acc.phone,
        care_category=acc.care,
        password_hash=hasher.hash(DEMO_PASSWORD) if acc.username else None,
        home_community_id=home.id if home else None,
        home_building_id=building.id if building else None,
        address=building.name if building else "",
    )
    session.add(user)
    await session.flush()
    grant = UserRole(user_id=user.id, role=acc.role, is_part_time=acc.part_time)
    if acc.scope == "subdistrict":
        grant.subdistrict_id = subdistrict_id
    elif acc.scope in communities:
        grant.subdistrict_id, grant.community_id = subdistrict_id, communities[acc.scope].id
    elif acc.scope in departments:
        grant.subdistrict_id, grant.department_id = subdistrict_id, departments[acc.scope].id
    session.add(grant)
    if acc.openid:
        session.add(UserIdentity(user_id=user.id, provider=WECHAT_PROVIDER, subject=acc.openid))
    for gcode in acc.grids:
        session.add(GridMember(user_id=user.id, grid_id=grids[gcode].id))
    await session.flush()


async def main(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    engine = create_engine(settings.database)
    try:
        async with create_sessionmaker(engine)() as session:
            await load_demo(
                session, PasswordHashing(settings.password), settings=settings, now=SystemClock().now()
            )
            await session.commit()
    finally:
        await engine.dispose()
    print("demo data ready: 西一路街道 (see README for the demo accounts)")  # noqa: T201


if __name__ == "__main__":
    asyncio.run(main())
