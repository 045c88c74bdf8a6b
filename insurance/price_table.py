"""The self-pay price list SecondOpinion ships with: data, read without a database.

A data migration seeds the admin's `ServicePrice` table from it; `price_list` falls back on it for
a review type the admin's table has no row for (a coordinator who deletes one must not break every
patient page). Coordinators edit the prices in the admin, so a change here reaches existing sites
only through a new data migration.
"""

from decimal import Decimal

from .coverage import Price

# (review type, self-pay price, amount insurers typically allow, CPT codes, description)
PRICES = [
    ("radiology", "350", "300", "76140", "Radiologist's re-read of your images, with a report"),
    ("clinical", "450", "380", "99204", "Consultation with a clinical specialist"),
    ("both", "700", "600", "76140, 99204", "Re-read of your images and a consultation"),
]


def shipped_prices() -> dict[str, Price]:
    """The shipped price list by review type, as `price_list` returns it."""
    return {
        review_type: Price(Decimal(self_pay), Decimal(allowed), description, cpt_codes)
        for review_type, self_pay, allowed, cpt_codes, description in PRICES
    }
