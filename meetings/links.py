"""Signed addresses: the answer link in an invitation and the address iMIP replies come back to.

Neither needs a login: the signature is the proof. The answer link expires (MEETINGS_ANSWER_LINK_DAYS); the reply
address does not, since a reply may come weeks later, but names one meeting only.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import salted_hmac

from .models import Meeting

_ANSWER_SALT = "meetings.answer"
_REPLY_SALT = "meetings.reply-address"


class LinkError(ValueError):
    """The link or address was altered, has expired, or names nothing; the message is for the person."""


def answer_token(meeting: Meeting, email: str) -> str:
    return signing.dumps({"m": meeting.pk, "e": email.lower()}, salt=_ANSWER_SALT, compress=True)


def answer_url(meeting: Meeting, email: str) -> str:
    return settings.SITE_URL + reverse("meetings:answer", args=[answer_token(meeting, email)])


def read_answer_token(token: str) -> tuple[int, str]:
    """(meeting id, attendee address) the link was made for; LinkError if altered or expired."""
    max_age = settings.MEETINGS_ANSWER_LINK_DAYS * 86400
    try:
        data = signing.loads(token, salt=_ANSWER_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise LinkError("This answer link has expired. Ask the organiser to send the invitation again.") from None
    except signing.BadSignature:
        raise LinkError("This answer link is not valid: it was changed or cut short. Open it from the email.") from None
    return int(data["m"]), str(data["e"])


def _reply_digest(meeting_id: int) -> str:
    # Hexadecimal: mail servers may change the case of an address's local part.
    return salted_hmac(_REPLY_SALT, str(meeting_id)).hexdigest()[:32]


def reply_address(meeting: Meeting) -> str:
    """replies+m<id>-<signature>@domain for MEETINGS_REPLY_ADDRESS = replies@domain; "" when not set up."""
    base = settings.MEETINGS_REPLY_ADDRESS
    if not base:
        return ""
    local, _, domain = base.partition("@")
    return f"{local}+m{meeting.pk}-{_reply_digest(meeting.pk)}@{domain}"


def meeting_id_from_address(address: str) -> int:
    """The meeting a reply address was made for; LinkError if it is not one of ours or was altered."""
    local = address.strip().strip("<>").partition("@")[0].lower()
    tag = local.partition("+")[2]
    meeting_part, _, digest = tag.partition("-")
    if not (meeting_part.startswith("m") and meeting_part[1:].isdigit()):
        raise LinkError("The reply was not sent to a meeting's reply address.")
    meeting_id = int(meeting_part[1:])
    if not hmac.compare_digest(digest, _reply_digest(meeting_id)):
        raise LinkError("The reply address's signature does not match: it was not made by calsync.")
    return meeting_id
