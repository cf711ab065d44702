"""The reference record: exactly what ../shared/reference/FACTS.md says, and nothing more.

Reviewable as data. Where the report is silent the value is None or empty ("unknown"):
no division codes, no establishment year for 粤黔 and 莞铜, no town for the six villages,
no meeting day, no delegation size, no split of the 105万元 by donor or recipient.
`load_reference_data` turns this into rows and may be run any number of times.
"""

from datetime import date
from decimal import Decimal

# Shown to officials as each record's source: the report, not where this project keeps its
# transcription (which the text named until migration 0020 rewrote it).
SOURCE = "樟木头镇东西部协作结对帮扶交流工作新闻报道（地方政府发布；1月10日—12日，江口县）"

# (name, level, parent path as a tuple of names). Levels: 1 province … 5 village.
REGIONS = [
    ("广东省", 1, ()),
    ("东莞市", 2, ("广东省",)),
    # Dongguan has no counties: its towns sit directly under the city.
    ("樟木头镇", 4, ("广东省", "东莞市")),
    ("贵州省", 1, ()),
    ("铜仁市", 2, ("贵州省",)),
    ("江口县", 3, ("贵州省", "铜仁市")),
    ("闵孝镇", 4, ("贵州省", "铜仁市", "江口县")),
    # The report does not say which town each village belongs to: they hang under the county.
    ("齐心村", 5, ("贵州省", "铜仁市", "江口县")),
    ("双屯村", 5, ("贵州省", "铜仁市", "江口县")),
    ("净河村", 5, ("贵州省", "铜仁市", "江口县")),
    ("坝梅村", 5, ("贵州省", "铜仁市", "江口县")),
    ("沙坝河村", 5, ("贵州省", "铜仁市", "江口县")),
    ("长岗岭村", 5, ("贵州省", "铜仁市", "江口县")),
]

GUANGDONG = ("广东省",)
ZHANGMUTOU = ("广东省", "东莞市", "樟木头镇")
JIANGKOU = ("贵州省", "铜仁市", "江口县")
MINXIAO = ("贵州省", "铜仁市", "江口县", "闵孝镇")

# key: (short name, helping region, assisted region, parent key, year established)
PARTNERSHIPS = {
    "粤黔": ("粤黔", GUANGDONG, ("贵州省",), None, None),
    "莞铜": ("莞铜", ("广东省", "东莞市"), ("贵州省", "铜仁市"), "粤黔", None),
    "樟木头—江口": ("", ZHANGMUTOU, JIANGKOU, "莞铜", 2021),
    "樟木头—闵孝": ("", ZHANGMUTOU, MINXIAO, "樟木头—江口", None),
}

# key: (name, kind, region or None when the report does not place it, notes)
ORGANISATIONS = {
    "樟木头镇人民政府": ("樟木头镇人民政府", "government", ZHANGMUTOU, ""),
    "樟罗社区": ("樟罗社区", "community", ZHANGMUTOU, "樟木头镇社区"),
    "石新社区": ("石新社区", "community", ZHANGMUTOU, "樟木头镇社区"),
    "樟洋社区": ("樟洋社区", "community", ZHANGMUTOU, "樟木头镇社区"),
    # The two 广东… companies are placed in the province their names carry, no further.
    "小猪班纳": ("广东小猪班纳服饰股份有限公司", "enterprise", GUANGDONG, ""),
    "工商联": ("东莞市樟木头镇工商联合会", "association", ZHANGMUTOU, ""),
    "罗曼": ("广东罗曼智能科技股份有限公司", "enterprise", GUANGDONG, ""),
    "永林": ("永林电子股份有限公司", "enterprise", None, "报道未说明所在地"),
    "红十字会": (
        "江口县红十字会",
        "charity",
        JIANGKOU,
        "报道原文为“红十字会”，列于江口县受赠单位之中",
    ),
}

# key: (name, position as reported)
PEOPLE = {
    "黄淦洪": ("黄淦洪", "樟木头镇党委书记"),
    "王颖": ("王颖", "江口县委副书记"),
    "杨俊丽": ("杨俊丽", "樟木头镇副镇长"),
    "沈琦": ("沈琦", "樟木头镇副镇长"),
    "李树文": ("李树文", "江口县委常委、副县长"),
}

VISIT = {
    "partnership": "樟木头—江口",
    "direction": "east_to_west",
    "start_date": date(2023, 1, 10),
    "end_date": date(2023, 1, 12),
    "date_note": "报道只写“1月10日—12日”，未印年份；会上汇报的是2022年度工作，故推定为2023年。",
    "leader": "黄淦洪",
    # None but the leader: the report names Zhangmutou's two deputy mayors only as attending
    # the meeting in Jiangkou (the meeting's participants below), not as the delegation's.
    "members": [],
    "delegation_size": None,
    "delegation_description": "樟木头镇党政代表团及相关企业负责人",
    "places": [JIANGKOU],
    "purpose": "赴贵州省铜仁市江口县开展东西部协作结对帮扶交流工作",
    "summary": (
        "召开江口县·樟木头镇东西部协作工作座谈会，樟木头镇人民政府等8家单位向江口县闵孝镇等8家单位"
        "捐赠帮扶资金及物资合计105万元；召开樟木头镇·闵孝镇村企结对帮扶座谈会；"
        "探望樟木头镇派驻江口县支教支医的老师和医生；考察云舍文化村项目建设。"
    ),
    "source": SOURCE,
}

