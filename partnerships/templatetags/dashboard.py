"""Money formatting for templates: 万元 on screen, the exact yuan kept alongside."""

import datetime
import re
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

from django import template
from django.template.defaulttags import querystring
from django.utils.formats import date_format
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from .. import access, punctuation
from ..money import to_wan

register = template.Library()


@register.simple_tag
def punct(mark: str) -> str:
    """{% punct "、" %}: the mark in Chinese, its Western form (", ") in other languages."""
    return punctuation.punct(mark)


# Han characters and the CJK punctuation written with them: text holding one is Chinese.
HAN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
HAN_RUN = re.compile(HAN.pattern + "+")


@register.filter
def zh(value) -> str:
    """{{ region.name|zh }}: the records' own text (names, titles, notes), marked as Chinese
    on a page in another language, so that a screen reader reads it with a Chinese voice
    rather than spelling it out with the page's English one (WCAG 3.1.2, language of parts).
    Unchanged on Chinese pages, and for text with no Han character in it."""
    if value is None:
        return ""
    if punctuation.chinese() or not HAN.search(str(value)):
        return conditional_escape(value)
    return format_html('<span lang="zh-Hans">{}</span>', value)


@register.filter
def zh_terms(value) -> str:
    """{{ posting.get_kind_display|zh_terms }}: text of the page's language with Chinese terms
    in it ("teacher (支教)", or a posting's "teacher (支教) (2) → 江口县"), each term marked as
    `zh` marks a whole name. Unchanged on Chinese pages."""
    # Escaped whatever it is: marked markup would get spans inside its tags' attributes.
    text = escape("" if value is None else str(value))
    if punctuation.chinese():
        return text
    return mark_safe(HAN_RUN.sub(r'<span lang="zh-Hans">\g<0></span>', text))


@register.filter
def chosen_filters(form) -> str:
    """{{ form|chosen_filters }}: the filters chosen, in the words a download's name gives
    them ("2023年起、教育"), for the printed page, which hides the form; "" if none."""
    from ..reports import Filters

    if not form.is_bound or not form.is_valid():
        return ""
    return punctuation.joined(Filters.from_cleaned_data(form.cleaned_data).words())


@register.filter
def links_visit(record, user) -> bool:
    """{% if meeting|links_visit:request.user %}: whether the visit a meeting or handover was
    held during has a page this reader may open. A child pairing's record may be held during
    a visit of the parent pairing, outside the pairings of an official assigned to the child:
    the link led to a 404 (and logged a refused request). Needs `visit_path` annotated."""
    if not record.visit_id:
        return False
    scope = access.scope_for(user)
    path = getattr(record, "visit_path", None)
    return scope.everything or (path is not None and any(map(path.startswith, scope.paths)))


@register.simple_tag
def error_prefix() -> str:
    """Django's "Error: " before an admin page's title when its form was refused, without the
    space Django's templates put after it, in Chinese, after the full-width "错误：" (whose
    colon has its own room)."""
    text = _("Error:")
    return text if punctuation.chinese() else f"{text} "


@register.simple_tag
def days(start: datetime.date | None, end: datetime.date | None) -> str:
    """{% days visit.start_date visit.end_date %}: the day of a one-day visit once, else the
    first and last day, each as a <time>."""
    if start is None:
        return ""
    first = format_html('<time datetime="{}">{}</time>', start.isoformat(), date_format(start))
    if end is None or end == start:
        return first
    return format_html(
        '{}{}<time datetime="{}">{}</time>',
        first,
        punctuation.punct("—"),
        end.isoformat(),
        date_format(end),
    )


@register.filter
def chart_empty(chart: dict) -> bool:
    """Whether a chart payload (charts.py) has no bar to draw: no years, or nothing but 0.00
    and unknowns. Its place then says so in words (_chart.html), which needs no script,
    rather than Chart.js drawing a bare 0–1 grid."""
    return not any(
        value is not None and Decimal(value)
        for dataset in chart["datasets"]
        for value in dataset["data"]
    )


@register.filter
def count(number: int) -> str:
    """8,798: a count with thousands separators, as amounts have (yuan, wan)."""
    return f"{number:,}"


@register.filter
def percent(share: Decimal) -> str:
    """A share as a whole percentage with thousands separators, as amounts have: 10,839%.
    Rounded down: a target 0.74 yuan short of 2,855,000 is 99% done, not a "100%" beside no
    "met"."""
    return f"{percent_value(share):,}%"


@register.filter
def percent_value(share: Decimal) -> int:
    """A share as a progress bar's value, rounded down as `percent` writes it beside."""
    return int((Decimal(share) * 100).to_integral_value(rounding=ROUND_FLOOR))


