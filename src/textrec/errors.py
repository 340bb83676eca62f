"""User-facing errors: one clear line naming the problem, never a traceback."""


class TextrecError(Exception):
    """A problem with the user's input (file, label, config, model) that we can explain in one line."""
