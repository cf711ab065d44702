# Django's English dates are American, "12/05/2026" (read in China, and most of the world,
# as 12 May) and "Dec. 5, 2026", in the admin's lists and history too. Every English date
# gives the day year first, as the Chinese pages' numbers do: "2026-12-05".
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
# Dates typed on English pages are read as on Chinese ones (zh_Hans/formats.py), year first,
# and with the month's name. Django's American 03/05/2024 is refused, not read as 5 March:
# most of the world, and staff who switch the admin to English, mean 3 May by it, and the
# Chinese admin and the imports refuse it too.
DATE_INPUT_FORMATS = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%b %d %Y",
    "%b %d, %Y",
    "%d %b %Y",
    "%d %b, %Y",
    "%B %d %Y",
    "%B %d, %Y",
    "%d %B %Y",
    "%d %B, %Y",
]
