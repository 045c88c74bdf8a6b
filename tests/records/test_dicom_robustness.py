"""records.dicom on hostile input: `inspect_file` never raises on random or mutated bytes, its
fast header walk reads what pydicom reads, and a failure of our own code is an internal error,
not a damaged file."""

from __future__ import annotations

import importlib
import inspect
import io
import logging
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.filereader import read_dataset

from records import problems
from records.dicom import (
    FileResult,
    check_dicomdir,
    inspect_file,
    make_preview,
    validate_tree,
)
from records.dicom.header import (
    _DEFER_BYTES,
    _TAG_LIST,
    _at_pixel_data,
    _walk_little_endian,
    scan_file_meta,
)
from records.problems import Problem
from tests.records import dicom_factory as factory
from tests.records.dicom_samples import codes

# --- inspect_file never raises --------------------------------------------------------------------


def _valid_file_bytes() -> bytes:
    buffer = io.BytesIO()
    factory.make_dataset(rows=8, cols=8).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


VALID_BYTES = _valid_file_bytes()
_HYPOTHESIS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _inspect_bytes(tmp_path: Path, data: bytes) -> FileResult:
    path = tmp_path / "fuzzed"
    path.write_bytes(data)
    result = inspect_file(path)
    assert result.ok or result.problems, "a rejected file must say why"
    assert problems.INTERNAL_ERROR not in codes(result), "our own code failed on these bytes"
    return result


HEADER_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 1023), st.integers(0, 255)
    ),
    min_size=1,
    max_size=10,
)


def _edited(original: bytes, edits: list[tuple[str, int, int]], *, start: int = 0) -> bytes:
    """``original`` with bytes flipped, inserted or deleted at ``start`` + offset (clamped)."""
    data = bytearray(original)
    for operation, offset, value in edits:
        at = min(start + offset, len(data) - 1)
        if operation == "flip":
            data[at] ^= value or 1
        elif operation == "insert":
            data[at:at] = bytes([value])
        else:
            del data[at]
    return bytes(data)


@_HYPOTHESIS
@given(data=st.binary(max_size=4096))
# Random bytes are almost never a dataset: without these the property never reaches the header
# reader, and a bug there that rejects every image would pass it.
@example(data=VALID_BYTES)
@example(data=VALID_BYTES[VALID_BYTES.index(b"\x08\x00\x05\x00") :])  # a bare dataset
def test_random_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    _inspect_bytes(tmp_path, data)


@_HYPOTHESIS
@given(tail=st.binary(max_size=2048))
def test_random_bytes_after_a_dicm_marker_never_raise(tmp_path: Path, tail: bytes) -> None:
    _inspect_bytes(tmp_path, bytes(128) + b"DICM" + tail)


@_HYPOTHESIS
@given(edits=HEADER_EDITS)
def test_mutated_headers_never_raise(tmp_path: Path, edits: list[tuple[str, int, int]]) -> None:
    _inspect_bytes(tmp_path, _edited(VALID_BYTES, edits))


def _walked_and_read(data: bytes, *, implicit: bool = False):
    """The fast walk's elements and pydicom's reader's, as comparable tuples."""
    _, start = scan_file_meta(data, 132)
    walked = _walk_little_endian(data, start, implicit=implicit)
    if walked is None:
        return None, None
    stream = io.BytesIO(data)
    stream.seek(start)
    ds = read_dataset(
        stream,
        implicit,
        True,
        stop_when=_at_pixel_data,
        defer_size=_DEFER_BYTES,
        specific_tags=_TAG_LIST,
    )
    as_tuples = lambda elements: {  # noqa: E731
        int(tag): (e.VR, e.length, e.value, e.value_tell) for tag, e in elements.items()
    }
    return (as_tuples(walked[0]), walked[1]), (as_tuples(ds), stream.tell())


