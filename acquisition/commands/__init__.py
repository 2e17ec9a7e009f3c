"""The sub-commands of ``panelgate``, one module each, found by ``cli.build_parser``.

A command module defines ``register(subparsers)``, which adds its parser and sets
``handler=function(args) -> int`` as a default. Shared argument types live in :mod:`.args`.
"""

__all__: list[str] = []
