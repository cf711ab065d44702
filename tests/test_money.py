from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from partnerships import summary
from partnerships.models import Donation, DonationLine, PairingYearTotal
from partnerships.money import AmountFormField, parse_amount, to_wan


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1050000", "1050000.00"),
        ("1,050,000", "1050000.00"),
        ("1，050，000", "1050000.00"),
        ("1 050 000", "1050000.00"),
        ("1,050,000.50", "1050000.50"),
        ("１２３", "123.00"),
        ("１，０５０．５０", "1050.50"),  # full-width comma and point as well
        ("￥１０５万", "1050000.00"),
        ("1,050万", "10500000.00"),
        ("1050000.00", "1050000.00"),
        ("105万", "1050000.00"),
        ("105万元", "1050000.00"),
        ("105 万元", "1050000.00"),
        ("1.05亿", "105000000.00"),
        ("¥1,050,000.00", "1050000.00"),
        ("0.1", "0.10"),
        ("12.3456万", "123456.00"),
        ("1050000元", "1050000.00"),
        ("人民币1,050,000元", "1050000.00"),
        # as a receipt closes it, in Arabic numerals too (105万元整 was refused)
        ("105万元整", "1050000.00"),
        ("1,050,000.00元整", "1050000.00"),
        ("1050000元正", "1050000.00"),
        ("1050000圆整", "1050000.00"),
        # In Chinese numerals, as a receipt or a letter writes the amount (大写金额)
        ("壹佰零伍万元整", "1050000.00"),
        ("人民币壹佰零伍万元整", "1050000.00"),
        ("（人民币）壹佰零伍万元整", "1050000.00"),
        ("壹佰零伍万元正", "1050000.00"),
        ("壹佰零伍万", "1050000.00"),
        ("一百零五万元", "1050000.00"),
        ("壹拾万圆整", "100000.00"),
        ("壹仟零贰拾叁万肆仟伍佰陆拾柒元整", "10234567.00"),
        ("叁佰贰拾元伍角陆分", "320.56"),
        ("壹佰元零伍分", "100.05"),
        ("壹佰元伍角整", "100.50"),
        ("伍角陆分", "0.56"),
        ("贰億元整", "200000000.00"),
        ("壹佰 零伍万 元整", "1050000.00"),
        # 拾 with no digit before it, after 零, 万 or 亿 (cn2an alone drops it)
        ("壹万零拾元整", "10010.00"),
        ("壹仟零拾伍元整", "1015.00"),
        ("叁万零拾元伍角", "30010.50"),
        ("壹拾万零拾元整", "100010.00"),
        ("贰亿拾伍万元整", "200150000.00"),
        ("二億十万", "200100000.00"),
        ("拾万元整", "100000.00"),
        # a 零 between 万 and the thousands, as the payment rules allow (cn2an alone refuses)
        ("伍拾万零贰仟元整", "502000.00"),
        ("壹佰零伍万零叁仟元整", "1053000.00"),
        ("叁拾万零伍仟元", "305000.00"),
        ("壹亿零伍仟万零叁仟元整", "150003000.00"),
        # 两 for 2
        ("两万元", "20000.00"),
        ("壹佰元两角", "100.20"),
    ],
)
def test_it_reads_amounts_as_staff_type_them(typed, expected):
    assert parse_amount(typed) == Decimal(expected)


@pytest.mark.parametrize(
    "typed",
    [
        "abc",
        "1.2.3",
        "105千",
        "1e6",
        "",
        "万",
        "1,05O,000",
        # A comma that is not between groups of three is a decimal comma or a typo: dropping
        # it would multiply the amount by 100 or more.
        "50000,00",
        "123 456,78",
        "1,05,000",
        "1050,000",
        "1,0500",
        # a first group of 0 is a decimal comma, not thousands: 0,500 was read as 500 yuan
        "0,500",
        "0,001",
        "00,500",
        # digits of other scripts, which \d and Decimal take, and digits NFKC would read as
        # such: a footnote's ¹ pasted with the amount was 500001 yuan
        "١٠٠٠",
        "50000¹",
        "10²万",
        "①⓪⓪⓪",
        # Chinese numerals a reader would have to guess at, or that no receipt writes
        "壹佰伍",  # 150 or 105?
        "叁点伍",
        "元整",
        "整",
        "壹佰元整整",
        "壹佰元伍",  # 伍 what?
        "伍角陆",
        "壹元元",
        "壹佰万壹佰万",
        "人民币",
        "伍万零零伍仟",  # two 零 for one gap
    ],
)
def test_it_rejects_what_is_not_an_amount(typed):
    with pytest.raises(ValidationError) as error:
        parse_amount(typed)
    assert "amount" in str(error.value).lower() or "金额" in str(error.value)


