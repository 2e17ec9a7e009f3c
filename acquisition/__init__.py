"""Exposure workflow, pipeline, configuration and the command line: the top layer."""

import logging

from .config import Config, load_config, parse_config
from .detectors import open_detector
from .errors import ConfigError, UsageError
from .pipeline import Pipeline

__all__ = [
    "Config",
    "ConfigError",
    "Pipeline",
    "UsageError",
    "load_config",
    "open_detector",
    "parse_config",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
