"""A tiny shop: prices, discounts and a basket total (the demo's project)."""
