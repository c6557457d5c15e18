"""Photos judged by content (JPEG/PNG/WebP/HEIC), 10 MB at most, EXIF (GPS) stripped, a
thumbnail, unguessable ids, another site's photo not found, rights to read."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from gateway.clock import ManualClock
from gateway.photos import FolderStore, NotAnImage, Photos, TooLarge, may_read
from gateway.photos.images import HEIC, normalize
from gateway.store import make_engine, migrate
from rules.vocab import Role
from tests.gateway.rounds.env import ADMIN, CHEN, HU, jpeg, person

GPS_IFD = 0x8825


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view
    exif[GPS_IFD] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    return exif


@pytest.fixture
def photos(tmp_path: Path) -> Photos:
    eng = make_engine(f"sqlite:///{tmp_path}/s.db")
    migrate(eng)
    return Photos(eng, FolderStore(tmp_path / "ph"), ManualClock(1_767_571_200.0), "sc01")


def test_exif_and_gps_are_gone_from_the_stored_photo(photos: Photos) -> None:
    raw = jpeg((80, 40), gps_exif())
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(GPS_IFD)  # the upload has them
    meta = photos.upload(raw, HU)
    stored, ctype = photos.content(photos.get(meta["id"]))  # type: ignore[arg-type]
    assert ctype == "image/jpeg"
    im = Image.open(io.BytesIO(stored))
    assert not im.getexif().get_ifd(GPS_IFD) and len(im.getexif()) == 0
    assert b"Exif" not in stored[:200] and b"PhoneMaker" not in stored
    assert im.size == (40, 80) == (meta["width"], meta["height"])  # turned upright first
    thumb, ttype = photos.content(photos.get(meta["id"]), thumb=True)  # type: ignore[arg-type]
    assert ttype == "image/jpeg" and max(Image.open(io.BytesIO(thumb)).size) <= 320


def test_an_eleven_megabyte_file_is_too_large_and_a_renamed_program_not_an_image() -> None:
    with pytest.raises(TooLarge) as big:
        normalize(b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024))
    assert big.value.status == 413
    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 4000  # an executable named photo.jpg
    with pytest.raises(NotAnImage) as bad:
        normalize(elf)
    assert bad.value.status == 415
    with pytest.raises(NotAnImage):
        normalize(b"GIF89a" + b"\0" * 100)  # an image, but not one of the kinds kept


@pytest.mark.parametrize("fmt,ctype", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_stay_themselves(fmt: str, ctype: str) -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (30, 20), (0, 0, 255, 128)).save(buf, fmt)
    assert normalize(buf.getvalue()).content_type == ctype


@pytest.mark.skipif(not HEIC, reason="pillow-heif is not installed")
def test_heic_becomes_jpeg() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buf, "HEIF")
    out = normalize(buf.getvalue())
    assert out.content_type == "image/jpeg" and out.data[:3] == b"\xff\xd8\xff"


def test_ids_are_unguessable_and_another_sites_photo_is_not_found(
    photos: Photos, tmp_path: Path
) -> None:
    a, b = photos.upload(jpeg(), HU)["id"], photos.upload(jpeg(), HU)["id"]
    assert a != b and len(a) >= 32
    other = Photos(photos._engine, photos.store, ManualClock(0), "sc02")
    assert other.get(a) is None and photos.get(a) is not None


def test_who_reads_a_photo(photos: Photos) -> None:
    meta = photos.get(photos.upload(jpeg(), HU)["id"])
    assert meta is not None
    viewer = person("v", None, Role.VIEWER)
    assert may_read(HU, meta) and may_read(ADMIN, meta)
    assert not may_read(CHEN, meta) and not may_read(viewer, meta)  # unattached: uploader
    on_round = replace(meta, uploaded_by="someone", round_id=7)
    assert may_read(person("clean-guo", "cleaning"), on_round, round_crew="cleaning")
    assert not may_read(CHEN, on_round, round_crew="cleaning")
    assert not may_read(viewer, on_round, round_crew="cleaning")
    with pytest.raises(Exception, match="may not upload"):
        photos.upload(jpeg(), viewer)
