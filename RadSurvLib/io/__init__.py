"""Reading and writing images: NRRD / NIfTI / MetaImage (``io.images``) and DICOM CT series with an
RTSTRUCT or DICOM SEG GTV (``io.dicom``)."""
