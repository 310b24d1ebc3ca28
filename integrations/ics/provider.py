"""Builds the side of an ICS subscription from its stored (encrypted) URL."""

from __future__ import annotations

from integrations.models import Integration

from .adapter import ICSSide


def build_side(integration: Integration) -> ICSSide:
    """The URL is a secret (it may carry a token or credentials): it is kept encrypted and read only here."""
    return ICSSide(url=integration.credentials["url"], allow_shrink=integration.allow_mass_delete)
