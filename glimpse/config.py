"""Model configs are plain ``@dataclass``es whose fields carry their own help text.

    @dataclass
    class RAMConfig:
        glimpses: int = option(6, "glimpses per image, T")
        height: int = derived(28, "image height, set from the data")

A config is the single source of truth for a model's shape: it is saved inside every checkpoint
(so a checkpoint loads with no flags), and the training scripts turn its :func:`option` fields
into command-line flags of the same names (``--glimpses``), so a renamed field fails loudly
instead of drifting. :func:`derived` fields are set by the code from the data, never by a flag.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def option(default: Any, help: str) -> Any:
    """A config field that is also a command-line option, with its help text."""
    return dataclasses.field(default=default, metadata={"help": help})


def derived(default: Any, help: str) -> Any:
    """A config field set from the data (image size, classes), not from the command line."""
    return dataclasses.field(default=default, metadata={"help": help, "cli": False})


def is_option(field: dataclasses.Field) -> bool:
    """Whether a config field is offered on the command line."""
    return field.metadata.get("cli", True)
