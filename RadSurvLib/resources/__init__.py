"""Files RadSurv ships inside the package, read with ``importlib.resources`` so that they are found
in a source checkout, an editable install, a wheel and the installed Slicer extension alike.

- ``parameters/``: PyRadiomics parameter files (``Liu2025_PyRadiomics.yaml``: Liu et al. 2025,
  1316 features per ROI; ``Quick_PyRadiomics.yaml``: original image only);
- ``bundles/demo-seresnet3d/``: the demonstration model bundle (not a clinical model);
- ``signatures/lung1-os-99/``: a radiomics signature fitted on 99 Lung1 patients (research use, no
  better than tumour volume there; MIT features, CC BY-NC 3.0 clinical data: see its README.md);
- ``PAT1/``: the IBSI-1 CT phantom, a lung-cancer CT with its GTV (NIfTI and DICOM; CC BY-NC 3.0,
  see its ``LICENSE.md`` and ``README.md``): the sample case and the synthetic cohorts' background;
- ``ibsi/``: the IBSI 1 digital phantom (CC BY 4.0) and the IBSI 1 reference values.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a shipped file or folder, e.g. ``resource_path("parameters", "Liu2025_PyRadiomics.yaml")``.

    Raises:
        FileNotFoundError: nothing of that name ships with this installation.
    """
    path = Path(str(files(__name__).joinpath(*parts)))
    if not path.exists():
        raise FileNotFoundError(f"RadSurv resource {'/'.join(parts)} is missing from {path.parent}; "
                                "reinstall RadSurv.")
    return path


def parameter_file(name: str = "Liu2025_PyRadiomics.yaml") -> Path:
    """A shipped PyRadiomics parameter file (``parameters/<name>``)."""
    return resource_path("parameters", name)


def demo_bundle_path() -> Path:
    """Folder of the shipped demonstration bundle (``bundles/demo-seresnet3d``)."""
    return resource_path("bundles", "demo-seresnet3d")


def signature_path(name: str = "lung1-os-99") -> Path:
    """Folder of a shipped radiomics signature bundle (``signatures/<name>``, holds ``signature.json``)."""
    return resource_path("signatures", name)


def pat1_path(*parts: str) -> Path:
    """The PAT1 sample (``PAT1/image.nii.gz``, ``PAT1/mask.nii.gz``, ``PAT1/dicom/...``)."""
    return resource_path("PAT1", *parts)
