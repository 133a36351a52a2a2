"""Check that an image file is complete before SimpleITK reads it.

SimpleITK (ITK) fills the voxels missing from a truncated file with zeros and reports no error, so
a cut CT or GTV mask would be scored as if it were whole. ``verify_image_file`` parses the header
itself (NIfTI-1 / NIfTI-2 with the ``struct`` module, NRRD and MetaImage text headers), computes
the number of data bytes the header promises (voxels x bytes per voxel) and compares it with the
bytes the file holds; a gzip stream (``.nii.gz``, NRRD ``encoding: gzip``) is decompressed to its
end, which also checks its CRC and length trailer.

Formats: NIfTI-1 / NIfTI-2 single files (``.nii``, ``.nii.gz``, NIfTI specification,
nifti.nimh.nih.gov), NRRD 0001-0005 (teem.sourceforge.net/nrrd/format.html) with raw, gzip, bzip2,
ascii or hex encoding and one attached or detached data file, MetaImage (``.mha`` / ``.mhd``,
itk.org MetaIO) raw or zlib-compressed with one data file. Data split over several files (NRRD
``data file: LIST``, MetaImage ``ElementDataFile = LIST``) is left to SimpleITK unchecked.
"""

from __future__ import annotations

import bz2
import gzip
import struct
import zlib
from pathlib import Path

from ..errors import InputError

_CHUNK = 1 << 22

#: Bytes per voxel of the NRRD "type" field values (NRRD format, "type").
NRRD_TYPE_BYTES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t",
                     "ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32",
                     "uint32_t", "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long", "signed long long int",
                     "int64", "int64_t", "ulonglong", "unsigned long long", "unsigned long long int",
                     "uint64", "uint64_t", "double"), 8),
}

#: Bytes per voxel of the MetaImage "ElementType" values (MetaIO, metaTypes.h).
META_TYPE_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4,
                   "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8,
                   "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def _refuse(what: str, path: Path, problem: str, fix: str = "") -> InputError:
    fix = fix or "Export or copy the file again from its source."
    return InputError(f"{what}: the file {path} {problem}. {fix}")


