"""One screen per file, in wizard order: welcome, preflight, settings, review, install, done."""
