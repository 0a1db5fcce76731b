"""Product pictures: a seller's upload, checked and kept in the var folder, or else one
the store draws (an SVG tile with the product's initial, coloured by its category).

An upload is judged by its content, never by its name or the type the browser claims:
Pillow must recognise it as one of a few raster formats, within a size in bytes and in
pixels (a small file can decode to a huge image). Files are written 0600 under
``settings.MEDIA_DIR`` with a name the store chooses, so nothing a visitor sends ever
becomes part of a path.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, UnidentifiedImageError

from amazon_ups.common.private_files import private_dir

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4000  # pixels
MIN_SIDE = 16
# Pillow's format name -> (content type, file extension).
FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
}


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def check_upload(data: bytes) -> CheckedImage:
    """The upload as a picture the store will show, or a ValidationError saying why not."""
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"The picture is {len(data) / 1024 / 1024:.1f} MB; at most "
            f"{MAX_BYTES // 1024 // 1024} MB, please.",
            code="too_big",
        )
    kinds = ", ".join(sorted(ext.upper() for _, ext in FORMATS.values()))
    not_a_picture = ValidationError(
        f"That file is not a picture the store can show ({kinds}).", code="not_an_image"
    )
    try:
        # Opening reads the header only: the size is known before any pixel is decoded,
        # so a small file that would decode to a huge image is refused unread.
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
            kind, (width, height) = image.format, image.size
            _check_size(width, height)
            image.verify()  # reads the whole file: a truncated or damaged one fails
    # Pillow says "damaged" in several ways (SyntaxError among them, for a broken PNG).
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise not_a_picture from None
    assert kind is not None  # opened from a file of one of FORMATS: Pillow names it
    content_type, extension = FORMATS[kind]
    return CheckedImage(_without_metadata(data, kind), content_type, extension, width, height)


def _without_metadata(data: bytes, kind: str) -> bytes:
    """The pixels again, without what the camera wrote beside them (EXIF, where it was
    taken, comments): a seller's photo should not tell shoppers where they live. GIFs
    (perhaps animated) are kept as they are: they carry no EXIF."""
    if kind == "GIF":
        return data
    with Image.open(io.BytesIO(data), formats=[kind]) as image:
        image.load()
        out = io.BytesIO()
        options = {"quality": 90} if kind in ("JPEG", "WEBP") else {}
        image.save(out, kind, **options)
    return out.getvalue()


def _check_size(width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ValidationError(
            f"The picture is {width} x {height} pixels; at most {MAX_SIDE} on a side, please.",
            code="too_large",
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ValidationError(
            f"The picture is {width} x {height} pixels; at least {MIN_SIDE} on a side, please.",
            code="too_small",
        )


def media_dir() -> Path:
    return Path(settings.MEDIA_DIR)


def store(product_id: int, image: CheckedImage) -> str:
    """Write the picture; returns its file name (in ``media_dir()``)."""
    folder = private_dir(media_dir())
    name = f"product-{product_id}-{secrets.token_hex(8)}.{image.extension}"
    # O_EXCL: a fresh file, never through a link someone left under that name.
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(image.data)
    return name


def remove(name: str) -> None:
    if name:
        (media_dir() / Path(name).name).unlink(missing_ok=True)


def stored_path(name: str) -> Path | None:
    """The stored picture's path, or None when it is gone. ``name`` comes from the
    database, but only its last part is used all the same."""
    path = media_dir() / Path(name).name
    return path if name and path.is_file() else None


# -- the pictures the store draws ---------------------------------------------------------

# Soft colours, one per category (by its slug's hash), so a category looks alike.
PALETTE = [
    ("#fde7d9", "#c2410c"),
    ("#e0ecff", "#1d4ed8"),
    ("#e3f4e8", "#15803d"),
    ("#f3e8ff", "#7e22ce"),
    ("#fff4cc", "#a16207"),
    ("#e0f5f5", "#0f766e"),
    ("#fde2e7", "#be123c"),
]


def drawn_svg(name: str, category_slug: str = "") -> bytes:
    """A 240 x 240 tile: the name's first letter on a colour of the category."""
    digest = hashlib.sha256((category_slug or "none").encode()).digest()
    background, ink = PALETTE[digest[0] % len(PALETTE)]
    initial = escape((name.strip()[:1] or "?").upper())
    label = escape(name.strip()[:40])
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" '
        f'viewBox="0 0 240 240" role="img" aria-label="{escape(label, {chr(34): "&quot;"})}">'
        f'<rect width="240" height="240" rx="16" fill="{background}"/>'
        f'<circle cx="120" cy="108" r="62" fill="#ffffff" opacity="0.7"/>'
        f'<text x="120" y="132" font-family="Georgia, serif" font-size="72" '
        f'text-anchor="middle" fill="{ink}">{initial}</text>'
        f'<text x="120" y="214" font-family="system-ui, sans-serif" font-size="16" '
        f'text-anchor="middle" fill="{ink}">{label}</text>'
        "</svg>"
    )
    return svg.encode()
