"""The simulated camera: one shot's raw photosites (its scene, shot and read noise, ISO
gain and planted defects), the JPEG its engine makes of them, and what each defect adds in
either, rendered once per shot and shared by every writer."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

from hotwatch.core.frame_map import FrameMap
from hotwatch.core.frame_map import crop as crop_map
from hotwatch.core.model import BodyId

from .scenes import linear_to_srgb_lut, scene_mosaic
from .specs import DNG_COMPRESSIONS, NEUTRAL, SRGB_FROM_WB, PlantedDefect, SensorSpec, ShotSpec
from .writers import exif_time, exposure_fraction, write_dng_file


class Camera:
    """A camera body: a sensor with planted defects, a name, and a JPEG engine.

    Two bodies of one model differ by ``serial``; ``serial=None`` writes no serial at all.
    ``dng_shot_tags="ifd0"`` writes DNGs as pidng (Raspberry Pi camera software) does: the
    capture time, exposure and ISO in IFD0, and no EXIF IFD.
    ``seed`` drives the noise; shot ``i`` always gets the same noise, whatever order shots are
    rendered in.
    """

    def __init__(
        self,
        sensor: SensorSpec,
        defects: Sequence[PlantedDefect] = (),
        make: str = "Simulated",
        model: str = "HW-1",
        serial: str | None = "1000001",
        seed: int = 0,
        *,
        jpeg_quality: int = 92,
        subsampling: str = "4:2:2",
        dng_compression: str = "none",
        dng_shot_tags: str = "exif",
        jpeg_crop: tuple[int, int, int, int] | None = None,
        m_size: tuple[int, int] | None = None,
    ) -> None:
        for d in defects:
            if not (0 <= d.x < sensor.width and 0 <= d.y < sensor.height):
                raise ValueError(f"defect outside the {sensor.width}x{sensor.height} frame: {d}")
        if dng_compression not in DNG_COMPRESSIONS:
            raise ValueError(f"dng_compression must be one of {DNG_COMPRESSIONS}")
        if dng_shot_tags not in ("exif", "ifd0"):
            raise ValueError(f"dng_shot_tags must be 'exif' or 'ifd0': {dng_shot_tags!r}")
        if subsampling not in ("4:4:4", "4:2:2", "4:2:0"):
            raise ValueError(f"subsampling must be 4:4:4, 4:2:2 or 4:2:0: {subsampling!r}")
        if jpeg_crop is not None:
            left, top, width, height = jpeg_crop
            if left < 0 or top < 0 or left + width > sensor.width or top + height > sensor.height:
                raise ValueError(
                    f"jpeg_crop {jpeg_crop} leaves the {sensor.width}x{sensor.height} frame"
                )
        self.sensor = sensor
        self.defects = tuple(defects)
        self.make = make
        self.model = model
        self.serial = serial
        self.seed = seed
        self.jpeg_quality = jpeg_quality
        self.subsampling = subsampling
        self.dng_compression = dng_compression
        self.dng_shot_tags = dng_shot_tags
        #: the visible photosites the JPEG engine keeps (left, top, width, height), as
        #: cameras crop a few photosites off the visible area; the whole of it when None
        self.jpeg_crop = jpeg_crop or (0, 0, sensor.width, sensor.height)
        #: the size of the M-size JPEGs: the same crop, resampled (Lanczos)
        self.m_size = m_size
        self._scene_cache: tuple[ShotSpec, np.ndarray] | None = None
        self._raw_cache: tuple[ShotSpec, np.ndarray] | None = None
        self._defect_xy = (
            np.array([d.y for d in self.defects], dtype=np.intp),
            np.array([d.x for d in self.defects], dtype=np.intp),
        )

    @property
    def body(self) -> BodyId:
        return BodyId(self.make, self.model, self.serial)

    @property
    def jpeg_size(self) -> tuple[int, int]:
        """The L-size JPEG's (width, height): the crop, unscaled."""
        return self.jpeg_crop[2], self.jpeg_crop[3]

    def jpeg_map(self, size: tuple[int, int] | None = None) -> FrameMap:
        """Where a visible photosite lands in the JPEG of ``size`` (default: L): the truth
        hotwatch's learned map is measured against."""
        left, top, width, height = self.jpeg_crop
        out_w, out_h = size or self.jpeg_size
        if (out_w, out_h) == (width, height):
            return FrameMap(1.0, float(-left), 1.0, float(-top))
        return crop_map(left, top, width, height, out_w, out_h)

    @property
    def rawpy_origin(self) -> tuple[int, int]:
        """(x, y) of the visible area's top-left in rawpy's ``raw_image_visible``.

        (0, 0) without margins or with ActiveArea. With DefaultCrop, LibRaw 0.22 ignores the
        crop: rawpy's visible image is the whole buffer, so truth (x, y) is at
        (x + left, y + top) there, while the JPEG and darktable's output are cropped.
        """
        s = self.sensor
        if s.margin_tag == "defaultcrop":
            return s.margins[0], s.margins[1]
        return 0, 0

    def rawpy_visible(self, shot: ShotSpec) -> np.ndarray:
        """What rawpy's ``raw_image_visible`` returns for this shot's DNG."""
        if self.sensor.margin_tag == "defaultcrop":
            return self.render_raw_full(shot)
        return self.render_raw(shot)

    # ---- raw -----------------------------------------------------------------------------

    def scene(self, shot: ShotSpec) -> np.ndarray:
        """Expected signal per visible photosite (scene units); cached for the last shot."""
        if self._scene_cache is None or self._scene_cache[0] != shot:
            s = self.sensor
            mosaic = scene_mosaic(shot, s.width, s.height, s.pattern)
            mosaic.setflags(write=False)
            self._scene_cache = (shot, mosaic)
        return self._scene_cache[1]

    def render_raw_full(self, shot: ShotSpec) -> np.ndarray:
        """The whole sensor buffer (visible area plus margins), uint16; cached for the shot."""
        if self._raw_cache is not None and self._raw_cache[0] == shot:
            return self._raw_cache[1]
        s = self.sensor
        rng = np.random.default_rng([self.seed, shot.index, 0xA0])
        gain = np.float32(s.gain(shot.iso))
        black = np.float32(s.black_level)
        electrons = self.scene(shot) * np.float32(shot.brightness * s.electrons_at_white(shot.iso))
        active = [i for i, d in enumerate(self.defects) if d.active(shot.index)]
        hot = [i for i in active if self.defects[i].kind == "hot"]
        if hot:
            ys, xs = self._defect_xy[0][hot], self._defect_xy[1][hot]
            rate = np.array([self.defects[i].strength for i in hot], dtype=np.float32)
            electrons[ys, xs] += rate * np.float32(s.dark_seconds(shot))
        np.maximum(electrons, 0.0, out=electrons)
        if s.poisson:
            signal = rng.poisson(electrons).astype(np.float32)
            signal += rng.standard_normal(electrons.shape, dtype=np.float32) * np.float32(
                s.read_noise
            )
        else:
            sd = electrons + np.float32(s.read_noise**2)
            np.sqrt(sd, out=sd)
            sd *= rng.standard_normal(electrons.shape, dtype=np.float32)
            signal = electrons
            signal += sd
        signal *= gain
        signal += black + np.float32(0.5)  # +0.5: the cast below truncates, so this rounds
        for i in active:
            d = self.defects[i]
            if d.kind == "partial":
                signal[d.y, d.x] += np.float32(d.strength)
        np.clip(signal, 0, s.white_level, out=signal)
        visible = signal.astype(np.uint16)
        for i in active:
            d = self.defects[i]
            if d.kind == "stuck":
                visible[d.y, d.x] = round(
                    s.black_level + d.strength * (s.white_level - s.black_level)
                )
            elif d.kind == "dead":
                visible[d.y, d.x] = s.black_level
        full = self._with_margins(visible, rng, float(gain))
        full.setflags(write=False)  # shared by every writer of this shot: copy to modify
        self._raw_cache = (shot, full)
        return full

    def _with_margins(
        self, visible: np.ndarray, rng: np.random.Generator, gain: float
    ) -> np.ndarray:
        s = self.sensor
        left, top, _, _ = s.margins
        if not any(s.margins):
            return visible
        border = s.black_level + gain * s.read_noise * rng.standard_normal(
            (s.raw_height, s.raw_width), dtype=np.float32
        )
        full = np.clip(np.round(border), 0, s.white_level).astype(np.uint16)
        full[top : top + s.height, left : left + s.width] = visible
        return full

    def render_raw(self, shot: ShotSpec) -> np.ndarray:
        """The visible mosaic (rawpy's ``raw_image_visible``), (height, width) uint16 view."""
        s = self.sensor
        left, top, _, _ = s.margins
        return self.render_raw_full(shot)[top : top + s.height, left : left + s.width]

    # ---- JPEG engine -----------------------------------------------------------------------

    def render_rgb(self, raw: np.ndarray, shot: ShotSpec | None = None) -> np.ndarray:
        """What the camera's JPEG engine makes of a visible mosaic: (H, W, 3) uint8 sRGB.

        Bilinear demosaic (a bad photosite smears into a ~3x3 blob centred on it, as in a
        real camera), white balance, colour matrix, sRGB gamma. ``shot`` is accepted for
        symmetry; the rendering depends on the pixels only.
        """
        s = self.sensor
        norm = raw.astype(np.float32)
        norm -= np.float32(s.black_level)
        norm *= np.float32(1.0 / (s.white_level - s.black_level))
        planes = _demosaic_wb(norm, s.pattern)
        for plane in planes:  # clipped in the raw -> white after white balance, not pink
            np.minimum(plane, np.float32(1.0), out=plane)
        m = (SRGB_FROM_WB * 4095.0).astype(np.float32)
        lut = linear_to_srgb_lut()
        out = np.empty((*raw.shape, 3), dtype=np.uint8)
        acc, tmp = np.empty_like(planes[0]), np.empty_like(planes[0])
        idx = np.empty(raw.shape, dtype=np.uint16)
        for c in range(3):  # preallocated temporaries: this loop is most of a 10 MP JPEG
            np.multiply(planes[0], m[c, 0], out=acc)
            np.multiply(planes[1], m[c, 1], out=tmp)
            acc += tmp
            np.multiply(planes[2], m[c, 2], out=tmp)
            acc += tmp
            np.clip(acc, 0.0, 4095.0, out=acc)
            idx[...] = acc
            np.take(lut, idx, out=out[..., c])
        return out

    # ---- visibility ----------------------------------------------------------------------

    def visibility(self, shot: ShotSpec) -> np.ndarray:
        """Per defect: |defective - clean| over local noise, in the raw domain (0 before onset).

        Local noise = the photosite's own noise (shot + read, in DN) combined with the spread
        of the clean signal over its same-colour neighbours within 2 px (scene texture): what
        a same-colour residual detector has to beat. Clipping is applied to both values, so a
        hot photosite in a clipped sky scores 0.
        """
        if not self.defects:
            return np.zeros(0)
        s = self.sensor
        gain = s.gain(shot.iso)
        scene = self.scene(shot)
        h, w = scene.shape
        ys, xs = self._defect_xy
        off = np.arange(-2, 3)
        wy = np.clip(ys[:, None, None] + off[None, :, None], 0, h - 1)
        wx = np.clip(xs[:, None, None] + off[None, None, :], 0, w - 1)
        pat, n = s.pattern, s.period
        same = pat[wy % n, wx % n] == pat[ys % n, xs % n][:, None, None]
        same[:, 2, 2] = False
        e_white = shot.brightness * s.electrons_at_white(shot.iso)
        window_e = np.maximum(scene[wy, wx].astype(np.float64) * e_white, 0.0)
        top = float(s.white_level - s.black_level)
        window_dn = np.minimum(window_e * gain, top)
        neigh = np.where(same, window_dn, np.nan).reshape(len(ys), -1)
        med = np.nanmedian(neigh, axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(neigh - med[:, None]), axis=1)
        clean_e = window_e[:, 2, 2]
        clean_dn = np.minimum(clean_e * gain, top)
        out = np.zeros(len(self.defects))
        for i, d in enumerate(self.defects):
            if not d.active(shot.index):
                continue
            dark_e = d.strength * s.dark_seconds(shot) if d.kind == "hot" else 0.0
            noise = math.hypot(gain * math.sqrt(clean_e[i] + dark_e + s.read_noise**2), spread[i])
            if d.kind == "hot":
                bad = min((clean_e[i] + dark_e) * gain, top)
            elif d.kind == "partial":
                bad = min(clean_dn[i] + d.strength, top)
            elif d.kind == "stuck":
                bad = d.strength * top
            else:
                bad = 0.0
            out[i] = abs(bad - clean_dn[i]) / max(noise, 1e-9)
        return out

    def jpeg_visibility(self, shot: ShotSpec) -> np.ndarray:
        """Per defect: how far it moves its pixel in this shot's camera JPEG, over the JPEG's
        local noise (0 before onset).

        What a JPEG detector can be asked to see: the raw-domain ``visibility`` overstates a
        faint defect that gamma, the colour matrix and compression flatten (a 3% offset in
        a bright day frame moves a JPEG pixel by a level or two). Measured on the defect's
        neighbourhood, encoded twice as the camera encodes it: with the defect, and with
        the same noise but a healthy photosite (a twin camera without defects). The crop
        starts on a multiple of 48 px (16 px JPEG MCUs, 2 and 6 px colour patterns), so it
        compresses as it does in the whole frame. Each defect is measured by what it adds to
        the JPEG where the others are (a neighbouring defect's smear is not its doing, and
        a strong one beside it may hide it). Noise per channel: 1.2533 x the mean
        |residual| against the middle two of the pixels two away, on the healthy crop, as
        hotwatch measures it; the largest channel's ratio counts.
        """
        out = np.zeros(len(self.defects))
        active = [i for i, d in enumerate(self.defects) if d.active(shot.index)]
        if not active:
            return out
        raw = self.render_raw(shot)
        clean = Camera(
            self.sensor,
            (),
            seed=self.seed,
            jpeg_quality=self.jpeg_quality,
            subsampling=self.subsampling,
        ).render_raw(shot)
        h, w = raw.shape
        for i in active:
            d = self.defects[i]
            y0, x0 = max(0, d.y // 48 * 48 - 48), max(0, d.x // 48 * 48 - 48)
            y1, x1 = min(h, y0 + 144), min(w, x0 + 144)
            # what this defect adds, its neighbours there or not: a neighbour's smear is
            # not this one's doing, and may hide it
            without = raw[y0:y1, x0:x1].copy()
            without[d.y - y0, d.x - x0] = clean[d.y, d.x]
            good = self._jpeg_crop(without).astype(np.float64)
            bad = self._jpeg_crop(raw[y0:y1, x0:x1]).astype(np.float64)
            diff = np.abs(bad[d.y - y0, d.x - x0] - good[d.y - y0, d.x - x0])
            noise = _jpeg_noise(self._jpeg_crop(clean[y0:y1, x0:x1]).astype(np.float64))
            out[i] = float(np.max(diff / noise))
        return out

    def _jpeg_crop(self, raw: np.ndarray) -> np.ndarray:
        """A raw crop through this camera's JPEG engine and back (encode, decode)."""
        sub = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[self.subsampling]
        buf = io.BytesIO()
        Image.fromarray(self.render_rgb(raw)).save(
            buf, "JPEG", quality=self.jpeg_quality, subsampling=sub
        )
        with Image.open(buf) as im:
            return np.asarray(im.convert("RGB"))

    # ---- files -----------------------------------------------------------------------------

    def write_dng(self, shot: ShotSpec, path: str | os.PathLike[str]) -> Path:
        """A 16-bit CFA DNG with the DNG colour/level tags and an EXIF IFD: uncompressed, or
        with ``dng_compression="ljpeg"`` in lossless-JPEG tiles as cameras and Adobe's
        converter write them (needs the imagecodecs package)."""
        path = Path(path)
        write_dng_file(self, shot, self.render_raw_full(shot), path)
        return path

    def write_jpeg(
        self,
        shot: ShotSpec,
        path: str | os.PathLike[str],
        quality: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> Path:
        """The camera JPEG (stored landscape) with IFD0 + EXIF sub-IFD written by Pillow:
        the ``jpeg_crop`` of the visible area, resampled to ``size`` when given (M size)."""
        path = Path(path)
        rgb = self.render_rgb(self.render_raw(shot), shot)
        left, top, width, height = self.jpeg_crop
        img = Image.fromarray(rgb[top : top + height, left : left + width])
        if size is not None and size != (width, height):
            img = img.resize(size, Image.Resampling.LANCZOS)
        sub = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[self.subsampling]
        img.save(
            path,
            "JPEG",
            quality=quality or self.jpeg_quality,
            subsampling=sub,
            exif=self._jpeg_exif(shot, img.size).tobytes(),
        )
        return path

    def _jpeg_exif(self, shot: ShotSpec, size: tuple[int, int] | None = None) -> Image.Exif:
        exif = Image.Exif()
        stamp, subsec, offset = exif_time(shot.taken_at)
        exif[0x010F] = self.make
        exif[0x0110] = self.model
        exif[0x0112] = shot.orientation
        exif[0x0132] = stamp
        exif[0x0131] = "hotwatch camsim"
        ifd = exif.get_ifd(0x8769)
        num, den = exposure_fraction(shot.exposure)
        ifd[0x829A] = TiffImagePlugin.IFDRational(num, den)
        ifd[0x8827] = int(min(shot.iso, 65535))
        ifd[0x9000] = b"0231"
        ifd[0x9003] = stamp
        ifd[0x9004] = stamp
        ifd[0x9291] = subsec
        ifd[0x9011] = offset
        ifd[0xA002], ifd[0xA003] = size or (self.sensor.width, self.sensor.height)
        if self.serial is not None:
            ifd[0xA431] = self.serial
        return exif


def _jpeg_noise(rgb: np.ndarray) -> np.ndarray:
    """Per channel: 1.2533 x mean |pixel - middle two of the pixels two away| (floor 0.5)."""
    c = rgb[2:-2, 2:-2]
    n = np.stack([rgb[:-4, 2:-2], rgb[4:, 2:-2], rgb[2:-2, :-4], rgb[2:-2, 4:]])
    n.sort(axis=0)
    resid = np.abs(c - (n[1] + n[2]) / 2)
    return np.maximum(1.2533 * resid.mean(axis=(0, 1)), 0.5)


def _pad_phase(a: np.ndarray, n: int) -> np.ndarray:
    """Pad by one photosite with copies from one CFA period inward: colours stay in phase."""
    h, w = a.shape
    p = np.empty((h + 2, w + 2), dtype=a.dtype)
    p[1:-1, 1:-1] = a
    p[0, 1:-1] = a[n - 1]
    p[-1, 1:-1] = a[h - n]
    p[:, 0] = p[:, n]
    p[:, -1] = p[:, w + 1 - n]
    return p


def _demosaic_wb(norm: np.ndarray, pattern: np.ndarray) -> list[np.ndarray]:
    """Normalised-convolution bilinear demosaic for any CFA, white balanced: [R, G, B] planes.

    Each missing value is the [1 2 1] x [1 2 1] weighted mean of the same-colour sites in its
    3x3 neighbourhood (every 3x3 window of Bayer and X-Trans holds all three colours);
    measured sites keep their value. Masks and weights depend only on the CFA phase, so they
    are applied per row phase as broadcast row vectors: contiguous, about ten passes per
    colour whatever the CFA.
    """
    w = norm.shape[1]
    n = pattern.shape[0]
    padded = _pad_phase(norm, n)
    k = np.array([1.0, 2.0, 1.0])
    kern = np.outer(k, k)
    reps = -(-(w + 2) // n) + 1
    planes = []
    for c in range(3):
        # row vectors per phase: mask of colour c in padded coordinates, and for the output
        # the interpolation weight (0 at own sites) and the own-site pass-through
        pad_mask = np.tile(np.roll(pattern, (1, 1), axis=(0, 1)) == c, (1, reps))
        weight = np.zeros((n, n), dtype=np.float32)
        own = np.zeros((n, n), dtype=np.float32)
        wb = 1.0 / NEUTRAL[c]
        for oy in range(n):
            for ox in range(n):
                if pattern[oy, ox] == c:
                    own[oy, ox] = wb
                else:
                    win = pattern[(oy + np.arange(-1, 2)) % n][:, (ox + np.arange(-1, 2)) % n]
                    weight[oy, ox] = wb / float((kern * (win == c)).sum())
        weight_rows = np.tile(weight, (1, reps))[:, :w]
        own_rows = np.tile(own, (1, reps))[:, :w]
        masked = np.empty_like(padded)
        for a in range(n):
            np.multiply(padded[a::n], pad_mask[a, : w + 2], out=masked[a::n])
        hsum = masked[:, :-2] + masked[:, 2:]
        hsum += masked[:, 1:-1]
        hsum += masked[:, 1:-1]
        del masked
        plane = hsum[:-2] + hsum[2:]
        plane += hsum[1:-1]
        plane += hsum[1:-1]
        del hsum
        for oy in range(n):
            rows = plane[oy::n]
            rows *= weight_rows[oy]
            if own_rows[oy].any():
                rows += norm[oy::n] * own_rows[oy]
        planes.append(plane)
    _border_from_inside(planes, norm, pattern)
    return planes


def _border_from_inside(planes: list[np.ndarray], norm: np.ndarray, pattern: np.ndarray) -> None:
    """The outermost rows and columns again, each from the same-colour sites of its 3x3
    window that lie inside the frame (weights renormalised), as a camera's demosaic does with
    the photosites around its JPEG's crop. Why: the padding copies a row one CFA period
    inward, which for X-Trans is six rows away: the first row mixed in another part of the
    scene, and the rows judged against it gathered outliers no camera gives."""
    h, w = norm.shape
    n = pattern.shape[0]
    ys = np.concatenate([np.zeros(w, int), np.full(w, h - 1), np.arange(h), np.arange(h)])
    xs = np.concatenate([np.arange(w), np.arange(w), np.zeros(h, int), np.full(h, w - 1)])
    k = np.array([1.0, 2.0, 1.0])
    here = pattern[ys % n, xs % n]
    for c, plane in enumerate(planes):
        num = np.zeros(ys.size)
        den = np.zeros(ys.size)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                yy, xx = ys + dy, xs + dx
                inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                yy, xx = np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)
                use = inside & (pattern[yy % n, xx % n] == c)
                wt = k[dy + 1] * k[dx + 1] * use
                num += wt * norm[yy, xx]
                den += wt
        wb = 1.0 / NEUTRAL[c]
        value = np.where(here == c, norm[ys, xs], num / np.maximum(den, 1e-9)) * wb
        plane[ys, xs] = np.where((here == c) | (den > 0), value, plane[ys, xs])
