"""Animated GIFs from RGB frames: one shared palette, one frame per picture, a final linger."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode_gif(frames: list[np.ndarray], colors: np.ndarray, duration_ms: int) -> bytes:
    """Encode RGB frames as a looping GIF with one shared palette (no colour flicker).

    The palette is built from the first and last frames plus `colors` (k × 3 uint8), the
    colours that must come out exact even where only some frames show them.
    """
    sample = [frames[0], frames[-1]]
    swatch = np.zeros((4, frames[0].shape[1], 3), dtype=np.uint8)
    swatch[:] = colors[np.arange(frames[0].shape[1]) % colors.shape[0]]
    reference = Image.fromarray(np.vstack([*sample, swatch])).quantize(
        256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    images = [
        Image.fromarray(f).quantize(palette=reference, dither=Image.Dither.NONE) for f in frames
    ]
    _keep_duplicates(images, reference)
    durations = [duration_ms] * len(images)
    durations[-1] = duration_ms * 4  # linger on the final state before looping
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
    )
    return buf.getvalue()


def _keep_duplicates(images: list[Image.Image], reference: Image.Image) -> None:
    """Make each frame differ from the one before, so Pillow writes one frame per picture.

    Pillow folds a frame identical to its predecessor into it (e.g. a tiny canvas whose
    title is cut off); a corner pixel nudged to its nearest other palette colour prevents it.
    """
    colors = np.array(reference.getpalette() or [0, 0, 0], dtype=float).reshape(-1, 3)
    previous: np.ndarray | None = None
    for image in images:
        index = np.asarray(image)
        if previous is not None and np.array_equal(index, previous):
            here = int(index[0, 0])
            distance = ((colors - colors[here]) ** 2).sum(axis=1)
            distance[here] = np.inf
            image.putpixel((0, 0), int(np.argmin(distance)))
            index = np.asarray(image)
        previous = index
