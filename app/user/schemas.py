"""Account shapes: the caller's own profile and the staff view of accounts."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from app.auth.permissions import CareCategory, Role
from app.core.schemas import InSchema, Name, OutSchema, PhoneCN

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_.\-]{3,32}$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]


class RoleGrantIn(InSchema):
    role: Role
    subdistrict_id: uuid.UUID | None = Field(default=None, description="街道范围的角色必填")
    community_id: uuid.UUID | None = Field(
        default=None, description="社区范围的角色（网格员、教师、社区管理员）必填"
    )
    department_id: uuid.UUID | None = Field(default=None, description="部门工作人员必填")
    is_part_time: bool = Field(default=False, description="兼职网格员（如快递员、外卖骑手）")


class RoleGrantRead(OutSchema):
    id: uuid.UUID
    role: Role
    subdistrict_id: uuid.UUID | None
    community_id: uuid.UUID | None
    department_id: uuid.UUID | None
    is_part_time: bool


class MeRead(OutSchema):
    id: uuid.UUID
    display_name: str
    username: str | None
    phone: str | None
    home_community_id: uuid.UUID | None
    home_building_id: uuid.UUID | None
    address: str
    roles: list[RoleGrantRead]
    grid_ids: list[uuid.UUID] = Field(description="网格员负责的网格")


class MeUpdate(InSchema):
    display_name: Name | None = None
    phone: PhoneCN | None = None
    home_community_id: uuid.UUID | None = None
    home_building_id: uuid.UUID | None = None
    address: Address | None = None

    @field_validator("display_name")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return _required(value)


def _required(value: object) -> object:
    """Fields that may be left out of a PATCH but not cleared with null."""
    if value is None:
        raise ValueError("不能为空")
    return value


class UserCreate(InSchema):
    display_name: Name = Field(examples=["张网格"])
    username: Username | None = Field(default=None, examples=["wg_zhang2"])
    password: Password | None = Field(default=None, examples=["change-me-123"])
    wechat_openid: str | None = Field(
        default=None, max_length=128, description="预先绑定的微信 openid（网格员等由工作人员开通）"
    )
    phone: PhoneCN | None = None
    home_community_id: uuid.UUID | None = None
    care_category: CareCategory | None = None
    roles: list[RoleGrantIn] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _can_log_in(self) -> "UserCreate":
        if (self.username is None) != (self.password is None):
            raise ValueError("用户名和密码需要同时提供")
        if self.username is None and not self.wechat_openid:
            raise ValueError("需要用户名和密码，或微信 openid，账号才能登录")
        return self


class UserUpdate(InSchema):
    display_name: Name | None = None
    phone: PhoneCN | None = None
    home_community_id: uuid.UUID | None = None
    home_building_id: uuid.UUID | None = None
    address: Address | None = None
    care_category: CareCategory | None = None
    is_active: bool | None = None
    password: Password | None = None

    @field_validator("display_name", "is_active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return _required(value)


class UserRead(OutSchema):
    id: uuid.UUID
    display_name: str
    username: str | None
    phone: str | None = Field(description="无需知道的人看到打码后的号码")
    home_community_id: uuid.UUID | None
    home_building_id: uuid.UUID | None
    address: str = Field(description="无需知道的人看到打码后的地址")
    care_category: CareCategory | None = Field(description="关爱类别，仅本辖区工作人员可见")
    is_active: bool
    roles: list[RoleGrantRead]
    grid_ids: list[uuid.UUID]
    created_at: datetime
