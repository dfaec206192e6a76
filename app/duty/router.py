"""Grid workers: go on and off duty, and send location heartbeats while on duty."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.dependencies import CurrentActor
from app.auth.permissions import Actor, Role
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.errors import responses
from app.duty import service
from app.duty.models import WorkerDuty
from app.duty.schemas import DutyIn, DutyLocation, DutyRead, HeartbeatIn
from app.org import geo

router = APIRouter(prefix="/workers/me", tags=["duty"])


async def require_grid_worker(actor: CurrentActor) -> Actor:
    if Role.GRID_WORKER not in actor.roles:
        raise service.NotGridWorker()
    return actor


GridWorker = Annotated[Actor, Depends(require_grid_worker)]


def _read(row: WorkerDuty | None, system: geo.CoordSystem) -> DutyRead:
    if row is None:
        return DutyRead(on_duty=False)
    location = None
    if row.on_duty and row.lat is not None and row.lng is not None:
        lat, lng = geo.from_wgs84(row.lat, row.lng, system)
        location = DutyLocation(lat=lat, lng=lng, coord_system=system)
    return DutyRead(on_duty=row.on_duty, since=row.since, last_seen_at=row.last_seen_at, location=location)


@router.get(
    "/duty",
    response_model=DutyRead,
    summary="我的在岗状态",
    responses=responses(service.NotGridWorker),
)
async def get_duty(
    actor: GridWorker,
    session: SessionDep,
    coord_system: Annotated[
        geo.CoordSystem, Query(description="返回坐标所用的坐标系")
    ] = geo.CoordSystem.GCJ02,
) -> DutyRead:
    return _read(await service.get_duty(session, actor.user_id), coord_system)


@router.post(
    "/duty",
    response_model=DutyRead,
    summary="上岗 / 下岗",
    description="上岗后超时未接单的提醒优先发给本网格在岗的网格员。上岗时可附带当前位置；"
    "下岗时清除位置。超过一段时间没有位置上报会被自动设为下岗。",
    responses=responses(service.NotGridWorker),
)
async def set_duty(body: DutyIn, actor: GridWorker, session: SessionDep, clock: ClockDep) -> DutyRead:
    point = None
    if body.lat is not None and body.lng is not None:
        point = geo.to_wgs84(body.lat, body.lng, body.coord_system)
    row = await service.set_duty(
        session, user_id=actor.user_id, on_duty=body.on_duty, point=point, now=clock.now()
    )
    return _read(row, body.coord_system)


@router.post(
    "/heartbeat",
    response_model=DutyRead,
    summary="上报当前位置（在岗心跳）",
    description="在岗期间定时上报，位置只保存最近一次，下岗或长时间未上报即删除。",
    responses=responses(service.NotGridWorker, service.NotOnDuty),
)
async def heartbeat(body: HeartbeatIn, actor: GridWorker, session: SessionDep, clock: ClockDep) -> DutyRead:
    point = geo.to_wgs84(body.lat, body.lng, body.coord_system)
    row = await service.heartbeat(session, user_id=actor.user_id, point=point, now=clock.now())
    return _read(row, body.coord_system)
