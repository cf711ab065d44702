"""Money: stored as whole fen (分) in a BIGINT, handled in Python as Decimal yuan.

SQLite has no decimal type and sums DECIMAL columns in floating point, so totals over many
amounts drift by fractions of a fen. Integers sum exactly on every database, and a Sum() over
a MoneyField comes back through `from_db_value` as exact Decimal yuan again.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

FEN_PER_YUAN = 100
YUAN_PER_WAN = Decimal(10_000)
CENT = Decimal("0.01")
# Under a trillion yuan: far beyond any handover, far below BIGINT's limit in fen.
MAX_AMOUNT = Decimal("999999999999.99")

_UNITS = {"": Decimal(1), "万": Decimal(10_000), "亿": Decimal(100_000_000)}
# Digits with commas between groups of three (1,050,000), or at most 16 digits without: beyond
# any real amount, and well inside Decimal's precision. A comma anywhere else (50000,00 or
# 123 456,78, a decimal comma) is refused rather than dropped, which would multiply by 100.
# The first group has no leading zero: 0,500 is a decimal comma (half a yuan), not 500.
# Digits are ASCII once full-width ones are read as such (from_full_width): \d took ١٠٠٠.
_AMOUNT_RE = re.compile(
    r"^(?P<number>(?:[1-9][0-9]{0,2}(?:,[0-9]{3}){1,5}|[0-9]{1,16})(?:\.[0-9]{1,12})?)"
    r"(?P<unit>万|亿)?$"
)


# More digits than an amount may have (17 or more, or six groups of three after commas),
# with decimals and a unit or not.
_LONG_NUMBER_RE = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3}){6,}|[0-9]{17,})(?:\.[0-9]+)?(?:万|亿)?")


# An amount in Chinese numerals as receipts and letters write it (大写金额): 壹佰零伍万元整,
# 人民币叁仟伍佰元伍角, 壹拾万圆整. The yuan before 元 (or 圆), then at most one digit of 角
# and one of 分, each perhaps after a 零, and 整 or 正 to close.
_CN_DIGIT = "零〇壹贰叁肆伍陆柒捌玖一二三四五六七八九两"
_CN_NUMBER_RE = re.compile(rf"[{_CN_DIGIT}拾佰仟十百千万萬亿億]+")
_CN_CHANGE_RE = re.compile(rf"零?(?:(?P<jiao>[{_CN_DIGIT}])角)?零?(?:(?P<fen>[{_CN_DIGIT}])分)?")
_RMB_PREFIX_RE = re.compile(r"^(?:人民币|\(人民币\)|（人民币）)")
_BARE_TEN_RE = re.compile("(?<=[零〇万萬亿億])([拾十])")
# The 零 a receipt may write between 万 and a thousands digit (伍拾万零贰仟, as the payment
# rules allow when the ten-thousands digit is 0), which cn2an's strict reading refuses.
_ZERO_BEFORE_THOUSANDS_RE = re.compile(rf"(?<=[万萬])[零〇](?=[{_CN_DIGIT}][仟千])")


def _parse_capitals(text: str) -> Decimal | None:
    """Exact yuan of an amount in Chinese numerals, or None if it is not one.

    cn2an reads the yuan strictly: a number it would have to guess at (壹佰伍 for 150) is not
    an amount; neither is a decimal point (叁点伍), which no receipt writes."""
    # 两 is 2 (两万元, 两角), which cn2an's strict reading refuses as a digit.
    text = _RMB_PREFIX_RE.sub("", text).replace("两", "二")
    if text[-1:] in ("整", "正"):
        text = text[:-1]
    parts = re.split("[元圆]", text)
    if len(parts) == 2:
        yuan_text, change = parts
    elif len(parts) == 1 and ("角" in text or "分" in text):
        yuan_text, change = "", text
    elif len(parts) == 1:
        yuan_text, change = text, ""
    else:
        return None
    if yuan_text and not _CN_NUMBER_RE.fullmatch(yuan_text):
        return None
    match = _CN_CHANGE_RE.fullmatch(change)
    if not match or not (yuan_text or match["jiao"] or match["fen"]):
        return None
    import cn2an  # 60 ms to import: only when an amount in Chinese numerals comes in

    # cn2an 0.5.24 drops a 拾 with no digit before it after 零, 万 or 亿 (壹万零拾 read as
    # 10,000, 贰亿拾伍万 as 200,050,000): it is 壹拾 there.
    yuan_text = _BARE_TEN_RE.sub(r"壹\1", yuan_text)
    yuan_text = _ZERO_BEFORE_THOUSANDS_RE.sub("", yuan_text)

    try:
        yuan = cn2an.cn2an(yuan_text, "strict") if yuan_text else 0
        jiao, fen = (
            cn2an.cn2an(digit, "strict") if digit else 0 for digit in match.group("jiao", "fen")
        )
    except ValueError:
        return None
    if not all(isinstance(number, int) for number in (yuan, jiao, fen)):
        return None
    return Decimal(yuan) + Decimal(jiao) / 10 + Decimal(fen) / 100


# What a Chinese input method types full width (０-９，．－／：￥ and the ideographic space),
# as ASCII. Only those: NFKC also reads a footnote's ¹ or a circled ① as a digit, and
# "50000¹" pasted from a report was 500001 yuan.
FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {
    0x3000: " ",
    0xFFE5: "¥",
}


def from_full_width(text: str) -> str:
    return text.translate(FULL_WIDTH)


def parse_amount(text: str) -> Decimal:
    """Read an amount as staff type it: 1050000, 1,050,000, 105万, 105万元, 105万元整, 1.05亿,
    ¥1,050,000, 人民币1,050,000元, or in Chinese numerals as a receipt writes it: 壹佰零伍万元整.

    Returns exact yuan. Raises ValidationError for anything else, including amounts that
    are not a whole number of fen once the unit is applied.
    """
    # full-width digits, commas, points and ￥ read as their ASCII selves
    cleaned = re.sub(r"\s", "", from_full_width(str(text)))
    capitals = _parse_capitals(cleaned)
    if capitals is not None:
        return capitals.quantize(CENT)
    cleaned = _RMB_PREFIX_RE.sub("", cleaned)
    cleaned = cleaned.removeprefix("¥").removeprefix("￥").removeprefix("RMB")
    # 105万元, and as a receipt closes it, 105万元整 (正, 圆: its other writings).
    cleaned = re.sub("[元圆][整正]?$", "", cleaned)
    if cleaned.startswith("-"):
        raise ValidationError(_("The amount must be greater than zero."), code="min_value")
    match = _AMOUNT_RE.match(cleaned)
    if not match and _LONG_NUMBER_RE.fullmatch(cleaned):
        # Written as an amount, only too long for one (99999999999999999): said so, not
        # "write it like 1050000".
        raise ValidationError(
            _("The amount must be less than one trillion yuan."), code="max_value"
        )
    if not match:
        raise ValidationError(
            _(
                "“%(value)s” is not an amount. Write it like 1050000, 1,050,000.00, 105万 or "
                "壹佰零伍万元整."
            ),
            code="invalid",
            params={"value": text},
        )
    try:
        value = Decimal(match["number"].replace(",", "")) * _UNITS[match["unit"] or ""]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid numbers
        raise ValidationError(_("“%(value)s” is not an amount."), params={"value": text}) from exc
    if value != value.quantize(CENT):
        raise ValidationError(
            _("Amounts are recorded to the fen: “%(value)s” has more than two decimal places."),
            code="precision",
            params={"value": text},
        )
    return value.quantize(CENT)


def to_fen(yuan: Decimal) -> int:
    return int((Decimal(yuan) * FEN_PER_YUAN).to_integral_exact())


def from_fen(fen: int) -> Decimal:
    return (Decimal(int(fen)) / FEN_PER_YUAN).quantize(CENT)


def to_wan(yuan: Decimal) -> Decimal:
    """Yuan to 万元 for display, rounded half up to two decimals (hundreds of yuan)."""
    return (Decimal(yuan) / YUAN_PER_WAN).quantize(CENT, rounding=ROUND_HALF_UP)


class AmountFormField(forms.Field):
    """An amount in yuan as staff type it (parse_amount); above zero, or with `allow_zero` at
    least zero (money committed or spent in a year may be none)."""

    default_error_messages = {
        "min_value": _("The amount must be greater than zero."),
        "negative": _("The amount cannot be negative."),
        "max_value": _("The amount must be less than one trillion yuan."),
    }

    def __init__(self, *, max_digits=None, decimal_places=None, allow_zero=False, **kwargs):
        self.allow_zero = allow_zero
        kwargs.setdefault(
            "help_text",
            _("In yuan; 1,050,000, 105万, 1.05亿 and 壹佰零伍万元整 are all understood."),
        )
        super().__init__(**kwargs)

    def _too_small(self) -> ValidationError:
        if self.allow_zero:
            return ValidationError(self.error_messages["negative"], code="min_value")
        return ValidationError(self.error_messages["min_value"], code="min_value")

    def prepare_value(self, value):
        if isinstance(value, Decimal):
            return f"{value:.2f}"
        return value

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip()  # only spaces: empty, so "required" if it is
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal):
            return value
        try:
            return parse_amount(value)
        except ValidationError as error:
            if error.code == "min_value":
                raise self._too_small() from error
            raise

    def validate(self, value):
        super().validate(value)
        if value is None:
            return
        if value < 0 or (value == 0 and not self.allow_zero):
            raise self._too_small()
        if value > MAX_AMOUNT:
            raise ValidationError(self.error_messages["max_value"], code="max_value")

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.update({"inputmode": "decimal", "autocomplete": "off"})
        return attrs


class MoneyField(models.BigIntegerField):
    """An amount in yuan (Decimal, two places) stored as integer fen."""

    description = _("Amount in yuan, stored in fen")
    # allow_zero is for forms only: changing it alters no column (nor rebuilds a SQLite table).
    non_db_attrs = (*models.BigIntegerField.non_db_attrs, "allow_zero")

    def __init__(self, *args, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero  # whether a form accepts 0 (it always refuses less)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.allow_zero:
            kwargs["allow_zero"] = True
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return from_fen(value)

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, int):
            # Integers reaching the model are yuan, as everywhere else in Python code.
            return Decimal(value).quantize(CENT)
        return parse_amount(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        return to_fen(self.to_python(value))

    def formfield(self, **kwargs):
        # A text box, never the number box the admin gives integer fields: a browser keeps
        # only the digits of 105万 or 1.05亿 in one and would send 105, not 1,050,000.
        widget = kwargs.get("widget")
        if widget is None or _is_number_input(widget):
            kwargs["widget"] = forms.TextInput
        return models.Field.formfield(
            self, **{"form_class": AmountFormField, "allow_zero": self.allow_zero, **kwargs}
        )


def _is_number_input(widget) -> bool:
    if isinstance(widget, type):
        return issubclass(widget, forms.NumberInput)
    return isinstance(widget, forms.NumberInput)
