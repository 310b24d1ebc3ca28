"""A local emulator of Google's OAuth 2 endpoints and the Calendar v3 API surface calsync uses."""

from .app import GoogleEmulator, serve
from .state import ApiError, State

__all__ = ["ApiError", "GoogleEmulator", "State", "serve"]
