"""The officials' dashboard: one full page per URL; htmx requests get the page's panel only."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache, partial, wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import UpdateError
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, Value
from django.db.models.functions import StrIndex, Substr
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from . import (
    access,
    assessment_exports,
    charts,
    exports,
    indicators,
    pagecache,
    punctuation,
    reports,
    search,
)
from .forms import DashboardFilterForm, ExportForm, OverviewFilterForm, SearchForm
from .middleware import RENEWED_AT
from .models import (
    FIRST_YEAR,
    REGION_ANCESTORS,
    Donation,
    DonationKind,
    Funding,
    Inspection,
    Meeting,
    MeetingParticipant,
    Organisation,
    Partnership,
    Person,
    Posting,
    Region,
    Visit,
    last_year,
)
from .paging import KeysFirstPaginator

PAGE_SIZE = 50
# A pairing's page and annual report list its villages with the most aid, this many; the rest
# are summed in one row (a province pairing has thousands), and listed in the download.
VILLAGES_SHOWN = 100
# The overview lists whole levels of pairings up to about this many rows (reports.pairing_totals).
OVERVIEW_PAIRING_ROWS = 100


def dashboard_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET or HEAD only, sign-in required unless DASHBOARD_PUBLIC, cached apart for htmx
    requests."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.DASHBOARD_PUBLIC and not request.user.is_authenticated:
            if request.htmx:
                # A swapped-in login form would be useless; send the whole window there, and
                # back after signing in to what was asked for: the page's own address with the
                # filters just chosen (the window still shows the address from before), or for
                # a panel loaded into it, the page.
                back = request.htmx.current_url_abs_path or "/"
                if urlsplit(back).path == request.path:
                    kept = filled(request.GET)
                    back = f"{request.path}?{kept.urlencode()}" if kept else request.path
                login = redirect_to_login(back)
                return HttpResponseClientRedirect(login["Location"])
            return redirect_to_login(_back_after_sign_in(request))
        _speak_the_pages_language(request)
        kept = filled(request.GET)
        if not request.htmx and len(kept) < len(request.GET):
            # A form sent without JavaScript names every filter, chosen or not: the address
            # (bookmarked, shared, and the base of the page's own links) keeps only the chosen.
            return redirect(f"{request.path}?{kept.urlencode()}" if kept else request.path)
        return view(request, *args, **kwargs)

    # GET and HEAD (an uptime monitor's check was answered 405)
    return require_safe(vary_on_headers("HX-Request", PAGE_LANGUAGE_HEADER)(wrapper))


def _back_after_sign_in(request: HttpRequest) -> str:
    """Where signing in leads: what was asked for, or for a download, the page its link was
    on. Sent to the file, the browser saved it and stayed on the sign-in form, its name and
    password filled in, as if nothing had happened (a phone shows no download bar)."""
    asked = request.get_full_path()
    match = request.resolver_match
    if match is None or match.url_name != "export":
        return asked
    referer = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return asked
    page = urlsplit(referer)
    if page.netloc != request.get_host():
        return asked  # a path alone, or another site's address
    return f"{page.path}?{page.query}" if page.query else page.path


# Sent by dashboard.js with each htmx request: the language of the page it lands in.
PAGE_LANGUAGE_HEADER = "X-Page-Language"


def _speak_the_pages_language(request: HttpRequest) -> None:
    """A part of a page (a filter's panel, the targets) in the page's language, not in the
    language last chosen, perhaps in another tab since: an English page got a Chinese panel
    under its English header. A whole page, or a history restore, follows the choice."""
    if not request.htmx or request.htmx.history_restore_request:
        return
    wanted = request.headers.get(PAGE_LANGUAGE_HEADER, "").lower()
    if wanted in dict(settings.LANGUAGES) and wanted != translation.get_language():
        translation.activate(wanted)
        request.LANGUAGE_CODE = wanted


def _restorable(request: HttpRequest, status: int) -> int:
    """The status of a page sent back to htmx restoring an address from the browser's
    history (Back, Forward): htmx shows only a 2xx answer there, and dropped a page of
    filters refused (400), leaving the address and the page out of step. It is shown, the
    filters refused said on it, as a 200."""
    if status == 400 and request.htmx and request.htmx.history_restore_request:
        return 200
    return status


def render_page(
    request: HttpRequest, template: str, context: dict, *, status: int = 200
) -> HttpResponse:
    """The whole page, or for htmx (not a history restore) only its `panel` partial."""
    if request.htmx and not request.htmx.history_restore_request:
        template = f"{template}#panel"
    context.setdefault("shared_query", shared_query(request))
    context.setdefault("locked_years", access.locked_years())
    return render(request, template, context, status=_restorable(request, status))


def render_cached_page(
    request: HttpRequest,
    template: str,
    context: dict,
    build: Callable[[], dict] | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    """A page whose `content` partial holds everything in <main>: the whole page, or for
    htmx (not a history restore) only its `panel` partial.

    `context` is what the page needs around its content (its title); `build()` adds the
    figures. The rendered content or panel is reused until the data changes (pagecache.py);
    an error page (status other than 200) is rendered afresh.
    """
    part = "panel" if request.htmx and not request.htmx.history_restore_request else "content"

    def full_context() -> dict:
        full = {**context, **(build() if build else {})}
        full.setdefault("shared_query", shared_query(request))
        full.setdefault("locked_years", access.locked_years())
        # The panel sent alone carries the page's heading out of band (its links keep the
        # filters): the breadcrumbs and the sides above the form kept the filters before.
        full["panel_alone"] = part == "panel"
        return full

    if status == 200:
        html = pagecache.rendered(
            request,
            f"{template}#{part}",
            full_context,
            scope_paths=access.scope_for(request.user).paths,
        )
    else:
        html = render_to_string(f"{template}#{part}", full_context(), request)
    if part == "panel":
        return HttpResponse(html, status=status)
    return render(
        request, template, {**context, "content_html": html}, status=_restorable(request, status)
    )


def _full_page(request: HttpRequest) -> bool:
    """Whether the whole page is sent, not just the panel a filter change swaps."""
    return not request.htmx or request.htmx.history_restore_request


def _bind_filters(request: HttpRequest, form_class=DashboardFilterForm):
    form = form_class(request.GET)
    low, high = reports.data_years(access.scope_for(request.user))
    this_year = timezone.localdate().year
    # A year asked for in the address (a bookmark, a link) is offered too, so the filter shows
    # it as chosen instead of "earliest" or "latest"; the form still refuses one out of bounds.
    asked = [
        year
        for name in ("year_from", "year_to")
        if (year := _year_in(form, name)) is not None and FIRST_YEAR <= year <= last_year()
    ]
    bounds = [low or this_year, high or this_year, this_year, *asked]
    years = list(range(min(bounds), max(bounds) + 1))
    form.fields["year_from"].widget.choices = [("", _("Earliest")), *((y, y) for y in years)]
    form.fields["year_to"].widget.choices = [("", _("Latest")), *((y, y) for y in years)]
    if "helping_province" in form.fields:
        _offer_visible_provinces(form, access.scope_for(request.user))
    if not form.is_valid():
        return form, None
    # A year written otherwise than its options are ("2023.0", "+2023", "２０２３") is read, and
    # shown chosen: left as written, no option matched it, the filter showed "earliest", and
    # the next change of any filter sent that instead.
    data = form.data.copy()
    for name in ("year_from", "year_to"):
        if form.cleaned_data.get(name) is not None:
            data[name] = str(form.cleaned_data[name])
    form.data = data
    scope = access.scope_for(request.user)
    filters = reports.Filters.from_cleaned_data(form.cleaned_data, scope=scope)
    return form, _within_recorded_years(filters, (low, high))


def _year_in(form, name: str) -> int | None:
    """The year the address gives for the field `name`, read as the form reads it; None if
    it gives none or no number."""
    try:
        return form.fields[name].to_python(form.data.get(name, ""))
    except ValidationError:
        return None


def _within_recorded_years(
    filters: reports.Filters, recorded: tuple[int | None, int | None]
) -> reports.Filters:
    """Years before the programme's first record, or after this year and its last, hold
    nothing anywhere: a table (on a page or in its download) asked for from 2000 does not
    list 23 columns of 0.00. `recorded` is reports.data_years()."""
    this_year = timezone.localdate().year
    first, last = recorded[0] or this_year, max(recorded[1] or this_year, this_year)
    if filters.year_from and filters.year_from < first:
        filters = replace(filters, year_from=first)
    if filters.year_to and filters.year_to > last:
        filters = replace(filters, year_to=last)
    return filters


def _require_organisation_in_scope(request: HttpRequest, organisation: Organisation) -> None:
    scope = access.scope_for(request.user)
    visible = Organisation.objects.filter(access.organisation_q(scope), pk=organisation.pk)
    if not scope.everything and not visible.exists():
        access.refused(request, f"organisation {organisation.pk}")
        raise Http404


def _offer_visible_provinces(form, scope: access.Scope) -> None:
    """Province choices: those where a pairing the user may see has its helping/assisted side.

    Worked out only if the form needs them (forms.ProvinceField): a page whose content is
    reused does not.
    """

    def province_path(path: str) -> Substr:
        """A region path's first step, its province's path: "/12/345/" → "/12/"."""
        return Substr(path, 1, StrIndex(Substr(path, 2), Value("/")) + 1)

    @cache
    def provinces() -> dict[str, set[int]]:
        # The distinct pairs of province paths, not every pairing's: a few dozen rows.
        sides = (
            Partnership.objects.filter(scope.q(""))
            .order_by()
            .values_list(
                province_path("helping_region__path"), province_path("assisted_region__path")
            )
            .distinct()
        )
        helping, assisted = set(), set()
        for helping_path, assisted_path in sides:
            helping.add(int(helping_path.strip("/")))
            assisted.add(int(assisted_path.strip("/")))
        return {"helping": helping, "assisted": assisted}

    for side in ("helping", "assisted"):
        form.fields[f"{side}_province"].offered = lambda side=side: provinces()[side]


def _require_in_scope(request: HttpRequest, partnership: Partnership) -> None:
    """A pairing outside the user's scope does not exist for them: 404, and a log line."""
    if not access.scope_for(request.user).allows(partnership):
        access.refused(request, f"pairing {partnership.pk}")
        raise Http404


def filled(query: QueryDict) -> QueryDict:
    """`query` without its empty values (a mutable copy): an empty filter is no filter."""
    kept = QueryDict(mutable=True)
    for name, values in query.lists():
        if values := [value for value in values if value != ""]:
            kept.setlist(name, values)
    return kept


def _query_of(request: HttpRequest, form_class) -> QueryDict:
    """The request's chosen GET parameters that `form_class` understands (a mutable copy)."""
    query = filled(request.GET)
    for name in list(query):
        if name not in form_class.base_fields:
            del query[name]
    return query


def shared_query(request: HttpRequest) -> str:
    """The filters every dashboard page understands, as "?…", for links between pages."""
    query = _query_of(request, DashboardFilterForm)
    return f"?{query.urlencode()}" if query else ""


def export_links(
    request: HttpRequest, summary: str, *, filters: type[DashboardFilterForm] | None, **scope: int
) -> list[tuple[str, str]]:
    """Download links for a panel: its summary, with the page's filters and its subject.

    Only the filters come from the page's address, and only those the page applies
    (`filters`, its form, named by every caller; None for a page without filters, a
    visit's): a province typed into a pairing's address, which its page ignores, emptied
    its downloads. What the download is about comes from `scope` alone (a page's own `year`
    or `pairing` parameter is not the download's)."""
    query = _query_of(request, filters) if filters is not None else QueryDict(mutable=True)
    for name, pk in scope.items():
        query[name] = str(pk)
    suffix = f"?{query.urlencode()}" if query else ""
    return [
        (fmt.upper(), reverse("export", args=[summary, fmt]) + suffix) for fmt in exports.FORMATS
    ]


def _bad_filters(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    return render_cached_page(request, template, {**context, "filters": None}, status=400)


@dashboard_view
@pagecache.versioned
def overview(request: HttpRequest) -> HttpResponse:
    form, filters = _bind_filters(request, OverviewFilterForm)
    context = {"form": form}
    if filters is None:
        return _bad_filters(request, "partnerships/overview.html", context)

    def build() -> dict:
        pairings = reports.pairing_totals(filters=filters, max_rows=OVERVIEW_PAIRING_ROWS)
        per_kind, per_funding = reports.kind_and_funding_totals(filters=filters)
        headline = reports.headline(filters=filters, by_kind_and_year=per_kind)
        year_totals = reports.totals_by_year(per_kind)
        years = reports.year_span(filters=filters, data_years=reports.years_covered(year_totals))
        figures = dict(
            filters=filters,
            headline=headline,
            kind_totals=[
                (DonationKind(kind).label, amount) for kind, amount in headline.by_kind.items()
            ],
            funding_totals=[
                (Funding(funding).label, amount) for funding, amount in per_funding.items()
            ],
            unstated_funding=per_funding.get(Funding.UNSPLIT),
            years=years,
            year_rows=[
                {
                    "year": year,
                    "by_kind": [
                        per_kind[kind].get(year, reports.ZERO) for kind in DonationKind.values
                    ],
                    "total": year_totals.get(year, reports.ZERO),
                }
                for year in years
            ],
            chart=charts.yearly_by_kind(years=years, per_kind=per_kind),
            reach_url=reverse("overview_reach") + _overview_query(request),
            pairings=pairings,
            pairings_not_listed=sum(row.not_listed_below for row in pairings),
            yearly_exports=export_links(request, "yearly", filters=OverviewFilterForm),
            pairing_exports=export_links(request, "pairings", filters=OverviewFilterForm),
            ledger_exports=export_links(request, "ledger", filters=OverviewFilterForm),
            visit_exports=export_links(request, "visits", filters=OverviewFilterForm),
        )
        if _full_page(request):
            from .assessment import ranking_context

            figures.update(ranking_context(request)[0])
        return figures

    return render_cached_page(request, "partnerships/overview.html", context, build)


def _overview_query(request: HttpRequest) -> str:
    """The overview's filters, as "?…" (or nothing), for the pages and panels that follow them."""
    query = _query_of(request, OverviewFilterForm)
    return f"?{query.urlencode()}" if query else ""


@dashboard_view
@pagecache.versioned
def overview_reach(request: HttpRequest) -> HttpResponse:
    """How many villages and donors the overview's selection reached.

    htmx loads this panel into the overview's headline once the page is shown: the two counts
    take an index probe per village or organisation (reports.reach), which the page does not
    wait for. Without JavaScript the overview links here, and it is a page of its own.
    """
    form, filters = _bind_filters(request, OverviewFilterForm)
    if filters is None:
        return HttpResponseBadRequest(
            _("These filters could not be applied:")
            + ("" if punctuation.chinese() else " ")
            + form.error_text(),
            content_type="text/plain; charset=utf-8",
        )
    context = {"overview_url": reverse("overview") + _overview_query(request)}
    return render_cached_page(
        request,
        "partnerships/reach.html",
        context,
        lambda: {"reach": reports.reach(filters=filters), "filters": filters},
    )


def shown_villages(
    *, filters: reports.Filters, partnership: Partnership, printed: bool = False
) -> reports.YearTable:
    """A pairing's village table as a page shows it: the VILLAGES_SHOWN largest rows and the
    others in one row. A province's thousands of villages would make a page nobody reads; the
    download lists them all."""

    def label(count: int) -> str:
        if printed:  # no link on paper: say where the download is
            text = ngettext(
                "%(count)s other village (see the village download on the pairing's page)",
                "%(count)s other villages (see the village download on the pairing's page)",
                count,
            )
        else:
            text = ngettext(
                "%(count)s other village (all are in the download)",
                "%(count)s other villages (all are in the download)",
                count,
            )
        return text % {"count": f"{count:,}"}

    return reports.village_year_table(
        filters=filters,
        partnership=partnership,
        shortening=reports.Shortening(
            VILLAGES_SHOWN,
            label=label,
            unknown_note=_(
                "Some of these villages are named in handovers that do not say how much each "
                "received"
            ),
        ),
    )


def _ancestors(partnership: Partnership) -> list[Partnership]:
    """The pairings above `partnership`, the top first, with their sides: one query at most
    (none above a city pairing, whose parent comes with it), where walking up the parents
    took three for a county pairing and six for a town's."""
    ids = [int(pk) for pk in partnership.path.strip("/").split("/")[:-1]]
    if len(ids) <= 1:
        return [partnership.parent] if partnership.parent else []
    found = Partnership.objects.select_related("helping_region", "assisted_region").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]  # one deleted meanwhile is left out


@dashboard_view
@pagecache.versioned
def pairing_detail(request: HttpRequest, pk: int) -> HttpResponse:
    partnership = get_object_or_404(
        Partnership.objects.select_related(
            f"helping_region__{REGION_ANCESTORS}",
            f"assisted_region__{REGION_ANCESTORS}",
            "parent__helping_region",
            "parent__assisted_region",
        ),
        pk=pk,
    )
    _require_in_scope(request, partnership)
    scope = access.scope_for(request.user)
    form, filters = _bind_filters(request)
    targets_url = reverse("pairing_targets", args=[partnership.pk])
    if request.GET.get("year"):
        targets_url += "?" + QueryDict.fromkeys(["year"], request.GET["year"]).urlencode()
    context = {"form": form, "partnership": partnership, "targets_url": targets_url}

    def build() -> dict:
        figures = {
            "visible_ancestors": [p for p in _ancestors(partnership) if scope.allows(p)],
        }
        if filters is None:
            return figures
        table = shown_villages(filters=filters, partnership=partnership)
        links = partial(export_links, request, filters=DashboardFilterForm, pairing=partnership.pk)
        figures.update(
            filters=filters,
            table=table,
            chart=charts.places_by_year(table=table),
            timeline=reports.timeline(filters=filters, partnership=partnership),
            donors=reports.top_donors(filters=filters, partnership=partnership),
            children=reports.pairing_totals(filters=filters, within=partnership, max_depth=1),
            village_exports=links("villages"),
            child_exports=links("pairings"),
            donor_exports=links("donors"),
            visit_exports=links("visits"),
            ledger_exports=links("ledger"),
        )
        return figures

    if filters is None:
        return render_cached_page(
            request, "partnerships/pairing.html", {**context, "filters": None}, build, status=400
        )
    return render_cached_page(request, "partnerships/pairing.html", context, build)


@dashboard_view
@pagecache.versioned
def region_detail(request: HttpRequest, pk: int) -> HttpResponse:
    region = get_object_or_404(Region.objects.select_related(REGION_ANCESTORS), pk=pk)
    form, filters = _bind_filters(request)
    context = {"form": form, "region": region}
    if filters is None:
        return _bad_filters(request, "partnerships/region.html", context)

    def build() -> dict:
        table = reports.region_year_table(filters=filters, region=region)
        year_totals = dict(zip(table.years, table.column_totals, strict=True))
        per_year = reports.handovers_to_region_per_year(filters=filters, region=region)
        handovers = reports.donations_to_region(
            filters=filters,
            region=region,
            handovers=None if per_year is None else sum(per_year.values()),
        )
        page = KeysFirstPaginator(
            reports.donation_list(handovers), PAGE_SIZE, rows_per_year=per_year
        ).get_page(request.GET.get("page"))
        # The pairings this region is a side of: a helping town's page links to what it gave.
        sides = Q(helping_region=region) | Q(assisted_region=region)
        pairings = list(
            Partnership.objects.filter(sides, access.scope_for(request.user).q())
            .select_related("helping_region", "assisted_region")
            .order_by("path")
        )
        links = partial(export_links, request, filters=DashboardFilterForm, region=region.pk)
        return dict(
            filters=filters,
            table=table,
            pairings=pairings,
            helps=any(pairing.helping_region_id == region.pk for pairing in pairings),
            show_breakdown=region.level < Region.Level.VILLAGE,
            chart=charts.yearly(
                years=table.years,
                totals=year_totals,
                label=region.name,
                unknown=table.unknown_shares,
            ),
            page=page,
            place_exports=links("places"),
            ledger_exports=links("ledger"),
        )

    return render_cached_page(request, "partnerships/region.html", context, build)


@dashboard_view
@pagecache.versioned
def donor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = get_object_or_404(
        Organisation.objects.select_related(f"region__{REGION_ANCESTORS}"), pk=pk
    )
    _require_organisation_in_scope(request, organisation)
    form, filters = _bind_filters(request)
    context = {"form": form, "organisation": organisation}
    if filters is None:
        return _bad_filters(request, "partnerships/donor.html", context)

    def build() -> dict:
        yearly = reports.donor_yearly(filters=filters, organisation=organisation)
        page = KeysFirstPaginator(
            reports.donation_list(
                reports.donations_by_donor(filters=filters, organisation=organisation)
            ),
            PAGE_SIZE,
        ).get_page(request.GET.get("page"))
        # An organisation may also be a recipient (a county's Red Cross, a school): its page
        # linked from a handover's recipients said it had no donations.
        received_page = KeysFirstPaginator(
            reports.donation_list(
                reports.donations_to_organisation(filters=filters, organisation=organisation)
            ),
            PAGE_SIZE,
        ).get_page(request.GET.get("received_page"))
        reports.credit_sole_recipient(received_page.object_list, organisation)
        links = partial(export_links, request, filters=DashboardFilterForm, donor=organisation.pk)
        return dict(
            filters=filters,
            yearly=yearly,
            chart=charts.donor_by_year(rows=yearly["years"]),
            page=page,
            received_page=received_page,
            donor_exports=links("donors"),
            ledger_exports=links("ledger"),
        )

    return render_cached_page(request, "partnerships/donor.html", context, build)


@dashboard_view
def search_results(request: HttpRequest) -> HttpResponse:
    """Places, pairings and donors by name: a page of its own, and for htmx (the header's
    search box, as one types) only its list of results.

    Not reused through pagecache: a few small queries, and each text typed is a new key.
    An empty query finds nothing and is no error; one too long is refused with a message.
    """
    form = SearchForm(request.GET)
    results, status = None, 200
    if not form.is_valid():
        status = 400
    elif text := form.cleaned_data["q"]:
        results = search.find(text, scope=access.scope_for(request.user))
    context = {
        "form": form,
        "results": results,
        "limit": search.LIMIT,
        # shown back in the header's box, no longer than it takes (a NUL never gets here:
        # middleware.py refuses it in any address)
        "search_query": request.GET.get("q", "")[: search.MAX_LENGTH],
    }
    template = "partnerships/search.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#results"
    return render(request, template, context, status=status)


@dashboard_view
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(
        Visit.objects.select_related(
            "leader", "partnership__helping_region", "partnership__assisted_region"
        ).prefetch_related(
            "members",
            "places__parent__parent__parent__parent",
            "activities__place",
        ),
        pk=pk,
    )
    _require_in_scope(request, visit.partnership)
    context = {
        **visit_record_context(visit, access.scope_for(request.user)),
        "ledger_exports": export_links(request, "ledger", filters=None, visit=visit.pk),
        "visit_exports": export_links(request, "visits", filters=None, visit=visit.pk),
        "record_url": reverse("visit_record", args=[visit.pk]),
        "record_pdf_url": reverse("visit_record_pdf", args=[visit.pk]),
    }
    return render_page(request, "partnerships/visit.html", context)


@dataclass
class MeetingPerson:
    """One person at a meeting with every role they had: the chair who also spoke is listed
    once, "王颖 — 主持人、讲话：主持会议并讲话", not once per role."""

    person: Person
    roles: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    @property
    def roles_text(self) -> str:
        return punctuation.joined(self.roles)

    @property
    def remarks_text(self) -> str:
        return punctuation.punct("；").join(self.remarks)


def people_of(participants) -> list[MeetingPerson]:
    """Participants (in the order entered, the report's) grouped by person, in order of their
    first entry."""
    people: dict[int, MeetingPerson] = {}
    for participant in participants:
        entry = people.setdefault(participant.person_id, MeetingPerson(participant.person))
        entry.roles.append(participant.get_role_display())
        if participant.remarks and participant.remarks not in entry.remarks:
            entry.remarks.append(participant.remarks)
    return list(people.values())


def visit_record_context(visit: Visit, scope: access.Scope) -> dict:
    """A visit's meetings (participants in the order entered, the report's), handovers,
    projects inspected and people sent it called on, for its pages."""
    participants = Prefetch(
        "participants",
        queryset=MeetingParticipant.objects.select_related("person").order_by("pk"),
    )
    meetings = list(
        Meeting.objects.filter(visit=visit)
        .select_related("partnership__helping_region", "partnership__assisted_region")
        .prefetch_related(participants)
        .order_by(*Meeting.IN_VISIT_ORDER)
    )
    for meeting in meetings:
        meeting.people = people_of(meeting.participants.all())
    donations = reports.donation_list(
        visit.donations.select_related("region").order_by(*Donation.IN_VISIT_ORDER)
    ).prefetch_related("lines__region", "lines__recipient_organisation", "lines__donor")
    return {
        "visit": visit,
        "meetings": meetings,
        "donations": donations,
        # a visit may inspect another pairing's project, which a scoped official may not see
        "inspections": Inspection.objects.filter(visit=visit)
        .filter(scope.q("project__partnership__"))
        .select_related("project__region", "project__partnership"),
        "postings": Posting.objects.filter(known_during=visit)
        .filter(scope.q("partnership__"))
        .select_related("person", "host_region", "sending_organisation", "host_organisation")
        .order_by(Posting.kind_order(), "pk"),
    }


def _summary(name: str, filters: reports.Filters, scope: dict) -> exports.Summary | str:
    """The summary asked for, or why it cannot be made."""
    pairing, region, donor, visit = (scope.get(k) for k in ("pairing", "region", "donor", "visit"))
    if name in ("targets", "ranking"):
        year = scope.get("year")
        if year is None:
            return _("Choose the year to export.")
        if name == "targets" and pairing is None:
            return _("Choose the pairing whose targets to export.")
        # The years the targets panel and the ranking offer, and no others.
        years = indicators.assessment_years(partnership=pairing, scope=filters.scope)
        if year not in years:
            return indicators.year_refusal(years)
        if name == "ranking":
            return assessment_exports.ranking(year=year, scope=filters.scope)
        return assessment_exports.targets(partnership=pairing, year=year)
    if name == "yearly":
        return exports.yearly(filters=filters)
    if name == "pairings":
        return exports.pairings(filters=filters, within=pairing)
    if name == "villages":
        if pairing is None:
            return _("Choose the pairing whose villages to export.")
        return exports.villages(filters=filters, partnership=pairing)
    if name == "places":
        if region is None:
            return _("Choose the region whose places to export.")
        return exports.places(filters=filters, region=region)
    if name == "donors":
        return exports.donors(
            filters=filters, partnership=pairing, organisation=donor, region=region
        )
    if name == "ledger":
        return exports.ledger(
            filters=filters, partnership=pairing, region=region, organisation=donor, visit=visit
        )
    return exports.visits(
        filters=filters,
        partnership=pairing,
        visit_ids=[visit.pk] if visit else None,
        scope=str(visit or ""),
    )


# Each summary and what it can be narrowed to besides the filters: a download asked for with
# anything else is refused rather than silently made without it.
SUMMARY_SCOPES = {
    "yearly": (),
    "pairings": ("pairing",),
    "villages": ("pairing",),
    "places": ("region",),
    "donors": ("pairing", "region", "donor"),
    "ledger": ("pairing", "region", "donor", "visit"),
    "visits": ("pairing", "visit"),
    "targets": ("pairing", "year"),
    "ranking": ("year",),
}
SUMMARY_NAMES = tuple(SUMMARY_SCOPES)
# The assessment's downloads are of one year's targets and results: the dashboard's filters,
# which pages pass along, do not narrow them, and their file names do not name them.
UNFILTERED_SUMMARIES = ("targets", "ranking")


def _require_subjects_in_scope(request: HttpRequest) -> None:
    """A download's pairing, visit or donor that names nothing answers as one outside the
    user's pairings does, 404 (as their pages do), before anything else is checked: a 400
    for the one and a 404 for the other, or any answer that differed by which of the two an
    id was, let an official count other pairings' ids through downloads. An id is read as the
    form reads it (" 6", "+6", "６"): read as digits only, those reached the form, which
    answered 400 for a missing id and 404, later, for one outside the scope. A region that
    names nothing is not found either, as its page."""
    subjects = (
        ("pairing", Partnership),
        ("visit", Visit),
        ("donor", Organisation),
        ("region", Region),  # every region's page is open: only a 404 as its page answers
    )
    for name, model in subjects:
        number = request.GET.get(name, "")
        try:  # as the form reads it: int() takes " 6", "+6" and "６" too
            pk = model._meta.pk.to_python(number) if number else None
        except ValidationError:
            continue  # garbage, which the form refuses in words
        if pk is None or not 0 < pk < 2**63:
            continue  # no id, or none a record can have: the form refuses it in words
        found = model.objects.filter(pk=pk).first()
        if found is None:
            raise Http404
        if isinstance(found, Organisation):
            _require_organisation_in_scope(request, found)
        elif not isinstance(found, Region):
            _require_in_scope(request, found if name == "pairing" else found.partnership)


@dashboard_view
def export(request: HttpRequest, summary: str, fmt: str) -> HttpResponse:
    if summary not in SUMMARY_NAMES or fmt not in exports.FORMATS:
        return HttpResponseBadRequest(
            _("There is no such export."), content_type="text/plain; charset=utf-8"
        )
    _require_subjects_in_scope(request)
    form = ExportForm(request.GET)
    # The provinces the overview offers, as it refuses another (a province that only
    # receives, as the helping one: a 400 on the page, an empty download here).
    _offer_visible_provinces(form, access.scope_for(request.user))
    if summary in ("targets", "ranking") and not form.is_valid() and set(form.errors) == {"year"}:
        # A year that is no number ("abc") is refused as the panel refuses it, naming the
        # years offered, not as "Year: enter a whole number".
        years = indicators.assessment_years(
            partnership=form.cleaned_data.get("pairing"), scope=access.scope_for(request.user)
        )
        return HttpResponseBadRequest(
            indicators.year_refusal(years), content_type="text/plain; charset=utf-8"
        )
    if not form.is_valid():
        return HttpResponseBadRequest(
            _("These filters could not be applied:")
            + ("" if punctuation.chinese() else " ")
            + form.error_text(),
            content_type="text/plain; charset=utf-8",
        )
    for name in ("pairing", "region", "donor", "visit", "year"):
        if form.cleaned_data.get(name) is not None and name not in SUMMARY_SCOPES[summary]:
            return HttpResponseBadRequest(
                _("This download cannot be narrowed by “%(field)s”.")
                % {"field": ExportForm.base_fields[name].label},
                content_type="text/plain; charset=utf-8",
            )
    visit, pairing = form.cleaned_data.get("visit"), form.cleaned_data.get("pairing")
    if visit and pairing and not visit.partnership.path.startswith(pairing.path):
        # a visit of another pairing: the file was made, empty, as if nothing were found
        return HttpResponseBadRequest(
            _(
                "%(visit)s is not a visit of %(pairing)s or of a pairing under it: "
                "download the one or the other."
            )
            % {"visit": visit, "pairing": pairing},
            content_type="text/plain; charset=utf-8",
        )
    scope = access.scope_for(request.user)
    asked = reports.Filters.from_cleaned_data(form.cleaned_data, scope=scope)
    filters = _within_recorded_years(asked, reports.data_years(scope))
    subject = form.cleaned_data.get("pairing") or (
        form.cleaned_data["visit"].partnership if form.cleaned_data.get("visit") else None
    )
    if subject is not None:
        _require_in_scope(request, subject)
    if form.cleaned_data.get("donor") is not None:
        _require_organisation_in_scope(request, form.cleaned_data["donor"])
    result = _summary(summary, filters, form.cleaned_data)
    if isinstance(result, str):
        return HttpResponseBadRequest(result, content_type="text/plain; charset=utf-8")
    if summary not in UNFILTERED_SUMMARIES:
        # The file is named by the years asked for, as the page's filters show them; visits
        # and meetings by those of the filters that narrow them.
        result.filter_words = asked.words(of_donations=summary != "visits")
    if fmt == "xlsx" and (rows := exports.xlsx_too_large(result)) is not None:
        csv_url = reverse("export", args=[summary, "csv"])
        query = filled(request.GET).urlencode()
        context = {
            "rows": rows,
            "limit": exports.XLSX_MAX_ROWS,
            "csv_url": f"{csv_url}?{query}" if query else csv_url,
        }
        return render(request, "partnerships/xlsx_too_large.html", context, status=400)
    return exports.FORMATS[fmt](result)


@require_safe
@never_cache
def session_alive(request: HttpRequest) -> JsonResponse:
    """For the admin's pages (static/js/admin-session.js): whether the user is still signed
    in, and how long the session lasts without use. Asking does not restart its idle clock,
    or a page left open would keep an idle session signed in for ever; `?renew=1`, sent as
    the user types (which sends no request of its own), restarts it, as any page does."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False})
    now = int(time.time())
    request.keeps_idle_clock = True  # middleware.SessionRenewalMiddleware: renewed here or not
    if request.GET.get("renew") == "1":
        request.session[RENEWED_AT] = now
        try:
            request.session.save()
        except UpdateError:
            # Signed out meanwhile (in another tab): saved on the way out, as the session
            # middleware would, it was a 400 ("session deleted before the request completed").
            return JsonResponse({"signed_in": False})
        finally:
            request.session.modified = False  # saved here, or gone
    renewed = request.session.get(RENEWED_AT, now)
    # Who: a form opened by one user must not be sent under another's sign-in (a shared
    # office computer), which would save it, and record it in the audit trail, as theirs.
    return JsonResponse(
        {
            "signed_in": True,
            "user": request.user.pk,
            "seconds_left": max(0, renewed + settings.SESSION_COOKIE_AGE - now),
        }
    )
