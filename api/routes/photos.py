"""Photos (contract section 8): uploaded by signed-in staff, served only to those allowed.

``POST /api/v1/photos`` (multipart, field ``file``) → 201 ``{"id", ...}``; a body above
10 MB is 413 (refused from its ``Content-Length`` before it is read, else while reading),
a file that is not a JPEG/PNG/WebP/HEIC image by content 415, each with the reason.
``GET /api/v1/photos/{id}`` (``?size=thumb`` for the thumbnail): 401 without a caller, 404
for a photo this site does not have (another site's included), 403 for a caller without
rights to its round or ticket (``gateway.photos.may_read``). Responses are private and
never sniffed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from starlette.datastructures import UploadFile

from api.deps import CurrentUser
from api.routes.rounds import RoundsDep
from api.schemas_rounds import PhotoCreated
from gateway.photos import MAX_BYTES, PhotoRejected, TooLarge

router = APIRouter(prefix="/api/v1/photos", tags=["photos"])
#: room for the multipart framing around a file of MAX_BYTES
ENVELOPE = 64 * 1024
PhotoId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,80}$")]


def _refuse(exc: PhotoRejected) -> HTTPException:
    return HTTPException(exc.status, exc.detail())


async def read_upload(request: Request) -> bytes:
    """The bytes of the multipart field ``file`` (at most ``MAX_BYTES`` + 1 read: more is
    413 when the photo is checked); 413 at once for a declared length beyond the limit."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BYTES + ENVELOPE:
        raise _refuse(TooLarge(f"the upload is {length} bytes; at most {MAX_BYTES} (10 MB)"))
    form = await request.form(max_files=1, max_fields=4)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, [{"loc": ["body", "file"], "msg": "a file is required"}])
        return await upload.read(MAX_BYTES + 1)
    finally:
        await form.close()


@router.post("", status_code=201, response_model=PhotoCreated)
async def upload_photo(request: Request, rounds: RoundsDep, user: CurrentUser) -> dict[str, object]:
    """Multipart with one field ``file``."""
    data = await read_upload(request)
    try:
        return rounds.photos.upload(data, user)
    except PhotoRejected as exc:
        raise _refuse(exc) from None


IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


@router.get(
    "/{photo_id}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in IMAGE_TYPES}, "description": "the photo"}},
)
async def get_photo(
    photo_id: PhotoId,
    rounds: RoundsDep,
    user: CurrentUser,
    size: Annotated[Literal["full", "thumb"], Query()] = "full",
) -> Response:
    data, ctype = rounds.photo(photo_id, user, thumb=size == "thumb")
    return Response(
        data,
        media_type=ctype,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
