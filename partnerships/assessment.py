"""Targets against results, and the printable reports (on screen for the browser's print, and PDF).

Pages here follow the dashboard's rules (views.dashboard_view): sign-in, scope, htmx fragments.
"""

from __future__ import annotations

from django import forms
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_htmx.http import push_url

from . import access, indicators, pagecache, pdf, reports, svg
from .indicators import RECENT_YEARS, assessment_years
from .models import (
    REGION_ANCESTORS,
    AidProject,
    Meeting,
    Partnership,
    Posting,
    Visit,
)
from .views import (
    _full_page,
    _require_in_scope,
    dashboard_view,
    export_links,
    shown_villages,
    visit_record_context,
)


class YearForm(forms.Form):
    year = forms.IntegerField(label=gettext_lazy("Year"), required=False, widget=forms.Select)

    def __init__(self, *args, years: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.years = years
        self.fields["year"].widget.choices = [(y, y) for y in years]
        # "abc" or "²" says which years there are, as a year not offered does ("输入整数。"
        # said nothing of them)
        self.fields["year"].error_messages["invalid"] = indicators.year_refusal(years)

    def clean_year(self):
        year = self.cleaned_data["year"]
        if year is not None and year not in self.years:
            raise forms.ValidationError(indicators.year_refusal(self.years))
        return year


def _default_year(years: list[int], target_years: list[int]) -> int:
    """The newest year with targets that is not in the future, else last year (being assessed)."""
    this_year = timezone.localdate().year
    past = [y for y in target_years if y <= this_year]
    if past:
        return max(past)
    return this_year - 1 if this_year - 1 in years else years[0]


def _bind_year(request: HttpRequest, years: list[int], target_years: list[int]):
    """The year asked for, or the default year shown as chosen; None when the ask is bad."""
    if request.GET.get("year", "") == "":
        year = _default_year(years, target_years)
        return YearForm(initial={"year": year}, years=years), year
    form = YearForm(request.GET, years=years)
    if not form.is_valid():
        # The box shows no year rather than the first one offered, which is not what was asked.
        form.fields["year"].widget.choices = [("", "—"), *form.fields["year"].widget.choices]
        return form, None
    # A year asked for is in the page's address (keep_year_in_address): the dashboard's filter
    # form sends it along (hx-include), so that a filter change keeps it there.
    form.fields["year"].widget.attrs["data-kept-in-address"] = ""
    return form, form.cleaned_data["year"]


def keep_year_in_address(
    request: HttpRequest, response: HttpResponse, pages: dict[str, dict]
) -> HttpResponse:
    """After a year chosen in a panel, put it in the address of the page showing the panel
    (htmx pushes it), so that reloading, Back and a copied link keep it.

    `pages` maps the names of the pages the panel may be on to their URL arguments; an address
    the browser reports for another page is left alone."""
    year = request.GET.get("year", "")
    if not request.htmx or response.status_code != 200 or year == "":
        return response
    path, _sep, query = (request.htmx.current_url_abs_path or "").partition("?")
    try:
        match = resolve(path)
    except Resolver404:
        return response
    if pages.get(match.url_name) != match.kwargs:
        return response
    address = QueryDict(query, mutable=True)
    if address.get("year") != year:
        address["year"] = year
        push_url(response, f"{path}?{address.urlencode()}")
    return response


def targets_context(request: HttpRequest, partnership: Partnership) -> tuple[dict, int]:
    years = assessment_years(partnership=partnership)
    target_years = indicators.target_years(partnership=partnership)
    form, year = _bind_year(request, years, target_years)
    if year is None:
        return {"partnership": partnership, "year_form": form, "year": year}, 400
    this_year = timezone.localdate().year
    first = partnership.established_year or 0
    strip_years = sorted(y for y in years if first <= y <= this_year)[-RECENT_YEARS:]
    by_year = indicators.pairing_years(partnership=partnership, years={*strip_years, year})
    if request.GET.get("year", "") == "" and not target_years:
        # No agreement entered yet: open on the newest year that has any record at all.
        recorded = [y for y in strip_years if len(by_year[y].missing) < len(by_year[y].rows)]
        if recorded:
            year = max(recorded)
            form = YearForm(initial={"year": year}, years=years)
    context = {"partnership": partnership, "year_form": form, "year": year}
    context.update(
        assessment=by_year[year],
        strip=[by_year[y] for y in strip_years],
        report_url=reverse("pairing_report", args=[partnership.pk, year]),
        report_pdf_url=reverse("pairing_report_pdf", args=[partnership.pk, year]),
        target_exports=export_links(
            request, "targets", filters=None, pairing=partnership.pk, year=year
        ),
    )
    return context, 200


@dashboard_view
@pagecache.versioned
def pairing_targets(request: HttpRequest, pk: int) -> HttpResponse:
    """A pairing's year against its targets: the panel on its page, which htmx loads once
    the page is shown and on each change of year (reused until the data changes, like the
    page), or a page of its own."""
    partnership = get_object_or_404(
        Partnership.objects.select_related("helping_region", "assisted_region"), pk=pk
    )
    _require_in_scope(request, partnership)
    if _full_page(request):  # its own page, or Back to it (htmx restores it whole)
        context, status = targets_context(request, partnership)
        return render(request, "partnerships/targets.html", context, status=status)
    answer = {"status": 200}

    def build() -> dict:
        context, answer["status"] = targets_context(request, partnership)
        return context

    html = pagecache.rendered(
        request,
        "partnerships/_targets.html",
        build,
        scope_paths=access.scope_for(request.user).paths,
        keep=lambda: answer["status"] == 200,
    )
    return keep_year_in_address(
        request,
        HttpResponse(html, status=answer["status"]),
        {"pairing": {"pk": pk}, "pairing_targets": {"pk": pk}},
    )


def ranking_context(request: HttpRequest) -> tuple[dict, int]:
    scope = access.scope_for(request.user)
    years = assessment_years(scope=scope)
    form, year = _bind_year(request, years, indicators.target_years(scope=scope))
    context = {"ranking_form": form, "ranking_year": year}
    if year is None:
        return context, 400
    context["ranking"] = indicators.ranking(year=year, scope=scope)
    context["ranking_exports"] = export_links(request, "ranking", filters=None, year=year)
    return context, 200


@dashboard_view
def ranking(request: HttpRequest) -> HttpResponse:
    """Pairings ranked by the share of their targets met in a year."""
    context, status = ranking_context(request)
    template = "partnerships/ranking.html" if _full_page(request) else "partnerships/_ranking.html"
    return keep_year_in_address(
        request,
        render(request, template, context, status=status),
        {"overview": {}, "ranking": {}},
    )


# --- Printable reports ----------------------------------------------------------------------


def _visit(request: HttpRequest, pk: int) -> Visit:
    visit = get_object_or_404(
        Visit.objects.select_related(
            "leader", "partnership__helping_region", "partnership__assisted_region"
        ).prefetch_related(
            "members",
            f"places__{REGION_ANCESTORS}",
            "activities__place",
        ),
        pk=pk,
    )
    _require_in_scope(request, visit.partnership)
    return visit


def _visit_record(request: HttpRequest, pk: int) -> dict:
    visit = _visit(request, pk)
    return {
        **visit_record_context(visit, access.scope_for(request.user)),
        "printed_on": timezone.localdate(),
        "pdf_url": reverse("visit_record_pdf", args=[visit.pk]),
    }


@dashboard_view
def visit_record(request: HttpRequest, pk: int) -> HttpResponse:
    """活动纪实: a visit on one A4 page, for the browser's print."""
    return render(request, "partnerships/print_visit.html", _visit_record(request, pk))


@dashboard_view
def visit_record_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    context = _visit_record(request, pk)
    visit = context["visit"]
    return pdf.response(
        request,
        "partnerships/print_visit.html",
        {**context, "as_pdf": True},
        filename=_("visit-record-%(pairing)s-%(date)s.pdf")
        % {"pairing": visit.partnership, "date": visit.start_date.isoformat()},
    )


class YearNotOffered(Exception):
    """A report asked for a year the targets panel does not offer (assessment_years)."""


def _report(request: HttpRequest, pk: int, year: int, respond) -> HttpResponse:
    """`respond(context)` with the pairing's report of `year`, or a page saying which years
    there are: not a 404, which would suggest the pairing is out of reach."""
    try:
        context = _pairing_report(request, pk, year)
    except YearNotOffered as refused:
        partnership, years = refused.args
        context = {
            "partnership": partnership,
            "year": year,
            "refusal": indicators.year_refusal(years),
        }
        return render(request, "partnerships/report_year.html", context, status=400)
    return respond(context)


def _pairing_report(request: HttpRequest, pk: int, year: int) -> dict:
    partnership = get_object_or_404(
        Partnership.objects.select_related(
            f"helping_region__{REGION_ANCESTORS}", f"assisted_region__{REGION_ANCESTORS}"
        ),
        pk=pk,
    )
    _require_in_scope(request, partnership)
    years = assessment_years(partnership=partnership)
    if year not in years:
        raise YearNotOffered(partnership, years)
    filters = reports.Filters(year_from=year, year_to=year, scope=access.scope_for(request.user))
    history = reports.Filters(scope=access.scope_for(request.user))
    assessment = indicators.pairing_years(partnership=partnership, years=[year])[year]
    table = shown_villages(filters=filters, partnership=partnership, printed=True)
    yearly = reports.yearly_totals(filters=history, partnership=partnership)
    # Each year up to the report's, one without donations at 0 (the village table's download
    # reads 0.00 there): only the years with some, 2024 stood beside 2026.
    known = [y for y in yearly if y <= year]
    years = list(range(max(min(known), year - RECENT_YEARS + 1), year + 1)) if known else []
    # The villages with the most aid, as on the pairing's page (charts.places_by_year): no bar
    # for a share all unknown (the table says 不详), nor for what was not itemised.
    bars = [(row.label, row.total) for row in table.rows[:15] if row.total]
    subtree = {"partnership__path__startswith": partnership.path}
    # The projects under way that year, as the "aid projects" indicator counts them.
    projects = list(
        AidProject.objects.filter(
            pk__in=indicators.projects_under_way(partnership=partnership, year=year)
        )
        .select_related("region")
        .prefetch_related("funds", "inspections__visit")
        .order_by("name")
    )
    for project in projects:
        project.year_funds = next((f for f in project.funds.all() if f.year == year), None)
    return {
        "partnership": partnership,
        "year": year,
        "assessment": assessment,
        "table": table,
        "village_chart": svg.horizontal_bars(
            bars, unit=_("10,000 yuan"), title=_("Aid per village, %(year)s") % {"year": year}
        ),
        "yearly_chart": svg.vertical_bars(
            [(str(y), yearly.get(y, reports.ZERO)) for y in years],
            unit=_("10,000 yuan"),
            title=_("Aid per year"),
        ),
        "visits": Visit.objects.filter(start_date__year=year, **subtree)
        .select_related("leader", "partnership__helping_region", "partnership__assisted_region")
        .order_by("start_date", "pk"),
        # Every meeting of the year, those of no visit listed above too (a child pairing's
        # during the parent's visit, as the pairing's page lists it), in the order they were
        # held: one whose day was not reported where its visit began, not after every dated
        # one of the year.
        "meetings": Meeting.objects.filter(year=year, **subtree)
        .select_related("visit")
        .order_by(Coalesce("date", "visit__start_date"), F("date").asc(nulls_last=True), "pk"),
        "postings": Posting.objects.filter(Posting.in_year_q(year), **subtree)
        .select_related(
            "person", "host_region", "sending_organisation", "host_organisation", "known_during"
        )
        .order_by(Posting.kind_order(), "pk"),
        "projects": projects,
        "printed_on": timezone.localdate(),
        "pdf_url": reverse("pairing_report_pdf", args=[partnership.pk, year]),
    }


@dashboard_view
def pairing_report(request: HttpRequest, pk: int, year: int) -> HttpResponse:
    """A pairing's annual report: indicators against targets, aid per village, visits, people,
    projects; A4 for the browser's print."""
    return _report(
        request,
        pk,
        year,
        lambda context: render(request, "partnerships/print_pairing.html", context),
    )


@dashboard_view
def pairing_report_pdf(request: HttpRequest, pk: int, year: int) -> HttpResponse:
    return _report(
        request,
        pk,
        year,
        lambda context: pdf.response(
            request,
            "partnerships/print_pairing.html",
            {**context, "as_pdf": True},
            filename=_("pairing-report-%(pairing)s-%(year)d.pdf")
            % {"pairing": context["partnership"], "year": year},
        ),
    )
