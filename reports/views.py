"""The reports page, its drill-down and exports, saved reports and the counting rules: each view reads its query
with a form, reaches rows through the signed-in user's Scope and hands the work to selectors or services."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope
from business.services import settings_for

from . import engine, selectors, services
from .forms import GROUP_LABELS, PARAMS, ReportForm, ReportRulesForm, SavedReportForm, as_query, report_params

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


def _read(request: HttpRequest) -> tuple[Scope, ReportForm, engine.ReportQuery | None]:
    """The report the address asks for, or None with the form's errors (the page then says what is wrong)."""
    scope = _scope(request)
    # An address without any report parameter shows this month by client: the form's defaults.
    data = request.GET if any(k in request.GET for k in PARAMS) else QueryDict("range=this_month&group_by=client")
    form = ReportForm(data, scope=scope, today=selectors.tenant_today(scope))
    return scope, form, selectors.page_query(scope=scope, form=form) if form.is_valid() else None


def _invalid(request: HttpRequest, form: ReportForm, scope: Scope) -> HttpResponse:
    context = {"form": form, "saved_reports": selectors.saved_reports(scope)}
    return render(request, "reports/report.html", context, status=400)


def _answers_bad_queries(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The form checks what the engine checks; should they ever differ, the engine's reason is shown with the
    form (400), never a server error."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except engine.ReportError as exc:
            scope, form, _ = _read(request)
            form.add_error(None, str(exc))
            return _invalid(request, form, scope)

    return wrapped


@login_required
@_answers_bad_queries
def report(request: HttpRequest) -> HttpResponse:
    scope, form, query = _read(request)
    if query is None:
        return _invalid(request, form, scope)
    params = as_query(report_params(form.data))
    context = {
        "form": form,
        "page": selectors.report_page(query=query, params=params),
        "headings": [GROUP_LABELS[g] for g in query.group_by],
        "query_string": params.urlencode(),
        "saved_reports": selectors.saved_reports(scope),
        "save_form": SavedReportForm(scope=scope),
        "saved_id": request.GET.get("saved", ""),
    }
    return render(request, "reports/report.html", context)


@login_required
@_answers_bad_queries
def drill(request: HttpRequest) -> HttpResponse:
    scope, form, query = _read(request)
    if query is None:
        return _invalid(request, form, scope)
    key = selectors.drill_key(scope=scope, query=query, params=request.GET)
    offset = request.GET.get("offset", "0")
    page = selectors.drill_page(scope=scope, query=query, key=key, offset=int(offset) if offset.isdigit() else 0)
    params = request.GET.copy()
    params.pop("offset", None)
    context = {
        "form": form,
        "page": page,
        "of": selectors.key_labels(scope=scope, key=key),
        "back": as_query(report_params(form.data)).urlencode(),
        "query_string": params.urlencode(),
    }
    return render(request, "reports/drill.html", context)


@login_required
@_answers_bad_queries
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    scope, form, query = _read(request)
    if query is None:
        return _invalid(request, form, scope)
    report = engine.report_run(query=query)
    name = f"report-{query.start:%Y%m%d}-{query.end:%Y%m%d}-{'-'.join(query.group_by)}"
    if fmt == "csv":
        response = HttpResponse(engine.export_csv(report), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(engine.export_xlsx(report), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


# --- saved reports -----------------------------------------------------------------------------------------------


@login_required
@require_POST
def saved_create(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    params = as_query(report_params(QueryDict(request.POST.get("params", ""))))
    report_form = ReportForm(params, scope=scope, today=selectors.tenant_today(scope))
    form = SavedReportForm(request.POST, scope=scope)
    if report_form.is_valid() and form.is_valid():
        try:
            saved = services.saved_report_create(owner=scope.user, params=report_params(params), **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Saved as “{saved.name}”.")
            return redirect(f"{reverse('reports:report')}?{params.urlencode()}&saved={saved.pk}")
    else:
        errors = [e for f in (report_form, form) for field in f.errors.values() for e in field]
        messages.error(request, "The report was not saved: " + " ".join(errors))
    return redirect(f"{reverse('reports:report')}?{params.urlencode()}")


@login_required
def saved_open(request: HttpRequest, pk: int) -> HttpResponse:
    saved = _scope(request).saved_report(pk)
    return redirect(f"{reverse('reports:report')}?{as_query(saved.params).urlencode()}&saved={saved.pk}")


@login_required
def saved_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    saved = scope.own_saved_report(pk)
    initial = {"name": saved.name, "shared_with": list(saved.shared_with.all()),
               "email_monthly": saved.email_monthly, "recipients": list(saved.recipients.all())}  # fmt: skip
    form = SavedReportForm(request.POST or None, scope=scope, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.saved_report_update(saved=saved, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            messages.success(request, f"“{saved.name}” was saved.")
            return redirect("reports:report_saved", pk=saved.pk)
    return render(request, "reports/saved_edit.html", {"form": form, "saved": saved})


@login_required
@require_POST
def saved_update_query(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner keeps the report as it is on the page now under the saved report's name."""
    scope = _scope(request)
    saved = scope.own_saved_report(pk)
    params = as_query(report_params(QueryDict(request.POST.get("params", ""))))
    form = ReportForm(params, scope=scope, today=selectors.tenant_today(scope))
    if form.is_valid():
        services.saved_report_query_update(saved=saved, params=report_params(params))
        messages.success(request, f"“{saved.name}” now shows this report.")
    else:
        messages.error(request, "The report was not saved: " + " ".join(e for f in form.errors.values() for e in f))
    return redirect(f"{reverse('reports:report')}?{params.urlencode()}&saved={saved.pk}")


@login_required
@require_POST
def saved_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = _scope(request).own_saved_report(pk)
    services.saved_report_delete(saved=saved)
    messages.success(request, f"“{saved.name}” was deleted.")
    return redirect("reports:report")


# --- the organisation's counting rules ----------------------------------------------------------------------------


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    scope.require_admin()
    form = ReportRulesForm(request.POST or None, instance=settings_for(scope.tenant))
    if request.method == "POST" and form.is_valid():
        services.report_rules_update(rules=form.instance, **form.cleaned_data)
        messages.success(request, "The report rules were saved; every report counts by them from now on.")
        return redirect("reports:rules")
    return render(request, "reports/rules.html", {"form": form})
