"""The ``radsurv`` command: input errors are one clear message with exit status 2."""

import subprocess
import sys

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
