import unittest

from shop.pricing import basket_total, discounted


class DiscountTest(unittest.TestCase):
    def test_a_quarter_off(self) -> None:
        self.assertEqual(discounted(1000, 25), 750)

    def test_no_discount_keeps_the_price(self) -> None:
        self.assertEqual(discounted(999, 0), 999)

    def test_a_discount_over_100_percent_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            discounted(1000, 101)


class BasketTest(unittest.TestCase):
    def test_every_line_counts(self) -> None:
        self.assertEqual(basket_total([(250, 2), (100, 3)]), 800)

    def test_an_empty_basket_costs_nothing(self) -> None:
        self.assertEqual(basket_total([]), 0)


if __name__ == "__main__":
    unittest.main()
