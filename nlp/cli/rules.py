"""Lint the emergency rules and run every rule's examples: `python -m nlp.cli.rules`.

Prints one line per problem (the file, the rule id and what is wrong) and exits 1, or prints the
number of rules and exits 0. The same checks run in tests/nlp/test_emergency_rules.py.
"""
from __future__ import annotations

import sys

from nlp import emergency, emergency_rules


def main() -> int:
    problems = emergency_rules.lint()
    if not problems:
        rules = emergency_rules.load().rules
        problems = [f for r in rules for f in emergency.example_failures(r)]
    print("\n".join(problems) or f"{len(emergency_rules.load().rules)} rules OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
