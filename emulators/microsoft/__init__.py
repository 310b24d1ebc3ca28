"""A local emulator of the Microsoft identity platform and the Graph v1.0 calendar API, over HTTPS."""

from .app import MicrosoftEmulator, serve
from .state import GraphError, State

__all__ = ["GraphError", "MicrosoftEmulator", "State", "serve"]
