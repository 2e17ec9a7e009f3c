"""Fuzzing both live endpoints with random and mutated datagrams: no crash, no hang, counted.

The simulator's GVCP server and the driver's GVSP receiver get hypothesis-generated
datagrams over loopback (inside the namespace, see conftest.py); afterwards both still
work and the malformed datagrams show in their counters.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panelgate.drivers import ReadoutMode
from panelgate.drivers.gige import GigEDetector, GvcpClient, gvcp, gvsp
from panelgate.drivers.gige import bootstrap as bs
from panelgate.simulators.gige import GigESimulator, SimulatorConfig

_GVCP_SEEDS = [
    gvcp.encode_command(gvcp.Command.READREG, 1, gvcp.readreg_cmd_payload([0, 0x0A00])),
    gvcp.encode_command(gvcp.Command.WRITEREG, 2, gvcp.writereg_cmd_payload([(0x0A00, 2)])),
    gvcp.encode_command(gvcp.Command.READMEM, 3, gvcp.readmem_cmd_payload(0x200, 64)),
    gvcp.encode_command(gvcp.Command.PACKETRESEND, 4, b"\0" * 12, 0),
]
_GVSP_SEEDS = [
    gvsp.encode_header(0, 1, gvsp.ContentType.LEADER, 0)
    + gvsp.encode_image_leader(gvsp.ImageLeader(0, gvsp.PixelFormat.MONO16, 64, 48)),
    gvsp.encode_header(0, 1, gvsp.ContentType.PAYLOAD, 1) + b"\0" * 1464,
    gvsp.encode_header(0, 1, gvsp.ContentType.TRAILER, 6)
    + gvsp.encode_trailer(gvsp.Trailer(1, 48)),
]


def _mutations(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data[: draw(st.integers(0, len(data)))])

    return st.one_of(st.binary(max_size=700), mutate())


@pytest.fixture(scope="module")
def simulator() -> Iterator[GigESimulator]:
    with GigESimulator(SimulatorConfig(port=0, width=64, height=48)) as sim:
        yield sim


@pytest.fixture(scope="module")
def sender() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        yield sock


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_mutations(_GVCP_SEEDS))
def test_fuzzed_gvcp_to_the_simulator(
    simulator: GigESimulator, sender: socket.socket, data: bytes
) -> None:
    sender.sendto(data, ("127.0.0.1", simulator.port))


def test_the_simulator_survived_the_gvcp_fuzzing(simulator: GigESimulator) -> None:
    client = GvcpClient("127.0.0.1", simulator.port)
    try:
        client.write_register(bs.REG_CCP, 0)  # whoever the fuzzer made controller
    except OSError:
        pass
    try:
        assert client.read_register(bs.REG_VERSION) >> 16 == 2
    finally:
        client.close()
    assert simulator.counters()["malformed"] > 0


def test_fuzzed_gvsp_to_the_receiver_is_counted_and_dropped(simulator: GigESimulator) -> None:
    with GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}") as det:
        det.configure(ReadoutMode(64, 48, exposure_s=0.01))
        det.arm()
        port = det._require_receiver().port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:

            @settings(max_examples=300, deadline=None)
            @given(_mutations(_GVSP_SEEDS))
            def fuzz(data: bytes) -> None:
                sock.sendto(data, ("127.0.0.1", port))

            fuzz()
        det.abort()
        det.arm()
        det.trigger()
        assert det.read_frame(timeout_s=5).pixels.shape == (48, 64)
        counters = det.counters()
    assert counters["malformed_packets"] > 0
