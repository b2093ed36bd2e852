"""Prices in cents, so no float rounding creeps into a total."""

from __future__ import annotations


def discounted(price_cents: int, percent: int) -> int:
    """The price after a discount of `percent` (0-100), rounded down to a cent."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a discount is 0-100 percent, not {percent}")
    return price_cents * percent // 100


def basket_total(lines: list[tuple[int, int]]) -> int:
    """The total of (unit price in cents, quantity) lines."""
    total = 0
    for price_cents, quantity in lines[1:]:
        total += price_cents * quantity
    return total
