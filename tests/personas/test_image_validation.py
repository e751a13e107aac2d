import io
import warnings
import zipfile

import pytest
from PIL import Image, PngImagePlugin

from personas.image_validation import ImageRejected, sha256_of, validate_reference_image
from tests.personas import imaging


def rejected(data: bytes) -> str:
    with pytest.raises(ImageRejected) as info:
        validate_reference_image(data)
    return info.value.message


def reopen(content: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(content))
    img.load()
    return img


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(imaging.jpeg(), "JPEG"), (imaging.png(), "PNG"), (imaging.webp(quality=90), "WEBP")],
)
def test_accepts_jpeg_png_webp_and_reencodes_in_the_same_format(data, fmt):
    result = validate_reference_image(data)
    assert result.format == fmt
    assert (result.width, result.height) == (512, 512)
    assert result.sha256 == sha256_of(data)
    assert reopen(result.content).format == fmt


def test_decompression_bomb_declared_in_png_header_is_rejected_before_decoding():
    bomb = imaging.png_declaring(20000, 20000)
    assert len(bomb) < 200  # the header alone claims 400 megapixels
    assert "too many pixels" in rejected(bomb)


def test_pixel_limit_from_settings_is_checked_from_the_header(settings):
    settings.REFERENCE_IMAGE_MAX_PIXELS = 600 * 600
    message = rejected(imaging.png_declaring(700, 700))  # header only: decoding would fail differently
    assert "700x700" in message
    assert "decompression bomb" in message


def test_pillow_decompression_bomb_warning_is_a_rejection(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)  # warn above this, error above 2x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "too many pixels" in rejected(imaging.png(520, 520))


