"""spendtap: capture every AI call on the laptop and turn it into allocated cost."""

__version__ = "0.1.0"
