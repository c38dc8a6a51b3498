"""UI-free pipelines, one per page: frozen configs in, plain arrays out (cacheable, testable without a browser)."""
