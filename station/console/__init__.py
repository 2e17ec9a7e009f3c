"""The technician's console in the browser, served by the station at ``/`` (issue 13).

Server-rendered HTML (Jinja2) with htmx 2.0.11 and its SSE extension 2.2.4 vendored in
``static/`` (no build step, works offline) and one small script (``static/console.js``)
over the station's JSON API. :func:`console_routes` returns the routes that
:func:`panelgate.station.api.create_app` mounts; see :mod:`.routes` for the paths.
"""

from .routes import TG305_REASONS, console_routes
from .validate import check_patient
from .views import di_band

__all__ = ["TG305_REASONS", "check_patient", "console_routes", "di_band"]
