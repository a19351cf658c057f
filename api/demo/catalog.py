"""Fixed data of the demo community: who is who, which products, which places.

Everything here is constant, except that dates are kept as days before the seed epoch
(:class:`DemoClock`): the harvests happened days before the chain's time at seeding, so a trail
reads in order up to the leaders' receipts (which carry chain time). The epoch is read from the
chain (see ``seed``), so seeding twice still writes byte-identical documents (same CIDs, same CBV
event hashes) and the second run finds everything already anchored. Demo accounts are anvil's
development accounts 3.. (their keys are public: local chains only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from eth_account.signers.local import LocalAccount

from chain.accounts import dev_account
from traceability.epcis.identifiers import gs1_check_digit

CST = timezone(timedelta(hours=8))  # China Standard Time: the events' own offset
HOUR = 3600
DAY = 24 * HOUR


def with_check(digits: str) -> str:
    """A GS1 key from its digits without the check digit."""
    return digits + gs1_check_digit(digits)


@dataclass(frozen=True)
class Actor:
    """A demo account: an anvil dev account with a role and bilingual names."""

    index: int
    role: str  # supplier | leader | consumer | carrier
    name_zh: str
    name_en: str
    gln: str = ""
    place_zh: str = ""
    place_en: str = ""
    # GS1 Company Prefixes the platform assigns to a supplier: only it registers batches of GTINs
    # under them. The demo products' GTINs differ only in their last digits, so each farm holds
    # its products' 12-digit prefixes (one GTIN each, as GS1 allocates them) and the pork farm a
    # prefix for the products it adds from its page.
    company_prefixes: tuple[str, ...] = ()

    @property
    def account(self) -> LocalAccount:
        return dev_account(self.index)

    @property
    def address(self) -> str:
        return self.account.address


RICE_FARM = Actor(
    3,
    "supplier",
    "五常稻香合作社",
    "Wuchang Daoxiang Co-op",
    with_check("690123400001"),
    "黑龙江省五常市",
    "Wuchang, Heilongjiang",
    ("690123450001", "690123450003"),
)
PORK_FARM = Actor(
    4,
    "supplier",
    "金华两头乌牧场",
    "Jinhua Liangtouwu Farm",
    with_check("690123400002"),
    "浙江省金华市",
    "Jinhua, Zhejiang",
    ("690123450002", "69012345987"),
)
LEADERS = (
    Actor(
        5,
        "leader",
        "王阿姨 · 幸福里小区",
        "Auntie Wang · Xingfuli",
        with_check("690123400011"),
        "上海市徐汇区幸福里自提点",
        "Xingfuli pickup, Xuhui, Shanghai",
    ),
    Actor(
        6,
        "leader",
        "李哥 · 阳光花园",
        "Brother Li · Sunshine Garden",
        with_check("690123400012"),
        "上海市浦东新区阳光花园自提点",
        "Sunshine Garden pickup, Pudong",
    ),
    Actor(
        7,
        "leader",
        "陈姐 · 翠湖苑",
        "Sister Chen · Cuihu Court",
        with_check("690123400013"),
        "杭州市西湖区翠湖苑自提点",
        "Cuihu Court pickup, Hangzhou",
    ),
)
CONSUMERS = tuple(
    Actor(i, "consumer", f"消费者 {i - 7}", f"Consumer {i - 7}") for i in range(8, 13)
)
CARRIER = Actor(
    13,
    "carrier",
    "顺丰冷链",
    "SF Cold Chain",
    with_check("690123400021"),
    "上海冷链枢纽",
    "Shanghai cold-chain hub",
)
ORANGE_GROVE_GLN = with_check("690123400003")
MILL_GLN = with_check("690123400004")
INSPECTION_GLN = with_check("690123400005")


@dataclass(frozen=True)
class DemoClock:
    """Demo dates relative to the seed epoch (a chain timestamp), in China Standard Time.

    Every catalog event falls on a day before the epoch's own day, so it precedes anything the
    seed does on chain (deals, receipts, claims), whatever the hour of the epoch.
    """

    epoch: int  # unix seconds: chain time of the first seed's first transaction

    @property
    def today(self) -> date:
        return datetime.fromtimestamp(self.epoch, UTC).astimezone(CST).date()

    def days_ago(self, days: int) -> date:
        return self.today - timedelta(days=days)

    def harvest(self, product: Product) -> date:
        return self.days_ago(product.harvest_days_ago)

    def at(self, product: Product, day: int, hour: int, minute: int = 0) -> datetime:
        """``hour:minute`` CST on the ``day``-th day after ``product``'s harvest."""
        when = self.harvest(product) + timedelta(days=day)
        return datetime(when.year, when.month, when.day, hour, minute, tzinfo=CST)


