# Django's English short date is American, "12/05/2026": read in China (and most of the
# world) as 12 May. Lists and tables give the day year first, as in Chinese: "2026-12-05".
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
