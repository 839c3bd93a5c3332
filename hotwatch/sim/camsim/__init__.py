"""A simulated camera: the ground truth every detection test and benchmark is measured against.

Why it exists: hot, stuck and dead pixels can only be scored against a body whose defects are
known. This module renders camera rolls (real-photo scenes plus the awkward special cases that
fool detectors: clipped skies, lens-cap frames, star fields, fine texture, specular glints,
bursts and tripod runs) through a simple but physical sensor model, plants defects in the *raw*
domain, and writes what a real camera writes: a camera JPEG with EXIF and a CFA DNG.

Model, in order (all vectorised numpy, deterministic for a given seed):

1. Scene: a crop/flip/scale (rotated for portrait shots) of one of the bundled photos in
   ``hotwatch/sim/scenes/`` (see SOURCES.md), decoded to linear light, or a synthetic special scene
   (``sky``, ``lenscap``, ``blown``, ``stars``, ``texture``, ``glints``). It is turned into
   camera colour (mixing matrix ``CAM_MIX`` and white point ``NEUTRAL``) at the photo's own
   resolution, then resampled straight onto each CFA sub-lattice, so a 10 MP frame never holds a
   full RGB scene.
2. Sensor (``SensorSpec``): scene value 1.0 x ``shot.brightness`` reaches the white level at
   any ISO (the camera auto-exposes); electrons = that fraction of the full well divided by the
   ISO gain, so high ISO means fewer electrons and more noise. Shot noise (Gaussian
   approximation, or Poisson), read noise in electrons, DN = black + gain x electrons, rounded
   and clipped to [0, white]. Optional margins (an optical-black border around the visible
   area) are written in the DNG as ActiveArea or DefaultCrop.
3. Defects (``PlantedDefect``), applied only from their ``onset_index`` on:
   ``hot`` adds dark current (strength in e-/s, scaled by the sensor's temperature in that
   shot) x (exposure + the dark charge of the readout), amplified by the ISO gain;
   ``partial`` adds a constant ``strength`` DN whatever the exposure; ``stuck`` reads
   black + strength x (white - black) exactly; ``dead`` reads the black level exactly.
4. Roll plan (``plan_roll``): sessions days apart; day, indoor and night shots with realistic
   ExposureTime/ISO; bursts (sub-second apart) and tripod time-lapses sharing one scene crop
   with only noise and tiny shifts; special frames; portrait shots (Orientation 6 or 8, pixels
   stored landscape).
5. Output (``Camera``): ``render_raw`` (the visible mosaic, what rawpy's ``raw_image_visible``
   returns), ``render_rgb`` (bilinear demosaic, white balance, colour matrix, sRGB, uint8),
   ``write_dng`` (16-bit CFA DNG through tifffile, uncompressed or in lossless-JPEG tiles,
   with an EXIF IFD appended),
   ``write_jpeg`` (Pillow, EXIF with the body serial). One shot's raw is rendered once and
   reused by every writer.

Coordinates: ``x`` to the right, ``y`` down, in the visible raw area (never rotated by
Orientation). The JPEG engine keeps ``Camera.jpeg_crop`` of it (the whole area by default; a
real camera's JPEG starts a few photosites in) and writes M-size JPEGs of that crop resampled
to ``Camera.m_size``: a photosite lands in a JPEG where ``Camera.jpeg_map(size)`` (a
:class:`hotwatch.core.frame_map.FrameMap`) puts it. With DefaultCrop margins LibRaw ignores
the crop, so in rawpy's ``raw_image_visible`` a defect sits at ``(x, y) + Camera.rawpy_origin``.

API:

- ``SensorSpec(width, height, cfa, bits, black, white, full_well, read_noise, base_iso,
  margins, margin_tag, poisson)``; ``.pattern``, ``.gain(iso)``.
- ``PlantedDefect(x, y, kind, strength, onset_index)``, kind in hot/partial/stuck/dead;
  ``.onset_at(shots)``, ``.accepted_kinds`` (the ``DefectKind`` a detector may report).
- ``plant_defects(sensor, counts, late_fraction, seed, *, n_shots, onset_range, spacing,
  edge, strengths) -> list[PlantedDefect]``; ``ground_truth(defects, shots) -> list[dict]``.
- ``ShotSpec(index, taken_at, exposure, iso, scene, orientation, burst, scene_seed, shift,
  brightness, session)``; ``.shot_info(sensor) -> ShotInfo``.
- ``plan_roll(n, seed, *, start, bursts, timelapses, night, specials, portrait, scenes)``.
- ``Camera(sensor, defects, make, model, serial, seed, *, jpeg_quality, subsampling,
  dng_compression, jpeg_crop, m_size)``:
  ``render_raw(shot)`` (visible, read-only uint16), ``render_raw_full(shot)``,
  ``render_rgb(raw, shot)``, ``visibility(shot)``, ``write_dng(shot, path)``,
  ``write_jpeg(shot, path, quality, size)``, ``jpeg_map(size)``, ``body``, ``rawpy_origin``,
  ``rawpy_visible(shot)``.
- ``write_roll(camera, shots, folder, formats=("jpeg", "dng")) -> list[Path]`` (``jpeg-m``:
  the M-size JPEG).
- ``scene_mosaic(shot, width, height, pattern)``: the noise-free expected signal.

Typical use::

    sensor = SensorSpec(width=640, height=480, cfa="RGGB")
    shots = plan_roll(60, seed=1)
    defects = plant_defects(sensor, {"hot": 4, "stuck": 1, "dead": 1}, late_fraction=0.3,
                            seed=1, n_shots=len(shots))
    cam = Camera(sensor, defects, make="Simulated", model="HW-1", serial="1001", seed=1)
    paths = write_roll(cam, shots, folder)          # IMG_0000.JPG + IMG_0000.DNG, ...
    truth = ground_truth(defects, shots)            # x, y, kind, onset index and datetime
    vis = cam.visibility(shots[10])                 # per defect: excess / local noise (raw)
"""

from .camera import Camera
from .defects import ground_truth, plant_defects, plant_hard_cases
from .planner import plan_roll
from .scenes import PHOTO_SCENES, SPECIAL_SCENES, scene_mosaic
from .specs import (
    CAM_MIX,
    CFA_PATTERNS,
    DEFECT_KINDS,
    NEUTRAL,
    XTRANS,
    PlantedDefect,
    SensorSpec,
    ShotSpec,
)
from .writers import write_roll

__all__ = [
    "CAM_MIX",
    "CFA_PATTERNS",
    "DEFECT_KINDS",
    "NEUTRAL",
    "PHOTO_SCENES",
    "SPECIAL_SCENES",
    "XTRANS",
    "Camera",
    "PlantedDefect",
    "SensorSpec",
    "ShotSpec",
    "ground_truth",
    "plan_roll",
    "plant_defects",
    "plant_hard_cases",
    "scene_mosaic",
    "write_roll",
]