def test_the_fast_walk_reads_what_pydicom_reads() -> None:
    fast, pydicoms = _walked_and_read(VALID_BYTES)
    assert fast is not None, "the common case must take the fast walk"
    assert fast == pydicoms
    assert len(fast[0]) > 15


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_padded.dcm",
        "MR_small_implicit.dcm",
        "rtdose.dcm",
        "nested_priv_SQ.dcm",
        "liver_1frame.dcm",
        "JPEG2000.dcm",
    ],
)
def test_the_fast_walk_agrees_with_pydicom_on_its_samples(name: str) -> None:
    path = get_testdata_file(name)
    syntax = dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    fast, pydicoms = _walked_and_read(Path(path).read_bytes(), implicit=syntax.is_implicit_VR)
    assert fast == pydicoms  # None for both when the walk hands over to pydicom


@_HYPOTHESIS
@given(edits=HEADER_EDITS)
def test_the_fast_walk_never_reads_a_mutated_header_differently(
    edits: list[tuple[str, int, int]],
) -> None:
    _, start = scan_file_meta(VALID_BYTES, 132)
    data = _edited(VALID_BYTES, edits, start=start)  # the file meta is parsed before the walk
    fast, pydicoms = _walked_and_read(data)
    if fast is not None:
        assert fast == pydicoms


