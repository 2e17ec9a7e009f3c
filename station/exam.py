"""The exam the next exposure is for: a worklist item or a manual patient, and a protocol.

``POST /api/exam`` takes a JSON object::

    {"accession": "ACC42", "protocol": "CHEST PA"}
    {"accession": "ACC42", "protocol": "CHEST PA", "kv": 120, "mas": 2}
    {"patient": {"id": "P1", "name": "Doe^Jane", "birth_date": "19700101", "sex": "F"},
     "protocol": "HAND", "kv": 55, "mas": 1.6, "ma": 200}

A protocol of the station's table (:mod:`.protocols`) brings its technique, which ``kv``,
``mas`` and ``ma`` override; any other ``BODYPART [VIEW]`` needs ``kv`` and ``mas``.

:func:`parse_exam` checks the form of the body (types, required keys, positive finite
numbers); the values themselves are then checked by what the DX header and the generator
will accept (:meth:`panelgate.station.exposures.Room.check`). A refusal names the
field in the body (``patient.id``, ``kv``) as :class:`InvalidField`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from panelgate.acquisition.workflow import ExposureRequest

from .protocols import ExamProtocol

__all__ = [
    "FIELD_OF_KEYWORD",
    "Exam",
    "ExamForm",
    "InvalidField",
    "TechniqueForm",
    "parse_exam",
    "parse_technique",
]

FIELD_OF_KEYWORD = {
    "PatientID": "patient.id",
    "PatientName": "patient.name",
    "PatientBirthDate": "patient.birth_date",
    "PatientSex": "patient.sex",
    "AccessionNumber": "accession",
    "BodyPartExamined": "protocol",
    "ViewPosition": "protocol",
    "KVP": "kv",
}
"""The body field a DICOM attribute of the image comes from, for a manual patient."""


class InvalidField(ValueError):
    """A field of a request body is refused (HTTP 422); nothing has moved.

    Parameters
    ----------
    field : str
        The field, dotted for nested ones (``patient.id``).
    message : str
        What is wrong, in one line.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class TechniqueForm:
    """A protocol's name and the technique values that override the table's."""

    protocol: str = "CHEST PA"
    kv: float | None = None
    mas: float | None = None
    ma: float | None = None


@dataclass(frozen=True)
class ExamForm(TechniqueForm):
    """A well-formed exam request, its values not yet checked against the devices."""

    accession: str | None = None
    patient: dict[str, str] | None = None


@dataclass(frozen=True)
class Exam:
    """The selected exam: the exposure request, its protocol, where its patient came from."""

    request: ExposureRequest
    source: str
    protocol: ExamProtocol

    @property
    def step_key(self) -> str:
        """What makes a second exposure a repeat: study, scheduled step and protocol."""
        study = self.request.study
        return "|".join(
            (study.study_instance_uid or "", study.scheduled_procedure_step_id, self.protocol.name)
        )

    def public(self) -> dict[str, Any]:
        """Describe the exam for the API (patient data only in response bodies)."""
        study = self.request.study
        return {
            "source": self.source,
            "accession": study.accession_number,
            "patient": {
                "id": study.patient_id,
                "name": study.patient_name,
                "birth_date": study.patient_birth_date,
                "sex": study.patient_sex,
            },
            "study_instance_uid": study.study_instance_uid,
            "protocol": self.protocol.name,
            "body_part": self.protocol.body_part,
            "view": self.protocol.view,
            "grid": self.protocol.grid,
            "target_ei": self.protocol.target_ei,
            "preset": self.protocol.preset,
            "kv": self.request.kv,
            "mas": self.request.mas,
            "ma": self.request.ma,
        }


_PATIENT_KEYS = {"id", "name", "birth_date", "sex"}
_TECHNIQUE_KEYS = {"protocol", "kv", "mas", "ma"}
_KEYS = {"accession", "patient", *_TECHNIQUE_KEYS}


def _number(body: dict[str, Any], key: str, *, required: bool) -> float | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidField(key, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidField(key, f"must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidField(key, f"must be positive and finite, got {value!r}")
    return float(value)


def _patient(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidField("patient", "must be an object with id and name")
    unknown = sorted(set(value) - _PATIENT_KEYS)
    if unknown:
        raise InvalidField(f"patient.{unknown[0]}", f"unknown (known: {sorted(_PATIENT_KEYS)})")
    for key in ("id", "name"):
        if not value.get(key):
            raise InvalidField(f"patient.{key}", "is required")
    for key, text in value.items():
        if not isinstance(text, str):
            raise InvalidField(f"patient.{key}", "must be a string")
    return dict(value)


def _technique(body: dict[str, Any]) -> TechniqueForm:
    protocol = body.get("protocol", "CHEST PA")
    if not isinstance(protocol, str) or not protocol.strip():
        raise InvalidField("protocol", "must be a protocol's name such as 'CHEST PA'")
    return TechniqueForm(
        protocol=protocol,
        kv=_number(body, "kv", required=False),
        mas=_number(body, "mas", required=False),
        ma=_number(body, "ma", required=False),
    )


def parse_technique(body: Any) -> TechniqueForm:
    """Check the form of a ``POST /api/protocol`` body: ``protocol`` and overrides.

    Raises
    ------
    InvalidField
        A field is unknown, of the wrong type, or not a positive finite number.
    """
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object")
    unknown = sorted(set(body) - _TECHNIQUE_KEYS)
    if unknown:
        raise InvalidField(unknown[0], f"unknown field (known: {sorted(_TECHNIQUE_KEYS)})")
    if "protocol" not in body:
        raise InvalidField("protocol", "is required")
    return _technique(body)


def parse_exam(body: Any) -> ExamForm:
    """Check the form of a ``POST /api/exam`` body (see the module docstring).

    Raises
    ------
    InvalidField
        A field is missing, unknown, of the wrong type, or not a positive finite number.
    """
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise InvalidField(unknown[0], f"unknown field (known: {sorted(_KEYS)})")
    has_accession, has_patient = body.get("accession") is not None, "patient" in body
    if has_accession == has_patient:
        raise InvalidField("accession", "give either accession (a worklist item) or patient")
    accession = body.get("accession")
    if has_accession and not (isinstance(accession, str) and accession):
        raise InvalidField("accession", "must be a non-empty string")
    technique = _technique(body)
    return ExamForm(
        protocol=technique.protocol,
        kv=technique.kv,
        mas=technique.mas,
        ma=technique.ma,
        accession=accession if has_accession else None,
        patient=_patient(body["patient"]) if has_patient else None,
    )
