"""The shared pool of invented design patents every search draws its hits from.

A patent is fixed by (seed, pool index): the index picks its LOC class, one hash picks
the rest, so the same patent recurs across searches with the same fields. Hidden fields
(dates, legal status, assignee, inventor) exist only to filter and sort on.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from harvester.sandbox.seeded import draw

__all__ = ["LOCS", "POOL_PER_LOC", "Catalog", "Patent"]

# LOC code -> (English titles, Chinese titles); a few real classes of the Locarno list.
_PRODUCTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("02-02", ("Jacket", "Dress", "T-shirt"), ("夹克", "连衣裙", "T恤")),
    ("02-04", ("Shoe", "Sports shoe", "Sandal"), ("鞋", "运动鞋", "凉鞋")),
    ("03-01", ("Handbag", "Backpack", "Suitcase"), ("手提包", "双肩包", "行李箱")),
    ("06-01", ("Chair", "Office chair", "Car seat"), ("椅子", "办公椅", "汽车座椅")),
    ("06-04", ("Cabinet", "Bookshelf", "Wardrobe"), ("柜子", "书架", "衣柜")),
    ("07-01", ("Cup", "Plate", "Bowl"), ("杯子", "盘子", "碗")),
    ("07-02", ("Kettle", "Rice cooker", "Frying pan"), ("电水壶", "电饭煲", "煎锅")),
    ("08-05", ("Screwdriver", "Wrench", "Pliers"), ("螺丝刀", "扳手", "钳子")),
    ("09-01", ("Bottle", "Cosmetic bottle", "Vacuum flask"), ("瓶子", "化妆品瓶", "保温杯")),
    ("10-02", ("Watch", "Smart watch", "Alarm clock"), ("手表", "智能手表", "闹钟")),
    ("11-01", ("Ring", "Necklace", "Earring"), ("戒指", "项链", "耳环")),
    ("12-08", ("Car", "Electric car", "Sport utility vehicle"), ("汽车", "电动汽车", "越野车")),
    ("12-11", ("Bicycle", "Electric scooter", "Motorcycle"), ("自行车", "电动滑板车", "摩托车")),
    (
        "12-16",
        ("Car headlight", "Wheel rim", "Car door handle"),
        ("汽车前大灯", "轮毂", "车门把手"),
    ),
    ("13-02", ("Charger", "Power adapter", "Power bank"), ("充电器", "电源适配器", "移动电源")),
    ("14-02", ("Laptop", "Keyboard", "Computer mouse"), ("笔记本电脑", "键盘", "鼠标")),
    ("14-03", ("Mobile phone", "Earphone", "Router"), ("手机", "耳机", "路由器")),
    (
        "14-04",
        ("Display screen with graphical user interface", "Icon"),
        ("带图形用户界面的手机", "图标"),
    ),
    ("15-05", ("Washing machine", "Vacuum cleaner", "Dishwasher"), ("洗衣机", "吸尘器", "洗碗机")),
    (
        "16-06",
        ("Camera lens", "Drone camera", "Action camera"),
        ("相机镜头", "无人机相机", "运动相机"),
    ),
    ("21-01", ("Toy car", "Building block", "Doll"), ("玩具车", "积木", "玩偶")),
    ("23-04", ("Air purifier", "Fan", "Air conditioner"), ("空气净化器", "风扇", "空调")),
    ("24-02", ("Syringe", "Blood pressure monitor", "Stethoscope"), ("注射器", "血压计", "听诊器")),
    ("26-05", ("Lamp", "Ceiling light", "Desk lamp"), ("灯", "吸顶灯", "台灯")),
    ("28-03", ("Toothbrush", "Hair dryer", "Shaver"), ("牙刷", "吹风机", "剃须刀")),
    ("30-01", ("Pet feeder", "Pet bed", "Bird cage"), ("宠物喂食器", "宠物床", "鸟笼")),
)
LOCS: tuple[str, ...] = tuple(loc for loc, _, _ in _PRODUCTS)
POOL_PER_LOC = 100_000  # patents per LOC class in the pool

_ASSIGNEES = (
    "华为技术有限公司",
    "小米科技有限责任公司",
    "比亚迪股份有限公司",
    "美的集团股份有限公司",
    "珠海格力电器股份有限公司",
    "OPPO广东移动通信有限公司",
    "联想(北京)有限公司",
    "Apple Inc.",
    "Samsung Electronics Co., Ltd.",
    "Nike, Inc.",
    "Dyson Technology Limited",
    "Sony Group Corporation",
    "LG Electronics Inc.",
    "Koninklijke Philips N.V.",
    "IKEA Supply AG",
    "Robert Bosch GmbH",
    "Panasonic Holdings Corporation",
    "Tesla, Inc.",
)
_INVENTORS = ("张伟", "王芳", "李娜", "刘洋", "陈静", "John Smith", "Maria Garcia", "Kenji Sato")

# (country, weight, Chinese titles?) — the pn prefix is what the country filter reads.
_COUNTRIES = (
    ("CN", 45, True),
    ("US", 15, False),
    ("EM", 10, False),
    ("JP", 8, False),
    ("KR", 8, False),
    ("HK", 4, True),
    ("TW", 4, True),
    ("DE", 3, False),
    ("WO", 3, False),
)
# (legal_status, simple_legal_status, weight): codes of the API page.
_STATUSES = (
    ("3", "1", 40),
    ("21", "1", 2),
    ("23", "1", 1),
    ("24", "1", 1),
    ("1", "2", 5),
    ("2", "2", 6),
    ("8", "0", 1),
    ("11", "0", 2),
    ("13", "0", 2),
    ("14", "0", 2),
    ("15", "0", 8),
    ("16", "0", 10),
    ("22", "0", 3),
    ("30", "0", 4),
    ("222", "221", 1),
    ("223", "221", 1),
    ("224", "220", 1),
    ("225", "220", 1),
    ("1", "999", 1),
)
_FIRST_DAY = date(2005, 1, 1).toordinal()
_DAYS = date(2025, 10, 31).toordinal() - _FIRST_DAY


def _cumulative(weights: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sum(weights[: i + 1]) for i in range(len(weights)))


_COUNTRY_WEIGHTS = _cumulative(tuple(weight for _, weight, _ in _COUNTRIES))
_STATUS_WEIGHTS = _cumulative(tuple(weight for _, _, weight in _STATUSES))


def _weighted(cumulative: tuple[int, ...], pick: int) -> int:
    return bisect_right(cumulative, pick % cumulative[-1])


def _yyyymmdd(ordinal: int) -> str:
    day = date.fromordinal(ordinal)
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


@dataclass(slots=True, frozen=True)
class Patent:
    """One design patent of the pool; only the first four fields are ever answered."""

    patent_id: str  #: uuid-like
    patent_pn: str  #: the country is its first two letters
    title: str
    loc: str  #: its LOC code, e.g. 14-03
    legal_status: str
    simple_legal_status: str
    assignee: str
    inventor: str
    application_no: str
    apply_date: str  #: APD, yyyyMMdd
    public_date: str  #: PBD, yyyyMMdd
    issue_date: str | None  #: ISD, yyyyMMdd; None while pending

    @property
    def country(self) -> str:
        """The authority, read from the publication number as PatSnap does."""
        return self.patent_pn[:2]

    @property
    def searchable_text(self) -> str:
        """What `main_field` searches: title, numbers, applicant, inventor, LOC, lower-cased."""
        fields = (self.title, self.patent_pn, self.application_no, self.assignee, self.inventor)
        return " ".join((*fields, self.loc)).lower()


class Catalog:
    """The pool of patents for one seed: `patent(index)` is pure and cheap."""

    __slots__ = ("_seed",)

    def __init__(self, seed: int) -> None:
        self._seed = seed

    @property
    def size(self) -> int:
        """How many distinct patents the pool holds."""
        return len(LOCS) * POOL_PER_LOC

    def patent(self, index: int) -> Patent:
        """The patent at pool `index` (its LOC class is `LOCS[index % len(LOCS)]`)."""
        wide = draw(self._seed, "patent", index, size=32)
        h = wide >> 128
        loc, english, chinese = _PRODUCTS[index % len(_PRODUCTS)]
        country, _, in_chinese = _COUNTRIES[_weighted(_COUNTRY_WEIGHTS, h & 0xFFFF)]
        legal, simple, _ = _STATUSES[_weighted(_STATUS_WEIGHTS, (h >> 16) & 0xFFFF)]
        titles = chinese if in_chinese else english
        title = titles[(h >> 32) % len(titles)]
        number = (h >> 40) % 10_000_000
        applied = _FIRST_DAY + (h >> 64) % _DAYS
        published = applied + 60 + (h >> 80) % 480
        pending = simple in ("2", "221", "999")
        issued = None if pending else _yyyymmdd(published + (h >> 96) % 45)
        hexid = f"{wide & ((1 << 128) - 1):032x}"
        return Patent(
            patent_id=f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}",
            patent_pn=_publication_number(country, number),
            title=title,
            loc=loc,
            legal_status=legal,
            simple_legal_status=simple,
            assignee=_ASSIGNEES[(h >> 104) % len(_ASSIGNEES)],
            inventor=_INVENTORS[(h >> 112) % len(_INVENTORS)],
            application_no=f"{country}{date.fromordinal(applied).year}{number:07d}",
            apply_date=_yyyymmdd(applied),
            public_date=_yyyymmdd(published),
            issue_date=issued,
        )


#: Publication numbers shaped like each office's design numbers, by country.
_PUBLICATION_NUMBERS: dict[str, Callable[[int], str]] = {
    "CN": lambda n: f"CN30{n:07d}S",
    "US": lambda n: f"USD{900_000 + n % 150_000}S",
    "EM": lambda n: f"EM{n:09d}-{1 + n % 9:04d}",
    "JP": lambda n: f"JP{1_600_000 + n % 200_000}S",
    "KR": lambda n: f"KR30{n:09d}0000S",
    "HK": lambda n: f"HK{n:08d}S",
    "TW": lambda n: f"TWD{200_000 + n % 30_000}S",
    "DE": lambda n: f"DE40{n:010d}S",
}


def _publication_number(country: str, number: int) -> str:
    """A publication number shaped like the office's own (WIPO's for any other)."""
    shape = _PUBLICATION_NUMBERS.get(country)
    return shape(number) if shape is not None else f"WODM{200_000 + number % 30_000:06d}"
