"""Photo shapes."""

import uuid
from datetime import datetime

from pydantic import Field

from app.core.schemas import OutSchema


class PhotoRead(OutSchema):
    id: uuid.UUID = Field(description="提交随手拍、维修单时引用的照片编号")
    content_type: str = Field(examples=["image/jpeg"])
    width: int
    height: int
    size_bytes: int
    url: str = Field(description="原图地址（已去除 EXIF/定位信息），限时有效，可直接用于 <image src>")
    thumbnail_url: str = Field(description="缩略图地址，限时有效")
    urls_expire_at: datetime
    check: str = Field(
        default="none",
        description="微信内容安全检测：none 未检测（非小程序上传）、pending 检测中、pass 通过、"
        "review 待人工审核、risky 未通过（已隔离，仅工作人员可见）",
    )
