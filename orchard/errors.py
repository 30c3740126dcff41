"""A user's mistake, told in one line: the exception types `orchard.cli.main` turns into a message on stderr.

Raise (or convert to) UserError where a mistake is recognised: a path that does not exist, a stack that is
not deployed, a run id that names no run, SQL that does not parse. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from pathlib import Path

EXIT_USER_ERROR = 2  # as argparse exits for a bad command line


class UserError(Exception):
    """The command cannot do what was asked; the message says why (and what to do) in one line."""


class MissingPathError(UserError):
    """A file or folder named on the command line does not exist."""


def one_line(message: str) -> str:
    """The message's non-blank lines joined: stderr gets exactly one line."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def existing_folder(path: Path | str, what: str = "folder") -> Path:
    """The folder at path; MissingPathError unless it is one."""
    folder = Path(path)
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise MissingPathError(f"{what} {folder} {problem}")
    return folder


def existing_file(path: Path | str, what: str = "file") -> Path:
    """The file at path; MissingPathError unless it is one."""
    file = Path(path)
    if not file.is_file():
        problem = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise MissingPathError(f"{what} {file} {problem}")
    return file
