"""State files as other versions of hotwatch wrote them."""

from __future__ import annotations

import hashlib
import json
import struct

from hotwatch.core.accumulator import MAGIC


def with_format_version(blob: bytes, version: int) -> bytes:
    """An accumulator file as another format version would have written it."""
    body = blob[:-32]
    (size,) = struct.unpack_from("<I", body, len(MAGIC))
    start = len(MAGIC) + 4
    meta = json.loads(body[start : start + size])
    meta["version"] = version
    head = json.dumps(meta, sort_keys=True).encode()
    body = MAGIC + struct.pack("<I", len(head)) + head + body[start + size :]
    return body + hashlib.sha256(body).digest()