def _length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every explicit-VR length field in the file, found by walking it."""
    fields = []
    pos = 132
    while pos + 8 <= len(data):
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
            fields.append((pos + 8, 4))
            pos += 12 + struct.unpack_from("<L", data, pos + 8)[0]
        else:
            fields.append((pos + 6, 2))
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return fields


LENGTH_FIELDS = _length_fields(VALID_BYTES)


@_HYPOTHESIS
@given(
    field=st.sampled_from(LENGTH_FIELDS),
    value=st.one_of(
        st.sampled_from([0, 1, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF]),
        st.integers(0, 2**32 - 1),
    ),
)
def test_changed_declared_lengths_never_raise(
    tmp_path: Path, field: tuple[int, int], value: int
) -> None:
    offset, size = field
    data = bytearray(VALID_BYTES)
    data[offset : offset + size] = (value % (1 << (8 * size))).to_bytes(size, "little")
    _inspect_bytes(tmp_path, bytes(data))


def test_the_length_walker_found_the_pixel_data_length() -> None:
    assert len(LENGTH_FIELDS) > 20
    assert any(VALID_BYTES[o - 8 : o - 4] == b"\xe0\x7f\x10\x00" for o, _ in LENGTH_FIELDS)


def test_deeply_nested_sequences_do_not_crash(tmp_path: Path) -> None:
    # 20,000 nested undefined-length sequences: pydicom recurses once per level.
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    sequence = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff"
    body = (sequence + item) * 20_000
    path = tmp_path / "nested"
    path.write_bytes(VALID_BYTES[: VALID_BYTES.index(b"\x08\x00\x05\x00")] + body)
    assert codes(inspect_file(path)) == ["truncated"]


# --- a failure of our own code is not a damaged file ---------------------------------------------

PHI_FOLDER = "DOE_JANE_19700101"  # CD folders are often named after the patient
CALM = "We could not check this file yet; our team has been told."


def _bug(exception: type[Exception]):
    """Stands in for one of our functions with a bug in it; the message quotes a header value,
    as pydicom's and Python's own messages do."""

    def broken(*args: object, **kwargs: object) -> None:
        raise exception(f"unexpected value {factory.PATIENT_NAME}")

    return broken


def _line_calling(module: str, caller: str, callee: str) -> int:
    """The line of ``<module>.<caller>`` that calls ``callee``."""
    lines, first = inspect.getsourcelines(getattr(importlib.import_module(module), caller))
    [offset] = [i for i, line in enumerate(lines) if f"{callee}(" in line]
    return first + offset


def _logged_internal_error(caplog: pytest.LogCaptureFixture) -> str:
    [record] = [r for r in caplog.records if r.name == "records.dicom"]
    assert record.levelno == logging.ERROR
    logged = record.getMessage()
    for secret in (PHI_FOLDER, "IM0001", factory.PATIENT_NAME, "unexpected value"):
        assert secret not in logged and secret not in caplog.text
    return logged


@pytest.mark.parametrize(
    ("module", "function", "exception", "caller"),
    [
        ("records.dicom.inspect", "_fill_fields", TypeError, "_inspect"),
        ("records.dicom.header", "_walk_little_endian", IndexError, "read_header"),
        ("records.dicom.header", "scan_file_meta", struct.error, "_layout"),
        ("records.dicom.inspect", "_check_completeness", KeyError, "_inspect"),
    ],
)
def test_a_bug_in_our_code_is_an_internal_error_not_a_damaged_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    module: str,
    function: str,
    exception: type[Exception],
    caller: str,
) -> None:
    path = factory.write_instance(tmp_path / PHI_FOLDER / "IM0001")
    monkeypatch.setattr(f"{module}.{function}", _bug(exception))
    caplog.set_level(logging.DEBUG)

    result = inspect_file(path, rel_path=f"{PHI_FOLDER}/IM0001")

    assert codes(result) == ["internal_error"] and not result.ok
    assert result.problems[0].message == CALM
    assert result.problems[0].path == f"{PHI_FOLDER}/IM0001"  # the patient's own name for it
    logged = _logged_internal_error(caplog)
    name = "struct.error" if exception is struct.error else exception.__name__
    assert f"{name} at {module}:{caller}:{_line_calling(module, caller, function)}" in logged


def test_a_file_meta_cut_inside_a_long_length_is_truncated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # (0002,0001) OB: tag, VR and two reserved bytes, then the file ends before the length.
    path = tmp_path / "IM0001"
    path.write_bytes(bytes(128) + b"DICM" + struct.pack("<HH2sH", 0x0002, 0x0001, b"OB", 0))
    assert codes(inspect_file(path)) == ["truncated"]
    assert not caplog.records


def test_a_corrupt_deflate_stream_is_damage_not_a_failure_of_ours(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = factory.write_deflated(tmp_path / "IM0001")
    data = bytearray(path.read_bytes())
    _, start = scan_file_meta(bytes(data), 132)
    data[start] = 0b111  # the last block, of the reserved type 3: zlib refuses it
    path.write_bytes(bytes(data))
    assert codes(inspect_file(path)) == ["truncated"]
    assert not caplog.records


def test_a_bug_in_the_preview_is_an_internal_error_not_undecodable_pixels(
    instance: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("records.dicom.pixels._rescaled", _bug(ZeroDivisionError))
    caplog.set_level(logging.DEBUG)

    preview = make_preview(instance, rel_path=f"{PHI_FOLDER}/IM0001")

    assert isinstance(preview, Problem)
    assert (preview.code, preview.message) == ("internal_error", CALM)
    logged = _logged_internal_error(caplog)
    assert (
        "ZeroDivisionError at records.dicom.pixels:_to_image:"
        f"{_line_calling('records.dicom.pixels', '_to_image', '_rescaled')}" in logged
    )


def test_a_bug_in_the_dicomdir_cross_check_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sources = factory.write_series(tmp_path / "src", 2)
    dicomdir = factory.write_cd(tmp_path / PHI_FOLDER, sources)
    monkeypatch.setattr("records.dicom.dicomdir._cross_check", _bug(TypeError))
    caplog.set_level(logging.DEBUG)

    found = check_dicomdir(dicomdir, rel_path=f"{PHI_FOLDER}/DICOMDIR")

    assert codes(found) == ["internal_error"]  # not "dicomdir_unreadable", a harmless warning
    assert "TypeError at records.dicom.dicomdir:_check_dicomdir:" in _logged_internal_error(caplog)


def test_a_file_our_code_failed_on_blocks_the_upload_even_among_viewer_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory.write_series(tmp_path / "DICOM", 3)
    (tmp_path / "Viewer").mkdir()
    (tmp_path / "Viewer" / "viewer.dat").write_bytes(b"vendor data, not an image")
    # A bug met only on files that are not DICOM, found in a folder whose junk is ignored.
    monkeypatch.setattr("records.dicom.header._sniff_format", _bug(TypeError))

    report = validate_tree(tmp_path)

    assert not report.valid
    assert [(p.code, p.path) for p in report.problems] == [("internal_error", "Viewer/viewer.dat")]
    assert report.files == {"dicom": 3, "ignored": 0, "rejected": 1}
    assert report.to_dict()["problems"] == [
        {
            "path": "Viewer/viewer.dat",
            "code": "internal_error",
            "severity": "error",
            "message": CALM,
        }
    ]
