"""Photo validation and re-encoding, driven by images generated in code."""

import io
import os
import struct
import zlib

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, PngImagePlugin

from app.core.config import MediaSettings
from app.media.exceptions import (
    UploadCorrupt,
    UploadEmpty,
    UploadTooLarge,
    UploadTooManyPixels,
    UploadUnsupportedType,
)
from app.media.images import ProcessedImage, process_image, sniff_format

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def cfg(**overrides: object) -> MediaSettings:
    return MediaSettings(**overrides)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def noise(size: tuple[int, int]) -> Image.Image:
    # Random pixels do not compress, so byte offsets land in pixel data, not headers.
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def halves(size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def open_out(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def heif_encoder_available() -> bool:
    try:
        encode(Image.new("RGB", (16, 16)), "HEIF")
    except Exception:
        return False
    return True


needs_heif_encoder = pytest.mark.skipif(
    not heif_encoder_available(),
    reason="this pillow-heif build has no HEVC encoder, so HEIC test files cannot be generated",
)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bilevel_png(width: int, height: int) -> bytes:
    """A complete, valid all-black 1-bit PNG, built row by row so it is never held decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@pytest.fixture
def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


class TestSniffFormatReadsMagicBytes:
    @pytest.mark.parametrize(
        ("head", "expected"),
        [
            (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG"),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
            (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WEBP"),
            (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIF"),
            (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "HEIF"),
            (b"\x00\x00\x00\x18ftypheix\x00\x00\x00\x00mif1heix", "HEIF"),
        ],
    )
    def test_recognises_accepted_formats(self, head: bytes, expected: str) -> None:
        assert sniff_format(head) == expected

    @pytest.mark.parametrize(
        "head",
        [
            b"",
            b"\xff\xd8",
            b"GIF89a\x01\x00\x01\x00",
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3",
            b"hello, this is plain text",
            b"RIFF\x24\x00\x00\x00WAVEfmt ",
            b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
            b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf",
            b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
        ],
        ids=["empty", "short-jpeg", "gif", "pdf", "text", "wav", "avif", "avif-generic-brand", "mp4"],
    )
    def test_returns_none_for_everything_else(self, head: bytes) -> None:
        assert sniff_format(head) is None


class TestAcceptedFormatsAreReencodedAsJpeg:
    @pytest.mark.parametrize(
        ("fmt", "expected_source"),
        [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WEBP")],
    )
    def test_common_formats(self, fmt: str, expected_source: str) -> None:
        data = encode(halves((120, 80), RED, BLUE), fmt)

        out = process_image(data, cfg())

        assert isinstance(out, ProcessedImage)
        assert out.source_format == expected_source
        assert out.content_type == "image/jpeg"
        full = open_out(out.full)
        assert full.format == "JPEG"
        assert full.mode == "RGB"
        assert (out.width, out.height) == full.size == (120, 80)
        assert close_to(full.getpixel((10, 40)), RED)
        assert close_to(full.getpixel((110, 40)), BLUE)
        assert open_out(out.thumb).format == "JPEG"

    @needs_heif_encoder
    def test_heic_from_an_iphone_is_accepted(self) -> None:
        data = encode(halves((120, 80), RED, BLUE), "HEIF", quality=95)
        assert data[4:12] == b"ftypheic"

        out = process_image(data, cfg())

        assert out.source_format == "HEIF"
        full = open_out(out.full)
        assert full.format == "JPEG"
        assert full.size == (120, 80)
        assert close_to(full.getpixel((10, 40)), RED, tolerance=30)
        assert close_to(full.getpixel((110, 40)), BLUE, tolerance=30)

    def test_type_comes_from_content_not_from_the_file_name(self, tmp_path) -> None:
        named_jpg = tmp_path / "photo.jpg"
        named_jpg.write_bytes(encode(Image.new("RGB", (40, 30), RED), "PNG"))

        out = process_image(named_jpg.read_bytes(), cfg())

        assert out.source_format == "PNG"
        assert open_out(out.full).format == "JPEG"

    def test_multi_picture_jpeg_from_a_phone_camera_counts_as_jpeg(self) -> None:
        first = Image.new("RGB", (64, 48), RED)
        data = encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (64, 48), BLUE)])
        assert Image.open(io.BytesIO(data)).format == "MPO"

        out = process_image(data, cfg())

        assert out.source_format == "JPEG"
        assert close_to(open_out(out.full).getpixel((32, 24)), RED)


class TestUnsupportedContentIsRefused:
    @pytest.mark.parametrize(
        "data",
        [
            "这不是照片，只是一段文字".encode(),
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
            encode(Image.new("RGB", (16, 16), RED), "GIF"),
            encode(Image.new("RGB", (16, 16), RED), "BMP"),
            encode(Image.new("RGB", (16, 16), RED), "TIFF"),
        ],
        ids=["text", "pdf", "gif", "bmp", "tiff"],
    )
    def test_non_photo_content(self, data: bytes) -> None:
        with pytest.raises(UploadUnsupportedType) as exc:
            process_image(data, cfg())

        assert exc.value.code == "upload.unsupported_type"
        assert exc.value.status_code == 415

    def test_avif_is_not_accepted_as_heif(self) -> None:
        data = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64

        with pytest.raises(UploadUnsupportedType):
            process_image(data, cfg())

    def test_empty_file(self) -> None:
        with pytest.raises(UploadEmpty) as exc:
            process_image(b"", cfg())

        assert exc.value.code == "upload.empty"
        assert exc.value.status_code == 422


class TestBrokenFilesAreReportedAsCorrupt:
    def test_truncated_jpeg(self) -> None:
        data = encode(noise((256, 256)), "JPEG", quality=90)

        with pytest.raises(UploadCorrupt) as exc:
            process_image(data[: len(data) * 2 // 3], cfg())

        assert exc.value.code == "upload.corrupt"
        assert exc.value.status_code == 422

    def test_truncated_png(self) -> None:
        data = encode(noise((256, 256)), "PNG")

        with pytest.raises(UploadCorrupt):
            process_image(data[: len(data) // 2], cfg())

    def test_truncated_webp(self) -> None:
        data = encode(noise((256, 256)), "WEBP", quality=90)

        with pytest.raises(UploadCorrupt):
            process_image(data[: len(data) // 2], cfg())

    @needs_heif_encoder
    def test_truncated_heic(self) -> None:
        data = encode(noise((256, 256)), "HEIF")

        with pytest.raises(UploadCorrupt):
            process_image(data[: len(data) // 2], cfg())

    def test_png_signature_followed_by_garbage(self) -> None:
        with pytest.raises(UploadCorrupt):
            process_image(b"\x89PNG\r\n\x1a\n" + os.urandom(512), cfg())

    def test_jpeg_magic_in_front_of_a_png_is_not_accepted(self) -> None:
        polyglot = b"\xff\xd8\xff" + encode(Image.new("RGB", (32, 32), RED), "PNG")

        with pytest.raises((UploadCorrupt, UploadUnsupportedType)):
            process_image(polyglot, cfg())

    def test_bytes_appended_after_a_valid_image_do_not_survive(self) -> None:
        payload = b"<?php system($_GET['c']); ?>"
        data = encode(Image.new("RGB", (32, 32), RED), "PNG") + payload

        out = process_image(data, cfg())

        assert payload not in out.full
        assert payload not in out.thumb


class TestSizeLimits:
    def test_file_over_max_bytes_is_refused_before_decoding(self, forbid_decoding: None) -> None:
        data = encode(noise((64, 64)), "PNG")

        with pytest.raises(UploadTooLarge) as exc:
            process_image(data, cfg(max_bytes=len(data) - 1))

        assert exc.value.code == "upload.too_large"
        assert exc.value.status_code == 413
        assert exc.value.details == {"max_bytes": len(data) - 1}

    def test_file_of_exactly_max_bytes_is_accepted(self) -> None:
        data = encode(noise((64, 64)), "PNG")

        assert process_image(data, cfg(max_bytes=len(data))).source_format == "PNG"

    def test_too_large_message_states_the_configured_limit(self) -> None:
        with pytest.raises(UploadTooLarge) as exc:
            process_image(b"\xff" * (10 * 1024 * 1024 + 1), cfg())

        assert exc.value.message == "照片不能超过 10 MB"

    def test_too_many_pixels_is_refused_from_the_header(self, forbid_decoding: None) -> None:
        # 64 Mpx: under Pillow's own bomb threshold, so only our limit can stop it.
        data = bilevel_png(8000, 8000)

        with pytest.raises(UploadTooManyPixels) as exc:
            process_image(data, cfg(max_pixels=40_000_000))

        assert exc.value.code == "upload.too_many_pixels"
        assert exc.value.status_code == 413
        assert exc.value.details == {"width": 8000, "height": 8000, "max_pixels": 40_000_000}

    def test_pixel_limit_is_inclusive(self) -> None:
        data = encode(Image.new("RGB", (100, 100), RED), "PNG")

        assert process_image(data, cfg(max_pixels=100 * 100)).width == 100
        with pytest.raises(UploadTooManyPixels):
            process_image(data, cfg(max_pixels=100 * 100 - 1))

    def test_decompression_bomb_is_refused_without_decoding(self, forbid_decoding: None) -> None:
        # 900 Mpx (about 1 GB decoded) in roughly 100 KB of valid PNG.
        bomb = bilevel_png(30_000, 30_000)
        assert len(bomb) < 200_000

        with pytest.raises(UploadTooManyPixels) as exc:
            process_image(bomb, cfg(max_pixels=40_000_000))

        assert exc.value.details["max_pixels"] == 40_000_000

    @pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
    def test_pillow_bomb_warning_counts_as_too_many_pixels(self, forbid_decoding: None) -> None:
        # 100 Mpx trips Pillow's warning; our own limit is set out of the way on purpose.
        with pytest.raises(UploadTooManyPixels):
            process_image(bilevel_png(10_000, 10_000), cfg(max_pixels=500_000_000))


def jpeg_with_gps(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Apple"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (39.0, 54.0, 27.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (116.0, 23.0, 50.0)
    return encode(img, "JPEG", exif=exif, quality=95)


class TestPrivateMetadataIsStripped:
    def test_gps_exif_is_removed_and_orientation_applied(self) -> None:
        # Stored sideways: displayed upright after rotating 90° clockwise (orientation 6).
        data = jpeg_with_gps(halves((200, 100), RED, BLUE), orientation=6)
        source = Image.open(io.BytesIO(data)).getexif()
        assert source.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
        assert source[ExifTags.Base.Orientation] == 6

        out = process_image(data, cfg())

        for encoded in (out.full, out.thumb):
            assert b"Exif" not in encoded
            assert len(open_out(encoded).getexif()) == 0
        full = open_out(out.full)
        assert (out.width, out.height) == full.size == (100, 200)
        # The left (red) half of the stored image ends up on top once rotated clockwise.
        assert close_to(full.getpixel((50, 20)), RED)
        assert close_to(full.getpixel((50, 180)), BLUE)

    def test_xmp_and_comment_are_removed(self) -> None:
        data = encode(
            Image.new("RGB", (80, 60), RED),
            "JPEG",
            xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">home address</x:xmpmeta>',
            comment=b"home address",
        )
        assert {"xmp", "comment"} <= Image.open(io.BytesIO(data)).info.keys()

        out = process_image(data, cfg())

        for encoded in (out.full, out.thumb):
            assert not {"xmp", "comment"} & open_out(encoded).info.keys()
            assert b"home address" not in encoded

    def test_icc_profile_is_removed_after_converting_to_srgb(self) -> None:
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        data = encode(Image.new("RGB", (80, 60), RED), "JPEG", icc_profile=srgb)
        assert "icc_profile" in Image.open(io.BytesIO(data)).info

        out = process_image(data, cfg())

        for encoded in (out.full, out.thumb):
            assert "icc_profile" not in open_out(encoded).info
            assert b"ICC_PROFILE" not in encoded
        assert close_to(open_out(out.full).getpixel((40, 30)), RED)

    @pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
    def test_unreadable_exif_does_not_cost_the_photo(self) -> None:
        broken_exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00"
        data = encode(Image.new("RGB", (40, 20), RED), "JPEG", exif=broken_exif)

        out = process_image(data, cfg())

        assert (out.width, out.height) == (40, 20)
        assert b"Exif" not in out.full

    def test_png_text_chunks_are_removed(self) -> None:
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "home address")
        text.add_itxt("Location", "家庭住址")
        data = encode(Image.new("RGB", (40, 40), RED), "PNG", pnginfo=text)

        out = process_image(data, cfg())

        assert b"home address" not in out.full
        assert "家庭住址".encode() not in out.full

    @needs_heif_encoder
    def test_heic_gps_exif_is_removed(self) -> None:
        exif = Image.Exif()
        exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
        data = encode(Image.new("RGB", (64, 48), RED), "HEIF", exif=exif)
        assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

        out = process_image(data, cfg())

        assert b"Exif" not in out.full
        assert len(open_out(out.full).getexif()) == 0


class TestColourModesBecomeRgb:
    def test_transparent_png_is_flattened_onto_white(self) -> None:
        img = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
        img.paste((255, 0, 0, 255), (0, 0, 30, 40))
        out = process_image(encode(img, "PNG"), cfg())

        full = open_out(out.full)
        assert full.mode == "RGB"
        assert close_to(full.getpixel((10, 20)), RED)
        assert close_to(full.getpixel((50, 20)), WHITE)

    def test_transparent_webp_is_flattened_onto_white(self) -> None:
        img = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
        img.paste((0, 0, 255, 255), (30, 0, 60, 40))
        out = process_image(encode(img, "WEBP", lossless=True), cfg())

        full = open_out(out.full)
        assert close_to(full.getpixel((10, 20)), WHITE)
        assert close_to(full.getpixel((50, 20)), BLUE)

    def test_palette_png_with_transparent_index_is_flattened_onto_white(self) -> None:
        img = Image.new("P", (40, 40), 0)
        img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 - 2) * 3)
        img.paste(1, (0, 0, 20, 40))
        data = encode(img, "PNG", transparency=0)
        assert Image.open(io.BytesIO(data)).mode == "P"

        full = open_out(process_image(data, cfg()).full)

        assert close_to(full.getpixel((5, 20)), RED)
        assert close_to(full.getpixel((35, 20)), WHITE)

    def test_greyscale_with_alpha_is_flattened_onto_white(self) -> None:
        img = Image.new("LA", (40, 40), (0, 0))
        img.paste((0, 255), (0, 0, 20, 40))

        full = open_out(process_image(encode(img, "PNG"), cfg()).full)

        assert full.mode == "RGB"
        assert close_to(full.getpixel((5, 20)), (0, 0, 0))
        assert close_to(full.getpixel((35, 20)), WHITE)

    def test_sixteen_bit_greyscale_keeps_its_brightness(self) -> None:
        data = encode(Image.new("I;16", (40, 40), 32768), "PNG")
        assert Image.open(io.BytesIO(data)).mode.startswith("I")

        full = open_out(process_image(data, cfg()).full)

        assert full.mode == "RGB"
        assert close_to(full.getpixel((20, 20)), (128, 128, 128), tolerance=3)

    def test_cmyk_jpeg_is_converted_to_rgb(self) -> None:
        data = encode(Image.new("CMYK", (40, 40), (255, 0, 0, 0)), "JPEG", quality=95)
        assert Image.open(io.BytesIO(data)).mode == "CMYK"

        full = open_out(process_image(data, cfg()).full)

        assert full.mode == "RGB"
        assert close_to(full.getpixel((20, 20)), (0, 255, 255))


class TestResizing:
    @pytest.mark.parametrize(
        ("size", "expected"),
        [((3000, 1500), (1000, 500)), ((1500, 3000), (500, 1000)), ((1000, 1000), (1000, 1000))],
    )
    def test_longest_side_is_limited_to_max_side(
        self, size: tuple[int, int], expected: tuple[int, int]
    ) -> None:
        out = process_image(encode(Image.new("RGB", size, RED), "PNG"), cfg(max_side=1000))

        assert (out.width, out.height) == open_out(out.full).size == expected

    def test_small_images_are_not_upscaled(self) -> None:
        out = process_image(encode(Image.new("RGB", (300, 200), RED), "PNG"), cfg(max_side=1000))

        assert (out.width, out.height) == (300, 200)

    def test_large_jpeg_is_downscaled_exactly_to_max_side(self) -> None:
        # Big enough for Pillow's DCT draft scaling to kick in before the final resize.
        data = encode(Image.new("RGB", (4000, 2400), RED), "JPEG")

        out = process_image(data, cfg(max_side=1000))

        assert (out.width, out.height) == (1000, 600)

    @pytest.mark.parametrize(("size", "expected"), [((1000, 500), (100, 50)), ((500, 1000), (50, 100))])
    def test_thumbnail_fits_within_thumb_side(self, size: tuple[int, int], expected: tuple[int, int]) -> None:
        out = process_image(encode(Image.new("RGB", size, RED), "PNG"), cfg(thumb_side=100))

        thumb = open_out(out.thumb)
        assert thumb.format == "JPEG"
        assert thumb.size == expected

    def test_output_is_progressive_jpeg(self) -> None:
        out = process_image(encode(noise((200, 200)), "PNG"), cfg())

        assert open_out(out.full).info.get("progressive")

    def test_jpeg_quality_setting_is_used(self) -> None:
        data = encode(noise((200, 200)), "PNG")

        low = process_image(data, cfg(jpeg_quality=30))
        high = process_image(data, cfg(jpeg_quality=95))

        assert len(low.full) < len(high.full)


class TestMultiFrameImagesUseTheFirstFrame:
    @pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
    def test_animated_image(self, fmt: str) -> None:
        frames = [Image.new("RGB", (40, 40), RED), Image.new("RGB", (40, 40), BLUE)]
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
        assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2

        full = open_out(process_image(data, cfg()).full)

        assert close_to(full.getpixel((20, 20)), RED)

    @needs_heif_encoder
    def test_heif_with_several_images(self) -> None:
        frames = [Image.new("RGB", (40, 40), RED), Image.new("RGB", (40, 40), BLUE)]
        data = encode(frames[0], "HEIF", save_all=True, append_images=frames[1:])
        assert len(pillow_heif.open_heif(io.BytesIO(data))) == 2

        full = open_out(process_image(data, cfg()).full)

        assert close_to(full.getpixel((20, 20)), RED, tolerance=30)
