"""`greenzone support-bundle`: collect, redact, write; and `analyze` on the vendor side."""
