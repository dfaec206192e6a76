"""One POST endpoint per lifecycle action (`/{id}/claim`, `/{id}/accept`, ...), built from a table.

Each domain registers its actions with the same shape of endpoint: the resource id from the
path, an optional JSON body, and the domain's dependencies. FastAPI reads the endpoint's
signature, so it is assembled here from those parts.
"""

import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter

_KW = inspect.Parameter.KEYWORD_ONLY


def add_action_route(
    router: APIRouter,
    *,
    path: str,
    id_name: str,
    prefix: str = "",
    body_model: type | None,
    deps: Mapping[str, Any],
    run: Callable[..., Awaitable[Any]],
    name: str,
    response_model: type,
    summary: str,
    description: str,
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """Register POST `<prefix>/{<id_name>}/<path>`; `run` is called with the id, `body` (None without a
    body model) and each dependency, all as keyword arguments."""
    params = [inspect.Parameter(id_name, _KW, annotation=uuid.UUID)]
    if body_model is not None:
        params.append(inspect.Parameter("body", _KW, annotation=body_model))
    params += [inspect.Parameter(dep, _KW, annotation=annotation) for dep, annotation in deps.items()]

    async def endpoint(**kwargs: Any) -> Any:
        kwargs.setdefault("body", None)
        return await run(**kwargs)

    endpoint.__signature__ = inspect.Signature(params, return_annotation=response_model)  # type: ignore[attr-defined]
    endpoint.__name__ = name
    router.add_api_route(
        f"{prefix}/{{{id_name}}}/{path}",
        endpoint,
        methods=["POST"],
        response_model=response_model,
        summary=summary,
        description=description,
        responses=responses,
    )