def test_truncated_jpeg_is_rejected():
    data = imaging.jpeg()
    assert "truncated or damaged" in rejected(data[: len(data) // 2])


def test_truncated_png_is_rejected():
    data = imaging.png()
    assert "truncated or damaged" in rejected(data[:-30])


def test_png_with_zip_appended_is_rejected():
    polyglot = imaging.png() + imaging.zip_bytes()
    assert zipfile.ZipFile(io.BytesIO(polyglot)).namelist() == ["shell.php"]  # a real PNG+ZIP polyglot
    assert "extra data after the end of the image" in rejected(polyglot)


def test_jpeg_with_php_appended_is_rejected():
    assert "extra data" in rejected(imaging.jpeg() + b"<?php system($_GET['c']); ?>")


def test_webp_with_html_appended_is_rejected():
    noisy = imaging.encode(Image.effect_noise((512, 512), 60).convert("RGB"), "WEBP", quality=80)
    assert len(noisy) > 1024  # the payload sits past the leading bytes that are sniffed for markup
    assert "extra data" in rejected(noisy + imaging.HTML)


def test_small_webp_with_html_in_its_first_kilobyte_is_rejected():
    assert "HTML/SVG/XML" in rejected(imaging.webp() + imaging.HTML)


@pytest.mark.parametrize("payload", [imaging.HTML, imaging.SVG, b"  \n<svg onload=alert(1)>", b"<?php echo 1; ?>"])
def test_markup_is_rejected(payload):
    assert "HTML/SVG/XML" in rejected(payload)


def test_image_magic_followed_by_html_in_the_first_bytes_is_rejected():
    assert "HTML/SVG/XML" in rejected(b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>")


def test_gif_is_rejected_even_though_pillow_can_read_it():
    gif = imaging.encode(imaging.photo(), "GIF")
    assert rejected(gif) == "only JPEG, PNG or WebP images are accepted"


def test_small_image_is_rejected_with_its_size():
    message = rejected(imaging.png(300, 300))
    assert "300x300" in message
    assert "512" in message


def test_short_side_counts_not_the_long_one():
    assert "600x511" in rejected(imaging.png(600, 511))


def test_byte_cap(settings):
    data = imaging.png()
    settings.REFERENCE_IMAGE_MAX_BYTES = len(data) - 1
    assert "limit" in rejected(data)


def test_empty_file():
    assert rejected(b"") == "the file is empty"


def test_exif_orientation_is_applied_and_gps_exif_is_stripped():
    original = imaging.jpeg_with_orientation_and_gps(640, 512)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the fixture really has GPS

    result = validate_reference_image(original)

    stored = reopen(result.content)
    assert stored.size == (512, 640)  # rotated upright: landscape on disk, portrait on screen
    assert (result.width, result.height) == (512, 640)
    assert len(stored.getexif()) == 0
    assert "exif" not in stored.info
    assert b"PhoneCo" not in result.content


def test_png_text_chunks_are_dropped_and_alpha_is_kept():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret-location-home")
    data = imaging.png(mode="RGBA", color=(1, 2, 3, 128), pnginfo=info)

    result = validate_reference_image(data)

    assert b"secret-location-home" not in result.content
    stored = reopen(result.content)
    assert stored.mode == "RGBA"
    assert stored.getpixel((400, 400))[3] == 128


def test_cmyk_jpeg_becomes_rgb():
    data = imaging.encode(Image.new("CMYK", (512, 512), (0, 255, 255, 0)), "JPEG", quality=90)
    stored = reopen(validate_reference_image(data).content)
    assert stored.mode == "RGB"
    red, green, blue = stored.getpixel((10, 10))
    assert red > 200 and green < 60 and blue < 60


def test_lossless_webp_stays_lossless():
    data = imaging.webp(lossless=True)
    result = validate_reference_image(data)
    assert b"VP8L" in result.content[:40]
    assert reopen(result.content).getpixel((300, 300)) == (200, 120, 90)


def test_format_comes_from_the_content_not_the_name():
    # The validator never sees a name; a JPEG is a JPEG whatever it is called upstream.
    assert validate_reference_image(imaging.jpeg()).extension == "jpg"


def test_camera_xmp_packet_is_not_mistaken_for_markup_and_is_stripped():
    xmp = b'<?xml version="1.0"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>GPS-SECRET</x:xmpmeta>'
    data = imaging.jpeg(xmp=xmp)
    assert b"GPS-SECRET" in data[:1024]
    result = validate_reference_image(data)
    assert b"GPS-SECRET" not in result.content


@pytest.mark.parametrize(
    ("img", "fmt", "params", "mode"),
    [
        (Image.new("I;16", (512, 512), 32768), "PNG", {}, "L"),
        (imaging.photo().convert("P"), "PNG", {"transparency": 0}, "RGBA"),
        (imaging.photo().convert("LA"), "PNG", {}, "LA"),
        (imaging.photo().convert("L"), "JPEG", {}, "L"),
        (imaging.photo(), "JPEG", {"progressive": True}, "RGB"),
        (imaging.photo(), "JPEG", {"restart_marker_blocks": 2}, "RGB"),
    ],
    ids=["png-16bit-grey", "png-palette-transparent", "png-grey-alpha", "jpeg-grey", "jpeg-progressive", "jpeg-rst"],
)
def test_modes_and_encodings_are_converted_sensibly(img, fmt, params, mode):
    stored = reopen(validate_reference_image(imaging.encode(img, fmt, **params)).content)
    assert stored.mode == mode
    if img.mode == "I;16":
        assert stored.getpixel((0, 0)) == 128  # scaled down, not clipped to white


def test_multi_picture_jpeg_from_a_phone_keeps_the_primary_picture():
    primary, depth = imaging.photo(color=(250, 0, 0)), imaging.photo(color=(0, 0, 250))
    data = imaging.encode(primary, "MPO", save_all=True, append_images=[depth])
    stored = reopen(validate_reference_image(data).content)
    assert stored.format == "JPEG"
    red, _, blue = stored.getpixel((400, 400))
    assert red > 200 and blue < 50
