"""Retention: the privacy sweep erases worker positions and deletes Idempotency-Key answers and
access-log rows once they are older than the settings allow, and nothing younger."""

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.auth.permissions import Role
from app.core.config import PrivacySettings, Settings
from app.core.idempotency import IdempotencyRecord
from app.duty.models import WorkerDuty
from app.jobs import SWEEPS
from app.privacy import jobs
from app.privacy.models import AuditAction, AuditLog
from tests.factories import make_user, make_world


@pytest.fixture
def retention(settings) -> Settings:  # type: ignore[no-untyped-def]
    return settings.model_copy(
        update={"privacy": PrivacySettings(idempotency_retention_hours=24, audit_retention_days=180)}
    )


async def _arrange(session, clock):  # type: ignore[no-untyped-def]
    """Rows written now; the clock is then moved on by each test."""
    w = await make_world(session)
    workers = [await make_user(session, (Role.GRID_WORKER, w.c1)) for _ in range(3)]
    now = clock.now()
    session.add_all(
        [
            WorkerDuty(
                user_id=workers[0].id, on_duty=True, since=now, last_seen_at=now, lat=34.27, lng=108.95
            ),
            # Off duty with a position left behind and no heartbeat time: erased at once.
            WorkerDuty(user_id=workers[1].id, on_duty=False, lat=34.28, lng=108.96),
            WorkerDuty(user_id=workers[2].id, on_duty=False),
            IdempotencyRecord(
                user_id=w.resident.id,
                scope="POST /api/v1/tickets",
                key="k",
                request_hash="h",
                status_code=201,
                resource_id=None,
                response={"phone": "13912345678"},
                created_at=now,
            ),
            AuditLog(
                actor_id=w.c1_admin.id,
                action=AuditAction.PHONE_READ,
                subject_user_id=w.resident.id,
                resource="user",
                resource_id=w.resident.id,
                at=now,
            ),
        ]
    )
    await session.commit()
    return workers


async def _state(session, workers):  # type: ignore[no-untyped-def]
    duty = {
        d.user_id: d
        for d in await session.scalars(select(WorkerDuty).execution_options(populate_existing=True))
    }
    return (
        [duty[u.id].lat is not None for u in workers],
        len(list(await session.scalars(select(IdempotencyRecord)))),
        len(list(await session.scalars(select(AuditLog)))),
    )


class TestPrivacySweep:
    async def test_only_what_is_past_its_period_goes(self, session, maker, clock, retention) -> None:  # type: ignore[no-untyped-def]
        workers = await _arrange(session, clock)
        start = clock.now()
        window = retention.duty.location_retention_minutes

        clock.set(start + timedelta(minutes=window))  # exactly at the limit: kept
        report = await jobs.sweep(maker, clock=clock, settings=retention)
        assert (report.locations_erased, report.idempotency_purged, report.audit_purged) == (1, 0, 0)
        assert await _state(session, workers) == ([True, False, False], 1, 1)

        clock.advance(timedelta(seconds=1))
        report = await jobs.sweep(maker, clock=clock, settings=retention)
        assert (report.locations_erased, report.idempotency_purged, report.audit_purged) == (1, 0, 0)
        assert await _state(session, workers) == ([False, False, False], 1, 1)
        assert (await session.get(WorkerDuty, workers[0].id)).on_duty is True  # duty itself is not ours

        clock.set(start + timedelta(hours=24))
        assert not await jobs.sweep(maker, clock=clock, settings=retention)  # at 24 h: kept
        clock.advance(timedelta(seconds=1))
        report = await jobs.sweep(maker, clock=clock, settings=retention)
        assert (report.idempotency_purged, report.audit_purged) == (1, 0)

        clock.set(start + timedelta(days=180))
        assert not await jobs.sweep(maker, clock=clock, settings=retention)
        clock.advance(timedelta(seconds=1))
        report = await jobs.sweep(maker, clock=clock, settings=retention)
        assert report.audit_purged == 1
        assert await _state(session, workers) == ([False, False, False], 0, 0)

    async def test_an_empty_sweep_is_falsy_and_queues_nothing(self, session, maker, clock, settings) -> None:  # type: ignore[no-untyped-def]
        report = await jobs.sweep(maker, clock=clock, settings=settings)
        assert not report and report.notifications == 0

    def test_it_runs_in_the_sweeper_loop(self) -> None:
        assert ("privacy", jobs.sweep) in SWEEPS


class TestSettings:
    def test_defaults(self) -> None:
        cfg = Settings(_env_file=None).privacy  # type: ignore[call-arg]
        assert (cfg.idempotency_retention_hours, cfg.audit_retention_days) == (168, 365)

    def test_read_from_the_environment(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setenv("LINLI_PRIVACY__IDEMPOTENCY_RETENTION_HOURS", "12")
        monkeypatch.setenv("LINLI_PRIVACY__AUDIT_RETENTION_DAYS", "400")
        cfg = Settings(_env_file=None).privacy  # type: ignore[call-arg]
        assert (cfg.idempotency_retention_hours, cfg.audit_retention_days) == (12, 400)

    @pytest.mark.parametrize(
        "values",
        [
            {"audit_retention_days": 179},
            {"idempotency_retention_hours": 0},
            {"idempotency_retention_hours": 169},
        ],
    )
    def test_out_of_range_values_are_refused(self, values) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(ValidationError):
            PrivacySettings(**values)
