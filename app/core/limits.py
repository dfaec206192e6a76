"""Request body size limits, enforced while the body streams in (before it is read whole)."""

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import ErrorOut, PayloadTooLarge


class BodyTooLarge(PayloadTooLarge):
    code = "request.too_large"
    message = "提交的内容太大"


class BodySizeLimit:
    """Refuse bodies over the limit for their path: at once from Content-Length, or as soon as
    a streamed (chunked) body passes it."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        exceeded = refused = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge(max_bytes=limit)
            return message

        async def guarded_send(message: Message) -> None:
            # Body parsers may turn our error into their own (FastAPI answers 400 for any
            # failure while reading a body): once the limit is passed, the answer is ours.
            nonlocal refused
            if not exceeded:
                await send(message)
            elif not refused and message["type"] == "http.response.start":
                refused = True
                await self._refuse(send, limit)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not refused:
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        err = BodyTooLarge(max_bytes=limit)
        body = ErrorOut(code=err.code, message=err.message, details=err.details).model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
