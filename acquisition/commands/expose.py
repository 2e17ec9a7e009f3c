"""``panelgate expose``: one radiographic exposure, as the technician drives it.

Refuses a wrong or unsafe technique (kV, mAs outside the generator's range, unknown
protocol) before anything moves: one line on stderr, exit 2. Then shows each state of
the exposure workflow as it happens and ends with where the image went.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from panelgate.acquisition.agent import destinations_of
from panelgate.acquisition.config import Config, WorklistConfig, load_config
from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.dispatch import deliver_now, queue_name
from panelgate.acquisition.errors import UsageError, WorklistEmpty
from panelgate.acquisition.pipeline import Beam, Pipeline
from panelgate.acquisition.preflight import check_header
from panelgate.acquisition.station_client import StationClient, expose_at_station
from panelgate.acquisition.workflow import (
    ExposureRequest,
    ExposureWorkflow,
    StateChange,
    TriggerMode,
    parse_protocol,
)
from panelgate.drivers import Detector, IncompatibleState
from panelgate.drivers.generator import Generator, GeneratorClient, ManualGenerator
from panelgate.gateway import DicomBuildError
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.dicomweb import AnyDestination
from panelgate.gateway.outbox import Outbox, State
from panelgate.gateway.pacs import Destination, WorklistQuery, query_worklist
from panelgate.simulators import Irradiable, Room
from panelgate.simulators.dose import protocol_phantom
from panelgate.simulators.generator import InProcessGenerator

from .args import ae_title, host_port, positive_float
from .expose_calibration import add_calibration_options, obtain_calibration

__all__ = ["register"]

T = TypeVar("T")


def register(sub: Any) -> None:
    """Add the ``expose`` sub-command to the parser's sub-parsers."""
    p = sub.add_parser(
        "expose",
        help="make one exposure: generator + panel -> DX in the spool (and PACS)",
        description="Set the generator, prep, expose, read out, correct, build the DX image, "
        "queue it in the outbox and try to store it (--pacs, or the destinations of --config); "
        "what is not stored stays queued for 'panelgate agent'. Each state is shown as it "
        "happens. An exposure is refused before anything moves when the outbox's disk cannot "
        "hold the image above its reserve.",
    )
    p.add_argument(
        "--station", metavar="URL",
        help="drive the running station at URL (http://HOST:PORT of 'panelgate station') "
        "instead of a panel and a generator: the exam and the exposure go to its API",
    )  # fmt: skip
    p.add_argument(
        "--station-token-file", type=Path, metavar="FILE",
        help="with --station: the file holding the bearer token the station requires",
    )  # fmt: skip
    p.add_argument("--detector", metavar="URL", help="panel URL: sim://, usb://")
    p.add_argument(
        "--generator",
        metavar="PORT",
        help="generator serial port (e.g. the path 'panelgate simulate generator' prints); "
        "'sim' runs a simulated generator in this process, irradiating the panels of --room; "
        "'none': no generator link (with --trigger aed: the technician fires, the panel "
        "detects the beam, --kv/--mas/--ma are the technique entered for the header)",
    )
    p.add_argument(
        "--room", type=Path, metavar="DIR",
        help="with --generator sim: the simulated X-ray room whose panels its beam reaches "
        "(the panel's room=DIR, e.g. sim://?room=DIR)",
    )  # fmt: skip
    p.add_argument("--patient-id", metavar="ID")
    p.add_argument("--patient-name", metavar="NAME", help="DICOM PN, e.g. Doe^Jane")
    p.add_argument(
        "--worklist",
        action="store_true",
        help="take patient and study from today's worklist for this station (modality DX)",
    )
    p.add_argument(
        "--worklist-server", type=host_port, metavar="HOST:PORT",
        help="worklist SCP (default: [worklist] of --config)",
    )  # fmt: skip
    p.add_argument("--worklist-ae", type=ae_title, metavar="AE", help="the worklist SCP's AE title")
    p.add_argument(
        "--accession", metavar="NUMBER", help="with --worklist: the scheduled step to perform"
    )
    p.add_argument("--protocol", default="CHEST PA", help="BODYPART [VIEW] (default CHEST PA)")
    p.add_argument("--kv", type=positive_float, required=True, help="tube voltage, kV")
    p.add_argument("--mas", type=positive_float, required=True, help="current-time product, mAs")
    p.add_argument("--ma", type=positive_float, help="tube current, mA (default: the generator's)")
    p.add_argument(
        "--trigger", choices=[m.value for m in TriggerMode], default="software", help="trigger mode"
    )
    p.add_argument(
        "--out", type=Path, metavar="DIR",
        help="previews, and the outbox when --config names none (default panelgate-exposures)",
    )  # fmt: skip
    p.add_argument("--pacs", type=host_port, metavar="HOST:PORT", help="store into this PACS")
    p.add_argument("--called-ae", type=ae_title, default="ANY-SCP", metavar="AE")
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    add_calibration_options(p)
    p.set_defaults(handler=_expose)


