# Django's Chinese date input "%Y年%n月%j日" is no strptime format (%j is the day of the
# year), so "2024年3月6日" was refused. strptime's %m and %d take one digit or two. Notices
# and spreadsheets also write 2024.3.6, which the imports read too (imports.parse_date).
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"]
