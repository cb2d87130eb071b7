"""Reading the YAML files under nlp/data/ (with libyaml's C loader when PyYAML has it: the pure
Python loader takes a third of a second for these files, a fifth of the model's load time)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