@dataclass(frozen=True)
class Certificate:
    """A product's certificate document (its ``ipfs://`` URI goes in certificationInfo)."""

    title_zh: str
    title_en: str
    number: str


@dataclass(frozen=True)
class Product:
    """One demo batch: a lot of a trade item and its lot master data (the batch metadata)."""

    key: str
    gtin14: str
    lot: str
    supplier: Actor
    name_zh: str
    name_en: str
    origin_zh: str
    origin_en: str
    farm_gln: str
    quantity_kg: float
    harvest_days_ago: int  # before the seed epoch's day (DemoClock); at least 1
    certificate: Certificate
    certifications: tuple[str, ...] = ()
    cold_chain: tuple[float, float] | None = None  # allowed °C range
    extra: dict[str, str] = field(default_factory=dict)

    def metadata(self, clock: DemoClock) -> dict[str, object]:
        """Lot master data stored as the batch's metadata document."""
        data: dict[str, object] = {
            "type": "tuanchain:LotMasterData",
            "gtin": self.gtin14,
            "lot": self.lot,
            "product": {"zh": self.name_zh, "en": self.name_en},
            "origin": {"country": "CN", "zh": self.origin_zh, "en": self.origin_en},
            "producer": {
                "zh": self.supplier.name_zh,
                "en": self.supplier.name_en,
                "gln": self.supplier.gln,
            },
            "harvest_date": clock.harvest(self).isoformat(),
            "quantity": {"value": self.quantity_kg, "uom": "KGM"},
            "certifications": list(self.certifications),
        }
        data["places"] = places()
        if self.cold_chain:
            data["cold_chain"] = {"min_c": self.cold_chain[0], "max_c": self.cold_chain[1]}
        return data


RICE = Product(
    "rice",
    with_check("0690123450001"),
    "R2025-10A",
    RICE_FARM,
    "五常大米",
    "Wuchang rice",
    "黑龙江省五常市民乐乡",
    "Minle, Wuchang, Heilongjiang",
    with_check("690123400031"),
    5000,
    12,
    Certificate("大米质量检验报告", "Rice quality inspection report", "QI-2510-0042"),
    ("绿色食品 Green Food LB-18-2510", "GB/T 19266 地理标志"),
)
PORK = Product(
    "pork",
    with_check("0690123450002"),
    "P2025-11-07",
    PORK_FARM,
    "两头乌猪肉",
    "Liangtouwu pork",
    "浙江省金华市金东区",
    "Jindong, Jinhua, Zhejiang",
    with_check("690123400032"),
    800,
    1,  # slaughtered, chilled and shipped the day before the epoch, received on it
    Certificate("动物检疫合格证明", "Animal quarantine certificate", "AQ-3307-1107"),
    ("SC10733070100123 食品生产许可",),
    cold_chain=(0.0, 4.0),
)
ORANGES = Product(
    "oranges",
    with_check("0690123450003"),
    "O2025-11B",
    RICE_FARM,
    "赣南脐橙",
    "Gannan navel oranges",
    "江西省赣州市信丰县",
    "Xinfeng, Ganzhou, Jiangxi",
    ORANGE_GROVE_GLN,
    2000,
    10,  # recalled 8 days after harvest: 2 days before the epoch
    Certificate("有机产品认证证书", "Organic product certificate", "CN-ORG-2025-077"),
    ("有机产品 Organic CN-ORG-2025-077",),
)
PRODUCTS = (RICE, PORK, ORANGES)


