"""Subscribe messages (WECHAT.md §4): one-time credits reported by the mini-program, their delivery
from the outbox (spend before sending, refund on failure, zero on 43101), how WeChat's errors
settle an outbox row, delivery once across two processes, and the fitting of template values."""

import asyncio
import itertools
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.permissions import Role
from app.core.config import SUBSCRIBE_KINDS, Settings, SubscribeTemplate
from app.core.db import create_engine, create_sessionmaker
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.notification import outbox
from app.notification.models import Notification, OutboxMessage
from app.notification.outbox import dispatch_channel
from app.notification.service import notify
from app.ticket import service as ticket_service
from app.ticket.models import Ticket
from app.ticket.state import TicketStatus
from app.user.models import User
from app.wechat import values
from app.wechat.client import FakeWeChatClient, InvalidTemplateData, WeChatApiError, WeChatTransientError
from app.wechat.models import SubscriptionCredit
from app.wechat.service import add_credits, credits_of, message_data, message_page, wechat_deliverer
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import World, bearer, make_category, make_user, make_world
from tests.fakes import FrozenClock

URL = "/api/v1/me/subscriptions"
CLAIMED = "dev-ticket.claimed"
RESOLVED = "dev-ticket.resolved"
OPENID = "o-resident-subs"
LONG_TITLE = "您反映的楼道路灯不亮问题已有网格员接单，正在赶往现场处理"
_numbers = itertools.count(1)


# --- arrangements -----------------------------------------------------------------------------


@pytest.fixture
async def w(session: AsyncSession) -> World:
    return await make_world(session)


@pytest.fixture
async def resident(session: AsyncSession, w: World) -> User:
    user = await make_user(session, Role.RESIDENT, home=w.c1, openid=OPENID, display_name="订阅居民")
    await session.commit()
    return user


@pytest.fixture
def auth(settings: Settings, clock: FrozenClock, resident: User) -> dict[str, str]:
    return bearer(settings, clock, resident)


@pytest.fixture
def fake() -> FakeWeChatClient:
    return FakeWeChatClient()


def with_template(settings: Settings, kind: str, **changes: Any) -> Settings:
    """The settings with one event's template changed (as an operator's override would)."""
    template = settings.wechat.templates[kind].model_copy(update=changes)
    templates = {**settings.wechat.templates, kind: template}
    return settings.model_copy(update={"wechat": settings.wechat.model_copy(update={"templates": templates})})


@pytest.fixture
async def other_app(maker: async_sessionmaker[AsyncSession], clock: FrozenClock) -> AsyncIterator[Any]:
    """Builds an httpx client on an app with the given settings (over the test transaction)."""
    opened: list[httpx.AsyncClient] = []

    def build(settings: Settings) -> httpx.AsyncClient:
        application = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
        application.state.sessionmaker = maker
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test")
        opened.append(c)
        return c

    yield build
    for c in opened:
        await c.aclose()


async def make_ticket(session: AsyncSession, w: World, reporter: User, now: datetime) -> Ticket:
    category = await make_category(session, w.s1)
    t = Ticket(
        number=f"T2026{next(_numbers):010d}",
        subdistrict_id=w.c1.subdistrict_id,
        community_id=w.c1.id,
        grid_id=w.g1.id,
        category_id=category.id,
        priority=3,
        description="楼道路灯不亮",
        address="西一路小区3号楼",
        routed_by="grid",
        reporter_id=reporter.id,
        status=TicketStatus.CLAIMED,
        status_changed_at=now,
        submitted_at=now - timedelta(minutes=5),
        respond_by=now + timedelta(minutes=5),
        resolve_by=now + timedelta(hours=72),
        responded_at=now,
    )
    ticket_service.refresh_due(t)
    session.add(t)
    await session.flush()
    return t


