"""JSON Schemas of the GeoReport v2 answers, written from the spec (wiki.open311.org/GeoReport_v2)
and mySociety's servicerequestupdates extension, independently of the app's own models."""

from typing import Any

W3C = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
W3C_OR_NULL = {"anyOf": [W3C, {"type": "null"}]}
STR_OR_NULL = {"type": ["string", "null"]}


def _obj(props: dict[str, Any], *, extra: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(props),
        "properties": props,
        "additionalProperties": extra,
    }


def array_of(item: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"type": "array", "items": item, **kw}


ERRORS = array_of(_obj({"code": {"type": "integer"}, "description": {"type": "string"}}), minItems=1)

DISCOVERY = _obj(
    {
        "changeset": W3C,
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": array_of(
            _obj(
                {
                    "specification": {"const": "http://wiki.open311.org/GeoReport_v2"},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "changeset": W3C,
                    "type": {"enum": ["production", "test"]},
                    "formats": array_of({"enum": ["text/xml", "application/json"]}, minItems=2),
                }
            ),
            minItems=1,
        ),
    }
)

SERVICES = array_of(
    _obj(
        {
            "service_code": {"type": "string", "minLength": 1},
            "service_name": {"type": "string"},
            "description": {"type": "string"},
            "metadata": {"type": "boolean"},
            "type": {"enum": ["realtime", "batch", "blackbox"]},
            "keywords": {"type": "string"},
            "group": {"type": "string"},
        }
    )
)

DEFINITION = _obj(
    {
        "service_code": {"type": "string"},
        "attributes": array_of(
            _obj(
                {
                    "variable": {"type": "boolean"},
                    "code": {"type": "string"},
                    "datatype": {
                        "enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
                    },
                    "required": {"type": "boolean"},
                    "datatype_description": STR_OR_NULL,
                    "order": {"type": "integer"},
                    "description": {"type": "string"},
                    "values": array_of(_obj({"key": {"type": "string"}, "name": {"type": "string"}})),
                }
            )
        ),
    }
)

CREATED = array_of(
    _obj(
        {
            "service_request_id": {"type": "string", "minLength": 1},
            "token": {"type": "string", "minLength": 1},
            "service_notice": STR_OR_NULL,
            "account_id": STR_OR_NULL,
        }
    ),
    minItems=1,
    maxItems=1,
)

TOKENS = array_of(
    _obj({"service_request_id": {"type": "string"}, "token": {"type": "string"}}), minItems=1, maxItems=1
)

REQUESTS = array_of(
    _obj(
        {
            "service_request_id": {"type": "string", "minLength": 1},
            "status": {"enum": ["open", "closed"]},
            "status_notes": STR_OR_NULL,
            "service_name": {"type": "string"},
            "service_code": {"type": "string"},
            "description": {"type": "string"},
            "agency_responsible": STR_OR_NULL,
            "service_notice": STR_OR_NULL,
            "requested_datetime": W3C,
            "updated_datetime": W3C_OR_NULL,
            "expected_datetime": W3C_OR_NULL,
            "address": STR_OR_NULL,
            "address_id": STR_OR_NULL,
            "zipcode": STR_OR_NULL,
            "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
            "long": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
            "media_url": {"anyOf": [{"type": "string", "pattern": "^https?://"}, {"type": "null"}]},
        },
        extra=True,  # extensions (extended_status, token) are allowed
    )
)

MYSOCIETY_STATUSES = [
    "open",
    "closed",
    "fixed",
    "in_progress",
    "action_scheduled",
    "investigating",
    "duplicate",
    "not_councils_responsibility",
    "no_further_action",
    "internal_referral",
]

UPDATES = array_of(
    _obj(
        {
            "update_id": {"type": "string", "minLength": 1},
            "service_request_id": {"type": "string", "minLength": 1},
            "status": {"enum": MYSOCIETY_STATUSES},
            "updated_datetime": W3C,
            "description": {"type": "string"},
            "media_url": STR_OR_NULL,
        }
    )
)
