from pathlib import Path

from app.openapi_export import render

SNAPSHOT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_checked_in_openapi_document_is_current() -> None:
    assert SNAPSHOT.read_text(encoding="utf-8") == render(), (
        "openapi/openapi.json is stale: run `make openapi` and commit the result"
    )


def test_operation_ids_are_stable_and_unique() -> None:
    import json

    spec = json.loads(render())
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert "auth-wechat_login" in ids


def test_every_operation_has_a_chinese_summary() -> None:
    import json

    spec = json.loads(render())
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            summary = op.get("summary", "")
            assert any("\u4e00" <= ch <= "\u9fff" for ch in summary), f"{method.upper()} {path}: {summary!r}"
