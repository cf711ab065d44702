"""Chinese punctuation between recorded names and the interface's words.

The names (江口县, 樟木头镇) stay as recorded in every language, but the commas, brackets and
colons around them belong to the interface: Chinese marks in Chinese, Western ones otherwise,
so an English page reads "Not itemised (江口县)", not "Not itemised（江口县）"."""

from collections.abc import Iterable

from django.utils.translation import get_language

# "—" between the first and last of a span (dates, years), as the report writes 1月10日—12日;
# English takes an en dash.
WESTERN = {"、": ", ", "，": ", ", "；": "; ", "：": ": ", "（": " (", "）": ")", "—": "–"}


def chinese() -> bool:
    """Whether the page is in Chinese, and so takes Chinese marks."""
    return (get_language() or "").startswith("zh")


def punct(mark: str) -> str:
    """A Chinese punctuation mark, or its Western form when the language is not Chinese."""
    return mark if chinese() else WESTERN[mark]


def joined(items: Iterable[str]) -> str:
    """Items as an enumeration: 甲、乙 in Chinese, "甲, 乙" otherwise."""
    return punct("、").join(items)
