"""Downloads of packages and attachments: always ``attachment``, with a sanitised file name.

File names come from packages (attacker-controlled): path separators, control characters,
quotes and anything outside a conservative set are replaced, leading dots removed, the length
capped. The header carries an ASCII fallback ``filename="…"`` and the UTF-8 name as
``filename*=UTF-8''…`` (RFC 6266 / RFC 5987), so Vietnamese names survive in browsers and no
header injection is possible. The content type is forced to a safe value (``application/pdf``
for PDFs, else ``application/octet-stream``) and ``nosniff`` is set, so nothing renders inline.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from fastapi.responses import Response

from gateway.server.console.web import secure

_UNSAFE = re.compile(r"[^\w.\- ()\[\]]", re.UNICODE)
MAX_NAME = 120


def safe_filename(name: str, default: str = "download") -> str:
    """A file name with no path, no control character, no quote; Unicode letters kept (NFC)."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" .")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:MAX_NAME]
    return name or default


def content_disposition(name: str) -> str:
    clean = safe_filename(name)
    folded = unicodedata.normalize("NFKD", clean.replace("đ", "d").replace("Đ", "D"))
    ascii_name = folded.encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9.\-_ ()\[\]]", "_", ascii_name).strip(" .") or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


def download(data: bytes, name: str, content_type: str) -> Response:
    media = "application/pdf" if content_type == "application/pdf" or name.lower().endswith(".pdf") else (
        "application/octet-stream"
    )
    response = Response(data, media_type=media, headers={"Content-Disposition": content_disposition(name)})
    return secure(response)


__all__ = ["content_disposition", "download", "safe_filename"]