async def claimed_notice(
    session: AsyncSession, user: User, clock: FrozenClock, *, ticket: Ticket | None = None, kind: str = ""
) -> None:
    """A ticket.claimed notification (as the ticket service writes it), committed."""
    number = ticket.number if ticket else f"T2026{next(_numbers):010d}"
    await notify(
        session,
        user_ids=[user.id],
        kind=kind or "ticket.claimed",
        title=LONG_TITLE,
        now=clock.now(),
        ticket_id=ticket.id if ticket else None,
        body=f"{number} 楼道路灯不亮",
        data={"number": number, "status": "claimed"},
    )
    await session.commit()


async def give_credits(
    session: AsyncSession, user: User, n: int, clock: FrozenClock, tid: str = CLAIMED
) -> None:
    for _ in range(n):
        await add_credits(session, user_id=user.id, accepted=[tid], now=clock.now())
    await session.commit()


async def credit(session: AsyncSession, user: User, tid: str = CLAIMED) -> SubscriptionCredit | None:
    return await session.scalar(
        select(SubscriptionCredit)
        .where(SubscriptionCredit.user_id == user.id, SubscriptionCredit.template_id == tid)
        .execution_options(populate_existing=True)
    )


async def rows(session: AsyncSession, user: User, channel: str = "wechat") -> list[OutboxMessage]:
    return list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.user_id == user.id, OutboxMessage.channel == channel)
            .execution_options(populate_existing=True)
        )
    )


async def dispatch(maker: Any, client: Any, settings: Settings, clock: FrozenClock, **kw: Any) -> int:
    return await dispatch_channel(
        maker, "wechat", wechat_deliverer(maker, client, settings, clock), clock, **kw
    )


class ScriptedClient:
    """Delegates to a FakeWeChatClient, first raising the scripted errors (one per call)."""

    def __init__(self, inner: FakeWeChatClient, *failures: Exception, delay: float = 0.0) -> None:
        self.inner = inner
        self.failures = list(failures)
        self.calls: list[dict[str, Any]] = []
        self.delay = delay
        self.in_flight = self.most_in_flight = 0

    async def send_subscribe_message(self, **kw: Any) -> None:
        self.calls.append(kw)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)  # a network round trip: another dispatcher runs meanwhile
            if self.failures:
                raise self.failures.pop(0)
            await self.inner.send_subscribe_message(**kw)
        finally:
            self.in_flight -= 1


# --- 1. the popup report ------------------------------------------------------------------------


def credits_in(body: dict[str, Any]) -> dict[str, int]:
    return {t["template_id"]: t["credits"] for t in body["templates"]}


