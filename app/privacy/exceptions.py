"""Privacy errors (stable codes, Chinese messages)."""

from app.core.errors import Conflict, Forbidden, Unprocessable


class StaffAccountNotDeletable(Conflict):
    code = "privacy.staff_account"
    message = "工作人员账号不能自行注销，请联系为您开通账号的管理员停用"


class AuditLogForbidden(Forbidden):
    code = "privacy.audit_log_forbidden"
    message = "仅限街道管理员和平台管理员查看个人信息访问记录"


class InvalidDateRange(Unprocessable):
    code = "privacy.invalid_date_range"
    message = "开始时间必须早于结束时间"
