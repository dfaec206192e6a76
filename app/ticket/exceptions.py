"""Ticket errors."""

from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable


class TicketNotFound(NotFound):
    code = "ticket.not_found"
    message = "没有找到该工单"


class InvalidTransition(Conflict):
    code = "ticket.invalid_transition"
    message = "工单当前状态不能执行此操作"


class AlreadyClaimed(Conflict):
    code = "ticket.already_claimed"
    message = "该工单已被其他网格员接单"


class TicketFinished(Conflict):
    code = "ticket.finished"
    message = "工单已关闭、驳回或合并，不能再操作"


class ActionNotAllowed(Forbidden):
    code = "ticket.action_not_allowed"
    message = "您不能对该工单执行此操作"


class UnknownCategory(Unprocessable):
    code = "ticket.unknown_category"
    message = "问题分类不存在或已停用"


class NoGridForLocation(Unprocessable):
    code = "ticket.no_grid"
    message = "该位置不在任何网格内，也没有可以接收的社区，请在地图上重新选择位置"


class LocationRequired(Unprocessable):
    code = "ticket.location_required"
    message = "请在地图上选择位置，或填写地址"


class PhotoNotFound(Unprocessable):
    code = "ticket.photo_not_found"
    message = "照片不存在，请重新上传"


class PhotoNotYours(Forbidden):
    code = "ticket.photo_not_yours"
    message = "只能使用自己上传的照片"


class ReportForOthersNotAllowed(Forbidden):
    code = "ticket.on_behalf_not_allowed"
    message = "只有工作人员和网格员可以代居民上报"


class WorkerNotEligible(Unprocessable):
    code = "ticket.worker_not_eligible"
    message = "该用户不是本社区的网格员"


class DepartmentNotEligible(Unprocessable):
    code = "ticket.department_not_eligible"
    message = "该部门不属于本街道"


class MergeTargetInvalid(Unprocessable):
    code = "ticket.merge_target_invalid"
    message = "只能合并到本社区另一个未关闭的工单"


class ReopenWindowPassed(Conflict):
    code = "ticket.reopen_window_passed"
    message = "已超过可以重新打开的时间，请重新上报"


class CannotSupportOwn(Conflict):
    code = "ticket.support_own"
    message = "不能为自己上报的问题点“+1”"
