"""The GigE simulator in its loopback-only namespace takes dose from a generator outside it.

Issue 12: the room's channel is a directory of Unix sockets, not a network broadcast, so a
``panelgate simulate gige`` panel in another network namespace stands in the same room as
a simulated generator of this process: the frame read after the exposure carries its dose.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from panelgate.simulators import Room, air_kerma_ugy
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

INSIDE = """
import json, sys
import numpy as np
from panelgate.drivers import ReadoutMode
from panelgate.drivers.generator import GeneratorClient
from panelgate.drivers.gige import GigEDetector
from panelgate.simulators.gige import GigESimulator, SimulatorConfig

room, port = sys.argv[1], sys.argv[2]
config = SimulatorConfig(port=0, width=64, height=48, seed=3, room=room)
with GigESimulator(config) as sim, GeneratorClient(port, timeout_s=2.0) as gen:
    det = GigEDetector.from_url(f"gige://127.0.0.1:{sim.port}")
    det.connect()
    det.configure(ReadoutMode(width=64, height=48, exposure_s=0.01))
    means = []
    for fire in (False, True, False):
        det.arm()
        if fire:
            gen.set_technique(70, 1.0)
            gen.prep()
            gen.wait_ready(5.0)
            gen.expose()
            delivered = gen.wait_done(5.0)
        det.trigger()
        means.append(float(det.read_frame(10).pixels.astype(np.float64).mean()))
    det.close()
print(json.dumps({"means": means, "kv": delivered.kv, "mas": delivered.mas,
                  "counts_per_ugy": sim.spec.counts_per_ugy}))
"""


def test_gige_panel_in_a_namespace_takes_the_dose_of_a_generator_outside(
    tmp_path: Path, loopback_namespace: Callable[[list[str]], list[str]]
) -> None:
    room = tmp_path / "room"
    spec = GeneratorSpec(prep_s=0.02, time_scale=0.1)
    with SimulatedGenerator(spec, seed=4, room=Room(room)) as generator:
        argv = loopback_namespace([sys.executable, "-c", INSIDE, str(room), generator.device_path])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    dark, exposed, dark_after = result["means"]
    counts = result["counts_per_ugy"] * air_kerma_ugy(result["kv"], result["mas"])
    assert exposed - dark == pytest.approx(counts, rel=0.1), "the frame after the beam has it"
    assert abs(dark_after - dark) < 0.05 * counts, "and the next one is dark again"
    assert generator.model.exposures == 1
