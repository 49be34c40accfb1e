"""The answer file: model, validation with located problems, and the generated example.

Nothing is imported here: `greenzone.answers.problems` must stay cheap for the modules (the wizard's
first screen, the preflight gate) that need a Problem but not the pydantic model.
"""
