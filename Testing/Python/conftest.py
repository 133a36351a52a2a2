"""Shared fixtures: the PAT1 sample (IBSI-1 CT phantom, a real lung-cancer CT with its GTV) and
one full ``score_case`` run on it, reused by the tests of every stage."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAT1_DIR = REPO / "RadSurvLib" / "resources" / "PAT1"
PAT1_CT = PAT1_DIR / "image.nii.gz"
PAT1_GTV = PAT1_DIR / "mask.nii.gz"

#: IBSI reference mesh volume of PAT1's GTV (configuration A, morph_volume), mm^3, and its tolerance.
PAT1_IBSI_VOLUME_MM3 = 358_000.0
PAT1_IBSI_VOLUME_TOL_MM3 = 5_000.0


def make_pat1_scene(mask_path=PAT1_GTV):
    """A slicer-core scene with PAT1's CT and a segmentation whose one segment, "GTV", is imported
    from ``mask_path`` (a labelmap on PAT1's grid): (scene, CT node, segmentation node, segment ID)."""
    import slicer

    scene = slicer.vtkMRMLScene()
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)

    def read(path, name, labelmap=False):
        node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode", name)
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(str(path))
        assert storage.ReadData(node)
        return node

    ct = read(PAT1_CT, "PAT1 CT")
    mask = read(mask_path, "mask", labelmap=True)
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "PAT1 segmentation")
    seg.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(mask, seg)
    gtv_id = seg.GetSegmentation().GetNthSegmentID(0)
    seg.GetSegmentation().GetSegment(gtv_id).SetName("GTV")
    scene.RemoveNode(mask)
    return scene, ct, seg, gtv_id


def run_worker_job(job):
    """Run a worker job in this process (``worker.server.run_job``): (exit status, last message sent)."""
    import io

    from RadSurvLib.worker import server

    sent = []

    class Out:
        def send(self, message):
            sent.append(message)

    return server.run_job(job, Out(), io.StringIO()), sent[-1]


@pytest.fixture(scope="session")
def pat1_images():
    """(CT, GTV) of PAT1 as SimpleITK images on the original 0.977 x 0.977 x 3 mm grid."""
    import SimpleITK as sitk

    return sitk.ReadImage(str(PAT1_CT)), sitk.ReadImage(str(PAT1_GTV))


@pytest.fixture(scope="session")
def pat1_run(tmp_path_factory):
    """One full pipeline run on PAT1 with the shipped demonstration bundle.

    Returns:
        (out_dir, result dict, list of ``progress.ProgressEvent``).
    """
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.pipeline import score_case

    out_dir = tmp_path_factory.mktemp("pat1") / "out"
    events = []
    result = score_case(PAT1_CT, PAT1_GTV, out_dir, ScoreOptions(device="cpu"), progress=events.append)
    return out_dir, result, events


@pytest.fixture(scope="session")
def pat1_outputs(pat1_run):
    """Path of the output folder of the PAT1 pipeline run."""
    return pat1_run[0]


# ---------------------------------------------------------------------------------------------
# Front ends down to score_case, without a heavy run
# ---------------------------------------------------------------------------------------------

class CapturedScoreCase(Exception):
    """Raised by the ``captured_score_case`` stand-in once it has recorded its call."""


@pytest.fixture
def captured_score_case(monkeypatch):
    """Replace ``pipeline.score_case`` by a stand-in that records (ct, gtv, out_dir, options) and
    stops with an ``InputError`` ("stopped after the options"), so every front end can be driven
    to it in a second. Returns the list of recorded calls."""
    from RadSurvLib import pipeline
    from RadSurvLib.errors import InputError

    calls = []

    def stand_in(ct, gtv, out_dir, options=None, progress=None):
        calls.append({"ct": ct, "gtv": gtv, "out_dir": out_dir, "options": options})
        raise InputError("stopped after the options")

    monkeypatch.setattr(pipeline, "score_case", stand_in)
    return calls


class _ReplayHandle:
    """A finished 'process': its stdout lines (all at once), exit status, no stderr."""

    def __init__(self, lines, returncode):
        self._lines, self.returncode, self.pid = list(lines), returncode, 0

    def lines(self):
        out, self._lines = self._lines, []
        return out

    def stderr_tail(self):
        return ""

    def kill(self):
        pass


class InProcessWorkerRunner:
    """A ``WorkerJob`` runner that runs the real worker code (``worker.server.run_job``) on the
    job file in this process, instead of starting ``python -m RadSurvLib.worker``; ``jobs`` keeps
    each job as the worker read it."""

    def __init__(self):
        self.jobs = []

    def start(self, command, env=None, cwd=None):
        import io
        import json

        from RadSurvLib.worker import protocol, server

        lines = []

        class Out:
            def send(self, message):
                lines.append(protocol.encode(message))

        self.jobs.append(json.loads(Path(command[-1]).read_text()))
        code = server.run_job(command[-1], Out(), io.StringIO())
        return _ReplayHandle(lines, code)


def stored(image, order=(0, 1, 2), flips=(False, False, False)):
    """The same physical image stored another way: new axis a (x, y, z) is the old axis
    ``order[a]``, reversed where ``flips[a]``. Voxel values are moved, never interpolated."""
    import numpy as np
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(image)  # (z, y, x)
    array = np.transpose(array, [2 - order[2 - b] for b in range(3)])
    array = np.flip(array, axis=tuple(2 - a for a in range(3) if flips[a]))
    direction = np.array(image.GetDirection()).reshape(3, 3)
    spacing, size = np.array(image.GetSpacing()), np.array(image.GetSize())
    origin = np.array(image.GetOrigin())
    columns = []
    for a in range(3):
        old = order[a]
        column = direction[:, old] * (-1.0 if flips[a] else 1.0)
        if flips[a]:
            origin = origin + direction[:, old] * spacing[old] * (size[old] - 1)
        columns.append(column)
    result = sitk.GetImageFromArray(np.ascontiguousarray(array))
    result.SetSpacing([float(spacing[o]) for o in order])
    result.SetDirection(np.stack(columns, axis=1).ravel().tolist())
    result.SetOrigin(origin.tolist())
    return result


@pytest.fixture(scope="session")
def pat1_roi_slab():
    """PAT1's CT (float64 HU, (z, y, x)) and its GTV + 3 mm ring on 4 central slices (bool, same
    shape): real kernels for the voxel-map tests, small enough for the torch reference."""
    import numpy as np
    import SimpleITK as sitk

    from RadSurvLib.rings import make_rings

    gtv = sitk.ReadImage(str(PAT1_GTV)) != 0
    labelmap, _ = make_rings(gtv, (3.0,), warn=False)
    roi = sitk.GetArrayFromImage(labelmap) != 0
    zs = np.nonzero(roi.any((1, 2)))[0]
    z0 = zs[len(zs) // 2 - 2]
    roi[:z0] = False
    roi[z0 + 4:] = False
    return sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_CT))).astype(np.float64), roi
