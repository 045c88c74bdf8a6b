"""The two digests kept of every stored file, taken in one pass over its bytes.

SHA-256 says which bytes were received. CRC-32 is what a zip's headers announce for each entry:
kept on the file's row, it lets the study zip send the stored bytes as they are (by sendfile on
disk) instead of reading them through the web process to work it out.
"""

import hashlib
import zlib
from typing import IO

CHUNK = 1024 * 1024


class Digests:
    """SHA-256, CRC-32 and size of the bytes passed to `update`."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self.crc32 = 0
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._sha256.update(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


def of_file(handle: IO[bytes]) -> Digests:
    """The digests of what is left to read of an open file."""
    digests = Digests()
    while chunk := handle.read(CHUNK):
        digests.update(chunk)
    return digests
