"""Folder paths as patients' uploads name them, made safe to keep, show and hand on.

A path comes from the patient's browser, or from inside a zip they uploaded: it may climb with
"..", start at "/" or a drive, hold NULs, or be longer than a column. What is kept is always a
plain relative path, cut between names (keeping the end, where the file names are), never in
the middle of one: a cut inside "IMAGES../IM1" would leave "../IM1".
"""

import re

# File systems hold names of up to 255 bytes; the worker may add a "~2" to a repeated path.
NAME_MAX_BYTES = 200
_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relative_path(raw: str, *, fallback: str, max_length: int) -> str:
    """`raw` as a relative path of at most `max_length` characters, or `fallback`."""
    # A lone surrogate or a NUL fits neither the database nor a file name.
    text = raw.encode("utf-8", "replace").decode().replace("\x00", "")
    names = text.replace("\\", "/").split("/")
    if names and _DRIVE.match(names[0]):
        names[0] = names[0][2:]
    names = [name.encode()[:NAME_MAX_BYTES].decode("utf-8", "ignore") for name in names]
    names = [name for name in names if name not in ("", ".", "..")]
    kept: list[str] = []
    length = -1
    for name in reversed(names):
        if length + 1 + len(name) > max_length:
            break
        kept.append(name)
        length += 1 + len(name)
    return "/".join(reversed(kept)) or fallback[:max_length]
