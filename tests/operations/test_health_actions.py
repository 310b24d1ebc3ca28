"""The health board's actions: ask to reconnect (one email a day), synchronize now, resync; only in one's own
organisation, only by its admins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from integrations.models import Integration
from operations import health
from sync.models import SyncRun
from sync.services import COMPARE_ALL
from tests.conftest import celery_broker, free_port

pytestmark = pytest.mark.django_db
BOARD = reverse("operations:health")


def _post(client, name: str, integration: Integration, back: str = ""):  # type: ignore[no-untyped-def]
    return client.post(reverse(f"operations:{name}", args=[integration.pk]), {"back": back}, follow=True)


def _flash(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(str(m) for m in response.context["messages"])


def test_ask_to_reconnect_emails_the_owner_which_calendar_why_and_the_link(
    admin_client_, board_users, settings
) -> None:  # type: ignore[no-untyped-def]
    ben = board_users["ben"].integrations.get()
    ben.error_email = "helpdesk@acme.test"
    ben.set_credentials({"refresh_token": "1//secret-refresh-token"})
    ben.save(update_fields=["error_email", "credentials_encrypted"])
    response = _post(admin_client_, "ask_reconnect", ben, back="status=needs_reconnecting&page=1&evil=x")
    assert response.redirect_chain[-1][0] == f"{BOARD}?status=needs_reconnecting&page=1"
    assert "Asked ben@acme.test by email to reconnect." in _flash(response)
    [sent] = mail.outbox
    assert sent.to == ["ben@acme.test"]  # the owner, who alone can reconnect; not the error address
    assert sent.subject == "calsync: please reconnect your Google Calendar calendar"
    assert f"“{ben.calendar.name}” and Google Calendar (Remote 1) needs reconnecting" in sent.body
    assert "invalid_grant" in sent.body and "admin@acme.test, an admin of Acme" in sent.body
    assert f"{settings.SITE_URL}/integrations/{ben.pk}/\n" in sent.body
    assert "secret-refresh-token" not in sent.body
    ben.refresh_from_db()
    assert health.reconnect_asked_at(ben.config) is not None and ben.config["reconnect_asked_by"] == "admin@acme.test"
    assert "Asked to reconnect" in response.content.decode()


def test_a_second_ask_within_a_day_is_not_sent_and_says_so(admin_client_, board_users) -> None:  # type: ignore[no-untyped-def]
    dan = board_users["dan"].integrations.get()  # an error (CalDAV): often an expired app password
    _post(admin_client_, "ask_reconnect", dan)
    again = _post(admin_client_, "ask_reconnect", dan)
    assert len(mail.outbox) == 1
    assert "dan@acme.test was already asked on" in _flash(again) and "not sent again within a day" in _flash(again)
    dan.refresh_from_db()
    day_ago = (timezone.now() - timedelta(hours=24, minutes=1)).isoformat()
    dan.config_merge({health.RECONNECT_ASKED_AT: day_ago})
    assert "Asked dan@acme.test" in _flash(_post(admin_client_, "ask_reconnect", dan))
    assert len(mail.outbox) == 2


def test_nothing_to_reconnect_on_a_working_or_stopped_integration(admin_client_, board_users) -> None:  # type: ignore[no-untyped-def]
    for name in ("ann", "cat"):
        response = _post(admin_client_, "ask_reconnect", board_users[name].integrations.get())
        assert "there is nothing to reconnect" in _flash(response)
    assert mail.outbox == []


def test_a_mail_server_that_does_not_answer_is_said_and_the_ask_not_recorded(admin_client_, board_users,
                                                                             settings) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    ben = board_users["ben"].integrations.get()
    response = _post(admin_client_, "ask_reconnect", ben)
    assert response.status_code == 200 and "The email could not be sent" in _flash(response)
    ben.refresh_from_db()
    assert health.reconnect_asked_at(ben.config) is None  # the next click tries again


def test_synchronize_now_and_resync_from_the_board(admin_client_, board_users) -> None:  # type: ignore[no-untyped-def]
    ann = board_users["ann"].integrations.get()
    assert "Sync started for ann@acme.test." in _flash(_post(admin_client_, "sync_now", ann))
    assert list(ann.runs.values_list("trigger", "status")) == [("manual", "queued")]
    ann.runs.update(status=SyncRun.Status.SUCCESS)
    assert "Resync from scratch started" in _flash(_post(admin_client_, "resync", ann))
    assert ann.runs.filter(trigger="resync", status="queued").count() == 1
    ann.refresh_from_db()
    assert ann.config[COMPARE_ALL] is True  # the run lists both sides whole, through the mass-delete guard


def test_a_paused_or_unconfirmed_integration_is_not_synced_by_an_admin(admin_client_, board_users) -> None:  # type: ignore[no-untyped-def]
    fay, eve = board_users["fay"].integrations.get(), board_users["eve"].integrations.get()
    for action in ("sync_now", "resync"):
        assert "only they can resume it" in _flash(_post(admin_client_, action, fay))
        assert "waits for eve@acme.test to confirm" in _flash(_post(admin_client_, action, eve))
    assert not SyncRun.objects.exists()
    eve.refresh_from_db()
    assert COMPARE_ALL not in eve.config


@pytest.mark.django_db(transaction=True)
def test_a_queue_that_cannot_be_reached_is_said_not_a_500(admin_client_, board_users) -> None:  # type: ignore[no-untyped-def]
    ann = board_users["ann"].integrations.get()
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        for action in ("sync_now", "resync"):
            response = _post(admin_client_, action, ann)
            assert response.status_code == 200 and "Could not reach the task queue" in _flash(response)
    assert set(ann.runs.values_list("status", flat=True)) == {"failed"}


def test_another_organisations_integrations_are_out_of_reach(admin_client_, board_users, outsider, connect) -> None:  # type: ignore[no-untyped-def]
    theirs = connect(outsider, status="needs_reauth", last_error="Globex secret error")
    assert "Globex" not in admin_client_.get(BOARD).content.decode()
    assert "someone@globex.test" not in admin_client_.get(BOARD, {"search": "globex"}).content.decode()
    for action in ("ask_reconnect", "sync_now", "resync"):
        response = admin_client_.post(reverse(f"operations:{action}", args=[theirs.pk]))
        assert response.status_code == 404 and b"Globex" not in response.content
    assert mail.outbox == [] and not theirs.runs.exists()
    theirs.refresh_from_db()
    assert theirs.config == {}


def test_members_cannot_act(client, member, board_users) -> None:  # type: ignore[no-untyped-def]
    client.force_login(member)
    ben = board_users["ben"].integrations.get()
    for action in ("ask_reconnect", "sync_now", "resync"):
        assert client.post(reverse(f"operations:{action}", args=[ben.pk])).status_code == 403
    assert client.get(reverse("operations:sync_now", args=[ben.pk])).status_code in (403, 405)
    assert mail.outbox == [] and not ben.runs.exists()


def test_asked_to_reconnect_shows_while_the_problem_lasts_and_is_forgotten_once_it_syncs(  # type: ignore[no-untyped-def]
    admin_client_, board_users, member, calendar, run_on_commit
) -> None:
    from tests.factories import CalendarFactory
    from tests.sync.test_services import connect as connect_calsync

    ben = board_users["ben"].integrations.get()
    _post(admin_client_, "ask_reconnect", ben)
    Integration.objects.filter(pk=ben.pk).update(status=Integration.Status.OK, last_error="")
    assert "Asked to reconnect" not in admin_client_.get(BOARD).content.decode(), "not on a working row"

    mended = connect_calsync(member, (calendar, CalendarFactory(owner=member, name="Home")), run_on_commit)
    mended.config_merge({health.RECONNECT_ASKED_AT: timezone.now().isoformat(), "reconnect_asked_by": "a@acme.test"})
    Integration.objects.filter(pk=mended.pk).update(status=Integration.Status.ERROR)
    with run_on_commit():
        from sync import services

        services.sync_request(integration=Integration.objects.get(pk=mended.pk), trigger="manual")
    mended.refresh_from_db()
    assert mended.status == Integration.Status.OK
    assert health.reconnect_asked_at(mended.config) is None and not mended.config.get("reconnect_asked_by")


def test_reconnecting_answers_the_ask_so_a_new_problem_can_be_asked_about(  # type: ignore[no-untyped-def]
    admin_client_, member, calendar, run_on_commit
) -> None:
    """Final review finding 4: the owner's reconnect (credentials replaced, as every provider's reconnect does)
    forgets the ask, though the integration is OK before its sync: the next problem is asked about at once."""
    from integrations.services import integration_credentials_replaced
    from tests.factories import CalendarFactory
    from tests.sync.test_services import connect as connect_calsync

    integration = connect_calsync(member, (calendar, CalendarFactory(owner=member, name="Home")), run_on_commit)
    Integration.objects.filter(pk=integration.pk).update(status=Integration.Status.NEEDS_REAUTH, last_error="Revoked")
    _post(admin_client_, "ask_reconnect", integration)
    assert len(mail.outbox) == 1
    integration.refresh_from_db()
    with run_on_commit():
        integration_credentials_replaced(integration=integration, credentials={})
    integration.refresh_from_db()
    assert health.reconnect_asked_at(integration.config) is None and not integration.config.get("reconnect_asked_by")
    assert integration.runs.order_by("-pk").first().status == SyncRun.Status.SUCCESS

    Integration.objects.filter(pk=integration.pk).update(status=Integration.Status.NEEDS_REAUTH, last_error="Again")
    assert "Asked to reconnect" not in admin_client_.get(BOARD).content.decode()
    _post(admin_client_, "ask_reconnect", integration)
    assert len(mail.outbox) == 2