def verify_image_file(path, what: str = "image") -> None:
    """Check that an NRRD / NIfTI / MetaImage file holds all the voxel data its header declares.

    Args:
        path: image file (``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``).
        what: name of the input in messages, e.g. ``"CT"`` or ``"GTV mask"``.

    Raises:
        InputError: the path is a folder, the file is empty, not of the format its name says, its
            header is unreadable, a gzip / bzip2 / zlib stream is corrupt or ends early, or the file
            holds fewer data bytes than the header's size x type (a truncated file); the message
            names the file and gives both byte counts.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what}: {path} is a folder, not an image file. Give the NRRD / NIfTI file "
                         "itself (a DICOM CT series is given as its folder, with its GTV as an RTSTRUCT "
                         "or SEG).")
    try:
        _verify_by_suffix(path, what)
    except OSError as exc:  # permissions, a file removed meanwhile, an I/O error
        raise _refuse(what, path, f"cannot be read ({exc.strerror or exc})",
                      "Check that the file exists and that you may read it.") from None
    except (ValueError, OverflowError, struct.error) as exc:  # a header field that is not a number
        raise _refuse(what, path, f"has an unreadable header ({exc})") from None


def _verify_by_suffix(path: Path, what: str) -> None:
    if path.stat().st_size == 0:
        raise _refuse(what, path, "is empty (0 bytes)")
    name = path.name.lower()
    if name.endswith((".nii.gz", ".nii")):
        # By content: ITK reads an uncompressed NIfTI named .nii.gz, but not a gzipped one named .nii.
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        if gzipped and name.endswith(".nii"):
            raise _refuse(what, path, "is gzip-compressed but named .nii (SimpleITK cannot read it so)",
                          f"Rename it to {path.name}.gz.")
        (_verify_nifti_gz if gzipped else _verify_nifti)(path, what)
    elif name.endswith((".nrrd", ".nhdr")):
        _verify_nrrd(path, what)
    elif name.endswith((".mha", ".mhd")):
        _verify_metaimage(path, what)


# --- NIfTI ---------------------------------------------------------------------------------------

def _nifti_data_bytes(header: bytes, path: Path, what: str) -> tuple:
    """(voxel offset, data bytes) declared by a NIfTI-1 or NIfTI-2 header."""
    if len(header) < 348:
        raise _refuse(what, path, f"is too short for a NIfTI header ({len(header)} of 348 bytes)")
    for endian in "<>":
        size = struct.unpack(endian + "i", header[:4])[0]
        if size == 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = int(struct.unpack(endian + "f", header[108:112])[0])
            break
        if size == 540:
            if len(header) < 540:
                raise _refuse(what, path, f"is too short for a NIfTI-2 header ({len(header)} of 540 bytes)")
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = struct.unpack(endian + "q", header[168:176])[0]
            break
    else:
        raise _refuse(what, path, "is not a NIfTI file (its header size field is neither 348 nor 540)",
                      "Check that the file is the image you meant and that its name has the right suffix.")
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0 or any(d < 1 for d in dims[1:ndim + 1]):
        raise _refuse(what, path, f"has an invalid NIfTI header (dim {list(dims)}, bitpix {bitpix})")
    voxels = 1
    for d in dims[1:ndim + 1]:
        voxels *= int(d)
    return max(offset, 352 if size == 348 else 544), voxels * bitpix // 8


def _verify_nifti(path: Path, what: str) -> None:
    with open(path, "rb") as handle:
        header = handle.read(544)
    offset, needed = _nifti_data_bytes(header, path, what)
    held = path.stat().st_size - offset
    if held < needed:
        raise _refuse(what, path, f"is truncated: its header declares {needed:,} bytes of voxel data, "
                                  f"the file holds {max(held, 0):,}")


def _verify_nifti_gz(path: Path, what: str) -> None:
    try:
        with gzip.open(path, "rb") as stream:
            header = stream.read(544)
            total = len(header)
            for block in iter(lambda: stream.read(_CHUNK), b""):
                total += len(block)
    except EOFError:
        raise _refuse(what, path, "is truncated or corrupt: its gzip stream ends before its end-of-stream marker "
                                  "(an interrupted copy or download)") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError; CRC / length errors too
        raise _refuse(what, path, f"is not a valid gzip file ({exc})") from None
    offset, needed = _nifti_data_bytes(header, path, what)
    if total - offset < needed:
        raise _refuse(what, path, f"is truncated: its header declares {needed:,} bytes of voxel data, "
                                  f"the decompressed file holds {max(total - offset, 0):,}")


# --- NRRD ----------------------------------------------------------------------------------------

#: Largest text header read (Slicer .seg.nrrd headers with many segments run to a few MB).
_MAX_HEADER_BYTES = 64 << 20


def _read_text_header(path: Path, what: str, magic: bytes | None, end_key: str | None):
    """(fields, header length in bytes) of a text header: NRRD (``magic``; ends at a blank line or at
    the end of a detached header) or MetaImage (ends after the ``end_key`` line, ``ElementDataFile``)."""
    not_format = "Check that the file is the image you meant and that its name has the right suffix."
    fields, position = {}, 0
    with open(path, "rb") as handle:
        if magic is not None and not handle.read(len(magic)) == magic:
            raise _refuse(what, path, f"is not an NRRD file (it does not start with {magic.decode()!r})",
                          not_format)
        handle.seek(0)
        while position < _MAX_HEADER_BYTES:
            line = handle.readline(1 << 20)
            if not line:  # end of file: a detached NRRD header may end without a blank line
                if magic is not None:
                    return fields, position
                break
            position += len(line)
            text = line.rstrip(b"\r\n").decode("latin-1")
            if magic is not None:
                if not text.strip():
                    return fields, position
                if text.startswith("#") or ":" not in text:
                    continue
                key, _, value = text.partition(":=" if ":=" in text else ":")
                fields[key.strip().lower()] = value.strip()
                continue
            key, sep, value = text.partition("=")
            if not sep:
                raise _refuse(what, path, "is not a MetaImage file (a header line has no '=')", not_format)
            fields[key.strip().lower()] = value.strip()
            if key.strip().lower() == end_key:
                return fields, position
    raise _refuse(what, path, "has no readable header (no end of header found)")


def _verify_nrrd(path: Path, what: str) -> None:
    fields, header_bytes = _read_text_header(path, what, b"NRRD000", None)
    try:
        sizes = [int(v) for v in fields["sizes"].split()]
        kind = fields["type"].lower()
        encoding = fields.get("encoding", "raw").lower()
    except (KeyError, ValueError):
        raise _refuse(what, path, "has an NRRD header without valid 'sizes', 'type' or 'encoding' fields") from None
    if kind == "block" or kind not in NRRD_TYPE_BYTES or any(s < 1 for s in sizes):
        raise _refuse(what, path, f"has an NRRD header with an unusable type or sizes ({kind!r}, {sizes})")
    voxels = 1
    for s in sizes:
        voxels *= s
    needed = voxels * NRRD_TYPE_BYTES[kind]
    data_file = fields.get("data file", fields.get("datafile"))
    if data_file is not None:
        if data_file.startswith("LIST") or len(data_file.split()) > 1:
            return  # data split over several files: left to SimpleITK
        data_path = (path.parent / data_file)
        if not data_path.is_file():
            raise _refuse(what, path, f"names the data file {data_path}, which does not exist",
                          "Keep the .nhdr header and its data file together.")
        start = 0
    else:
        data_path, start = path, header_bytes
    skip_lines = int(fields.get("line skip", fields.get("lineskip", 0)) or 0)
    skip_bytes = int(fields.get("byte skip", fields.get("byteskip", 0)) or 0)
    with open(data_path, "rb") as handle:
        handle.seek(start)
        for _ in range(skip_lines):
            handle.readline()
        start = handle.tell()
    if encoding == "raw":
        held = data_path.stat().st_size - start - max(skip_bytes, 0)
        _check_bytes(what, path, needed, held, "")
    elif encoding in ("gzip", "gz", "bzip2", "bz2"):
        held = _decompressed_bytes(data_path, start, encoding, what, path)
        _check_bytes(what, path, needed, held - max(skip_bytes, 0), " decompressed")
    elif encoding in ("ascii", "text", "txt"):
        values = len(data_path.read_bytes()[start:].split())
        _check_bytes(what, path, voxels, values, "", unit="values")
    elif encoding == "hex":
        digits = sum(1 for c in data_path.read_bytes()[start:] if chr(c) in "0123456789abcdefABCDEF")
        _check_bytes(what, path, needed, digits // 2, "")


def _decompressed_bytes(data_path: Path, start: int, encoding: str, what: str, path: Path) -> int:
    """Length of a gzip / bzip2 / zlib stream from byte ``start``, checked to its end."""
    if encoding.startswith("bz"):
        decoder = bz2.BZ2Decompressor()
    else:
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # +32: a zlib or a gzip header
    total = 0
    try:
        with open(data_path, "rb") as handle:
            handle.seek(start)
            for block in iter(lambda: handle.read(_CHUNK), b""):
                total += len(decoder.decompress(block))
                if decoder.eof:
                    break
    except (OSError, zlib.error, ValueError) as exc:
        raise _refuse(what, path, f"holds a corrupt {encoding} data stream ({exc})") from None
    if not decoder.eof:
        raise _refuse(what, path, f"is truncated: its {encoding} data stream ends before its end "
                                  f"(decompressed {total:,} bytes)")
    return total


def _check_bytes(what, path, needed, held, qualifier, unit="bytes") -> None:
    if held < needed:
        raise _refuse(what, path, f"is truncated: its header declares {needed:,} {unit} of voxel data, "
                                  f"the file holds {max(held, 0):,}{qualifier}")


# --- MetaImage -----------------------------------------------------------------------------------

def _verify_metaimage(path: Path, what: str) -> None:
    fields, header_bytes = _read_text_header(path, what, None, "elementdatafile")
    try:
        sizes = [int(v) for v in fields["dimsize"].split()]
        kind = fields["elementtype"].upper()
        data_file = fields["elementdatafile"]
    except (KeyError, ValueError):
        raise _refuse(what, path, "has a MetaImage header without valid DimSize, ElementType or "
                                  "ElementDataFile fields") from None
    if kind not in META_TYPE_BYTES:
        return  # array types: left to SimpleITK
    voxels = int(fields.get("elementnumberofchannels", 1) or 1)
    for s in sizes:
        voxels *= s
    needed = voxels * META_TYPE_BYTES[kind]
    if data_file.upper() == "LOCAL":
        data_path, start = path, header_bytes
    elif data_file.upper().startswith("LIST") or len(data_file.split()) > 1:
        return
    else:
        data_path, start = path.parent / data_file, 0
        if not data_path.is_file():
            raise _refuse(what, path, f"names the data file {data_path}, which does not exist",
                          "Keep the .mhd header and its data file together.")
    if fields.get("compresseddata", "false").lower() == "true":
        held = _decompressed_bytes(data_path, start, "zlib", what, path)
        _check_bytes(what, path, needed, held, " decompressed")
    else:
        _check_bytes(what, path, needed, data_path.stat().st_size - start, "")
