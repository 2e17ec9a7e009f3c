r"""The one validator for attribute values, used by the DX builder and before every exposure.

pydicom's :func:`~pydicom.valuerep.validate_value` checks lengths and most character
rules of PS3.5 6.2; this module adds what it lets through and a stored instance must not
hold:

- a backslash inside one value of a text VR other than LT, ST, UT: it is the value
  delimiter (PS3.5 6.4), so ``P\1`` would be stored as two values;
- control characters, which PS3.5 6.1.3 / 6.2 allow only as ESC in the string VRs (and CR,
  LF, FF, TAB in LT, ST and UT);
- more than five components in a component group of a PN value (PS3.5 6.2.1.1: family,
  given, middle, prefix, suffix), and more than three groups;
- DA values that match the syntax but name no calendar day (``20260231``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydicom import config as pydicom_config
from pydicom.valuerep import validate_value

__all__ = ["vr_problem"]

_FREE_TEXT = {"LT", "ST", "UT"}
_TEXT = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UC", "UI", "UR"}
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f]")  # every C0 control but ESC, and DEL
_CONTROL_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")  # TAB LF FF CR ok
_PN_GROUPS, _PN_COMPONENTS = 3, 5


def vr_problem(vr: str, value: Any) -> str | None:
    """Say why ``value`` cannot be stored as one value of ``vr``, or return None.

    Parameters
    ----------
    vr : str
        The two-letter value representation (PS3.5 table 6.2-1).
    value : Any
        One value (not a list); ``""`` is always allowed (an empty Type 2 attribute).

    Returns
    -------
    str or None
        A sentence naming the rule broken, or None when the value is valid.
    """
    try:
        validate_value(vr, value, pydicom_config.RAISE)
    except ValueError as exc:
        return str(exc).split(" Please see")[0]
    if not isinstance(value, str) or not value:
        return None
    return _character_problem(vr, value) or _SYNTAX.get(vr, _no_problem)(value)


def _character_problem(vr: str, value: str) -> str | None:
    if vr in _TEXT:
        if "\\" in value:
            return f"a backslash is the value delimiter and cannot be part of a {vr} value"
        if _CONTROL.search(value):
            return f"control characters are not allowed in {vr}"
    elif vr in _FREE_TEXT and _CONTROL_FREE_TEXT.search(value):
        return f"control characters other than TAB, LF, FF and CR are not allowed in {vr}"
    return None


def _no_problem(value: str) -> str | None:
    return None


def _pn_problem(value: str) -> str | None:
    groups = value.split("=")
    if len(groups) > _PN_GROUPS:
        return f"a PN has at most {_PN_GROUPS} component groups, got {len(groups)}"
    for group in groups:
        components = group.split("^")
        if len(components) > _PN_COMPONENTS:
            return (
                f"a PN component group has at most {_PN_COMPONENTS} components "
                f"(family^given^middle^prefix^suffix), got {len(components)}"
            )
    return None


def _da_problem(value: str) -> str | None:
    if len(value) != 8:  # pre-1993 forms and ranges are query syntax, not stored values
        return f"a DA value is YYYYMMDD, got {value!r}"
    try:
        dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return f"{value!r} is not a calendar date"
    return None


_SYNTAX = {"PN": _pn_problem, "DA": _da_problem}
