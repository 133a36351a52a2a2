"""What the web app tells its user, as text: errors without server paths, progress with an ETA, and
the slice views' readouts (orientation letters, slice position, window/level, HU under the cursor).

No trame and no MRML: plain functions on strings, numbers and NumPy arrays, so each is tested
without a browser. ``server`` puts them on screen.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath

from ..progress import STAGE_WEIGHTS

#: Window/level presets of the views (name -> (window, level), HU): Slicer's CT presets.
WINDOW_PRESETS_HU = {"mediastinum": (350.0, 40.0), "lung": (1500.0, -600.0), "bone": (2000.0, 400.0)}

#: The preset a CT opens with (every load, whatever the CT): the soft-tissue window, in which a
#: lung tumour's interior is not saturated.
DEFAULT_WINDOW_PRESET = "mediastinum"

#: Absolute file paths in a message: POSIX paths of at least two parts ("/tmp/x/ct.nii.gz") and
#: Windows paths ("C:\\data\\ct.nrrd"), up to a space, quote, comma, semicolon or closing bracket.
_POSIX_PATH = re.compile(r"(?<![\w.:/])(/[^\s'\"/,;()\[\]<>]+(?:/[^\s'\"/,;()\[\]<>]*)+)")
_WINDOWS_PATH = re.compile(r"\b([A-Za-z]:\\[^\s'\",;()\[\]<>]+)")


def _basename(path: str, windows: bool = False) -> str:
    name = (PureWindowsPath(path) if windows else PurePosixPath(path)).name
    return name or "(a server folder)"


def public_message(text: str) -> str:
    """``text`` with every absolute server path replaced by its last part (the file's own name).

    The user knows the file by the name they uploaded or picked; the server's temporary folders
    mean nothing to them and tell a stranger how the server is laid out. A message that ends with a
    trailing period keeps it: ``"ct: /tmp/radsurv-app-x/upload-y/notes.nrrd is not an image."`` ->
    ``"ct: notes.nrrd is not an image."``.
    """
    text = _WINDOWS_PATH.sub(lambda m: _basename(m.group(1).rstrip("."), windows=True)
                             + ("." if m.group(1).endswith(".") else ""), str(text))

    def posix(match):
        path = match.group(1)
        tail = "." if path.endswith(".") and not path.endswith("/.") else ""
        return _basename(path.rstrip(".")) + tail

    return _POSIX_PATH.sub(posix, text)


def public_result(value):
    """A copy of a ``result.json`` value (dict / list / str / number) with server paths reduced to
    file names (:func:`public_message` on every string, keys kept). Numbers and booleans are kept."""
    if isinstance(value, dict):
        return {key: public_result(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_result(item) for item in value]
    if isinstance(value, str):
        return public_message(value)
    return value


def has_server_path(text: str) -> bool:
    """Whether ``text`` still holds an absolute path (used by the tests and as a guard)."""
    return bool(_POSIX_PATH.search(str(text)) or _WINDOWS_PATH.search(str(text)))


# -- progress ------------------------------------------------------------------------------------
def duration_text(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``, ``"1 h 02 min"`` (seconds rounded up to 5 s above a minute)."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    if seconds < 3600:
        whole = int(math.ceil(seconds / 5.0) * 5)
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = int(math.ceil(seconds / 60.0))
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class ProgressClock:
    """Percentage and time left of one scoring run, from the stage weights (``progress.STAGE_WEIGHTS``).

    The worker reports a stage's start and end; in between the bar would stand still (the
    ``features`` stage is 60 % of a run). The clock estimates the run's pace (seconds per unit of
    fraction) from the stages finished so far and moves the bar through the current stage at that
    pace, up to 95 % of the stage's weight, so the bar never passes a stage that has not ended.
    When a stage runs past its expected time the pace is slowed to fit, so the time left grows
    rather than reading 0.

    Attributes:
        started: ``time.monotonic()`` of the Score click, s.
        min_fraction: reported fraction below which no ETA is given (the worker's start-up dominates).
    """

    started: float = field(default_factory=time.monotonic)
    min_fraction: float = 0.02
    _stage: str = ""
    _stage_fraction: float = 0.0
    _stage_started: float = 0.0

    def update(self, stage: str, fraction: float, now: float | None = None) -> tuple[float, float | None]:
        """The shown fraction (0-1) and the seconds left (None: not known yet) for a reported stage
        and fraction (``ProgressEvent.stage`` / ``.fraction``) at ``now`` (``time.monotonic()``, s)."""
        now = time.monotonic() if now is None else now
        fraction = min(max(float(fraction or 0.0), 0.0), 1.0)
        if stage != self._stage or fraction != self._stage_fraction:
            self._stage, self._stage_fraction, self._stage_started = stage, fraction, now
        if fraction >= 1.0:
            return 1.0, 0.0
        elapsed_before = self._stage_started - self.started
        if fraction < self.min_fraction or elapsed_before <= 0:
            return fraction, None
        pace = elapsed_before / fraction  # seconds per unit of fraction
        weight = STAGE_WEIGHTS.get(stage, 0.0) / sum(STAGE_WEIGHTS.values())
        in_stage = now - self._stage_started
        if weight > 0:
            expected = weight * pace
            pace = max(pace, in_stage / (0.95 * weight))  # a stage running long slows the estimate
            shown = fraction + weight * min(0.95, in_stage / expected if expected > 0 else 0.95)
        else:
            shown = fraction
        shown = min(shown, 0.99)
        return shown, max(0.0, (1.0 - shown) * pace)

    def text(self, stage: str, fraction: float, now: float | None = None) -> tuple[float, str]:
        """(shown fraction, ``"42 % - about 1 min 20 s left"``) for the progress line."""
        shown, left = self.update(stage, fraction, now)
        percent = f"{100 * shown:.0f} %"
        if left is None:
            return shown, f"{percent} - estimating the time left"
        return shown, f"{percent} - about {duration_text(left)} left"


# -- slice views ---------------------------------------------------------------------------------
#: Letters of RAS directions: +x Right, +y Anterior, +z Superior and their opposites.
_POSITIVE, _NEGATIVE = "RAS", "LPI"


def direction_letter(vector) -> str:
    """The anatomical letter (R, L, A, P, S, I) of the RAS axis a direction vector is closest to."""
    values = [float(v) for v in vector[:3]]
    axis = max(range(3), key=lambda i: abs(values[i]))
    return _POSITIVE[axis] if values[axis] >= 0 else _NEGATIVE[axis]


def orientation_letters(slice_to_ras) -> dict:
    """Letters at a slice view's edges from its SliceToRAS matrix (4 x 4, columns: the view's x
    (to the right of the screen), y (up), normal, origin; RAS mm).

    Returns:
        ``{"left", "right", "top", "bottom"}``: e.g. an axial view in Slicer's (radiological)
        convention gives ``{"left": "R", "right": "L", "top": "A", "bottom": "P"}``.
    """
    x = [slice_to_ras[i][0] for i in range(3)]
    y = [slice_to_ras[i][1] for i in range(3)]
    return {"right": direction_letter(x), "left": direction_letter([-v for v in x]),
            "top": direction_letter(y), "bottom": direction_letter([-v for v in y])}


def slice_position_text(slice_to_ras) -> str:
    """The slice's position along its normal as Slicer's slice controller shows it, e.g.
    ``"S 12.5 mm"`` for an axial slice 12.5 mm superior of the origin (``"I 3.0 mm"`` below it)."""
    normal = [slice_to_ras[i][2] for i in range(3)]
    origin = [slice_to_ras[i][3] for i in range(3)]
    axis = max(range(3), key=lambda i: abs(normal[i]))
    value = origin[axis]
    letter = _POSITIVE[axis] if value >= 0 else _NEGATIVE[axis]
    return f"{letter} {abs(value):.1f} mm"


def window_text(window: float, level: float) -> str:
    """``"W 350 L 40"`` (HU, whole numbers), the name of the preset appended when it is one."""
    text = f"W {window:.0f} L {level:.0f}"
    for name, (w, lv) in WINDOW_PRESETS_HU.items():
        if abs(w - window) < 0.5 and abs(lv - level) < 0.5:
            return f"{text} ({name})"
    return text


def probe_text(hu: float | None, ras=None) -> str:
    """The HU probe's line: ``"-23.4 HU at R 10.0 A -5.2 S 30.0"`` (HU to 1 decimal, RAS mm), or
    ``""`` when the cursor is off the CT (``hu`` None)."""
    if hu is None:
        return ""
    text = f"{hu:.1f} HU"
    if ras is not None:
        parts = []
        for axis, value in enumerate(ras[:3]):
            letter = _POSITIVE[axis] if value >= 0 else _NEGATIVE[axis]
            parts.append(f"{letter} {abs(value):.1f}")
        text += " at " + " ".join(parts) + " mm"
    return text


def sample_hu(ras_to_ijk, dimensions, values, ras):
    """HU of the CT voxel nearest to a RAS point, None outside the CT.

    Args:
        ras_to_ijk: 4 x 4 matrix (nested lists or array), RAS mm -> voxel index (i, j, k).
        dimensions: the CT's (i, j, k) sizes.
        values: callable ``(i, j, k) -> HU`` (the image's voxel value).
        ras: (r, a, s) mm.
    """
    point = [float(ras[0]), float(ras[1]), float(ras[2]), 1.0]
    ijk = [sum(ras_to_ijk[row][col] * point[col] for col in range(4)) for row in range(3)]
    index = [int(math.floor(v + 0.5)) for v in ijk]
    if any(i < 0 or i >= n for i, n in zip(index, dimensions)):
        return None
    return float(values(*index))


def volume_text(ml: float | None) -> str:
    """A volume for a person: ``"358.7 ml"`` from 1 ml up, ``"523 mm³"`` below, ``"0 ml (empty)"``;
    ``"-"`` when unknown (None). Thousands are grouped (``"1,234.5 ml"``)."""
    if ml is None:
        return "-"
    if ml <= 0:
        return "0 ml (empty)"
    if ml >= 1.0:
        return f"{ml:,.1f} ml"
    return f"{ml * 1000.0:,.0f} mm³"
