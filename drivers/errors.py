"""The panelgate exception tree, and the exit status of each error.

Every error panelgate raises on purpose derives from :class:`PanelgateError`. There is one
subclass per boundary where something can go wrong; each leaf also derives from the builtin
it behaves like, so callers that only know Python's builtins (``except TimeoutError``) still
catch it. What the command line does with an error is a property of its class
(:attr:`PanelgateError.exit_status`, the number in the second column), never of the builtin
it happens to inherit. This is the whole tree; a test holds it to the code::

    class                          exit  builtin          what went wrong
    PanelgateError                    1                   (root)
    ├── UsageError                    2  ValueError       an argument, a name or a value given
    │   ├── ConfigError               2                   a configuration file (file, section, key)
    │   │   └── InvalidSection        2                   a section's values, every bad key named
    │   └── StackError                2                   an input stack (TIFF, npy) to work on
    ├── DriverError                   1                   detector, generator and their links
    │   ├── DetectorTimeout           1  TimeoutError     a wait on the panel ran out
    │   ├── ReadCancelled             1                   a wait on the panel was cancelled
    │   ├── TransportError            1  OSError          the link to the panel failed
    │   │   ├── GvcpStatusError       1                   the device refused a GVCP command
    │   │   ├── U3VProtocolError      1                   bad bytes on a U3V endpoint (*)
    │   │   ├── EndpointHalted        1                   a USB endpoint stalled
    │   │   └── IncompleteBlock       1                   a U3V frame arrived short
    │   ├── GenCPStatusError          1  OSError          the device refused a GenCP command
    │   ├── IncompatibleState         1  RuntimeError     a call not allowed in this state
    │   ├── InvalidSetting            2  ValueError       a setting the panel cannot take
    │   └── GeneratorError            1                   the X-ray generator or its link
    │       ├── GeneratorTimeout      1  TimeoutError     no answer, READY or DONE in time
    │       ├── GeneratorLinkError    1  OSError          the serial port failed
    │       ├── GeneratorProtocolError 1 OSError          a line not in the protocol (*)
    │       ├── TechniqueOutOfRange   2  ValueError       kV, mA, ms, mAs outside the range
    │       └── GeneratorFault        1  RuntimeError     the generator reported an error code:
    │           InterlockOpen 1, TubeOverheat 1, ExposureAborted 1
    ├── ProtocolError                 1  ValueError       a peer broke its wire protocol (*: also
    │                                                     this; the GigE ProtocolError too)
    ├── StorageError                  1  OSError          a file or folder cannot be read or
    │                                                     written: disk full, permission, read-only
    ├── CalibrationError              1                   calibration data cannot be built or used
    │   ├── CalibrationMismatch       2  ValueError       another detector, readout mode or shape
    │   ├── CalibrationFormatError    1  ValueError       a stored set this version cannot read
    │   ├── CalibrationCorrupt        1                   a store file truncated, or checksum wrong
    │   └── CalibrationNotFound       2  LookupError      no such set, or none for the panel
    ├── GatewayError                  1                   DICOM content, delivery, outbox
    │   ├── DicomBuildError           2  ValueError       a value its VR forbids: nothing built
    │   ├── InvalidInstance           1  ValueError       not a whole, decodable DICOM instance
    │   ├── DeliveryError             1  ConnectionError  an instance did not reach a destination
    │   │   └── DicomWebError         1                   a DICOMweb request failed (HTTP, link)
    │   └── OutboxError               1                   the spool refused an operation
    │       ├── DuplicateInstance     2  ValueError       same SOP Instance UID, other content
    │       ├── OutboxFull            1  OSError          free disk below the configured reserve
    │       └── UnknownDestination    2  KeyError         a destination name the outbox lacks
    ├── WorklistEmpty                 1  LookupError      no scheduled step to perform
    ├── StageError                    1  RuntimeError     a pipeline stage failed
    ├── WorkflowAborted               1  RuntimeError     the host aborted the exposure
    └── PatientExposed                1                   a failure after the beam; the image and
        │                                                 what is known of it are kept
        └── ExposureInterrupted     130                   SIGINT after the beam; image secured

Foreign exceptions (socket, pyusb, pynetdicom, the file system) are translated at the
boundary with ``raise ... from exc`` so that no third-party type leaks through the public
API. The command line maps any :class:`PanelgateError` to its :attr:`exit_status` and prints
one line; 130 is an interrupt (SIGINT), 0 a requested stop (SIGTERM) of a long-running
command and a reader that closed the pipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigError",
    "DetectorTimeout",
    "DriverError",
    "IncompatibleState",
    "InvalidSetting",
    "PanelgateError",
    "PatientExposed",
    "ProtocolError",
    "ReadCancelled",
    "StorageError",
    "TransportError",
    "UsageError",
]

EXIT_OK = 0
"""The command did what was asked (or was asked to stop, by SIGTERM)."""
EXIT_FAILED = 1
"""The work failed: a device, a peer, the disk; the message says what and where data is."""
EXIT_USAGE = 2
"""The request was refused before anything moved: an argument, a name, a configuration."""
EXIT_INTERRUPTED = 130
"""Interrupted by SIGINT (Ctrl-C): 128 + 2, as shells report it."""


class PanelgateError(Exception):
    """Root of every error panelgate raises on purpose."""

    exit_status: ClassVar[int] = EXIT_FAILED
    """The command line's exit status for this error (see the module's tree)."""


class UsageError(PanelgateError, ValueError):
    """An argument, a name or a value the user gave is invalid; nothing has moved."""

    exit_status = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration file is unreadable or invalid; the message lists every problem found."""


class DriverError(PanelgateError):
    """A detector or its link did not do what was asked."""


class DetectorTimeout(DriverError, TimeoutError):
    """A wait on the detector (a frame, an acknowledgement) ran past its timeout."""


class ReadCancelled(DriverError):
    """A wait for a frame was cancelled (the caller's cancel event, or ``abort()``).

    The detector stays where it was: still acquiring after a cancelled
    :meth:`~panelgate.drivers.Detector.read_frame` (read again or abort), idle after an
    abort. Exit status 1 when it reaches the command line (a cancel by SIGINT exits 130
    through the interrupt handling instead).
    """


class TransportError(DriverError, OSError):
    """The connection to the detector failed or was lost."""


class IncompatibleState(DriverError, RuntimeError):
    """The call is not allowed in the detector's current state (e.g. trigger before arm)."""


class InvalidSetting(DriverError, ValueError):
    """A setting is outside what the detector supports; the message names it and the range."""

    exit_status = EXIT_USAGE


class ProtocolError(PanelgateError, ValueError):
    """Bytes from a peer do not follow its wire protocol; the message names the field.

    A device that sends a malformed packet is a failure of the device (exit 1), not a
    usage error, although the error is a :class:`ValueError` to Python.
    """


class StorageError(PanelgateError, OSError):
    """A file or folder cannot be read or written; the message names the path and why.

    Raised for full disks, read-only or missing folders and denied permissions, always
    before anything already acquired or queued is touched.
    """


class PatientExposed(PanelgateError):
    """Something failed after the beam: the patient WAS exposed; the data is kept.

    The message starts with that statement and says where the image (or the raw frame)
    and the record of the exposure are, so that nobody repeats the exposure unknowingly.

    Parameters
    ----------
    message : str
        What failed, after the statement that the patient was exposed.
    kept : pathlib.Path or None
        Where the image or the raw frame and the exposure record were kept.
    """

    def __init__(self, message: str, kept: Path | None = None) -> None:
        super().__init__(message)
        self.kept = kept
