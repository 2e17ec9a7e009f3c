"""The OpenAPI 3.1 description of the station's HTTP API, served at ``/api/openapi.json``.

Written by hand, next to the routes it describes (:mod:`.api`); a test holds the two
together (every route documented with its methods, nothing documented that is not
served). Patient data appear only in response and request bodies, never in a path.
"""

from __future__ import annotations

from typing import Any

from .observability import NO_STATION, STUCK_S
from .rejects import CSV_COLUMNS, TG305_REASONS

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

_TECHNIQUE = {
    "protocol": {
        "type": "string",
        "default": "CHEST PA",
        "description": "a protocol of GET /api/protocols (its technique, EI_T "
        "and preset), or BODYPART [VIEW] with kv and mas",
    },
    "kv": {"type": "number", "exclusiveMinimum": 0, "description": "tube voltage, kV"},
    "mas": {"type": "number", "exclusiveMinimum": 0, "description": "mAs"},
    "ma": {"type": "number", "exclusiveMinimum": 0, "description": "tube current, mA"},
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
        **_TECHNIQUE,
    },
}

_PROTOCOL = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "body_part": {"type": "string", "description": "Body Part Examined (0018,0015)"},
        "view": {"type": "string", "description": "View Position (0018,5101)"},
        "body_part_code": {"type": "object", "description": "PS3.16 CID 4031 (SCT)"},
        "view_code": {"type": ["object", "null"], "description": "PS3.16 CID 4010 (SCT)"},
        "kv": {"type": "number"},
        "mas": {"type": "number"},
        "ma": {"type": ["number", "null"]},
        "grid": {"type": "boolean"},
        "target_ei": {"type": "number", "description": "EI_T, IEC 62494-1"},
        "preset": {"type": "string", "description": "presentation-processing preset"},
    },
}

_LOGIN = {
    "type": "object",
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    "required": ["username", "password"],
}

_REPEAT_REASON = {
    "type": "string",
    "description": "why the step is exposed again: required when its protocol already has an "
    "image, which the new one links to (repeat_of)",
}

