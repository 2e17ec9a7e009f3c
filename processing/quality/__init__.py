"""Image-quality measures on linear and processed images, checked against phantom truth.

Pure numpy. Each measure lives in a module of its own (CNR, overshoot, field accuracy,
and the detector QC measures MTF, NNPS and DQE of IEC 62220-1-1); each owner exports
its names here with a small edit.
"""

__all__: list[str] = []
