"""Errors a user can act on: each names the file, sheet, column or parameter at fault."""


class IntelliError(Exception):
    """Base class for errors shown to users without a traceback."""


class InvalidSourceError(IntelliError):
    """An input file is not a usable Espacenet export (or is missing, empty, corrupt)."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        detail = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: not a usable Espacenet Filters workbook:\n{detail}")


class MissingFacetError(IntelliError):
    """A chart needs a facet (sheet) the dataset does not have."""


class ChartParamError(IntelliError):
    """A chart parameter or style option is invalid; raised before any work is done."""