class TestReport:
    async def test_accept_counts_one_and_reject_none(self, client, auth, session, resident) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(URL, json={"results": {CLAIMED: "accept", RESOLVED: "reject"}}, headers=auth)
        assert r.status_code == 200, r.text
        assert credits_in(r.json())[CLAIMED] == 1
        assert credits_in(r.json())[RESOLVED] == 0
        assert await credits_of(session, resident.id) == {CLAIMED: 1}

    async def test_each_accept_adds_one_and_accept_with_audio_counts(
        self, client, auth, session, resident
    ) -> None:  # type: ignore[no-untyped-def]
        for result in ("accept", "accept", "acceptWithAudio"):
            r = await client.post(URL, json={"results": {CLAIMED: result}}, headers=auth)
            assert r.status_code == 200, r.text
        assert credits_in(r.json())[CLAIMED] == 3
        row = await credit(session, resident)
        assert row is not None and (row.credits, row.accepted_total, row.sent_total) == (3, 3, 0)

    async def test_filter_adds_nothing_and_ban_sets_the_template_to_zero(
        self, client, auth, session, resident
    ) -> None:  # type: ignore[no-untyped-def]
        for _ in range(2):
            await client.post(URL, json={"results": {CLAIMED: "accept", RESOLVED: "accept"}}, headers=auth)
        r = await client.post(URL, json={"results": {CLAIMED: "ban", RESOLVED: "filter"}}, headers=auth)
        assert r.status_code == 200, r.text
        assert credits_in(r.json())[CLAIMED] == 0
        assert credits_in(r.json())[RESOLVED] == 2
        assert await credits_of(session, resident.id) == {CLAIMED: 0, RESOLVED: 2}

    async def test_an_unknown_template_is_refused_and_nothing_is_recorded(
        self, client, auth, session, resident
    ) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(
            URL, json={"results": {CLAIMED: "accept", "tmpl-not-ours": "accept"}}, headers=auth
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "subscription.unknown_template"
        assert r.json()["details"]["template_ids"] == ["tmpl-not-ours"]
        assert await credits_of(session, resident.id) == {}

    @pytest.mark.parametrize("bad", ["yes", "ACCEPT", "", None, 1])
    async def test_an_invalid_result_is_a_422_envelope(self, client, auth, session, resident, bad) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(URL, json={"results": {CLAIMED: "accept", RESOLVED: bad}}, headers=auth)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "request.invalid"
        assert body["message"]
        assert body["details"]["errors"]
        assert await credits_of(session, resident.id) == {}

    @pytest.mark.parametrize("results", [{}, {f"t{i}": "accept" for i in range(11)}])
    async def test_an_empty_or_oversized_report_is_refused(self, client, auth, results) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(URL, json={"results": results}, headers=auth)
        assert r.status_code == 422 and r.json()["code"] == "request.invalid"

    async def test_a_retry_with_the_same_idempotency_key_counts_once(
        self, client, auth, session, resident
    ) -> None:  # type: ignore[no-untyped-def]
        body = {"results": {CLAIMED: "accept"}}
        first = await client.post(URL, json=body, headers={**auth, "Idempotency-Key": "popup-1"})
        again = await client.post(URL, json=body, headers={**auth, "Idempotency-Key": "popup-1"})
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert (await credits_of(session, resident.id))[CLAIMED] == 1
        # Another popup (another key) counts again.
        other = await client.post(URL, json=body, headers={**auth, "Idempotency-Key": "popup-2"})
        assert credits_in(other.json())[CLAIMED] == 2
        # The same key with another body is refused.
        reused = await client.post(
            URL, json={"results": {RESOLVED: "accept"}}, headers={**auth, "Idempotency-Key": "popup-1"}
        )
        assert reused.status_code == 422 and reused.json()["code"] == "request.idempotency_key_reused"
        assert await credits_of(session, resident.id) == {CLAIMED: 2}

    async def test_get_lists_every_enabled_template_with_its_event_and_credits(  # type: ignore[no-untyped-def]
        self, client, auth, settings, resident
    ) -> None:
        await client.post(URL, json={"results": {RESOLVED: "accept"}}, headers=auth)
        r = await client.get(URL, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["credits_from"] == "client"
        assert [t["event"] for t in body["templates"]] == sorted(SUBSCRIBE_KINDS)
        for t in body["templates"]:
            assert (
                t["template_id"] == settings.wechat.templates[t["event"]].template_id == f"dev-{t['event']}"
            )
            assert t["credits"] == (1 if t["template_id"] == RESOLVED else 0)

    async def test_a_disabled_template_is_not_listed_and_not_accepted(  # type: ignore[no-untyped-def]
        self, other_app, settings, auth, session, resident
    ) -> None:
        c = other_app(with_template(settings, "ticket.resolved", template_id=""))
        body = (await c.get(URL, headers=auth)).json()
        assert "ticket.resolved" not in [t["event"] for t in body["templates"]]
        assert len(body["templates"]) == len(SUBSCRIBE_KINDS) - 1
        r = await c.post(URL, json={"results": {RESOLVED: "accept"}}, headers=auth)
        assert r.status_code == 422 and r.json()["code"] == "subscription.unknown_template"
        assert await credits_of(session, resident.id) == {}

    async def test_with_credits_from_push_the_client_report_adds_nothing(  # type: ignore[no-untyped-def]
        self, other_app, database_url, tmp_path: Path, auth, session, resident
    ) -> None:
        c = other_app(make_settings(database_url, tmp_path, wechat={"credits_from": "push"}))
        r = await c.post(URL, json={"results": {CLAIMED: "accept"}}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["credits_from"] == "push"
        assert credits_in(r.json())[CLAIMED] == 0
        assert await credits_of(session, resident.id) == {}

    async def test_requires_login(self, client) -> None:  # type: ignore[no-untyped-def]
        assert (await client.get(URL)).status_code == 401
        assert (await client.post(URL, json={"results": {CLAIMED: "accept"}})).status_code == 401


# --- 2. delivery from the outbox ------------------------------------------------------------------


class TestDelivery:
    async def test_a_claimed_ticket_goes_out_as_a_subscribe_message_and_spends_the_credit(  # type: ignore[no-untyped-def]
        self, session, maker, settings, clock, fake, w, resident
    ) -> None:
        ticket = await make_ticket(session, w, resident, clock.now())
        await give_credits(session, resident, 1, clock)
        await claimed_notice(session, resident, clock, ticket=ticket)

        assert await dispatch(maker, fake, settings, clock) == 1

        [msg] = fake.sent
        assert msg["touser"] == OPENID
        assert msg["template_id"] == CLAIMED
        assert msg["page"] == f"pages/ticket/detail?id={ticket.id}"
        data = {k: v["value"] for k, v in msg["data"].items()}
        assert data == {
            "character_string1": ticket.number,
            "thing2": LONG_TITLE[:19] + "…",
            "phrase3": "已受理",
            "time4": "2026年11月22日 10:00",  # 02:00 UTC is 10:00 in Shanghai
        }
        assert all(values.problem(k, v) is None for k, v in data.items())
        assert len(data["thing2"]) == 20

        row = await credit(session, resident)
        assert row is not None and (row.credits, row.sent_total, row.accepted_total) == (0, 1, 1)
        [out] = await rows(session, resident)
        assert (out.status, out.attempts, out.sent_at, out.last_error) == ("sent", 0, clock.now(), None)
        # The live channel is another dispatcher's business: untouched.
        [live] = await rows(session, resident, "live")
        assert live.status == "pending"

        assert await dispatch(maker, fake, settings, clock) == 0
        assert len(fake.sent) == 1

    async def test_without_credit_nothing_is_sent_and_the_inbox_copy_stays(  # type: ignore[no-untyped-def]
        self, session, maker, settings, clock, fake, w, resident
    ) -> None:
        ticket = await make_ticket(session, w, resident, clock.now())
        await claimed_notice(session, resident, clock, ticket=ticket)

        assert await dispatch(maker, fake, settings, clock) == 1  # settled (skipped)
        assert fake.sent == []
        [out] = await rows(session, resident)
        assert (out.status, out.attempts) == ("skipped", 0)
        assert out.last_error == "no subscribe credit"
        assert await credit(session, resident) is None
        note = await session.scalar(select(Notification).where(Notification.user_id == resident.id))
        assert note is not None and note.kind == "ticket.claimed" and note.ticket_id == ticket.id

    async def test_credit_of_another_template_does_not_count(  # type: ignore[no-untyped-def]
        self, session, maker, settings, clock, fake, resident
    ) -> None:
        await give_credits(session, resident, 1, clock, tid=RESOLVED)
        await claimed_notice(session, resident, clock)
        await dispatch(maker, fake, settings, clock)
        assert fake.sent == []
        assert [r.status for r in await rows(session, resident)] == ["skipped"]
        assert await credits_of(session, resident.id) == {RESOLVED: 1}

    async def test_a_kind_without_a_template_writes_no_wechat_message(  # type: ignore[no-untyped-def]
        self, session, maker, settings, clock, fake, resident
    ) -> None:
        assert "ticket.new" not in SUBSCRIBE_KINDS
        await give_credits(session, resident, 1, clock)
        await claimed_notice(session, resident, clock, kind="ticket.new")
        assert await rows(session, resident) == []
        assert len(await rows(session, resident, "live")) == 1
        assert await dispatch(maker, fake, settings, clock) == 0
        assert fake.sent == []

    async def test_a_user_without_an_openid_is_skipped(  # type: ignore[no-untyped-def]
        self, session, maker, settings, clock, fake, w
    ) -> None:
        nobody = w.resident  # registered by phone, no WeChat identity
        await give_credits(session, nobody, 1, clock)
        await claimed_notice(session, nobody, clock)
        assert await dispatch(maker, fake, settings, clock) == 1
        assert fake.sent == []
        [out] = await rows(session, nobody)
        assert out.status == "skipped" and "WeChat account" in (out.last_error or "")
        row = await credit(session, nobody)
        assert row is not None and row.credits == 1

    async def test_a_template_turned_off_is_skipped(  # type: ignore[no-untyped-def]
        self, session, maker, settings, clock, fake, resident
    ) -> None:
        off = with_template(settings, "ticket.claimed", template_id="")
        await give_credits(session, resident, 1, clock)
        await claimed_notice(session, resident, clock)
        assert await dispatch(maker, fake, off, clock) == 1
        assert fake.sent == []
        [out] = await rows(session, resident)
        assert out.status == "skipped" and out.last_error == "no template for this event"
        row = await credit(session, resident)
        assert row is not None and row.credits == 1


# --- 3. 43101: WeChat says there is no credit -------------------------------------------------------


async def test_43101_sets_the_credit_to_zero_and_skips_without_an_error(  # type: ignore[no-untyped-def]
    session, maker, settings, clock, fake, resident, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="linli")
    await give_credits(session, resident, 3, clock)  # we believe in 3; WeChat knows of none
    fake.credits = {(OPENID, CLAIMED): 0}
    await claimed_notice(session, resident, clock)

    assert await dispatch(maker, fake, settings, clock) == 1
    assert fake.sent == []
    [out] = await rows(session, resident)
    assert (out.status, out.attempts) == ("skipped", 0)
    assert "43101" in (out.last_error or "")
    row = await credit(session, resident)
    assert row is not None and (row.credits, row.sent_total) == (0, 0)
    # Logged at info level, not as an error (WECHAT.md §4.3).
    assert any("43101" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # Not retried later either.
    clock.advance(outbox.BACKOFF_MAX)
    assert await dispatch(maker, fake, settings, clock) == 0


# --- 4. permanent failures -------------------------------------------------------------------------


async def test_a_value_that_cannot_fit_fails_before_calling_wechat_and_keeps_the_credit(  # type: ignore[no-untyped-def]
    session, maker, settings, clock, fake, resident
) -> None:
    bad = with_template(
        settings, "ticket.claimed", fields={"thing2": "title", "phrase3": "=正在处理中了"}
    )  # a phrase is at most 5 Chinese characters
    spy = ScriptedClient(fake)
    await give_credits(session, resident, 1, clock)
    await claimed_notice(session, resident, clock)

    assert await dispatch(maker, spy, bad, clock) == 0
    assert spy.calls == [] and fake.sent == []
    [out] = await rows(session, resident)
    assert (out.status, out.attempts) == ("failed", 1)
    assert "phrase3" in (out.last_error or "")
    row = await credit(session, resident)
    assert row is not None and (row.credits, row.sent_total) == (1, 0)
    clock.advance(outbox.BACKOFF_MAX)
    assert await dispatch(maker, spy, bad, clock) == 0
    assert spy.calls == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InvalidTemplateData(47003, "argument invalid! data.thing2.value invalid"), "47003"),
        (WeChatApiError(40037, "invalid template_id"), "40037"),
    ],
)
async def test_a_refusal_by_wechat_fails_for_good_and_refunds_the_credit(  # type: ignore[no-untyped-def]
    session, maker, settings, clock, fake, resident, error, expected
) -> None:
    client = ScriptedClient(fake, error)
    await give_credits(session, resident, 1, clock)
    await claimed_notice(session, resident, clock)

    assert await dispatch(maker, client, settings, clock) == 0
    assert len(client.calls) == 1 and fake.sent == []
    [out] = await rows(session, resident)
    assert (out.status, out.attempts) == ("failed", 1)
    assert expected in (out.last_error or "")
    row = await credit(session, resident)
    assert row is not None and (row.credits, row.sent_total) == (1, 0)
    clock.advance(outbox.BACKOFF_MAX)
    assert await dispatch(maker, client, settings, clock) == 0
    assert len(client.calls) == 1


# --- 5. transient failures --------------------------------------------------------------------------


async def test_a_transient_failure_refunds_the_credit_and_is_retried_after_the_backoff(  # type: ignore[no-untyped-def]
    session, maker, settings, clock, fake, resident
) -> None:
    client = ScriptedClient(fake, WeChatTransientError("/cgi-bin/message/subscribe/send HTTP 502"))
    await give_credits(session, resident, 1, clock)
    await claimed_notice(session, resident, clock)

    assert await dispatch(maker, client, settings, clock) == 0
    [out] = await rows(session, resident)
    assert (out.status, out.attempts) == ("pending", 1)
    assert out.available_at == clock.now() + outbox.backoff(1) > clock.now()
    assert "HTTP 502" in (out.last_error or "")
    row = await credit(session, resident)
    assert row is not None and (row.credits, row.sent_total) == (1, 0)

    clock.advance(outbox.backoff(1) - timedelta(seconds=1))
    assert await dispatch(maker, client, settings, clock) == 0  # still backing off
    assert len(client.calls) == 1

    clock.advance(timedelta(seconds=1))
    assert await dispatch(maker, client, settings, clock) == 1
    assert len(client.calls) == 2 and len(fake.sent) == 1
    [out] = await rows(session, resident)
    assert (out.status, out.attempts) == ("sent", 1)
    row = await credit(session, resident)
    assert row is not None and (row.credits, row.sent_total) == (0, 1)


async def test_transient_failures_give_up_after_max_attempts_with_the_credit_kept(  # type: ignore[no-untyped-def]
    session, maker, settings, clock, fake, resident
) -> None:
    failures = [WeChatTransientError("busy", errcode=-1) for _ in range(outbox.MAX_ATTEMPTS + 2)]
    client = ScriptedClient(fake, *failures)
    await give_credits(session, resident, 1, clock)
    await claimed_notice(session, resident, clock)
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        await dispatch(maker, client, settings, clock)
        clock.advance(outbox.BACKOFF_MAX)
    assert len(client.calls) == outbox.MAX_ATTEMPTS
    [out] = await rows(session, resident)
    assert (out.status, out.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    row = await credit(session, resident)
    assert row is not None and (row.credits, row.sent_total) == (1, 0)


# --- 6. two processes at once, on a real database -----------------------------------------------------


@pytest.fixture
async def two_makers(databases: DatabaseFactory, tmp_path: Path) -> AsyncIterator[list[Any]]:
    """Two engines (as two server processes would have) on one fresh database."""
    url = databases.copy()
    engines = [create_engine(make_settings(url, tmp_path).database) for _ in range(2)]
    yield [create_sessionmaker(e) for e in engines]
    for e in engines:
        await e.dispose()


async def run_both(
    makers: list[Any], client: Any, settings: Settings, clock: FrozenClock, batch: int
) -> None:
    """Each process dispatches in its own loop, as its running dispatcher would, until nothing is
    pending; while one is sending, the other claims the next messages."""

    async def pending(maker: Any) -> int:
        async with maker() as session:
            return await session.scalar(
                select(func.count()).where(
                    OutboxMessage.channel == "wechat", OutboxMessage.status == "pending"
                )
            )

    async def loop(maker: Any) -> None:
        for _ in range(200):
            if not await dispatch(maker, client, settings, clock, batch=batch) and not await pending(maker):
                return
            await asyncio.sleep(0)
        raise AssertionError("dispatching did not finish")

    await asyncio.gather(*(loop(m) for m in makers))


async def test_two_processes_send_each_message_once(two_makers, settings) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_makers
    clock = FrozenClock()
    numbers: list[str] = []
    async with first() as session:
        users = [
            await make_user(session, Role.RESIDENT, openid=f"o-multi-{i}", display_name=f"居民{i}")
            for i in range(10)
        ]
        for user in users:
            await add_credits(session, user_id=user.id, accepted=[CLAIMED] * 3, now=clock.now())
            for _ in range(3):
                number = f"T2026{next(_numbers):010d}"
                numbers.append(number)
                await notify(
                    session,
                    user_ids=[user.id],
                    kind="ticket.claimed",
                    title="您反映的问题已有人接单",
                    now=clock.now(),
                    data={"number": number},
                )
        await session.commit()
    fake = FakeWeChatClient()  # unlimited on WeChat's side: only our own accounting limits sends
    client = ScriptedClient(fake, delay=0.01)

    await run_both(two_makers, client, settings, clock, batch=4)

    sent = Counter(m["data"]["character_string1"]["value"] for m in fake.sent)
    assert client.most_in_flight == 2  # the two processes really sent at the same time
    assert len(fake.sent) == 30
    assert sent == Counter(numbers)
    async with first() as session:
        statuses = Counter(
            await session.scalars(select(OutboxMessage.status).where(OutboxMessage.channel == "wechat"))
        )
        assert statuses == {"sent": 30}
        left = (
            await session.execute(select(SubscriptionCredit.credits, SubscriptionCredit.sent_total))
        ).all()
        assert sorted(left) == [(0, 3)] * 10


async def test_two_processes_never_spend_more_credit_than_there_is(two_makers, settings) -> None:  # type: ignore[no-untyped-def]
    first, _ = two_makers
    clock = FrozenClock()
    async with first() as session:
        user = await make_user(session, Role.RESIDENT, openid="o-scarce")
        await add_credits(session, user_id=user.id, accepted=[CLAIMED, CLAIMED], now=clock.now())
        for _ in range(5):
            await notify(
                session,
                user_ids=[user.id],
                kind="ticket.claimed",
                title="您反映的问题已有人接单",
                now=clock.now(),
                data={"number": f"T2026{next(_numbers):010d}"},
            )
        await session.commit()
    fake = FakeWeChatClient()
    client = ScriptedClient(fake, delay=0.01)

    await run_both(two_makers, client, settings, clock, batch=1)

    assert len(fake.sent) == 2
    assert len(client.calls) == 2  # no send was even tried without a credit
    async with first() as session:
        statuses = Counter(
            await session.scalars(select(OutboxMessage.status).where(OutboxMessage.channel == "wechat"))
        )
        assert statuses == {"sent": 2, "skipped": 3}
        row = await session.scalar(select(SubscriptionCredit))
        assert row is not None and (row.credits, row.sent_total, row.accepted_total) == (0, 2, 2)
        assert await session.scalar(select(func.min(SubscriptionCredit.credits))) == 0


# --- 7. template values and pages ---------------------------------------------------------------------


def ticket_template(**changes: Any) -> SubscribeTemplate:
    return SubscribeTemplate(
        template_id=CLAIMED,
        fields={"character_string1": "number", "thing2": "title", "phrase3": "=已受理", "time4": "time"},
        page="pages/ticket/detail?id={ticket_id}",
    ).model_copy(update=changes)


def payload(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "notification_id": str(uuid.uuid4()),
        "kind": "ticket.claimed",
        "title": "路灯不亮",
        "body": "T20261201000001 路灯不亮",
        "ticket_id": None,
        "data": {"number": "T20261201000001"},
        "created_at": datetime(2026, 12, 1, 1, 5, tzinfo=UTC).isoformat(),
    }
    base.update(kw)
    return base


class TestMessageData:
    def test_fields_come_from_the_notification_in_shanghai_time(self) -> None:
        assert message_data(ticket_template(), payload()) == {
            "character_string1": "T20261201000001",
            "thing2": "路灯不亮",
            "phrase3": "已受理",
            "time4": "2026年12月1日 09:05",
        }

    def test_the_local_date_is_used_across_midnight(self) -> None:
        late = payload(created_at=datetime(2026, 11, 30, 16, 30, tzinfo=UTC).isoformat())
        assert message_data(ticket_template(), late)["time4"] == "2026年12月1日 00:30"

    def test_a_time_from_the_data_is_converted_too(self) -> None:
        template = SubscribeTemplate(
            template_id="dev-course.reminder",
            fields={"thing1": "course_title", "time2": "starts_at", "thing3": "place"},
        )
        data = {
            "course_title": "智能手机入门：微信视频通话与健康码使用详解",
            "starts_at": datetime(2026, 12, 3, 6, 0, tzinfo=UTC).isoformat(),
            "place": "社区活动室",
        }
        out = message_data(template, payload(data=data))
        assert out == {
            "thing1": data["course_title"][:19] + "…",
            "time2": "2026年12月3日 14:00",
            "thing3": "社区活动室",
        }
        assert all(values.problem(k, v) is None for k, v in out.items())

    def test_long_titles_are_cut_and_emoji_stripped(self) -> None:
        out = message_data(ticket_template(), payload(title="🔥" + LONG_TITLE))
        assert out["thing2"] == LONG_TITLE[:19] + "…"
        assert values.problem("thing2", out["thing2"]) is None

    def test_body_and_literals(self) -> None:
        template = ticket_template(fields={"thing1": "body", "phrase2": "=已办结"})
        assert message_data(template, payload()) == {
            "thing1": "T20261201000001 路灯不亮",
            "phrase2": "已办结",
        }

    @pytest.mark.parametrize("data", [{}, {"number": ""}, {"number": None}])
    def test_a_missing_data_key_is_unfit(self, data: dict[str, Any]) -> None:
        with pytest.raises(values.Unfit, match="character_string1"):
            message_data(ticket_template(), payload(data=data))

    def test_a_literal_that_breaks_its_type_is_unfit(self) -> None:
        with pytest.raises(values.Unfit, match="phrase3"):
            message_data(ticket_template(fields={"phrase3": "=正在处理中了"}), payload())


class TestMessagePage:
    def test_the_ticket_id_is_filled_in(self) -> None:
        tid = str(uuid.uuid4())
        assert message_page(ticket_template(), payload(ticket_id=tid)) == f"pages/ticket/detail?id={tid}"

    def test_placeholders_come_from_the_data_too(self) -> None:
        template = ticket_template(page="pages/repair/detail?id={repair_order_id}&n={number}")
        page = message_page(template, payload(data={"repair_order_id": "r-1", "number": "R1"}))
        assert page == "pages/repair/detail?id=r-1&n=R1"

    @pytest.mark.parametrize(
        ("page", "data"),
        [
            ("pages/ticket/detail?id={ticket_id}", {}),
            ("pages/repair/detail?id={repair_order_id}", {"number": "R1"}),
            ("pages/repair/detail?id={repair_order_id}", {"repair_order_id": None}),
        ],
    )
    def test_a_missing_placeholder_means_no_page(self, page: str, data: dict[str, Any]) -> None:
        assert message_page(ticket_template(page=page), payload(ticket_id=None, data=data)) is None

    def test_no_page_configured(self) -> None:
        assert message_page(ticket_template(page=""), payload(ticket_id=str(uuid.uuid4()))) is None
