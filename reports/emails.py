"""The monthly email of a saved report: the chart and the table in HTML, the same in plain text, the CSV attached.

The HTML carries no script, no stylesheet and no link that signs anyone in: the charts are plain SVG with
presentation attributes (clients that drop SVG still have the table), and the only address is the reports page.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.models import User

from . import engine, selectors
from .forms import GROUP_LABELS
from .models import SavedReport


def monthly_message(*, saved: SavedReport, report: engine.Report, to: User) -> EmailMultiAlternatives:
    query = report.query
    month = query.start.strftime("%B %Y")
    context = {
        "saved": saved,
        "report": report,
        "month": month,
        "to": to,
        "headings": [GROUP_LABELS[g] for g in query.group_by],
        "bars": selectors.bars_chart(report),
        "share": selectors.share_chart(report),
        "page_url": f"{settings.SITE_URL}/reports/saved/{saved.pk}/",
    }
    message = EmailMultiAlternatives(
        subject=f"{saved.name}: {month}",
        body=render_to_string("reports/email_monthly.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to.email],
    )
    message.attach_alternative(render_to_string("reports/email_monthly.html", context), "text/html")
    message.attach(f"{_slug(saved.name)}-{query.start:%Y-%m}.csv", engine.export_csv(report), "text/csv")
    return message


def _slug(name: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return "-".join(part for part in kept.split("-") if part)[:60] or "report"