def _request(args: argparse.Namespace, config: Config) -> ExposureRequest:
    parse_protocol(args.protocol)
    if args.worklist:
        if args.patient_id or args.patient_name:
            raise UsageError("give either --worklist or --patient-id/--patient-name, not both")
        study = _from_worklist(args, config)
    elif not args.patient_id or not args.patient_name:
        raise UsageError("give --patient-id and --patient-name (or --worklist)")
    else:
        study = StudyContext(patient_name=args.patient_name, patient_id=args.patient_id)
    return ExposureRequest(args.kv, args.mas, study, args.protocol, args.ma)


def _from_worklist(args: argparse.Namespace, config: Config) -> StudyContext:
    """Ask the worklist for today's DX steps of this station (IHE RAD-5) and pick one."""
    wl = config.worklist or WorklistConfig()
    if args.worklist_server is None and config.worklist is None:
        raise UsageError(
            "--worklist needs a worklist SCP: --worklist-server HOST:PORT or [worklist]"
        )
    host, port = args.worklist_server or (wl.host, wl.port)
    destination = Destination(
        host, port, called_ae=args.worklist_ae or wl.called_ae,
        calling_ae=config.dicom.calling_ae, connect_s=wl.connect_s, dimse_s=wl.dimse_s,
    )  # fmt: skip
    steps = query_worklist(destination, WorklistQuery.today(config.dicom.calling_ae))
    if args.accession is not None:
        steps = [s for s in steps if s.accession_number == args.accession]
    if not steps:
        which = f" with accession {args.accession!r}" if args.accession else ""
        raise WorklistEmpty(
            f"no DX step scheduled today for station {config.dicom.calling_ae}{which} "
            f"in the worklist at {destination}"
        )
    if len(steps) > 1:
        choices = ", ".join(s.accession_number or "(none)" for s in steps)
        raise UsageError(
            f"{len(steps)} steps are scheduled; choose one with --accession ({choices})"
        )
    return steps[0]


def _calibration_source(detector: Detector) -> Beam | None:
    """Return a simulated panel's calibration source (quick calibration); real ones have none."""
    return detector.irradiate if isinstance(detector, Irradiable) else None


def _open_generator(args: argparse.Namespace, stack: ExitStack) -> tuple[Generator, str]:
    """Open the generator of ``--generator``: a serial port, or ``sim`` in this process.

    Raises
    ------
    UsageError
        ``--room`` without ``--generator sim``, a room that cannot be made, or
        ``--generator none`` without ``--trigger aed``.
    """
    if args.generator == "none":
        if args.trigger != TriggerMode.AED.value or args.room is not None:
            raise UsageError(
                "--generator none needs --trigger aed (the panel must detect the beam) "
                "and takes no --room"
            )
        return ManualGenerator(), "none (no generator link: fire on the generator's console)"
    if args.generator != "sim":
        if args.room is not None:
            raise UsageError("--room is for --generator sim (a real tube irradiates its room)")
        return stack.enter_context(GeneratorClient(args.generator)), args.generator
    try:
        room = Room(args.room) if args.room is not None else None
    except OSError as exc:
        raise UsageError(f"--room {args.room}: {exc.strerror or exc}") from None
    where = f"room {args.room}" if room is not None else "no room: its beam reaches no panel"
    return stack.enter_context(InProcessGenerator(room=room)), f"sim ({where})"