_IMAGE = {
    "type": "object",
    "properties": {
        "sop_instance_uid": {"type": "string"},
        "review": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
        "review_reason": {"type": "string", "description": "reject reason, AAPM TG-305"},
        "repeat_of": {"type": "string", "description": "SOP Instance UID this image repeats"},
        "repeat_reason": {"type": "string"},
        "protocol": {"type": "string"},
        "ei": {"type": ["number", "null"], "description": "exposure index, IEC 62494-1"},
        "di": {"type": ["number", "null"], "description": "deviation index"},
        "dap_dgycm2": {
            "type": ["number", "null"],
            "description": "dose-area product of the exposure, dGy·cm² (the DX's (0018,115E))",
        },
        "target_ei": {"type": ["number", "null"]},
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

_MPPS = {
    "type": "object",
    "description": "Modality Performed Procedure Step of the exam (PS3.4 F.7, IHE RAD-6/7)",
    "properties": {
        "configured": {"type": "boolean", "description": "an [mpps] peer is configured"},
        "step_uid": {
            "type": "string",
            "description": "SOP Instance UID of the step in progress; empty when none",
        },
        "queued": {"type": "integer", "minimum": 0, "description": "N-CREATE/N-SET waiting"},
        "delivered": {"type": "integer", "minimum": 0, "description": "N-CREATE/N-SET sent"},
        "problem": {"type": "string", "description": "the last failure; empty when none"},
    },
    "required": ["configured", "step_uid", "queued", "delivered", "problem"],
}

_GENERATOR = {
    "type": "object",
    "properties": {
        "identity": {"type": "string", "description": "its answer to IDN? when opened"},
        "where": {"type": "string", "description": "its port, sim, or none"},
        "answering": {"type": "boolean"},
        "fault": {"type": "string", "description": "why it cannot be used; empty when fine"},
        "state": {"type": "string", "description": "IDLE, PREP, READY, EXPOSING or FAULT"},
        "reconnecting": {
            "type": "boolean",
            "description": "its serial port broke and is being reopened in the background",
        },
        "reconnect_attempts": {"type": "integer", "minimum": 0},
    },
}

_STATUS = {
    "type": "object",
    "properties": {
        "station": {
            "type": "object",
            "properties": {
                "ready": {"type": "boolean"},
                "reason": {"type": "string", "description": "why not ready; empty when ready"},
                "state": {"type": "string"},
                "version": {"type": "string"},
                "calling_ae": {"type": "string"},
                "last_failure": {"type": "string"},
            },
        },
        "detector": {
            "type": "object",
            "description": "link (connected, reconnect_attempts), state, serial, mode, temp_c",
        },
        "generator": _GENERATOR,
        "calibration": {"type": "object", "description": "set, validity, what blocks exposures"},
        "exam": {"type": ["object", "null"]},
        "mpps": _MPPS,
        "images": {"type": "object", "description": "image counts by review state"},
        "outbox": {"type": "object", "description": "directory, destinations, counts"},
    },
    "required": ["station", "detector", "generator", "calibration", "exam", "mpps", "outbox"],
}

_HEALTH = {
    "type": "object",
    "description": "can the station expose and deliver; no patient data",
    "properties": {
        "ok": {"type": "boolean", "description": "expose.ok and deliver.ok"},
        "expose": {
            "type": "object",
            "properties": {
                "ok": {
                    "type": "boolean",
                    "description": "an exposure could start now but for the exam choice",
                },
                "reason": {
                    "type": "string",
                    "description": f"why not ({NO_STATION!r} without one)",
                },
            },
            "required": ["ok", "reason"],
        },
        "deliver": {
            "type": "object",
            "properties": {
                "ok": {"type": "boolean"},
                "destinations": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "ok": {"type": "boolean"},
                            "waiting": {"type": "integer", "minimum": 0},
                            "failed": {
                                "type": "integer",
                                "minimum": 0,
                                "description": "dead-lettered instances",
                            },
                            "oldest_waiting_s": {"type": "number", "minimum": 0},
                            "problems": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
            "required": ["ok", "destinations"],
        },
    },
    "required": ["ok", "expose", "deliver"],
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
            "TLS and a login ([[users]]) are configured. State-changing requests of a "
            "session carry its CSRF token (X-CSRF-Token); cross-site ones are refused (403).",
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Exam": _EXAM_BODY,
                "Health": _HEALTH,
                "Image": _IMAGE,
                "Protocol": _PROTOCOL,
                "Status": _STATUS,
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "panelgate_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}, {}],
        "paths": {
            "/api/status": {
                "get": {
                    "summary": "detector (link, reconnection), generator (answering), calibration "
                    "(set, validity, gain expiry, dark age, what blocks exposures), outbox, exam, "
                    "MPPS; ready or why not",
                    "responses": {
                        "200": _json(
                            "the station's status", {"$ref": "#/components/schemas/Status"}
                        )
                    },
                }
            },
            "/api/health": {
                "get": {
                    "summary": "can the station expose (devices, calibration, nothing in "
                    f"progress) and deliver (no dead letter, nothing waiting over {STUCK_S:g} s)",
                    "responses": {
                        "200": _json("both hold", {"$ref": "#/components/schemas/Health"}),
                        "503": _json(
                            "one does not (or no station): the body says which and why",
                            {"$ref": "#/components/schemas/Health"},
                        ),
                    },
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
            "/api/protocols": {
                "get": {
                    "summary": "the protocol table: body part and view (coded), kV, mAs, grid, "
                    "EI_T, presentation preset",
                    "responses": {
                        "200": _json(
                            "protocols",
                            {"type": "array", "items": {"$ref": "#/components/schemas/Protocol"}},
                        )
                    },
                }
            },
            "/api/protocol": {
                "post": {
                    "summary": "choose another protocol for the selected exam; sets the generator",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": _TECHNIQUE,
                                    "required": ["protocol"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("the exam with its new protocol"),
                        "409": refused,
                        "422": _error("a field the image or generator cannot take (named)"),
                    },
                }
            },
            "/api/prepare": {
                "post": {
                    "summary": "first stage of the hand switch: PREP; answers once the generator "
                    "is READY (the exposure then waits for /api/expose, ready_hold_s at most)",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"repeat_reason": _REPEAT_REASON},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("READY: state, generator, repeat_of"),
                        "409": refused,
                        "422": _error("refused before PREP: a value, or a repeat without reason"),
                    },
                }
            },
            "/api/exam": {
                "post": {
                    "summary": "select the exam (worklist item or manual patient) and protocol; "
                    "sets the generator",
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
                    "summary": "second stage of the hand switch: fire the exposure held at READY "
                    "and wait for its image; 409 unless READY (prepare: true does both stages)",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "prepare": {
                                            "type": "boolean",
                                            "default": False,
                                            "description": "when nothing is prepared: both "
                                            "stages in one call (API clients)",
                                        },
                                        "repeat_reason": _REPEAT_REASON,
                                    },
                                }
                            }
                        },
                    },
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
                    "summary": "abort the exposure prepared or in progress (releases the switch)",
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
                    "summary": "keep the image local, never send it; counted in the reject "
                    "analysis with its AAPM TG-305 reason",
                    "parameters": [_UID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "reason": {"type": "string", "enum": list(TG305_REASONS)},
                                        "note": {
                                            "type": "string",
                                            "maxLength": 200,
                                            "description": "free text, kept with the image, "
                                            "never exported",
                                        },
                                    },
                                    "required": ["reason"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("the image", {"$ref": "#/components/schemas/Image"}),
                        "404": _error("no such image"),
                        "409": refused,
                        "422": _error("no TG-305 reason, or a bad note"),
                    },
                }
            },
            "/api/images/{uid}/retry": {
                "post": {
                    "summary": "queue the image again for every destination whose delivery failed",
                    "parameters": [_UID],
                    "responses": {
                        "200": _json("the image", {"$ref": "#/components/schemas/Image"}),
                        "404": _error("no such image"),
                        "409": _error("not accepted, or no delivery of it failed"),
                    },
                }
            },
            "/api/rejects.csv": {
                "get": {
                    "summary": "reject analysis, one row per rejected image (AAPM TG-305 data "
                    "elements; no patient data): " + ", ".join(CSV_COLUMNS),
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}},
                }
            },
            "/api/events": {
                "get": {
                    "summary": "server-sent events: exposure, generator (IDLE, PREP, READY, "
                    "EXPOSING), exam, image, delivery",
                    "responses": {
                        "200": {
                            "description": "text/event-stream",
                            "content": {"text/event-stream": {}},
                        }
                    },
                }
            },
            "/api/calibration": {
                "get": {
                    "summary": "the calibration in use (set id, validity, gain expiry, dark age, "
                    "what blocks) and run: the guided recalibration's state (running, waiting, "
                    "done, failed, cancelled), open prompt and prompt_id, what was said, set_id",
                    "responses": {"200": _json("calibration and run")},
                }
            },
            "/api/calibration/start": {
                "post": {
                    "summary": "start a guided recalibration (calibrate all --generator): "
                    "instructions and questions come as 'recalibration' events",
                    "responses": {
                        "200": _json("the run"),
                        "409": _error("an exposure or run in progress, no generator, devices"),
                    },
                }
            },
            "/api/calibration/confirm": {
                "post": {
                    "summary": "answer the run's open question (answer: true goes on)",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "prompt_id": {"type": "integer", "minimum": 1},
                                        "answer": {"type": "boolean", "default": True},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("the run"),
                        "409": _error("no question waiting (or another prompt_id)"),
                        "422": _error("a field refused"),
                    },
                }
            },
            "/api/calibration/cancel": {
                "post": {
                    "summary": "stop the run: nothing more fires, nothing is stored",
                    "responses": {"200": _json("the run"), "409": _error("no run in progress")},
                }
            },
            "/api/session": {
                "get": {
                    "summary": "who is logged in (user, csrf_token, expires_in_s); the bearer "
                    "token's user is api-token",
                    "responses": {"200": _json("the session"), "401": _error("not logged in")},
                }
            },
            "/login": {
                "get": {
                    "summary": "a minimal login page (HTML form)",
                    "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
                },
                "post": {
                    "summary": "log in with username and password (JSON or form); sets the "
                    "session cookie (HttpOnly, SameSite=Strict, Secure under TLS) and the CSRF "
                    "cookie; every later state-changing request sends X-CSRF-Token",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _LOGIN},
                            "application/x-www-form-urlencoded": {"schema": _LOGIN},
                        },
                    },
                    "responses": {
                        "200": _json("user, csrf_token, expires_in_s"),
                        "303": {"description": "form login: to the console"},
                        "401": _error("wrong user name or password, or no users configured"),
                        "403": _error("refused as cross-site"),
                    },
                },
            },
            "/logout": {
                "post": {
                    "summary": "end the session; clears the cookies",
                    "responses": {
                        "200": _json("logged_out"),
                        "403": _error("without the CSRF token"),
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
