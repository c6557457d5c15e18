"""What an uploaded photo is, judged by its content, and the copy that is kept.

:func:`normalize` takes the uploaded bytes and returns the photo as stored and its
thumbnail, or refuses:

- more than :data:`MAX_BYTES` (10 MB) → :class:`TooLarge` (HTTP 413);
- not a JPEG, PNG, WebP or HEIC/HEIF image *by content* (the name and the declared type
  are never trusted; Pillow opens it with only those decoders) → :class:`NotAnImage`
  (HTTP 415); a picture of more than :data:`MAX_PIXELS` is refused as too large too.

The kept copy is re-encoded from the decoded pixels, so nothing of the original's
metadata survives: no EXIF (GPS position, camera, owner), no XMP, no comments. The EXIF
orientation is applied to the pixels first, so the photo still stands the right way up.
JPEG stays JPEG, PNG stays PNG, WebP stays WebP; HEIC (iPhones) becomes JPEG (through
pillow-heif, when it is installed: :data:`HEIC`). The thumbnail is a JPEG at most
:data:`THUMB_PX` on its longer side.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from gateway.errors import DomainError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000
THUMB_PX = 320
JPEG_QUALITY = 88

try:  # HEIC/HEIF from phones: decoded by pillow-heif's opener when it is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - the image is then refused as not an image
    HEIC = False

#: Pillow's format name -> (stored format, content type)
KEPT: dict[str, tuple[str, str]] = {
    "JPEG": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "HEIF": ("JPEG", "image/jpeg"),
}
_FORMATS = ("JPEG", "PNG", "WEBP", *(("HEIF",) if HEIC else ()))


class PhotoRejected(DomainError):
    """A file that is not kept; ``status`` is the HTTP status that says why."""

    status = 400

    def detail(self) -> Any:
        return {"message": str(self), "max_bytes": MAX_BYTES, "types": list(ACCEPTED)}


class TooLarge(PhotoRejected):
    status = 413


class NotAnImage(PhotoRejected):
    status = 415


ACCEPTED = ("image/jpeg", "image/png", "image/webp", *(("image/heic",) if HEIC else ()))


@dataclass(frozen=True, slots=True)
class Normalized:
    data: bytes
    content_type: str
    width: int
    height: int
    thumb: bytes


def normalize(data: bytes) -> Normalized:
    """The photo as kept and its thumbnail (see the module doc)."""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"the photo is {len(data)} bytes; at most {MAX_BYTES} (10 MB)")
    if not data:
        raise NotAnImage("the file is empty")
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
            fmt = str(im.format)
            if im.width * im.height > MAX_PIXELS:
                raise TooLarge(f"the picture is {im.width}x{im.height}; at most 50 megapixels")
            im.load()
            upright = ImageOps.exif_transpose(im)
    except PhotoRejected:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        kinds = "JPEG, PNG, WebP" + (" or HEIC" if HEIC else "")
        raise NotAnImage(f"the file is not a {kinds} image (judged by its content)") from None
    out_fmt, ctype = KEPT[fmt]
    kept = _encode(upright, out_fmt)
    thumb = upright.copy()
    thumb.thumbnail((THUMB_PX, THUMB_PX))
    return Normalized(kept, ctype, upright.width, upright.height, _encode(thumb, "JPEG"))


def _encode(im: Image.Image, fmt: str) -> bytes:
    """``im`` written afresh with no metadata (no ``exif``, no ``info`` carried over)."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        if im.mode not in ("RGB", "L"):
            im = _flatten(im)
        im.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt == "PNG":
        im.save(buf, "PNG", optimize=True)
    else:
        im.save(buf, "WEBP", quality=JPEG_QUALITY)
    return buf.getvalue()


def _flatten(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    bg = Image.new("RGB", rgba.size, (255, 255, 255))
    bg.paste(rgba, mask=rgba.getchannel("A"))
    return bg
