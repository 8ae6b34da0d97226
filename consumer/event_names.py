"""Pinterest's event names and the default table from Converge event names to them."""

from __future__ import annotations

PINTEREST_EVENT_NAMES = frozenset(
    {
        "add_payment_info",
        "add_to_cart",
        "add_to_wishlist",
        "app_install",
        "app_open",
        "checkout",
        "contact",
        "custom",
        "customize_product",
        "find_location",
        "initiate_checkout",
        "lead",
        "page_visit",
        "schedule",
        "search",
        "signup",
        "start_trial",
        "submit_application",
        "subscribe",
        "view_category",
        "view_content",
        "watch_video",
    }
)
"""Every event_name Pinterest's Conversions API takes (note: signup, not sign_up)."""

SEED_EVENTS: dict[str, str] = {
    "Viewed Product": "page_visit",
    "Viewed Collection": "view_category",
    "Added To Cart": "add_to_cart",
    "Placed Order": "checkout",
}
"""What every destination sends by default: Converge's own Pinterest mapping."""

RECOMMENDED_EVENTS: dict[str, str] = {
    "Searched": "search",
    "Subscribed To Newsletter": "lead",
    "Started Checkout": "initiate_checkout",
    "Added Payment Info": "add_payment_info",
    "Signed Up": "signup",
    "Added To Wishlist": "add_to_wishlist",
    "Started Subscription": "subscribe",
}
"""Rows a destination can turn on in its events table; documented in the README."""
