"""Errors a user can act on: each names the file, sheet, column or parameter at fault."""

import errno


class IntelliError(Exception):
    """Base class for errors shown to users without a traceback. `transient` marks a failure
    of a network service (outage, rate limit, time-out) that a later retry may not meet."""

    transient = False


class InvalidSourceError(IntelliError):
    """An input file is not a usable Espacenet export (or is missing, empty, corrupt)."""

    def __init__(self, path: str, problems: list[str], kind: str = "Espacenet Filters workbook"):
        self.path = path
        self.problems = problems
        self.kind = kind
        detail = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: not a usable {kind}:\n{detail}")


class MissingFacetError(IntelliError):
    """A chart needs a facet (sheet) the dataset does not have."""


class ChartParamError(IntelliError):
    """A chart parameter or style option is invalid; raised before any work is done."""


class EmptyFacetError(IntelliError):
    """A chart's facet is present but holds no documents (every count is 0)."""


class StorageError(IntelliError):
    """A file could not be written (read-only folder, disk full, ...): names the path and the OS error."""

    def __init__(self, path: str, error: OSError):
        self.path = path
        self.errno = error.errno
        code = errno.errorcode.get(error.errno, "") if error.errno else ""
        reason = error.strerror or str(error)
        super().__init__(f"cannot write {path}: {reason}" + (f" ({code})" if code else ""))
