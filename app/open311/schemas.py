"""Shapes: staff key management (/api/v1/open311/keys) and, for the OpenAPI document only, the
JSON bodies of the GeoReport v2 methods (the bodies themselves are built in service.py and
rendered by formats.py, so that JSON and XML carry the same fields)."""

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.core.schemas import InSchema, Name, OutSchema


class KeyCreate(InSchema):
    subdistrict_id: uuid.UUID
    partner_name: Name = Field(examples=["西安市 12345 热线"])
    community_id: uuid.UUID | None = Field(
        default=None, description="只给地址、没有坐标的上报进入该社区的值班队列；不设置时必须提供坐标"
    )


class KeyRead(OutSchema):
    id: uuid.UUID
    partner_name: str
    subdistrict_id: uuid.UUID
    community_id: uuid.UUID | None
    key_prefix: str = Field(description="密钥开头几位，用来辨认")
    service_user_id: uuid.UUID = Field(description="该接入方上报所用的服务账号")
    created_by_id: uuid.UUID
    created_at: datetime
    revoked_at: datetime | None
    revoked_by_id: uuid.UUID | None


class KeyCreated(KeyRead):
    api_key: str = Field(description="只在签发时显示这一次，请交给接入方妥善保存")


# --- GeoReport v2 bodies (documentation) -----------------------------------------------------


class Open311Error(BaseModel):
    code: int = Field(examples=[403])
    description: str


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


class RequestCreated(BaseModel):
    service_request_id: str
    token: str
    service_notice: str | None
    account_id: str | None


class RequestToken(BaseModel):
    service_request_id: str
    token: str


class ServiceRequest(BaseModel):
    service_request_id: str = Field(description="工单号")
    status: str = Field(description="open 或 closed")
    extended_status: str = Field(description="mySociety 扩展状态：open、investigating、in_progress 等")
    status_notes: str | None
    service_name: str
    service_code: str
    description: str = Field(description="手机号已打码")
    agency_responsible: str
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None = Field(description="已打码，只保留第一段")
    address_id: str | None
    zipcode: str | None
    lat: float | None = Field(description="WGS-84，约 100 米精度")
    long: float | None
    media_url: str | None
    token: str


class RequestUpdate(BaseModel):
    update_id: str
    service_request_id: str
    status: str
    updated_datetime: str
    description: str
    media_url: str | None