@dataclass(frozen=True)
class DealSpec:
    """A demo deal; its windows count from chain time when the seed creates it."""

    name: str
    product: Product
    tiers: tuple[tuple[int, float], ...]  # (from quantity, unit price in USD)
    min_quantity: int
    max_quantity: int  # unique per supplier and batch: how a rerun finds the deal on chain
    join_in: int
    deliver_in: int
    dispute_window: int
    answer_window: int = DAY
    commission_bps: int = 1000
    pickup_in: int | None = None  # 提货截止 from creation (None: the delivery deadline)
    cash_cap: int = 0  # units each leader may book for cash-paying neighbours


# Prices per 5 kg bag (rice) / 1 kg pack (pork) / 5 kg box (oranges), falling by tier.
DEALS = (
    DealSpec(
        "rice_settled",
        RICE,
        ((0, 45), (10, 39.9)),
        5,
        200,
        HOUR,
        3 * HOUR,
        HOUR,
        pickup_in=5 * HOUR,
        cash_cap=5,
    ),
    # Today's rice: leaders may also book a few bags for neighbours who pay them cash.
    DealSpec(
        "rice_open", RICE, ((0, 45), (20, 36.8)), 10, 300, 30 * DAY, 33 * DAY, 3 * DAY, cash_cap=5
    ),
    DealSpec(
        "pork_claim",
        PORK,
        ((0, 68), (5, 59)),
        5,
        120,
        HOUR,
        2 * DAY,
        7 * DAY,
        answer_window=3 * DAY,
        commission_bps=1200,
    ),
    DealSpec("pork_failed", PORK, ((0, 68),), 50, 121, HOUR, 2 * DAY, DAY),
    DealSpec("oranges_frozen", ORANGES, ((0, 52), (8, 46)), 4, 150, 2 * DAY, 4 * DAY, DAY),
)


@dataclass(frozen=True)
class Order:
    """A consumer's order in a demo deal, picked up at a leader's point."""

    deal: str
    buyer: Actor
    quantity: int
    leader: Actor


_WANG, _LI, _CHEN = LEADERS
_B1, _B2, _B3, _B4, _B5 = CONSUMERS
ORDERS = (
    Order("rice_settled", _B1, 4, _WANG),
    Order("rice_settled", _B2, 4, _LI),
    Order("rice_settled", _B3, 3, _WANG),
    Order("rice_open", _B1, 2, _WANG),
    Order("rice_open", _B4, 3, _CHEN),
    Order("pork_claim", _B2, 3, _LI),
    Order("pork_claim", _B4, 3, _CHEN),
    Order("pork_failed", _B3, 2, _LI),
    Order("oranges_frozen", _B1, 2, _CHEN),
    Order("oranges_frozen", _B5, 1, _CHEN),
)


def demo_accounts() -> list[Actor]:
    """Every demo actor, for printing (`tuanchain run`)."""
    return [RICE_FARM, PORK_FARM, *LEADERS, *CONSUMERS, CARRIER]


def places() -> dict[str, dict[str, str]]:
    """Names of every demo location by GLN, so pages can name an event's read point."""
    named = {
        RICE.farm_gln: (RICE.origin_zh + "稻田", RICE.origin_en + " paddies"),
        PORK.farm_gln: (PORK.origin_zh + "牧场", PORK.origin_en + " farm"),
        ORANGES.farm_gln: (ORANGES.origin_zh + "果园", ORANGES.origin_en + " grove"),
        MILL_GLN: ("五常市稻香米业加工厂", "Daoxiang rice mill, Wuchang"),
        INSPECTION_GLN: ("国家食品质量检验检测中心", "National food inspection centre"),
    }
    for actor in (RICE_FARM, PORK_FARM, *LEADERS, CARRIER):
        named[actor.gln] = (actor.place_zh, actor.place_en)
    return {gln: {"zh": zh, "en": en} for gln, (zh, en) in named.items()}


# 王姐 books two bags for a neighbour who paid her in cash (线下支付): the salt stays with her; the
# chain keeps only keccak256(salt ‖ name). Deterministic, so a rerun finds the same cash order.
CASH_NEIGHBOUR = "楼下张奶奶 (cash)"
CASH_SALT = bytes.fromhex("7475616e636861696e2d64656d6f2d73")
CASH_QUANTITY = 2