def _show(change: StateChange) -> None:
    detail = f"  {change.detail}" if change.detail else ""
    print(f"  {change.new.value.upper():<11}{detail}", flush=True)


def _expose(args: argparse.Namespace) -> int:
    if args.station is not None:
        return _via_station(args)
    if args.detector is None or args.generator is None:
        raise UsageError("give --detector URL and --generator PORT (or --station URL)")
    args.out = args.out or Path("panelgate-exposures")
    config = load_config(args.config) if args.config else Config()
    request = _request(args, config)
    trigger = TriggerMode(args.trigger)
    destinations = _destinations(args, config)
    outbox = _open_outbox(args, config, list(destinations))
    with ExitStack() as stack:
        generator, port = _open_generator(args, stack)
        request.check(generator.limits(), generator.settings()["ma"])
        detector = open_detector(args.detector)
        beam = _calibration_source(detector)
        info = stack.enter_context(detector).info
        stack.enter_context(protocol_phantom(args.detector, request.protocol))  # sim: anatomy
        print(f"panelgate expose: {info.manufacturer} {info.model} {info.serial}", flush=True)
        print(f"generator: {generator.identify()} on {port}", flush=True)
        pipeline = Pipeline(detector, config, beam=beam)
        mode = detector.mode if _configured(detector) else None
        if mode is None:
            width, height = _native_size(detector)
            pipeline.configure(width, height)
        _checked(args, lambda: check_header(pipeline, request))
        holder = obtain_calibration(args, config, pipeline, simulated=beam is not None)
        workflow = ExposureWorkflow(
            pipeline, generator, holder, args.out / "spool", trigger=trigger, outbox=outbox
        )
        workflow.subscribe(_show)
        result = _checked(args, lambda: workflow.run(request))
        print(f"SOP Instance UID: {result.sop_instance_uid}")
        print(f"spool (outbox):   {result.spool_path}")
        print(f"preview PNG:      {result.preview_path}")
        d = result.delivered
        print(f"delivered:        {d.kv:g} kV, {d.ma:g} mA, {d.ms:g} ms, {d.mas:g} mAs")
        return _deliver(outbox, destinations, result.sop_instance_uid)


_DEVICE_OPTIONS = ("detector", "generator", "room", "out", "pacs", "config", "store",
                   "quick_calibration", "worklist_server", "worklist_ae")  # fmt: skip
"""What ``--station`` excludes: the station has its own devices, peers and configuration."""


def _via_station(args: argparse.Namespace) -> int:
    """Send the exam and the exposure to the station's API; show its states as they come."""
    given = [f"--{n.replace('_', '-')}" for n in _DEVICE_OPTIONS if getattr(args, n)]
    if given:
        raise UsageError(f"--station drives the station's own devices: drop {', '.join(given)}")
    if args.worklist and (args.patient_id or args.patient_name or args.accession is None):
        raise UsageError("with --station, give --worklist --accession N (and no --patient-*)")
    if not args.worklist and not (args.patient_id and args.patient_name):
        raise UsageError("give --patient-id and --patient-name (or --worklist --accession N)")
    parse_protocol(args.protocol)
    who = {"accession": args.accession} if args.worklist else {
        "patient": {"id": args.patient_id, "name": args.patient_name}}  # fmt: skip
    technique = {"kv": args.kv, "mas": args.mas, **({"ma": args.ma} if args.ma else {})}
    client = StationClient.with_token_file(args.station, args.station_token_file)
    print(f"panelgate expose: station {client.url}", flush=True)

    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "exposure":
            detail = f"  {data['detail']}" if data.get("detail") else ""
            print(f"  {str(data.get('state', '?')).upper():<11}{detail}", flush=True)

    done = expose_at_station(client, {**who, "protocol": args.protocol, **technique}, show)
    print(f"SOP Instance UID: {done.made['sop_instance_uid']}")
    d = done.made.get("delivered") or {}
    print(f"delivered:        {d['kv']:g} kV, {d['ma']:g} mA, {d['ms']:g} ms, {d['mas']:g} mAs")
    image = done.image or {"review": done.made.get("review")}
    went = ", ".join(f"{n}: {s.get('state')}" for n, s in image.get("destinations", {}).items())
    review = image.get("review")
    went = went or ("held for review there" if review == "pending" else "not queued")
    print(f"station:          {client.url}, review {review}; {went}")
    return 0


