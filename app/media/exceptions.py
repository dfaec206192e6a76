"""Upload errors: stable codes and Chinese messages for every way a photo can be refused."""

from app.core.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType


class UploadEmpty(Unprocessable):
    code = "upload.empty"
    message = "文件是空的"


class UploadTooLarge(PayloadTooLarge):
    code = "upload.too_large"
    message = "照片不能超过 10 MB"


class UploadUnsupportedType(UnsupportedMediaType):
    code = "upload.unsupported_type"
    message = "只支持 JPEG、PNG、WebP 和 HEIC 格式的照片"


class UploadTooManyPixels(PayloadTooLarge):
    code = "upload.too_many_pixels"
    message = "照片像素太多，请压缩后再传"


class UploadCorrupt(Unprocessable):
    code = "upload.corrupt"
    message = "照片文件已损坏，无法读取"
