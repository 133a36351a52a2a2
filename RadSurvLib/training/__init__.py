"""Training of RadSurv's deep survival models.

- ``train``: ``train(TrainConfig) -> TrainResult``, the one training path (``radsurv train``,
  ``radsurv finetune``, ``radsurv train-demo`` and Python callers).
- ``demo``: the demonstration bundle's preset of ``train`` on synthetic cases.
- ``loop``: ``fit``, the training loop (checkpoints, resume, early stopping); ``losses``: the Cox loss
  (Breslow or Efron ties) and BCE; ``augment``: Liu et al. Table 1 augmentations and presets.
- ``manifest``: the manifest CSV and its bad-row reporting; ``cache``: preprocessed model inputs
  (``TrainingSet``, ``load_training_set``).
- ``synthetic``: synthetic tumours with a known hazard inserted into a real CT; ``synthetic_cohort``:
  such cases written to disk with a manifest (size, texture, necrosis drive the hazard; shifted target).
- ``deep_features``: deep-feature vectors of manifest cases under a bundle; ``report``: JSON + PNG report.

The C-index is ``RadSurvLib.survival.metrics.harrell_c`` (the one ``radsurv evaluate`` prints). Importing
this package imports no torch.
"""
