"""The Textual install wizard: `app.py` wires the screens (one per file under `screens/`) to the session."""
