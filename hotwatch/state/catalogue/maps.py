"""The catalogue's JPEG <-> raw frame maps, learned per body and size."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hotwatch.core.frame_map import FrameMap

from ..rows import (
    MapRow,
    map_row,
)
from .connection import Connection
from .values import iso, now_utc


class Maps(Connection):
    """The catalogue's JPEG <-> raw frame maps, learned per body and size."""

    # ------------------------------------------------------------------ frame maps

    def frame_maps(self, body_key: str) -> list[MapRow]:
        """A body's JPEG <-> raw maps (every status), by geometry."""
        rows = self._q(
            """SELECT * FROM frame_maps WHERE body_key = ?
               ORDER BY raw_width, raw_height, jpeg_width DESC, jpeg_height DESC""",
            (body_key,),
        ).fetchall()
        return [map_row(r) for r in rows]

    def model_maps(self, make: str, model: str) -> list[MapRow]:
        """The known maps of every body of one model (a camera model crops its JPEGs one
        way: a map one body learned holds for its siblings), newest first."""
        rows = self._q(
            """SELECT m.* FROM frame_maps m JOIN bodies b ON b.key = m.body_key
               WHERE b.make = ? AND b.model = ? AND m.status = 'known'
               ORDER BY m.updated DESC""",
            (make, model),
        ).fetchall()
        return [map_row(r) for r in rows]

    def save_map(
        self,
        body_key: str,
        raw_size: tuple[int, int],
        jpeg_size: tuple[int, int],
        *,
        status: str,
        fmap: FrameMap | None = None,
        source: str = "",
        fits: Sequence[Sequence[float]] = (),
        attempts: int = 0,
        tried_at_frames: int = 0,
        note: str = "",
    ) -> None:
        """Write one body's map of one (raw, JPEG) geometry pair, replacing what it held."""
        with self.atomic():
            self._q(
                """INSERT INTO frame_maps (body_key, raw_width, raw_height, jpeg_width,
                       jpeg_height, status, map, source, fits, attempts, tried_at_frames,
                       note, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (body_key, raw_width, raw_height, jpeg_width, jpeg_height)
                   DO UPDATE SET status = excluded.status, map = excluded.map,
                       source = excluded.source, fits = excluded.fits,
                       attempts = excluded.attempts, tried_at_frames = excluded.tried_at_frames,
                       note = excluded.note, updated = excluded.updated""",
                (
                    body_key,
                    int(raw_size[0]),
                    int(raw_size[1]),
                    int(jpeg_size[0]),
                    int(jpeg_size[1]),
                    status,
                    None if fmap is None else json.dumps(fmap.to_list()),
                    source,
                    json.dumps([[float(v) for v in f] for f in fits]),
                    int(attempts),
                    int(tried_at_frames),
                    note,
                    iso(now_utc()),
                ),
            )
