"""Interoperability with aravis, both ways, inside a loopback-only namespace.

aravis drives panelgate's simulator (``arv-tool-0.8``, ``arv-camera-test-0.8``), and
panelgate's driver drives aravis' ``arv-fake-gv-camera-0.8``. With PANELGATE_REQUIRE_PEERS=1
a missing aravis tool fails the test.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from panelgate.drivers import ReadoutMode
from panelgate.drivers.gige import GigEDetector, GvcpClient
from panelgate.drivers.gige.features import FeatureMap


def _run(argv: list[str], timeout_s: float = 30) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_arv_tool_finds_and_controls_our_simulator(
    require_peer: Callable[[str], str], gige_simulator: Callable[..., object]
) -> None:
    arv_tool = require_peer("arv-tool-0.8")
    gige_simulator("--width", "512", "--height", "512", "--serial", "PG-ARV")
    assert "127.0.0.1" in _run([arv_tool, "-a", "127.0.0.1"])
    assert "PG-ARV" in _run([arv_tool])  # plain discovery: only loopback exists here
    assert "PG-ARV" in _run([arv_tool, "-a", "127.0.0.1", "control", "DeviceSerialNumber"])
    features = _run([arv_tool, "-a", "127.0.0.1", "features"])
    for name in ("Width", "Height", "PixelFormat", "ExposureTime", "TriggerSoftware",
                 "DeviceTemperature", "GevSCPSPacketSize", "GevSCPD", "PanelGainMode",
                 "BinningHorizontal", "PanelAEDEnable"):  # fmt: skip
        assert f"'{name}'" in features, name
    _run([arv_tool, "-a", "127.0.0.1", "control", "Width=256", "Height=128", "PixelFormat=Mono14"])
    values = _run(
        [arv_tool, "-a", "127.0.0.1", "control", "Width", "Height", "PixelFormat", "PayloadSize"]
    )
    assert re.search(r"Width = 256\b", values) and re.search(r"Height = 128\b", values)
    assert "PixelFormat = Mono14" in values
    assert re.search(rf"PayloadSize = {256 * 128 * 2}\b", values)


def test_arv_camera_test_streams_from_our_simulator(
    require_peer: Callable[[str], str], gige_simulator: Callable[..., object]
) -> None:
    camera_test = require_peer("arv-camera-test-0.8")
    gige_simulator("--width", "512", "--height", "512")
    out = _run(
        [
            camera_test,
            "-n",
            "127.0.0.1",
            "--no-packet-socket",
            "-a",
            "-i",
            "8192",
            "--duration",
            "4",
            "-f",
            "10",
            "-m",  # frame retention: a Python sender on a busy 2-core machine can lag 100 ms
            "1000",
        ],
        timeout_s=60,
    )
    completed = int(re.search(r"n_completed_buffers\s*=\s*(\d+)", out).group(1))  # type: ignore[union-attr]
    failures = int(re.search(r"n_failures\s*=\s*(\d+)", out).group(1))  # type: ignore[union-attr]
    missing = int(re.search(r"n_missing_packets\s*=\s*(\d+)", out).group(1))  # type: ignore[union-attr]
    # No failed buffer, at start or stop either: the simulator has its frames ready before
    # the first one is timed (a late first frame used to be followed back to back by the
    # second, both into aravis' not yet enlarged socket buffer), and it sends no faster
    # than its 1 Gb/s link (a whole-frame burst overflowed the buffer, which on lo holds
    # 63 datagrams of 8 KiB). Packets aravis still loses are recovered by resends.
    assert completed >= 20, out
    assert failures == 0, out
    assert missing == 0, out


def _fake_xml_without_sensor_limit(tmp_path: Path) -> Path:
    """Return the fake's XML with its 2048² sensor limit raised (GenApi range-checks; arv-tool not).

    Registers are unchanged; only SensorWidth/SensorHeight become constants 4096, so that
    Width/Height accept 3072 (the fake streams any size; gige-vision.md §4.1).
    """
    client = GvcpClient("127.0.0.1", 3956)
    try:
        xml = FeatureMap(client).xml
    finally:
        client.close()
    for name in ("SensorWidth", "SensorHeight"):
        xml, n = re.subn(
            rf'(<Integer Name="{name}"[^>]*>.*?)<pValue>{name}Register</pValue>',
            r"\1<Value>4096</Value>",
            xml,
            flags=re.DOTALL,
        )
        assert n == 1, f"{name} not found in the fake's XML"
    path = tmp_path / "fake-4096.xml"
    path.write_text(xml)
    return path


def test_our_driver_streams_3072_mono16_from_the_aravis_fake(
    require_peer: Callable[[str], str],
    start_process: Callable[..., object],
    tmp_path: Path,
    wait_gvcp: Callable[..., None],
) -> None:
    fake = require_peer("arv-fake-gv-camera-0.8")
    first = start_process([fake, "-i", "127.0.0.1", "-s", "PG01"], "fake")
    wait_gvcp(3956)
    xml = _fake_xml_without_sensor_limit(tmp_path)
    first.stop()  # type: ignore[attr-defined]
    start_process([fake, "-i", "127.0.0.1", "-s", "PG01", "-g", str(xml)], "fake-4096")
    wait_gvcp(3956)
    with GigEDetector.from_url("gige://127.0.0.1?packet_size=8192") as det:
        assert det.info.serial == "PG01"
        assert det.features.get("DeviceModelName") == "Fake"
        det.configure(ReadoutMode(width=3072, height=3072, exposure_s=0.01))
        assert det.features.get("Width") == 3072 and det.features.get("PixelFormat") == "Mono16"
        assert det.features.get("PayloadSize") == 3072 * 3072 * 2
        frames = []
        for _ in range(10):
            det.arm()
            det.trigger()
            frames.append(det.read_frame(timeout_s=10))
        counters = det.counters()
    assert all(f.pixels.shape == (3072, 3072) for f in frames)
    assert len({f.meta.frame_id for f in frames}) == 10
    assert any(np.any(f.pixels) for f in frames)
    assert counters["frames_completed"] >= 10
    assert counters.get("frames_incomplete", 0) == 0
