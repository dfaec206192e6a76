"""Organisation errors."""

from app.core.errors import Conflict, NotFound, Unprocessable


class SubdistrictNotFound(NotFound):
    code = "org.subdistrict_not_found"
    message = "没有找到该街道"


class CommunityNotFound(NotFound):
    code = "org.community_not_found"
    message = "没有找到该社区"


class GridNotFound(NotFound):
    code = "grid.not_found"
    message = "没有找到该网格"


class NoGridAtPoint(NotFound):
    code = "grid.not_found_at_point"
    message = "该位置不在任何网格内，请在地图上重新选择位置"


class BuildingNotFound(NotFound):
    code = "org.building_not_found"
    message = "没有找到该楼栋"


class DepartmentNotFound(NotFound):
    code = "org.department_not_found"
    message = "没有找到该部门"


class CategoryNotFound(NotFound):
    code = "org.category_not_found"
    message = "没有找到该问题分类"


class CodeTaken(Conflict):
    code = "org.code_taken"
    message = "编码或名称已被使用"


class InvalidBoundary(Unprocessable):
    code = "grid.invalid_boundary"
    message = "网格边界不正确"


class InvalidPoint(Unprocessable):
    code = "geo.invalid_point"
    message = "坐标不正确"


class ScopeMismatch(Unprocessable):
    code = "org.scope_mismatch"
    message = "所选对象不属于同一社区或街道"