# (kind, title, place or None, description); the report gives no day for any of them.
ACTIVITIES = [
    ("meeting", "江口县·樟木头镇东西部协作工作座谈会", JIANGKOU, "在江口县政府会议室召开"),
    (
        "handover",
        "捐赠帮扶资金及物资",
        JIANGKOU,
        "座谈会上，樟木头镇人民政府等8家单位向江口县闵孝镇、6个村和红十字会捐赠，合计105万元",
    ),
    ("meeting", "樟木头镇·闵孝镇村企结对帮扶座谈会", None, ""),
    ("personnel", "探望樟木头镇派驻江口县支教支医的老师和医生", JIANGKOU, "人数未见报道"),
    ("inspection", "考察云舍文化村", JIANGKOU, "参观文化村项目建设"),
]

MEETINGS = [
    {
        "title": "江口县·樟木头镇东西部协作工作座谈会",
        "partnership": "樟木头—江口",
        "venue": "江口县政府会议室",
        "other_attendees": "有关部门单位",
        "agenda": "李树文汇报2022年度东西部协作工作进展情况",
        "outcomes": (
            "樟木头镇人民政府等8家单位向江口县闵孝镇等8家单位捐赠帮扶资金及物资，合计105万元；"
            "王颖对樟木头镇的帮助支持表示衷心感谢。"
        ),
        # (person, role, remarks)
        "participants": [
            ("王颖", "chair", "主持会议并讲话"),
            ("王颖", "speaker", ""),
            ("黄淦洪", "speaker", "出席会议并讲话"),
            ("李树文", "reporter", "汇报2022年度东西部协作工作进展情况"),
            ("杨俊丽", "attendee", ""),
            ("沈琦", "attendee", ""),
        ],
    },
    {
        "title": "樟木头镇·闵孝镇村企结对帮扶座谈会",
        "partnership": "樟木头—闵孝",
        "venue": "",
        "other_attendees": "",
        "agenda": "",
        "outcomes": "",
        "participants": [],
    },
]

DONATION = {
    "partnership": "樟木头—江口",
    "amount": Decimal("1050000.00"),
    "kind": "both",
    "category": "unspecified",
    # The town government gave alongside communities and enterprises; no split is reported.
    "funding": "unsplit",
    "materials_description": "",
    "donors": [
        "樟木头镇人民政府",
        "樟罗社区",
        "石新社区",
        "樟洋社区",
        "小猪班纳",
        "工商联",
        "罗曼",
        "永林",
    ],
    "recipient_regions": [
        MINXIAO,
        (*JIANGKOU, "齐心村"),
        (*JIANGKOU, "双屯村"),
        (*JIANGKOU, "净河村"),
        (*JIANGKOU, "坝梅村"),
        (*JIANGKOU, "沙坝河村"),
        (*JIANGKOU, "长岗岭村"),
    ],
    "recipient_organisations": ["红十字会"],
    "region": JIANGKOU,
    "notes": "报道只给出合计105万元，未给出资金与物资的划分，也未给出各捐赠方、各受赠方的金额。",
    "source": SOURCE,
}

# The rest of the record (issue 7). The report gives no numbers, names or dates for these:
# it says Zhangmutou has teachers and doctors in Jiangkou (the delegation called on them), that
# a Zhangmutou–Minxiao village–enterprise pairing programme exists (a symposium was held), and
# that the delegation inspected the construction of the 云舍文化村 project. Their only date is
# the visit (10–12 January, year inferred): they are known to be under way during it, no day.
# Each note says what the visit did: it called on the people sent, and held a symposium on the
# village–enterprise pairing (one note for both said "探望或考察", and the people's notes said
# "起止时间未见报道" twice).
POSTING_KNOWN_NOTE = "报道只说明代表团于1月10日—12日访问期间探望了他们，派驻的起止时间未见报道。"
PAIR_KNOWN_NOTE = "报道只说明代表团于1月10日—12日访问期间召开了这次座谈会。"

# (kind, note); the number of people is not reported.
POSTINGS = [
    ("teacher", "樟木头镇派驻江口县支教的老师；人数和派出单位未见报道。"),
    ("doctor", "樟木头镇派驻江口县支医的医生；人数和派出单位未见报道。"),
]
POSTING_PARTNERSHIP = "樟木头—江口"
POSTING_HOST = JIANGKOU

PROJECT = {
    "partnership": "樟木头—江口",
    "name": "云舍文化村项目",
    "region": JIANGKOU,  # the report does not name the town or village
    "category": "unspecified",
    "status": "building",  # "考察云舍文化村项目建设": under construction when inspected
    "description": "考察团参观云舍文化村项目建设。开工年份、资金和所在乡镇未见报道。",
    "inspection_note": "参观文化村项目建设",
}

VILLAGE_PAIR = {
    "partnership": "樟木头—闵孝",
    "meeting": "樟木头镇·闵孝镇村企结对帮扶座谈会",
    "notes": (
        "报道提到樟木头镇·闵孝镇村企结对帮扶并召开座谈会，未列出结对的企业和村，也未说明结对时间。"
    ),
}
