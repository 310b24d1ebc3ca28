"""A local emulator of the Exchange Web Services calendar operations calsync uses (tests and the sandbox)."""
