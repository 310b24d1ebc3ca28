"""A calendar app writing to calsync's CalDAV server is "outside calsync": the assignment rules fill the client,
and since the stored item is then not the one sent, the PUT answers without an ETag (RFC 4791 5.3.4) and the
app reads the client back."""

from __future__ import annotations

import pytest

from business.models import Client
from events.models import Event

from .conftest import vevent
from .test_protocol import cal_path

pytestmark = pytest.mark.django_db


def test_a_put_with_a_guest_at_a_clients_domain_is_assigned_and_read_back(dav, calendar, tenant) -> None:
    Client.objects.create(tenant=tenant, name="Acme", email_domains=["acme.example"])
    path = cal_path(calendar) + "call.ics"

    created = dav.put(path, vevent("call", "ATTENDEE;CN=Ann:mailto:ann@acme.example"), If_None_Match="*")
    plain = dav.put(cal_path(calendar) + "alone.ics", vevent("alone"), If_None_Match="*")

    assert created.status_code == 201 and "ETag" not in created
    assert plain.status_code == 201 and "ETag" in plain  # nothing added: the stored item is the one sent
    stored = Event.objects.get(uid="call")
    assert (stored.client, stored.origin) == ("Acme", "dav")
    fetched = dav.request("GET", path)
    assert "X-CALSYNC-CLIENT:Acme" in fetched.content.decode() and fetched["ETag"] == stored.etag
