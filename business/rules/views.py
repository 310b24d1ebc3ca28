"""The organisation's assignment rules (admins): list in order, add, change, move, delete, and apply them
again over a date range after a preview. Views parse input and call a selector or a service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope

from ..models import AssignmentRule
from . import selectors, services
from .engine import describe
from .forms import RangeForm, RuleForm


def _admin(request: HttpRequest) -> Scope:
    scope = Scope(request.user)  # type: ignore[arg-type]
    scope.require_admin()
    return scope


@login_required
def rule_index(request: HttpRequest) -> HttpResponse:
    scope = _admin(request)
    rules = [(rule, describe(rule)) for rule in selectors.rules(tenant=scope.tenant)]
    runs = selectors.rule_runs(tenant=scope.tenant)[:10]
    return render(request, "business/rules/index.html", {"rules": rules, "runs": runs, "range_form": RangeForm()})


def _save(request: HttpRequest, scope: Scope, rule: AssignmentRule | None) -> HttpResponse:
    initial = RuleForm.initial_of(rule) if rule else None
    form = RuleForm(request.POST or None, initial=initial, tenant=scope.tenant)
    if request.method == "POST" and form.is_valid():
        try:
            if rule is None:
                services.rule_create(tenant=scope.tenant, user=request.user, spec=form.spec())  # type: ignore[arg-type]
            else:
                services.rule_update(rule=rule, spec=form.spec())
        except services.RuleInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "The rule was saved. It applies to events arriving from now on.")
            return redirect("rules:index")
    return render(request, "business/rules/form.html", {"form": form, "rule": rule})


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    return _save(request, _admin(request), None)


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _admin(request)
    return _save(request, scope, scope.assignment_rule(pk))


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.rule_delete(rule=_admin(request).assignment_rule(pk))
    messages.success(request, "The rule was deleted. Events keep what it set.")
    return redirect("rules:index")


@login_required
@require_POST
def rule_move(request: HttpRequest, pk: int) -> HttpResponse:
    services.rule_move(rule=_admin(request).assignment_rule(pk), up=request.POST.get("direction") != "down")
    return redirect("rules:index")


@login_required
def rule_rerun(request: HttpRequest) -> HttpResponse:
    """GET with a range: the preview; POST: queue the run."""
    scope = _admin(request)
    form = RangeForm(request.POST if request.method == "POST" else (request.GET or None))
    preview = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            if request.method == "POST":
                services.rule_run_create(tenant=scope.tenant, user=request.user, **data)  # type: ignore[arg-type]
                messages.success(request, "The rules are being applied; the result shows below when done.")
                return redirect("rules:index")
            preview = selectors.preview(tenant=scope.tenant, **data)
        except selectors.RangeInvalid as exc:
            form.add_error(None, str(exc))
    return render(request, "business/rules/rerun.html", {"form": form, "preview": preview})
