"""The base of every configuration section: a frozen value that validates itself.

A section (``[pacs]``, ``[retry]``, ...) checks its own fields when it is made, in code or
from a file, as httpx's ``Timeout`` does: the limits declared on each field
(:mod:`.config_limits`), then what only the fields together can say (a maximum backoff
below the initial one, a key that does not match its certificate). Every problem of the
section is collected before one :class:`InvalidSection` is raised, so that the loader can
report the problems of every section of a file in one message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .config_limits import field_problems
from .errors import ConfigError

__all__ = ["InvalidSection", "Problems", "Section"]

Problems = list[tuple[str, str]]
"""``(key, what is wrong)`` pairs of one section."""


class InvalidSection(ConfigError):
    """A configuration section with one or more invalid values.

    Parameters
    ----------
    section : str
        The section's class name (the loader replaces it with the file's section name).
    problems : sequence of (str, str)
        ``(key, what is wrong)`` for each problem.
    """

    def __init__(self, section: str, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{section}: " + "; ".join(f"{k} {m}" for k, m in self.problems))


@dataclass(frozen=True)
class Section:
    """A frozen configuration section that refuses invalid values when it is made.

    Raises
    ------
    InvalidSection
        One or more fields break their declared limits, or the fields do not fit together.
    """

    def __post_init__(self) -> None:
        problems = field_problems(self)
        reported = {key for key, _ in problems}
        problems += [p for p in self._joint_problems() if p[0] not in reported]
        if problems:
            raise InvalidSection(type(self).__name__, problems)

    def _joint_problems(self) -> Problems:
        """Return what the fields say only together (a subclass adds rules); none here."""
        return []
