"""paymock: a contract-first mock payment provider."""

__version__ = "0.1.0"
