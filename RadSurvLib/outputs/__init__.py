"""The output folder of a run, and how results look: what the pipeline writes and the front ends read.

- ``outputs.folder``: the file names of a run, the staging transaction that fills a folder (a failed
  run leaves it as it was), strict JSON, and reading a finished ``radsurv score`` folder back;
- ``outputs.overview``: ``overview.png`` (axial, coronal, sagittal views through the GTV);
- ``outputs.colours``: the colour scheme ``overview.png`` and the Slicer scene share.

It imports only ``errors``: the pipeline writes through it, the front ends read through it.
"""
