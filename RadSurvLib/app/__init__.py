"""RadSurv in a browser: ``radsurv app`` (delineate and score on 3D Slicer's core, served by trame-slicer).

- ``inputs``: what the app accepts (uploads, the ``--data`` folder, PAT1), read as ``radsurv score`` reads it;
- ``scene``: the case in the MRML scene (CT node, "GTV" segment, Dice, ``.mrb``);
- ``readouts``: what the app tells its user as text (errors without server paths, progress with the
  time left, orientation letters, slice position, W/L, HU probe, volumes);
- ``server``: the trame app (needs the ``app`` extra: ``pip install -e ".[app]"``).

Scoring is ``control.session.ScoringSession`` (the Slicer module's ``SceneScoringTask`` with the app's
rules). Only ``server`` imports trame; the other modules need MRML (slicer-core) at most.
"""
