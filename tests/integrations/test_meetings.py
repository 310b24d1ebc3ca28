"""integrations.meetings: the one rule, for every provider, of whose meeting an item is (README "Invitations:
who gets email when calsync writes")."""

from __future__ import annotations

from events.ical import Attendee, Component, Person
from integrations.meetings import organised_elsewhere, owners_meeting

GUEST = (Attendee("bob@fabrikam.example", "Bob"),)


def _meeting(organizer: Person | None, attendees: tuple[Attendee, ...] = GUEST) -> Component:
    return Component(uid="m@x", summary="Plan", organizer=organizer, attendees=attendees)


def test_the_owner_organises_a_meeting_made_in_calsync_or_naming_one_of_their_addresses() -> None:
    own = ["me@contoso.example", "primary-calendar@contoso.example"]
    assert owners_meeting(_meeting(None), own)  # made in calsync's form, which sets no organiser
    assert owners_meeting(_meeting(Person("ME@Contoso.example")), own)  # addresses compare without case
    assert owners_meeting(_meeting(Person("primary-calendar@contoso.example")), own)
    assert not owners_meeting(_meeting(Person("olga@fabrikam.example")), own)
    assert organised_elsewhere(_meeting(Person("olga@fabrikam.example")), own)


def test_an_event_without_attendees_is_nobodys_meeting() -> None:
    assert not owners_meeting(_meeting(None, ()), ["me@contoso.example"])
    assert not organised_elsewhere(_meeting(Person("olga@fabrikam.example"), ()), ["me@contoso.example"])


def test_an_unknown_or_empty_own_address_makes_only_calsyncs_own_meetings_the_owners() -> None:
    assert owners_meeting(_meeting(None), [""])
    assert not owners_meeting(_meeting(Person("")), [""])  # an empty address is nobody's
    assert organised_elsewhere(_meeting(Person("olga@fabrikam.example")), [])