def test_it_rejects_fractions_of_a_fen():
    with pytest.raises(ValidationError) as error:
        parse_amount("0.001")
    assert error.value.code == "precision"
    with pytest.raises(ValidationError):
        parse_amount("1.2345678万")


def test_the_form_field_takes_an_amount_in_chinese_numerals_and_says_so():
    field = AmountFormField()
    assert field.clean("壹佰零伍万元整") == Decimal("1050000.00")
    assert "壹佰零伍万元整" in str(field.help_text)
    with pytest.raises(ValidationError, match="壹佰零伍万元整"):
        field.clean("壹佰伍")  # the message shows the way it is written


@pytest.mark.parametrize("typed", ["0", "-5", "-105万", "0.00", "零元整"])
def test_the_form_field_rejects_zero_and_negative_amounts(typed):
    with pytest.raises(ValidationError) as error:
        AmountFormField().clean(typed)
    assert error.value.code == "min_value"


def test_a_field_that_may_be_zero_takes_zero_but_not_less():
    field = AmountFormField(allow_zero=True)
    assert field.clean("0") == Decimal("0.00")
    for typed in ("-5", "-0.01"):
        with pytest.raises(ValidationError) as error:
            field.clean(typed)
        assert error.value.code == "min_value"
        assert "negative" in str(error.value) or "负" in str(error.value)


def test_the_form_field_rejects_absurd_amounts():
    # 17 digits and more were said to be no amount at all ("write it like 1050000")
    for typed in ("10000亿", "99999999999999999", "1,000,000,000,000,000,000.00"):
        with pytest.raises(ValidationError) as error:
            AmountFormField().clean(typed)
        assert error.value.code == "max_value", typed


def test_an_amount_of_spaces_only_is_a_missing_amount():
    """It was quoted back as “ ” and said to be no amount; an empty box said "required"."""
    with pytest.raises(ValidationError) as error:
        AmountFormField().clean("   ")
    assert error.value.code == "required"
    assert AmountFormField(required=False).clean(" \t") is None


def test_wan_rounds_half_up_to_hundreds_of_yuan():
    assert to_wan(Decimal("1050000.00")) == Decimal("105.00")
    assert to_wan(Decimal("50.00")) == Decimal("0.01")
    assert to_wan(Decimal("49.99")) == Decimal("0.00")


@pytest.mark.django_db
def test_sums_are_exact_to_the_fen_on_this_database(reference):
    """SQLite sums REAL columns in floating point; stored fen must make that impossible.

    The handovers are saved as an import saves them, their summary refreshed once at the
    end: refreshed after each save, the 900 writes took 3.5 minutes on PostgreSQL."""
    amounts = [Decimal("0.10"), Decimal("0.20"), Decimal("1050000.01")] * 300
    with transaction.atomic(), summary.deferred():
        for amount in amounts:
            donation = Donation.objects.create(
                partnership=reference.pairing,
                date=reference.visit.start_date,
                amount=amount,
                kind="funds",
                region=reference.jiangkou,
            )
            donation.rebalance()
    expected = sum(amounts, Decimal(0)) + Decimal("1050000.00")
    assert Donation.objects.aggregate(total=Sum("amount"))["total"] == expected
    assert DonationLine.objects.aggregate(total=Sum("amount"))["total"] == expected
    assert PairingYearTotal.objects.aggregate(total=Sum("amount"))["total"] == expected
    assert expected == Decimal("316050093.00")
