"""The ``radsurv`` command: input errors are one clear message with exit status 2."""

import subprocess
import sys
import textwrap

from conftest import PAT1_CT, PAT1_GTV, REPO

from RadSurvLib.cli import main


def test_missing_file_is_one_clear_message(tmp_path, capsys):
    status = main(["score", "--ct", str(tmp_path / "ct.nrrd"), "--gtv", str(PAT1_GTV),
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert "--ct: file not found" in err and "Traceback" not in err


def test_bad_ring_distances_are_reported(tmp_path, capsys):
    status = main(["score", "--ct", str(PAT1_CT), "--gtv", str(PAT1_GTV), "--out", str(tmp_path),
                   "--rings", "6,3"])
    assert status == 2
    assert "--rings" in capsys.readouterr().err


def test_earlier_outputs_refused_without_overwrite(pat1_outputs):
    completed = subprocess.run([sys.executable, "-m", "RadSurvLib", "score", "--ct", str(PAT1_CT),
                                "--gtv", str(PAT1_GTV), "--out", str(pat1_outputs)],
                               cwd=REPO, capture_output=True, text=True)
    assert completed.returncode == 2
    assert "earlier run" in completed.stderr and "Traceback" not in completed.stderr


def test_existing_scene_file_is_kept(tmp_path, capsys):
    scene = tmp_path / "mine.mrb"
    scene.write_bytes(b"user's own scene")
    status = main(["score", "--ct", str(PAT1_CT), "--gtv", str(PAT1_GTV), "--out", str(tmp_path / "out"),
                   "--scene", str(scene)])
    assert status == 2 and "--scene" in capsys.readouterr().err
    assert scene.read_bytes() == b"user's own scene"


def test_train_demo_takes_the_trainer_options():
    from RadSurvLib.cli import build_parser

    args = build_parser().parse_args(["train-demo", "--out", "bundle", "--epochs", "3", "--seed", "7"])
    assert (args.out, args.epochs, args.seed, args.base_width) == ("bundle", 3, 7, 8)


def test_score_and_voxelmaps_check_the_shared_options_alike(tmp_path):
    """``radsurv voxelmaps`` checks its maps, kernel radius and device with ``ScoreOptions``, as
    ``radsurv score`` does: a value one accepts the other accepts, a refused one reads the same."""
    import pytest

    from RadSurvLib.cli import build_parser
    from RadSurvLib.cli.voxelmaps import options_from_args
    from RadSurvLib.errors import RadSurvError, translate
    from RadSurvLib.options import ScoreOptions

    def both(*extra):
        score = build_parser().parse_args(["score", "--ct", "c", "--gtv", "g", "--out", "o", *extra])
        maps = build_parser().parse_args(["voxelmaps", "--ct", "c", "--gtv", "g", "--out", "o", *extra])
        outcomes = []
        for make, args in ((ScoreOptions.from_args, score), (options_from_args, maps)):
            try:
                outcomes.append(make(args))
            except RadSurvError as exc:
                outcomes.append(translate(exc, "cli"))
        return outcomes

    for extra in (["--kernel-radius", "1.0"], ["--kernel-radius", "2"], ["--device", "cuda:1"]):
        score, maps = both(*extra)
        assert isinstance(maps, ScoreOptions), maps
        assert (score.kernel_radius, score.device) == (maps.kernel_radius, maps.device)
    for extra in (["--kernel-radius", "0"], ["--kernel-radius", "1.5"], ["--device", "tpu"]):
        score, maps = both(*extra)
        assert isinstance(score, str) and score == maps, (score, maps)
    with pytest.raises(RadSurvError, match="^--features: unknown voxel-map feature"):
        options_from_args(build_parser().parse_args(["voxelmaps", "--ct", "c", "--gtv", "g", "--out", "o",
                                                     "--features", "glcm_Nope"]))


def test_parser_and_feature_lists_import_without_numpy_or_torch():
    """Slicer's Python, which has neither NumPy nor torch, builds the command's parser: it lists the
    voxel-map families, so every module of ``radiomics.families`` imports without them."""
    script = textwrap.dedent("""
        import sys
        sys.modules["numpy"] = sys.modules["torch"] = None  # any import of them raises ImportError
        from RadSurvLib.cli import build_parser
        from RadSurvLib.radiomics import families
        from RadSurvLib.radiomics.voxelmaps import AVAILABLE_FEATURES, FAMILIES
        args = build_parser().parse_args(["voxelmaps", "--ct", "c", "--gtv", "g", "--out", "o", "--families", "glcm"])
        assert args.command == "voxelmaps" and "glcm_Contrast" in AVAILABLE_FEATURES
        assert list(families.MODULES) == ["shape", *FAMILIES]
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
