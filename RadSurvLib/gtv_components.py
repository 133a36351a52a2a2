"""The GTV's connected components: counted, measured and checked against RadSurv's policy.

A GTV mask may hold more than one lesion (a primary and a node, two primaries) or stray paint (a
voxel painted by mistake away from the tumour). Both change every feature and the risk score, so
RadSurv says what it scored:

Policy (``COMPONENT_POLICY``, written to ``result.json["gtv"]["component_policy"]``):

- The GTV is scored as delineated: the union of its components is one ROI (features, rings and the
  model describe all of them together), as the GTV a clinician draws is one structure.
- More than one component: scored, with a ``GTVComponentsWarning`` listing each component (volume in
  mm^3, centre in mm) in ``result.json["warnings"]``; the list is in ``result.json["gtv"]["components"]``.
- A component smaller than the smallest GTV RadSurv scores (below ``preprocessing.GTV_MIN_VOXELS``
  voxels or ``preprocessing.GTV_MIN_VOLUME_MM3`` mm^3: too small to be a lesion of its own) among
  several is stray paint: the run is refused, naming its position and the fix. (A GTV that is one
  tiny component is refused by ``preprocessing.check_gtv_size`` already.)

Checked on every real mask of the project (``Testing/Python/test_bad_input_gtv.py``): the lung GTVs
(PAT1 as NIfTI and RTSTRUCT, lung1_001's RTSTRUCT GTV-1, PyRadiomics' lung1 and lung2), the IBSI
phantom masks and PyRadiomics' brain2 and breast1 labels are one component; PyRadiomics' brain1
label has two (13,981 and 2,432 mm^3: scored, warned). None holds a stray part. Organs rasterised
from lung1_001's RTSTRUCT do: its Lung-Left has a 4-voxel (11 mm^3) island.

Connectivity: 26 (voxels sharing a face, an edge or a corner belong to one component), as
``rings.make_rings_per_component``. A GTV painted slice by slice, or rasterised from RTSTRUCT contours,
steps diagonally from voxel to voxel within and between slices; 6-connectivity would split one
lesion at such steps and warn about parts the user drew as one (lung1_001's Lung-Left: 2 parts with
26-connectivity, 3 with 6). 3D Slicer's Islands effect counts
islands with 6-connectivity, so every component found here is an island (or several) there too and
its "Remove small islands" removes a stray component.

Positions: the centre (centroid, mm) of each component in RAS (right-anterior-superior: the
coordinates 3D Slicer shows) and LPS (left-posterior-superior: the physical space of ITK, of NRRD /
NIfTI files as SimpleITK reads them and of DICOM patient coordinates), and the voxel index (i, j, k)
nearest to it (x, y, z order, from 0) for editing a mask file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .errors import input_error
from .preprocessing import GTV_MIN_VOLUME_MM3, GTV_MIN_VOXELS, voxel_volume_mm3

#: Voxels sharing a face, an edge or a corner are one component (see the module docstring).
CONNECTIVITY = 26

#: A stray component's size (the smallest GTV scored, ``preprocessing.check_gtv_size``), in words.
_TOO_SMALL = f"below {GTV_MIN_VOXELS} voxels or {GTV_MIN_VOLUME_MM3:g} mm^3"
#: What RadSurv does with the components (``result.json["gtv"]["component_policy"]``).
COMPONENT_POLICY = ("scored as delineated: the union of all components is one GTV; more than one component: "
                    f"GTVComponentsWarning listing each; a component {_TOO_SMALL} (the smallest GTV scored) among "
                    "several: refused as stray paint")

#: Components listed in a message (the others are counted).
_LISTED = 5


class GTVComponentsWarning(UserWarning):
    """The GTV has more than one connected component; they are scored together as one GTV."""


@dataclass(frozen=True)
class Component:
    """One connected component of a GTV mask.

    Attributes:
        number: 1 for the largest component, 2 for the next, ...
        voxels: its number of voxels; volume_mm3: their volume, mm^3.
        centre_lps_mm: its centroid in the image's physical space (LPS, mm), (x, y, z).
        centre_voxel: the voxel index (i, j, k) nearest to the centroid, (x, y, z) order from 0.
    """

    number: int
    voxels: int
    volume_mm3: float
    centre_lps_mm: tuple
    centre_voxel: tuple

    @property
    def centre_ras_mm(self) -> tuple:
        """The centroid in RAS (mm), as 3D Slicer shows it: LPS with x and y negated."""
        x, y, z = self.centre_lps_mm
        return (-x, -y, z)

    def is_stray(self) -> bool:
        """True below the smallest GTV RadSurv scores (``preprocessing.GTV_MIN_VOXELS`` voxels or
        ``GTV_MIN_VOLUME_MM3`` mm^3): too small to be a lesion."""
        return self.voxels < GTV_MIN_VOXELS or self.volume_mm3 < GTV_MIN_VOLUME_MM3

    def describe(self) -> str:
        """For messages: ``"2: 2.86 mm^3 (1 voxel) at RAS (-12.3, 45.6, -78.9) mm = LPS (12.3, -45.6,
        -78.9) mm, voxel (101, 87, 30)"``."""
        plural = "s" if self.voxels > 1 else ""
        return (f"{self.number}: {_volume(self.volume_mm3)} mm^3 ({self.voxels:,} voxel{plural}) at "
                f"RAS {_point(self.centre_ras_mm)} mm = LPS {_point(self.centre_lps_mm)} mm, "
                f"voxel {_point(self.centre_voxel)}")

    def as_dict(self) -> dict:
        """The component's entry of ``result.json["gtv"]["components"]``."""
        return {"number": self.number, "voxels": self.voxels, "volume_mm3": self.volume_mm3,
                "centre_ras_mm": list(self.centre_ras_mm), "centre_lps_mm": list(self.centre_lps_mm),
                "centre_voxel_ijk": list(self.centre_voxel)}


