"""Staff slash commands. Importing this package registers every command module."""
from handlers.commands import emergencies as _emergencies  # noqa: F401  (registers the commands)
from handlers.commands import points as _points  # noqa: F401
from handlers.commands import notices as _notices  # noqa: F401
from handlers.commands import polls as _polls  # noqa: F401
from handlers.commands import tickets as _tickets  # noqa: F401
from handlers.commands.dispatch import StaffDesk
from handlers.commands.registry import REGISTRY, CommandError, command

__all__ = ["REGISTRY", "CommandError", "StaffDesk", "command"]
