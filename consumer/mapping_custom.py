"""Pinterest ``custom_data`` built from a Converge event's properties.

Only keys of Pinterest's schema are ever produced: Converge custom properties
(event, item or profile) are never copied, since one unknown key makes Pinterest
refuse the whole request. Ids and money leave as strings, counts as integers.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from consumer.codec import ConvergeEvent

# Converge events whose properties.id is an order (or subscription) id;
# Pinterest may use order_id to deduplicate purchases.
ORDER_EVENTS = frozenset(
    {"Placed Order", "Placed Recurring Subscription Order", "Started Subscription"}
)
# A collection page has a list of products but no value of its own.
NO_VALUE_EVENTS = frozenset({"Viewed Collection"})

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def custom_data(
    event: ConvergeEvent, pinterest_name: str, content_id: str
) -> dict[str, Any]:
    """The custom_data of one Pinterest event; empty keys are left out.

    ``value`` is what the conversion is worth to the shop:

    - events with ``total_price`` (Placed Order, Started Checkout, Added Payment
      Info, Viewed Cart, subscriptions) carry it less ``total_tax`` and
      ``total_shipping``: Converge's total includes both, and Pinterest asks
      for the value before tax and shipping;
    - single-product events (Viewed Product, Added To Cart) carry price times
      quantity, quantity 1 when absent, which is what was viewed or added;
    - Viewed Collection and events without prices carry none, because a list of
      products is not worth the sum of their prices.
    """
    props = event["properties"]
    data: dict[str, Any] = {}
    currency = _currency(props.get("currency"))
    if currency is None:
        currency = next(
            (c for c in map(_currency, (i["currency"] for i in props["items"])) if c),
            None,
        )
    if currency:
        data["currency"] = currency
    value = _value(event)
    if value is not None:
        data["value"] = value

    contents = [_content(item, content_id) for item in _products(props)]
    ids = [c["id"] for c in contents if "id" in c]
    if ids:
        data["content_ids"] = list(dict.fromkeys(ids))
    if contents := [c for c in contents if c]:
        data["contents"] = contents
    quantities = [q for q in (_quantity(p) for p in _products(props)) if q is not None]
    if quantities:
        data["num_items"] = sum(quantities)

    order_id = _text(props.get("id"))
    if order_id and (
        event["event_name"] in ORDER_EVENTS or pinterest_name == "checkout"
    ):
        data["order_id"] = order_id
    query = _text(props.get("query"))
    if query:
        data["search_string"] = query
    name = _text(props.get("name"))
    if name and event["event_name"] == "Viewed Collection":
        data["content_category"] = name
    elif name and not props["items"] and _text(props.get("product_id")):
        data["content_name"] = name
        if brand := _text(props.get("vendor")):
            data["content_brand"] = brand
    return data


def money(amount: float | Decimal | None) -> str | None:
    """A plain decimal string (no exponent) for a non-negative finite amount.

    Negative amounts are left out: Pinterest reads value and item_price as
    what a conversion is worth, and a refund is no conversion.
    """
    if amount is None or isinstance(amount, bool):
        return None
    if not isinstance(amount, Decimal):
        if not math.isfinite(amount):
            return None
        # repr keeps the shortest text of the float: 0.1 stays "0.1".
        amount = Decimal(repr(float(amount)))
    if amount < 0:
        return None
    return "0" if amount == 0 else format(amount.normalize(), "f")


def _value(event: ConvergeEvent) -> str | None:
    props = event["properties"]
    if event["event_name"] in NO_VALUE_EVENTS:
        return None
    if props.get("total_price") is not None:
        extras = [props.get("total_tax"), props.get("total_shipping")]
        net = Decimal(repr(props["total_price"])) - sum(
            (Decimal(repr(x)) for x in extras if x is not None and math.isfinite(x)),
            Decimal(0),
        )
        return money(max(net, Decimal(0)))
    price = props.get("price")
    if price is None or not math.isfinite(price):
        return None
    quantity = props.get("quantity")
    units = 1 if quantity is None else quantity
    if units < 0:
        return None
    return money(Decimal(repr(price)) * units)


def _products(props: dict[str, Any]) -> list[dict[str, Any]]:
    # Order-like events list their products under items; product events carry
    # one product in flat fields.
    if props["items"]:
        return list(props["items"])
    if any(_text(props.get(k)) for k in ("product_id", "variant_id", "sku")):
        return [props]
    return []


def _content(product: dict[str, Any], content_id: str) -> dict[str, Any]:
    content: dict[str, Any] = {}
    chosen = _text(product.get(content_id)) or _text(product.get("product_id"))
    chosen = chosen or _text(product.get("variant_id")) or _text(product.get("sku"))
    if chosen:
        content["id"] = chosen
    price = product.get("price")
    item_price = money(price)
    if item_price is not None:
        content["item_price"] = item_price
    quantity = _quantity(product)
    if quantity is not None:
        content["quantity"] = quantity
    if name := _text(product.get("name")):
        content["item_name"] = name
    if brand := _text(product.get("vendor")):
        content["item_brand"] = brand
    return content


def _quantity(product: dict[str, Any]) -> int | None:
    quantity = product.get("quantity")
    if quantity is None or isinstance(quantity, bool) or quantity < 0:
        return None
    return int(quantity)


def _currency(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    return code if _CURRENCY.match(code) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
