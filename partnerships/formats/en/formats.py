# Django's English short date is American, "12/05/2026": read in China (and most of the
# world) as 12 May. Lists and tables give the day year first, as in Chinese: "2026-12-05".
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
# Dates typed on English pages are read as on Chinese ones (zh_Hans/formats.py), year first;
# Django's American day-month forms stay after them.
DATE_INPUT_FORMATS = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%b %d %Y",
    "%b %d, %Y",
    "%d %b %Y",
    "%d %b, %Y",
    "%B %d %Y",
    "%B %d, %Y",
    "%d %B %Y",
    "%d %B, %Y",
]