_ORIGIN = {
    "PatientID": "--patient-id",
    "PatientName": "--patient-name",
    "AccessionNumber": "--accession",
    "BodyPartExamined": "--protocol",
    "ViewPosition": "--protocol",
    "InstitutionName": "[dicom] institution_name",
    "StationName": "[dicom] station_name",
    "uid_root": "[dicom] uid_root",
}
"""Where a value of the image comes from, by DICOM keyword: named when it is refused."""


def _checked(args: argparse.Namespace, check: Callable[[], T]) -> T:
    """Run a check before the beam; a refused value names the option or key it came from."""
    try:
        return check()
    except DicomBuildError as exc:
        origin = _ORIGIN.get(exc.keyword, "")
        if args.worklist and origin.startswith("--") and origin != "--protocol":
            origin = f"the worklist item's {exc.keyword}"
        elif origin.startswith("[") and args.config is not None:
            origin = f"{args.config}: {origin}"
        where = f"{origin}: " if origin else ""
        raise DicomBuildError(
            f"refused before the exposure, nothing moved: {where}{exc}", keyword=exc.keyword
        ) from exc


def _destinations(args: argparse.Namespace, config: Config) -> dict[str, AnyDestination]:
    """``--pacs``, else the configured destinations, else none (the image stays queued)."""
    if args.pacs is not None:
        host, port = args.pacs
        pacs = Destination(host, port, called_ae=args.called_ae, calling_ae=config.dicom.calling_ae)
        return {queue_name(pacs): pacs}
    if args.config is not None and (config.destinations or config.pacs is not None):
        return destinations_of(config)
    return {}


def _open_outbox(args: argparse.Namespace, config: Config, names: list[str]) -> Outbox:
    """Open the configured outbox (shared with ``panelgate agent``), else one under --out."""
    root = Path(config.outbox.directory) if args.config is not None else args.out / "outbox"
    return Outbox(root, names or ["pacs"], reserve_bytes=config.outbox.reserve_bytes)


def _deliver(outbox: Outbox, destinations: dict[str, AnyDestination], uid: str) -> int:
    if not destinations:
        print(
            "PACS:             not sent (no --pacs and no destination configured); "
            f"queued in {outbox.root} for 'pacs'"
        )
        return 0
    failed = 0
    for d in deliver_now(outbox, destinations, uid):
        if d.delivered:
            print(f"PACS:             stored in {d.address} ({d.destination})")
            continue
        failed += 1
        later = "will be retried" if d.state is State.PENDING else "not retried"
        print(
            f"panelgate: error: {d.address} did not store the instance: {d.reason}; it stays "
            f"queued in the outbox {outbox.root} ({d.state.value}, {later})",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _configured(detector: Detector) -> bool:
    try:
        detector.mode  # noqa: B018 - raises when no mode is set
    except IncompatibleState:
        return False
    return True


def _native_size(detector: Detector) -> tuple[int, int]:
    info = detector.info
    if not (info.sensor_width_px and info.sensor_height_px):
        raise UsageError(f"{info.model} {info.serial} does not report its sensor size")
    return info.sensor_width_px, info.sensor_height_px
