"""乐修匠 errors: each a stable code and a plain Chinese message."""

from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable


class OrderNotFound(NotFound):
    code = "repair.order_not_found"
    message = "没有找到该维修单"


class ActionNotAllowed(Forbidden):
    code = "repair.action_not_allowed"
    message = "您不能对该维修单执行此操作"


class InvalidTransition(Conflict):
    code = "repair.invalid_transition"
    message = "维修单当前状态不能执行此操作"


class OrderFinished(Conflict):
    code = "repair.order_finished"
    message = "维修单已评价或已取消，不能再操作"


class AlreadyAccepted(Conflict):
    code = "repair.already_accepted"
    message = "该维修单已被其他师傅接单"


class WorkloadCapReached(Conflict):
    code = "repair.workload_cap_reached"
    message = "您手上的维修单已达上限，请先完成已接的单子"


class NotACraftsman(Forbidden):
    code = "repair.not_a_craftsman"
    message = "您还没有登记为乐修匠师傅，或已停用"


class CraftsmanNotEligible(Unprocessable):
    code = "repair.craftsman_not_eligible"
    message = "该师傅不会这类维修、不服务这个社区或已停用"


class ScheduleInPast(Unprocessable):
    code = "repair.schedule_in_past"
    message = "上门时间不能早于现在"


class TooEarlyForNoShow(Conflict):
    code = "repair.too_early_for_no_show"
    message = "还没到约定时间，暂不能登记未上门或家中无人"


class ResidentMayNotCancelNow(Conflict):
    code = "repair.resident_cancel_too_late"
    message = "师傅已经上门，居民不能自行取消，请联系社区工作人员"


class PriceItemNotAvailable(Unprocessable):
    code = "repair.price_item_not_available"
    message = "报价项目不在本街道当前有效的价目表中"


class QuoteNotConfirmed(Conflict):
    code = "repair.quote_not_confirmed"
    message = "居民还没有确认报价"


class AmountMismatch(Unprocessable):
    code = "repair.amount_mismatch"
    message = "收款金额与报价应付金额不一致"


class PaymentMethodInvalid(Unprocessable):
    code = "repair.payment_method_invalid"
    message = "应付金额为 0 时结算方式应为“免费”，否则应为现金或微信支付（微信支付需填写交易单号）"


class ResidentNotFound(Unprocessable):
    code = "repair.resident_not_found"
    message = "没有找到该居民，或不在您管理的社区"


class OrderForOthersNotAllowed(Forbidden):
    code = "repair.for_others_not_allowed"
    message = "只有社区、街道工作人员可以替居民登记维修单"


class NoCommunity(Unprocessable):
    code = "repair.no_community"
    message = "请先在“我的”里设置所在社区，或由社区工作人员代为登记"


class PriceItemNotFound(NotFound):
    code = "repair.price_item_not_found"
    message = "没有找到该价目表项目"


class PriceItemExists(Conflict):
    code = "repair.price_item_exists"
    message = "同一分类下已有同名的价目表项目"


class CraftsmanNotFound(NotFound):
    code = "repair.craftsman_not_found"
    message = "没有找到该师傅"


class UserNotCraftsman(Unprocessable):
    code = "repair.user_not_craftsman"
    message = "该用户还没有本街道的乐修匠师傅角色，请先授予角色"


class TicketNotEligible(Conflict):
    code = "repair.ticket_not_eligible"
    message = "该随手拍问题已转为维修单，或没有上报人住户信息，不能转为维修单"


class ScopeForbidden(Forbidden):
    code = "repair.scope_forbidden"
    message = "只有本街道或本社区的工作人员可以操作"


class PhotoNotFound(Unprocessable):
    code = "repair.photo_not_found"
    message = "照片不存在，请重新上传"


class PhotoNotYours(Forbidden):
    code = "repair.photo_not_yours"
    message = "只能使用自己上传的照片"
