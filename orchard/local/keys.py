"""S3 keys as local files: one file per key, never outside its folder, and back to the exact key.

To S3 a key is any UTF-8 string of up to 1,024 bytes, '/' an ordinary character. A file system differs:
'.' and '..' segments climb, empty ones ('//', a leading '/', a folder marker's trailing '/') collapse, a
name holds at most 255 bytes, and a file 'a' cannot sit beside a folder 'a/' (S3 holds both: some tools
write such a marker object for a folder).

The segments of a key that are plain names are kept as they are, so the parent folder (the job's label)
reads the same. Any other segment becomes a stand-in, '~' + a digest + the segment's suffix (the job finds
images by suffix), and the segment is recorded in a name table beside the folder, from which ``key`` maps
the stand-in back. A file name also gets a stand-in when it
- has no suffix: a marker object 'a' then never takes the place of the folder 'a/' (a folder's stand-in
  differs from a file's of the same name). A folder named like a file ('x.jpg/' beside 'x.jpg') still
  cannot be held;
- holds ':': Hadoop's local file system cannot open such a file (it parses the name of the file's
  '.<name>.crc' checksum file as a URI with a scheme), and one such image would fail the whole Spark job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

NAME_MAX = 255  # bytes in one file name (Linux, macOS)
STAND_IN = re.compile(r"~[0-9a-f]{40}(\.[A-Za-z0-9]{1,8})?")
SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def is_plain(segment: str) -> bool:
    """A segment that is a file name as it is (a real segment shaped like a stand-in is not)."""
    return (
        segment not in ("", ".", "..")
        and "\0" not in segment
        and len(segment.encode()) <= NAME_MAX
        and not STAND_IN.fullmatch(segment)
    )


def hadoop_addressable(key: str) -> bool:
    """False when a Hadoop Path cannot name the key: it drops empty segments and resolves '.' and '..'."""
    return all(segment not in ("", ".", "..") for segment in key.split("/"))


@dataclass(frozen=True)
class KeyFolder:
    """A folder holding one file per key; its name table is a sibling folder (never listed with it)."""

    root: Path

    @property
    def names(self) -> Path:
        return self.root.with_name(self.root.name + "~names")

    def path(self, key: str) -> Path:
        """The file of the object at key."""
        *folders, name = key.split("/")
        plain = is_plain(name) and SUFFIX.search(name) and ":" not in name
        return self.root.joinpath(*map(self._local, folders), name if plain else self._stand_in(name, ""))

    def folder(self, prefix: str) -> Path:
        """The folder of the keys under a folder's prefix ('images/' or 'images' -> <root>/images)."""
        return self.root.joinpath(*map(self._local, prefix.removesuffix("/").split("/") if prefix else []))

    def key(self, relative: str) -> str:
        """The key a path relative to the root stands for (a POSIX path, as ``path`` made it)."""
        return "/".join(self._original(segment) for segment in relative.split("/"))

    def _local(self, folder: str) -> str:
        return folder if is_plain(folder) else self._stand_in(folder, "/")

    def _stand_in(self, segment: str, role: str) -> str:
        """role: "/" for a folder, "" for a file; it tells their stand-ins apart."""
        digest = hashlib.sha256((segment + role).encode()).hexdigest()[:40]
        record = self.names / digest
        if not record.exists():
            self.names.mkdir(parents=True, exist_ok=True)
            record.write_bytes(segment.encode())
        suffix = SUFFIX.search(segment)
        return f"~{digest}{suffix.group() if suffix else ''}"

    def _original(self, segment: str) -> str:
        if not STAND_IN.fullmatch(segment):
            return segment
        return (self.names / segment[1:41]).read_bytes().decode()
