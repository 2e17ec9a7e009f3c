"""Check a manually entered patient as the DX header will, field by field, as it is typed.

The console's manual entry form posts its fields to ``POST /console/validate`` on every
change; each value is checked by :func:`panelgate.gateway.dicom.vr.vr_problem`, the same
validator the DX builder applies to the header (PS3.5 section 6.2, value representations),
plus the rules of the attributes themselves (PS3.3 C.7.1.1 Patient Module: Patient's Sex
is ``M``, ``F`` or ``O``). Nothing is stored and nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass

from panelgate.gateway.dicom.vr import vr_problem

__all__ = ["PATIENT_FIELDS", "FieldRule", "PatientCheck", "check_patient"]


@dataclass(frozen=True)
class FieldRule:
    """One field of the form: its DICOM keyword, value representation and whether required."""

    field: str
    keyword: str
    vr: str
    label: str
    required: bool


PATIENT_FIELDS = (
    FieldRule("name", "PatientName", "PN", "Patient's name (Family^Given)", True),
    FieldRule("id", "PatientID", "LO", "Patient ID", True),
    FieldRule("birth_date", "PatientBirthDate", "DA", "Birth date (YYYYMMDD)", False),
    FieldRule("sex", "PatientSex", "CS", "Sex (M, F, O)", False),
)
"""The fields of the manual entry, in form order (API names as ``POST /api/exam`` takes)."""

_SEXES = ("", "M", "F", "O")


@dataclass(frozen=True)
class PatientCheck:
    """The outcome: the values as given and one problem line per refused field."""

    values: dict[str, str]
    problems: dict[str, str]

    @property
    def valid(self) -> bool:
        """True when every field is acceptable and the required ones are given."""
        return not self.problems


def _problem(rule: FieldRule, value: str) -> str | None:
    if not value:
        return "is required" if rule.required else None
    if rule.field == "sex" and value not in _SEXES:
        return "must be M, F or O (PS3.3 C.7.1.1)"
    return vr_problem(rule.vr, value)


def check_patient(form: dict[str, str]) -> PatientCheck:
    """Check the manual entry fields (see the module docstring).

    Parameters
    ----------
    form : dict of str to str
        Field name (``name``, ``id``, ``birth_date``, ``sex``) to the text typed; missing
        fields are empty, unknown ones ignored.

    Returns
    -------
    PatientCheck
        The values and the problem of each refused field.
    """
    values = {rule.field: form.get(rule.field, "") for rule in PATIENT_FIELDS}
    problems = {}
    for rule in PATIENT_FIELDS:
        problem = _problem(rule, values[rule.field])
        if problem:
            problems[rule.field] = problem
    return PatientCheck(values, problems)
