"""Decoding camera JPEGs: libjpeg-turbo in one call, the very pixels Pillow gives, and
Pillow's verdict on whatever it refuses."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hotwatch.core.errors import UnreadableFile, UnsupportedFile
from hotwatch.io import frames
from tests.support.shared_data import CAMERA_SAMPLES, CAMERA_SAMPLES_ORIGIN, shared_data


def _pillow_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_camera_jpegs_decode_to_pillows_pixels(roll):
    for path in sorted(roll.folder.glob("*.JPG"))[:5]:
        assert frames._decode_jpeg(path.read_bytes()) is not None  # the fast path was taken
        np.testing.assert_array_equal(frames.read_frame(path).data, _pillow_rgb(path))


@pytest.mark.parametrize(("subsampling", "chroma"), [(0, (1, 1)), (1, (2, 1)), (2, (2, 2))])
def test_a_jpegs_chroma_subsampling_is_read(tmp_path, subsampling, chroma):
    """The pixels that share one colour sample (4:4:4, 4:2:2, 4:2:0): detection needs it,
    through libjpeg-turbo and through Pillow alike."""
    rng = np.random.default_rng(2)
    path = tmp_path / "x.jpg"
    Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(
        path, "JPEG", subsampling=subsampling
    )
    assert frames.read_frame(path).chroma == chroma
    assert frames._read_pillow(path, path.read_bytes()).chroma == chroma
    png = tmp_path / "x.png"
    Image.open(path).save(png)
    assert frames.read_frame(png).chroma == (1, 1)


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {"progressive": True}), ("RGB", {"subsampling": 0}), ("L", {})],
)
def test_other_jpeg_flavours_decode_like_pillow(tmp_path, mode, options):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    path = tmp_path / "x.jpg"
    Image.fromarray(pixels).convert(mode).save(path, "JPEG", **options)
    np.testing.assert_array_equal(frames.read_frame(path).data, _pillow_rgb(path))


def test_real_camera_jpegs_decode_like_pillow():
    """The JPEGs of real cameras (``../shared/data/camera-samples``), however each encodes."""
    real = shared_data(CAMERA_SAMPLES, CAMERA_SAMPLES_ORIGIN)
    paths = sorted(real.glob("**/*.jpg"))
    assert len(paths) >= 10
    for path in paths:
        got = frames.read_frame(path, min_pixels=1).data
        np.testing.assert_array_equal(got, _pillow_rgb(path), err_msg=str(path))


def test_a_truncated_jpeg_is_damaged_and_a_renamed_png_is_read(tmp_path, roll):
    whole = sorted(roll.folder.glob("*.JPG"))[0].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnreadableFile, match="damaged image"):
        frames.read_frame(cut)
    png = tmp_path / "really-a-png.jpg"
    buf = io.BytesIO()
    Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(buf, "PNG")
    png.write_bytes(buf.getvalue())
    assert frames._decode_jpeg(png.read_bytes()) is None  # libjpeg refuses it; Pillow reads it
    assert frames.read_frame(png).data.shape == (240, 320, 3)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all" * 100)
    with pytest.raises(UnsupportedFile, match="not an image"):
        frames.read_frame(junk)