@register.filter
def duration(length: datetime.timedelta) -> str:
    """A wait in words: "15 minutes", "2 hours" (not 0:15:00)."""
    minutes = round(length.total_seconds() / 60)
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


@register.filter
def yuan(amount: Decimal | None) -> str:
    """1,050,000.00"""
    if amount is None:
        return ""
    return f"{amount:,.2f}"


@register.filter
def wan_text(amount: Decimal | None) -> str:
    """36.18: an amount in 万元 as plain text, for a sentence (wan gives the table's cell)."""
    if amount is None:
        return ""
    return f"{to_wan(amount):,.2f}"


@register.filter
def wan(amount: Decimal | None) -> str:
    """105.00 shown in 万元; the exact amount in yuan rides along in <data value> and a tooltip."""
    if amount is None:
        return ""
    return _wan(amount, get_language())


# A county's table repeats the same few amounts (zero above all) in hundreds of cells: each
# is formatted once per language. Equal Decimals (0 and 0.00) format alike at two places.
@lru_cache(maxsize=4096)
def _wan(amount: Decimal, language: str | None) -> str:
    return format_html(
        '<data value="{}" title="{}">{}</data>',
        f"{amount:.2f}",
        _("%(amount)s yuan") % {"amount": f"{amount:,.2f}"},
        f"{to_wan(amount):,.2f}",
    )


@register.filter
def wan_share(share) -> str:
    """A reports.Share in 万元: "unknown" when nothing is known and some share is not given,
    the known part "+ unknown" when both; never 0.00 for a place the report names."""
    if not share.unknown:
        return wan(share.amount)
    note = share.note or ngettext(
        "%(count)s handover names this place without saying how much it received",
        "%(count)s handovers name this place without saying how much it received",
        share.unknown,
    ) % {"count": share.unknown}
    if not share.amount:
        return format_html('<span class="unknown" title="{}">{}</span>', note, _("unknown"))
    return format_html(
        '{} <span class="unknown" title="{}">{}</span>', wan(share.amount), note, _("+ unknown")
    )


@register.filter
def achieved(row) -> str:
    """An indicator's achieved value (indicators.Progress) with records behind it: "unknown"
    when none of them gives a number, "at least" the sum when only some do."""
    got = row.achieved
    if got.all_unknown:
        return format_html('<span class="unknown">{}</span>', _("unknown"))
    value = wan(got.value) if row.money else str(got.value)
    if got.unknown:
        return format_html("{} {}", _("at least"), value)
    return value


@register.filter
def wan_cells(amounts) -> str:
    """`<td class="num">` with each amount |wan: a row of a year table in one step, since a
    county's table has thousands of cells and a template loop costs more per cell."""
    language = get_language()
    return mark_safe(  # _wan escapes what it formats
        "".join(f'<td class="num">{_wan(amount, language)}</td>' for amount in amounts)
    )


@register.filter
def has_unknown_shares(table) -> bool:
    """Whether a year table (reports.YearTable) says 不详 anywhere: some row's share, or the
    table's own column, is not given."""
    rows = [*table.rows, *(row for row in (table.others, table.rest) if row is not None)]
    return any(any(row.unknown) for row in rows) or any(table.unknown_shares.values())


@register.filter
def row_total(row) -> str:
    """A year table row's total (reports.TableRow) in 万元: "unknown" where a share is not
    given (wan_share), else plain (wan)."""
    return wan_share(row.total_share) if row.unknown else wan(row.total)


@register.filter
def row_cells(row) -> str:
    """A year table row's `<td>`s, each year and its total: a row with no share unknown is
    formatted through the cache (wan_cells), as most rows are."""
    if row.unknown:
        cells = "".join(f'<td class="num">{wan_share(share)}</td>' for share in row.cell_shares)
    else:
        cells = wan_cells(row.cells)
    return mark_safe(f'{cells}<td class="num total">{row_total(row)}</td>')  # each escaped


@register.filter
def indent(depth: int) -> str:
    return "\u3000" * int(depth)


@register.simple_tag(takes_context=True)
def page_query(context, param: str, number: int) -> str:
    """The address of page `number` of a list whose page is `param` in the address: Django's
    {% querystring %} with a key that is not written in the template (a page may hold two
    lists, each with its own pages)."""
    return querystring(context, None, **{param: number})


@register.filter
def person_name(user) -> str:
    """An account as colleagues know its holder: 王芳, not the given name alone ("欢迎，芳。")
    nor the username, unless no name is set (history.user_name)."""
    from ..history import user_name

    return user_name(user)
