"""Faithful local stand-ins for the providers calsync talks to, for tests and the sandbox mode of `make run`."""