def _volume(mm3: float) -> str:
    """A volume for messages: "35,525" or "2.86" (three significant digits below 100 mm^3)."""
    return f"{mm3:,.0f}" if mm3 >= 100 else f"{mm3:.3g}"


def _point(values) -> str:
    """A point for messages as plain numbers: "(-12.3, 45.6, 7)"."""
    return "(" + ", ".join(f"{float(v):.1f}" if isinstance(v, float) else str(v) for v in values) + ")"


def label_components(mask):
    """The GTV's connected components (``CONNECTIVITY``) as a labelmap, 1 = the largest.

    Args:
        mask: SimpleITK image (non-zero = GTV), any spacing.

    Returns:
        SimpleITK labelmap on the mask's grid: 0 background, 1..n the components by decreasing size.
    """
    import SimpleITK as sitk

    binary = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    return sitk.RelabelComponent(sitk.ConnectedComponent(binary, CONNECTIVITY == 26), sortByObjectSize=True)


def gtv_components(mask) -> list[Component]:
    """The connected components of a GTV mask, largest first (empty list for an empty mask).

    Args:
        mask: SimpleITK image (non-zero = GTV) in its physical space (LPS, mm).

    Returns:
        list of ``Component`` (volumes in mm^3, centres in mm).
    """
    import SimpleITK as sitk

    labels = label_components(mask)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(labels)
    voxel_mm3 = voxel_volume_mm3(mask)
    parts = []
    for label in sorted(stats.GetLabels()):
        centre = tuple(float(c) for c in stats.GetCentroid(label))
        voxel = tuple(int(i) for i in mask.TransformPhysicalPointToIndex(centre))
        count = int(stats.GetNumberOfPixels(label))
        parts.append(Component(int(label), count, count * voxel_mm3, centre, voxel))
    return parts


def check_gtv_components(mask, what: str = "gtv") -> list[Component]:
    """Apply RadSurv's component policy (module docstring) to a GTV mask; returns its components.

    Args:
        mask: SimpleITK GTV mask (non-zero = GTV), already checked by ``preprocessing.validate_inputs``.
        what: the input's name in messages (``"gtv"``; ``"rtstruct"`` or ``"seg"`` for a GTV read
            from DICOM with its CT: the file the user gave; each front end names it in its own terms).

    Returns:
        list of ``Component``, largest first.

    Raises:
        InputError (``OptionError`` on ``gtv``): a stray component (below ``GTV_MIN_VOXELS`` voxels or
            ``GTV_MIN_VOLUME_MM3`` mm^3) among several; the message gives each stray's volume and
            position (RAS and LPS mm, voxel) and how to remove it.

    Warns:
        GTVComponentsWarning: more than one component (each listed); they are scored as one GTV.
    """
    parts = gtv_components(mask)
    stray = [p for p in parts if p.is_stray()]
    if stray and len(parts) > 1:
        largest = max(p.voxels for p in stray)
        raise input_error(what, f"the GTV has {len(parts)} separate parts ({CONNECTIVITY}-connected components) and "
                                f"{_count(stray, 'is', 'are')} too small to be a lesion ({_TOO_SMALL}), stray paint: "
                                f"{_listed(stray)}. The largest part: {parts[0].describe()}. Remove the stray part(s) "
                                "and score again: in 3D Slicer, Segment Editor, Islands effect, \"Remove small "
                                f"islands\" with a minimum size of {largest + 1} voxels; in a mask file, set those "
                                "voxels to 0; in an RTSTRUCT, delete the stray contour.")
    if len(parts) > 1:
        warnings.warn(f"GTV: the mask has {len(parts)} separate parts ({CONNECTIVITY}-connected components), scored "
                      f"together as one GTV: {_listed(parts)}. If every part is tumour (e.g. a primary and a node), "
                      "nothing to do; if not, remove the others (3D Slicer: Segment Editor, Islands effect; a mask "
                      "file: edit the mask) and score again.", GTVComponentsWarning, stacklevel=2)
    return parts


def components_result(parts: list[Component]) -> dict:
    """The component entries of ``result.json["gtv"]``: count, policy, connectivity, each component."""
    return {"n_components": len(parts), "connectivity": CONNECTIVITY, "component_policy": COMPONENT_POLICY,
            "components": [p.as_dict() for p in parts],
            "coordinates": "centre_ras_mm: RAS (as 3D Slicer shows); centre_lps_mm: LPS (ITK, NRRD / NIfTI as "
                           "read by SimpleITK, DICOM patient coordinates); centre_voxel_ijk: voxel index (x, y, z) "
                           "on the CT grid, from 0"}


def components_summary(parts: list[Component]) -> str:
    """One line for the progress of the validate stage: the number of components and their volumes."""
    volumes = ", ".join(_volume(p.volume_mm3) for p in parts[:_LISTED]) + (", ..." if len(parts) > _LISTED else "")
    return f"GTV: {len(parts)} connected component{'s' if len(parts) > 1 else ''} ({volumes} mm^3)"


def _count(parts, singular: str, plural: str) -> str:
    return f"{len(parts)} of them {singular if len(parts) == 1 else plural}"


def _listed(parts) -> str:
    shown = "; ".join(p.describe() for p in parts[:_LISTED])
    return shown + (f"; and {len(parts) - _LISTED} more" if len(parts) > _LISTED else "")
