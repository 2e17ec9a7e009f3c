"""``panelgate hash-password``: the scrypt hash of a console user's password, for ``[[users]]``.

The password is read from the terminal without echo (asked twice), or from the first
line of stdin when stdin is not a terminal; never from the command line, where other
users could read it (``ps``, the shell's history). The hash (:func:`.auth.hash_password`)
is printed on stdout, ready for ``password_hash = "..."``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from panelgate.acquisition.errors import UsageError

from .auth import hash_password

__all__ = ["register_hash_password"]


def register_hash_password(sub: Any) -> None:
    """Add the ``hash-password`` sub-command."""
    p = sub.add_parser(
        "hash-password",
        help="print the scrypt hash of a console password (read from the terminal or stdin)",
        description="Read a password (asked twice on a terminal; else the first line of "
        "stdin) and print its scrypt hash for [[users]] password_hash. The password is "
        "never taken from the command line.",
    )
    p.set_defaults(handler=_hash_password)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise UsageError("the two passwords differ: nothing printed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _hash_password(args: argparse.Namespace) -> int:
    password = _read_password()
    if len(password) < 8:
        raise UsageError("the password must have 8 characters or more: nothing printed")
    print(hash_password(password))
    return 0
