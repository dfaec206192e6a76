"""菜鸟学堂 errors: each a stable code and a plain Chinese message."""

from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable


class CourseNotFound(NotFound):
    code = "course.course_not_found"
    message = "没有找到该课程"


class SessionNotFound(NotFound):
    code = "course.session_not_found"
    message = "没有找到该课次"


class SignupNotFound(NotFound):
    code = "course.signup_not_found"
    message = "没有找到该报名记录"


class AttendeeNotFound(NotFound):
    code = "course.attendee_not_found"
    message = "没有找到该学员"


class HelpRequestNotFound(NotFound):
    code = "course.help_request_not_found"
    message = "没有找到该求助"


class ScopeForbidden(Forbidden):
    code = "course.scope_forbidden"
    message = "您无权管理该社区的课程"


class ActionNotAllowed(Forbidden):
    code = "course.action_not_allowed"
    message = "您不能执行此操作"


class NotATeacher(Forbidden):
    code = "course.not_a_teacher"
    message = "只有本社区的菜鸟学堂老师（志愿者）可以认领"


class InvalidTeachers(Unprocessable):
    code = "course.invalid_teachers"
    message = "授课老师须是本社区的菜鸟学堂老师"


class InvalidTimes(Unprocessable):
    code = "course.invalid_times"
    message = "结束时间须晚于开始时间，且一次课不超过 8 小时"


class CapacityTooLarge(Unprocessable):
    code = "course.capacity_too_large"
    message = "名额超过了允许的上限"


class RelationshipRequired(Unprocessable):
    code = "course.relationship_required"
    message = "替他人报名请选择您与学员的关系"


class SessionInPast(Unprocessable):
    code = "course.session_in_past"
    message = "开课时间不能早于现在"


class CapacityBelowSeated(Conflict):
    code = "course.capacity_below_seated"
    message = "名额不能少于已报名的人数，请先与学员沟通取消"


class SessionStarted(Conflict):
    code = "course.session_started"
    message = "这次课已经开始或已结束，不能再报名"


class SessionCancelled(Conflict):
    code = "course.session_cancelled"
    message = "这次课已取消"


class SessionFinished(Conflict):
    code = "course.session_finished"
    message = "这次课已经结束，不能再修改"


class OverlappingSession(Conflict):
    code = "course.overlapping_session"
    message = "该学员在这个时间已报名了另一节课"


class AlreadySignedUp(Conflict):
    code = "course.already_signed_up"
    message = "该学员已经报名了这节课"


class ConsentRequired(Unprocessable):
    code = "course.consent_required"
    message = "替他人报名须先征得本人同意"


class AttendeeRequired(Unprocessable):
    code = "course.attendee_required"
    message = "替他人报名请填写学员姓名，或选择已登记的学员"


class SignupAlreadyCancelled(Conflict):
    code = "course.signup_already_cancelled"
    message = "该报名已经取消过了"


class CancelCutoffPassed(Conflict):
    code = "course.cancel_cutoff_passed"
    message = "已过自行取消的时间，请联系社区工作人员"


class InvalidTransition(Conflict):
    code = "course.invalid_transition"
    message = "当前状态不能执行此操作"


class NoSeatFree(Conflict):
    code = "course.no_seat_free"
    message = "这节课已满，没有空余名额"


class NotWaitlisted(Conflict):
    code = "course.not_waitlisted"
    message = "该报名不在候补名单中"


class CheckinTokenInvalid(Unprocessable):
    code = "course.checkin_token_invalid"
    message = "签到码无效，请重新扫码"


class CheckinTokenExpired(Unprocessable):
    code = "course.checkin_token_expired"
    message = "签到码已过期，请扫描现场最新的二维码"


class CheckinTokenWrongSession(Unprocessable):
    code = "course.checkin_token_wrong_session"
    message = "这是另一节课的签到码"


class CheckinNotOpen(Conflict):
    code = "course.checkin_not_open"
    message = "现在不在签到时间内"


class NotSignedUp(Conflict):
    code = "course.not_signed_up"
    message = "没有找到这节课的有效报名，不能签到"


class WaitlistedCannotCheckIn(Conflict):
    code = "course.waitlisted_cannot_check_in"
    message = "候补中的学员还没有座位，不能签到"


class WhichSignup(Unprocessable):
    code = "course.signup_id_required"
    message = "您为多位学员报名了这节课，请选择为谁签到"


class RollCallClosed(Conflict):
    code = "course.roll_call_closed"
    message = "点名时间已过，不能再修改出勤"


class RollCallNotOpen(Conflict):
    code = "course.roll_call_not_open"
    message = "课程还没开始，不能点名"


class HelpAlreadyClaimed(Conflict):
    code = "course.help_already_claimed"
    message = "该求助已被其他志愿者认领"


class ScheduleInPast(Unprocessable):
    code = "course.schedule_in_past"
    message = "约定时间不能早于现在"


class UserNotResident(Unprocessable):
    code = "course.user_not_found"
    message = "没有找到该居民账号"


class AttendeeAlreadyLinked(Conflict):
    code = "course.attendee_already_linked"
    message = "该学员已关联了居民账号"


class NoCommunity(Unprocessable):
    code = "course.no_community"
    message = "请选择所在社区"
