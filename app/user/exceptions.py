"""Account errors."""

from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable


class UserNotFound(NotFound):
    code = "user.not_found"
    message = "没有找到该用户"


class UsernameTaken(Conflict):
    code = "user.username_taken"
    message = "用户名已被使用"


class OpenIdTaken(Conflict):
    code = "user.openid_taken"
    message = "该微信账号已绑定其他用户"


class RoleNotGrantable(Forbidden):
    code = "user.role_not_grantable"
    message = "您不能授予该角色或该范围"


class RoleScopeInvalid(Unprocessable):
    code = "user.role_scope_invalid"
    message = "角色范围填写不正确"


class RoleNotFound(NotFound):
    code = "user.role_not_found"
    message = "没有找到该角色"


class RoleExists(Conflict):
    code = "user.role_exists"
    message = "该用户已有此角色"


class NotGridWorker(Conflict):
    code = "user.not_grid_worker"
    message = "该用户不是本社区的网格员"


class BuildingMismatch(Unprocessable):
    code = "user.building_mismatch"
    message = "楼栋不属于所选社区"
