"""Write a QC run's report: ``qc.json``, PNG plots and a one-page ``qc.html``.

The plots are drawn by matplotlib (Agg backend, no display needed): the presampling MTF
(both directions), the NNPS (axis and radial profiles), the DQE, and the map of residual
non-uniformity of the flat (32 × 32 pixel blocks). The HTML page embeds the PNGs (as
files beside it) and lists the figures; every value in it is escaped.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a test rig
import matplotlib.pyplot as plt
import numpy as np

from .qc_analysis import QcResult

__all__ = ["PLOTS", "write_report"]

PLOTS = ("mtf.png", "nnps.png", "dqe.png", "nonuniformity.png")
"""The plot files a full report has (a plot is left out when its frames were not taken)."""


def write_report(out_dir: Path, result: QcResult, *, header: dict[str, Any]) -> list[Path]:
    """Write the report into ``out_dir`` (created); return the files written.

    Parameters
    ----------
    out_dir : pathlib.Path
        Folder of the report.
    result : QcResult
        The figures and curves.
    header : dict
        What the run was (detector, software version, time, source of the kerma ...),
        written first in ``qc.json`` and at the top of the page.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (
        ("mtf.png", _plot_mtf), ("nnps.png", _plot_nnps),
        ("dqe.png", _plot_dqe), ("nonuniformity.png", _plot_map),
    ):  # fmt: skip
        fig = draw(result)
        if fig is None:
            continue
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    document = {**header, **result.figures}
    json_path = out_dir / "qc.json"
    json_path.write_text(json.dumps(_jsonable(document), indent=2) + "\n")
    page = out_dir / "qc.html"
    page.write_text(_html(document, [p.name for p in written]))
    return [json_path, *written, page]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _plot_mtf(result: QcResult) -> Any:
    if not result.mtf:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in result.mtf:
        ax.plot(m.frequency_per_mm, m.mtf, label=f"{m.axis} (edge {abs(m.angle_deg):.2f}°)")
    nyquist = 0.5 / result.mtf[0].pixel_pitch_mm
    ax.axvline(nyquist, color="grey", linestyle=":", label=f"Nyquist {nyquist:.2f} /mm")
    ax.set(xlabel="spatial frequency (cycles/mm)", ylabel="presampling MTF", ylim=(0, 1.05))
    ax.set_xlim(0, 2 * nyquist)
    ax.set_title("MTF (slanted edge, IEC 62220-1-1)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _plot_nnps(result: QcResult) -> Any:
    n = result.nnps
    if n is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    f = n.frequency_per_mm
    for profile, label in ((n.x_mm2, "x axis"), (n.y_mm2, "y axis"), (n.radial_mm2, "radial")):
        ax.semilogy(f[1:], profile[1:], label=label)
    ax.set(xlabel="spatial frequency (cycles/mm)", ylabel="NNPS (mm²)")
    kerma = result.figures["nnps"]["air_kerma_ugy"]
    ax.set_title(f"NNPS at {kerma:g} µGy ({n.rois} ROIs of 256²)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig


def _plot_dqe(result: QcResult) -> Any:
    d = result.dqe
    if d is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for axis, curve in result.dqe_by_axis.items():
        label = f"{axis} (DQE(0) ≈ {curve.dqe_zero:.3f})"
        ax.plot(curve.frequency_per_mm[1:], curve.dqe[1:], label=label)
    ax.set(xlabel="spatial frequency (cycles/mm)", ylabel="DQE", ylim=(0, 1))
    ax.set_title(f"DQE, {d.beam_quality} at {d.air_kerma_ugy:g} µGy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _plot_map(result: QcResult) -> Any:
    if result.nonuniformity is None:
        return None
    fig, ax = plt.subplots(figsize=(5, 4.3))
    percent = 100.0 * result.nonuniformity
    limit = float(np.nanmax(np.abs(percent))) or 1.0
    image = ax.imshow(percent, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(image, ax=ax, label="deviation from the mean (%)")
    source = result.figures["nonuniformity"]["flat"].split(" (")[0]
    ax.set_title(f"flat field, {source}\n(32×32 px block means)", fontsize=10)
    ax.set(xlabel="block column", ylabel="block row")
    fig.tight_layout()
    return fig


def _row(name: str, value: Any) -> str:
    if isinstance(value, float):
        value = f"{value:.4g}"
    return f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"


def _html(doc: dict[str, Any], plots: list[str]) -> str:
    rows = [
        _row(k, v) for k, v in doc.items() if not isinstance(v, dict | list) or k == "air_kerma_ugy"
    ]
    for section in ("dark", "linearity", "defects", "lag", "nonuniformity"):
        for k, v in (doc.get(section) or {}).items():
            if not isinstance(v, list | dict):
                rows.append(_row(f"{section}: {k}", v))
    rows.extend(
        _row(f"MTF {m['axis']}: {k}", m[k])
        for m in doc.get("mtf") or []
        for k in ("edge_angle_deg", "mtf50_per_mm", "mtf_at_nyquist")
    )
    if doc.get("dqe"):
        rows.append(_row("DQE(0)", doc["dqe"]["dqe_zero"]))
        rows.extend(_row(f"DQE(0) {axis}", d["dqe_zero"]) for axis, d in doc["dqe"]["axes"].items())
    images = "".join(
        f'<img src="{html.escape(p)}" alt="{html.escape(p[:-4])}" style="width:48%">' for p in plots
    )
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<title>panelgate detector QC</title>"
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "th,td{text-align:left;padding:1px 8px;font-size:90%}th{font-weight:normal;color:#555}"
        "</style></head><body><h1>Detector QC (IEC 62220-1-1)</h1>"
        f"<div>{images}</div><table>{''.join(rows)}</table></body></html>\n"
    )
