"""The OpenAPI 3.1 description of the station's HTTP API, served at ``/api/openapi.json``.

Written by hand, next to the routes it describes (:mod:`.api`); a test holds the two
together (every route documented with its methods, nothing documented that is not
served). Patient data appear only in response and request bodies, never in a path.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "one line saying what was refused and why"},
        "field": {"type": "string", "description": "the body field refused (422 only)"},
        "exposed": {"type": "boolean", "description": "true: the patient WAS exposed"},
        "kept": {
            "type": ["string", "null"],
            "description": "with exposed: the folder holding the image or raw frame and the "
            "exposure record",
        },
    },
    "required": ["error"],
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


_UID = {
    "name": "uid",
    "in": "path",
    "required": True,
    "description": "SOP Instance UID of the image",
    "schema": {"type": "string", "pattern": r"^[0-9.]{1,64}$"},
}

_EXAM_BODY = {
    "type": "object",
    "description": "either accession (a worklist item of today) or patient (manual)",
    "properties": {
        "accession": {"type": "string"},
        "patient": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "description": "PatientID, LO: 64 characters"},
                "name": {"type": "string", "description": "PatientName, PN: Family^Given"},
                "birth_date": {"type": "string", "description": "YYYYMMDD"},
                "sex": {"type": "string", "enum": ["M", "F", "O", ""]},
            },
            "required": ["id", "name"],
        },
        "protocol": {"type": "string", "default": "CHEST PA", "description": "BODYPART [VIEW]"},
        "kv": {"type": "number", "exclusiveMinimum": 0, "description": "tube voltage, kV"},
        "mas": {"type": "number", "exclusiveMinimum": 0, "description": "current-time product"},
        "ma": {"type": "number", "exclusiveMinimum": 0, "description": "tube current, mA"},
    },
    "required": ["kv", "mas"],
}

_IMAGE = {
    "type": "object",
    "properties": {
        "sop_instance_uid": {"type": "string"},
        "review": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
        "destinations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "state": {"type": "string", "enum": ["queued", "sent", "committed", "failed"]},
                    "outbox_state": {"type": "string"},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}


def openapi_document() -> dict[str, Any]:
    """Return the API's OpenAPI 3.1 document."""
    refused = _error("refused: not ready, busy, or a decision already made; nothing moved")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "panelgate station",
            "version": "1",
            "description": "Local API of one radiography room: status, worklist, exam, "
            "exposure, image review and delivery, live events. JSON; 127.0.0.1 unless "
            "TLS and a bearer token are configured.",
        },
        "components": {
            "schemas": {"Error": _ERROR, "Exam": _EXAM_BODY, "Image": _IMAGE},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
        "paths": {
            "/api/status": {
                "get": {
                    "summary": "detector (link, reconnection), generator (answering), calibration "
                    "(set, validity, gain expiry, dark age, what blocks exposures), outbox, exam; "
                    "ready or why not",
                    "responses": {"200": _json("the station's status")},
                }
            },
            "/api/worklist": {
                "get": {
                    "summary": "today's DX steps for this station (MWL C-FIND, IHE RAD-5)",
                    "responses": {
                        "200": _json("scheduled steps", {"type": "array"}),
                        "409": _error("no worklist configured"),
                        "502": _error("the worklist SCP failed"),
                    },
                }
            },
            "/api/exam": {
                "post": {
                    "summary": "select the exam (worklist item or manual patient) and technique",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Exam"}}
                        },
                    },
                    "responses": {
                        "200": _json("the exam selected"),
                        "409": refused,
                        "422": _error("a field the image or generator cannot take (named)"),
                        "502": _error("the worklist SCP failed"),
                    },
                }
            },
            "/api/expose": {
                "post": {
                    "summary": "make one exposure of the selected exam (blocks until done)",
                    "responses": {
                        "200": _json("the image made, waiting for review (or queued: auto_accept)"),
                        "409": refused,
                        "422": _error("refused before the beam: a value (named); nothing moved"),
                        "500": _error("failed after the beam: exposed is true, kept says where"),
                    },
                }
            },
            "/api/abort": {
                "post": {
                    "summary": "abort the exposure in progress",
                    "responses": {"200": _json("aborted: true, or false when none ran")},
                }
            },
            "/api/images": {
                "get": {
                    "summary": "every image with its review and state per destination",
                    "responses": {
                        "200": _json(
                            "images",
                            {"type": "array", "items": {"$ref": "#/components/schemas/Image"}},
                        )
                    },
                }
            },
            "/api/images/{uid}/preview.png": {
                "get": {
                    "summary": "the image's preview",
                    "parameters": [_UID],
                    "responses": {
                        "200": {"description": "PNG", "content": {"image/png": {}}},
                        "404": _error("no such image"),
                    },
                }
            },
            "/api/images/{uid}/accept": {
                "post": {
                    "summary": "queue the image for every destination",
                    "parameters": [_UID],
                    "responses": {
                        "200": _json("the image", {"$ref": "#/components/schemas/Image"}),
                        "404": _error("no such image"),
                        "409": refused,
                    },
                }
            },
            "/api/images/{uid}/reject": {
                "post": {
                    "summary": "keep the image local, never send it",
                    "parameters": [_UID],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"reason": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("the image", {"$ref": "#/components/schemas/Image"}),
                        "404": _error("no such image"),
                        "409": refused,
                    },
                }
            },
            "/api/events": {
                "get": {
                    "summary": "server-sent events: exposure, exam, image, delivery",
                    "responses": {
                        "200": {
                            "description": "text/event-stream",
                            "content": {"text/event-stream": {}},
                        }
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "this document",
                    "responses": {"200": _json("OpenAPI 3.1")},
                }
            },
        },
    }
