"""The two DICOM values a user types into panelgate: an AE title and a UID root.

Each check returns what is wrong with a value (``None`` when it is valid) so that the
configuration loader can collect every problem and the command line can refuse an option
with one line. The rules are those of the standard:

- AE title (PS3.5 6.2, VR AE): 1-16 characters of the default character repertoire, no
  backslash (5CH) and no control characters; a value of only spaces is not allowed. Leading
  and trailing spaces are not significant in DICOM, so panelgate refuses them rather than
  send a title a peer may compare differently.
- UID root (PS3.5 9.1): components of digits separated by ``.``, no component with a
  leading zero (``0`` itself is fine), no empty component. panelgate appends a unique
  numeric suffix to the root, and a whole UID is at most 64 characters, so the root keeps
  :data:`UID_SUFFIX_HEADROOM` characters free for it.
"""

from __future__ import annotations

__all__ = [
    "AE_TITLE_MAX",
    "UID_MAX",
    "UID_ROOT_MAX",
    "UID_SUFFIX_HEADROOM",
    "ae_title_problem",
    "normalise_uid_root",
    "uid_root_problem",
]

AE_TITLE_MAX = 16
"""Characters of an AE title at most (PS3.5 6.2, VR AE)."""
UID_MAX = 64
"""Characters of a whole UID at most (PS3.5 9.1)."""
UID_SUFFIX_HEADROOM = 24
"""Characters a root leaves for the generated suffix: 24 digits, about 80 random bits."""
UID_ROOT_MAX = UID_MAX - UID_SUFFIX_HEADROOM
"""Characters of a UID root at most, its trailing ``.`` included (40)."""


def ae_title_problem(text: str) -> str | None:
    """Say what is wrong with an AE title, or return None when it is valid (PS3.5 6.2).

    Parameters
    ----------
    text : str
        The title as the user gave it.

    Returns
    -------
    str or None
        A phrase such as ``"must be 1-16 characters, got 17"``; None for a valid title.
    """
    if not 0 < len(text) <= AE_TITLE_MAX:
        return f"must be 1-{AE_TITLE_MAX} characters, got {len(text)} ({text!r})"
    if not text.strip():
        return f"must not be only spaces, got {text!r}"
    if "\\" in text:
        return f"must not contain a backslash, got {text!r}"
    if not all(" " <= c <= "~" for c in text):
        return f"must be printable ASCII without control characters, got {text!r}"
    if text != text.strip():
        return f"must not begin or end with spaces, got {text!r}"
    return None


def normalise_uid_root(text: str) -> str:
    """Return the root ending in ``.``, the form a suffix is appended to.

    ``1.2.826.0.1.99`` and ``1.2.826.0.1.99.`` name the same root; both are accepted and
    both give ``1.2.826.0.1.99.``, so generated UIDs never run the suffix into the last
    component.
    """
    return text if text.endswith(".") else text + "."


def uid_root_problem(text: str) -> str | None:
    """Say what is wrong with a UID root, or return None when it is valid (PS3.5 9.1).

    The root is checked in its normalised form (:func:`normalise_uid_root`): digits and
    dots, no empty component, no leading zero in a component, and at most
    :data:`UID_ROOT_MAX` characters with the trailing dot, so that root plus a
    :data:`UID_SUFFIX_HEADROOM`-digit suffix fits the 64 characters of a UID.

    Returns
    -------
    str or None
        A phrase naming the rule broken; None for a valid root.
    """
    root = normalise_uid_root(text)
    components = root[:-1].split(".")
    if not text or any(not c for c in components):
        return f"must be dotted numbers like '1.2.826.0.1.3680043.8.498.', got {text!r}"
    if not all(c.isascii() and c.isdigit() for c in components):
        return f"must contain only digits and dots, got {text!r}"
    leading = [c for c in components if len(c) > 1 and c.startswith("0")]
    if leading:
        return f"must not have components with a leading zero ({leading[0]!r}), got {text!r}"
    if len(root) > UID_ROOT_MAX:
        return (
            f"must be at most {UID_ROOT_MAX} characters with its final '.' to leave "
            f"{UID_SUFFIX_HEADROOM} of a UID's {UID_MAX} for the unique suffix, "
            f"got {len(root)}"
        )
    return None
