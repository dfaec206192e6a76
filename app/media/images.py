"""Photo validation and re-encoding: untrusted bytes in, metadata-free JPEG and thumbnail out."""

import io
import struct
import zlib
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageCms, ImageOps

from app.core.config import MediaSettings
from app.media.exceptions import (
    UploadCorrupt,
    UploadEmpty,
    UploadTooLarge,
    UploadTooManyPixels,
    UploadUnsupportedType,
)

pillow_heif.register_heif_opener()

# Enough for every signature below, including an ftyp box with a few compatible brands.
_SNIFF_BYTES = 64

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
# "mif1" is also used by AVIF files; an AV1 payload is refused even under a generic major brand.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

# Pillow opens a JPEG carrying an MP extension (common on phone cameras) as "MPO".
_PILLOW_FORMATS: dict[str, frozenset[str]] = {
    "JPEG": frozenset({"JPEG", "MPO"}),
    "PNG": frozenset({"PNG"}),
    "WEBP": frozenset({"WEBP"}),
    "HEIF": frozenset({"HEIF"}),
}

# What Pillow and its plugins raise on malformed input; Image.open itself treats the
# last few as "not this format", and a truncated pixel stream surfaces as OSError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)

_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class ProcessedImage:
    full: bytes
    thumb: bytes
    width: int
    height: int
    source_format: str
    content_type: str = "image/jpeg"


def sniff_format(head: bytes) -> str | None:
    """Identify JPEG, PNG, WEBP or HEIF from the leading bytes; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        box_end = min(int.from_bytes(head[:4], "big"), len(head))
        compatible = {head[i : i + 4] for i in range(16, box_end - 3, 4)}
        return None if compatible & _AVIF_BRANDS else "HEIF"
    return None


def process_image(data: bytes, cfg: MediaSettings) -> ProcessedImage:
    """Validate an uploaded photo and re-encode it as a metadata-free JPEG plus a thumbnail."""
    if not data:
        raise UploadEmpty()
    if len(data) > cfg.max_bytes:
        raise UploadTooLarge(_too_large_message(cfg.max_bytes), max_bytes=cfg.max_bytes)
    fmt = sniff_format(data[:_SNIFF_BYTES])
    if fmt is None:
        raise UploadUnsupportedType()

    try:
        # formats= keeps Pillow from trying every other plugin on bytes we already typed.
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            if img.format not in _PILLOW_FORMATS[fmt]:
                raise UploadUnsupportedType()
            # Image.open has read the header only; this is the last point before pixels are decoded.
            width, height = img.size
            if width * height > cfg.max_pixels:
                raise UploadTooManyPixels(width=width, height=height, max_pixels=cfg.max_pixels)
            if img.format in ("JPEG", "MPO"):
                # DCT-domain scaling: huge JPEGs decode at a fraction of the memory, never below max_side.
                img.draft(None, (cfg.max_side, cfg.max_side))
            icc_profile = img.info.get("icc_profile")
            # Only the current frame is decoded: the first one, or the primary image of a HEIF.
            img.load()
            frame = _apply_orientation(img)
            rgb = _to_rgb(frame, icc_profile)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own ceiling (it raises the warning only when warnings are configured as errors).
        raise UploadTooManyPixels(max_pixels=cfg.max_pixels) from exc
    except _DECODE_ERRORS as exc:
        raise UploadCorrupt() from exc

    full = _fit(rgb, cfg.max_side)
    full = _icc_to_srgb(full, icc_profile, "RGB") or full
    thumb = _fit(full, cfg.thumb_side)
    return ProcessedImage(
        full=_encode_jpeg(full, cfg.jpeg_quality),
        thumb=_encode_jpeg(thumb, cfg.jpeg_quality),
        width=full.width,
        height=full.height,
        source_format=fmt,
    )


def _too_large_message(max_bytes: int) -> str:
    mib = max_bytes / (1024 * 1024)
    limit = f"{mib:.1f}".removesuffix(".0") + " MB" if mib >= 1 else f"{max(1, max_bytes // 1024)} KB"
    return f"照片不能超过 {limit}"


def _apply_orientation(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except _DECODE_ERRORS:
        # Pixels already decoded fine; an unreadable EXIF block costs the rotation, not the photo.
        return img.copy()


def _to_rgb(img: Image.Image, icc_profile: bytes | None) -> Image.Image:
    if img.mode == "CMYK":
        # CMYK without its profile converts to washed-out colours, so use the profile when there is one.
        return _icc_to_srgb(img, icc_profile, "CMYK") or img.convert("RGB")
    if img.mode.startswith("I"):
        # 16-bit greyscale: a plain convert clips everything above 255 to white.
        img = img.convert("I").point(lambda v: v / 256, "L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        # Transparent areas would turn black in JPEG; a white background is what viewers expect.
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def _icc_to_srgb(img: Image.Image, icc_profile: bytes | None, space: str) -> Image.Image | None:
    # The profile is dropped from the output, so pixels must be in sRGB first or wide-gamut
    # phone photos (Display P3) would look dull; None means "leave the pixels as they are".
    if not icc_profile:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if source.profile.xcolor_space.strip() != space:
            return None
        return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, *_DECODE_ERRORS):
        return None


def _fit(img: Image.Image, side: int) -> Image.Image:
    longest = max(img.size)
    if longest <= side:
        return img
    scale = side / longest
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    # Pillow writes some of info (comment, and possibly more in later versions) back out on save;
    # an empty info guarantees no EXIF/GPS, ICC, XMP or comment reaches the stored file.
    img.info = {}
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True, progressive=True)
    return buf.getvalue()
