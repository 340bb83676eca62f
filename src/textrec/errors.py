"""User-facing errors: one clear line naming the problem, never a traceback."""


class TextrecError(Exception):
    """A problem with the user's input (file, label, config, model) that we can explain in one line."""


def reject_unknown(settings: dict, known, what: str) -> None:
    """Name any setting a config section does not have, instead of silently ignoring a typo."""
    unknown = set(settings) - set(known)
    if unknown:
        raise TextrecError(f"unknown {what} setting(s): {', '.join(sorted(unknown))}")


class ImageError(TextrecError):
    """An image input we cannot use; subclasses say why, so the server can answer 413/415/422."""


class NotAnImage(ImageError):
    """The bytes are not in any image format we read."""


class CorruptImage(ImageError):
    """An image format we read, but the data is empty, truncated or broken."""


class ImageTooLarge(ImageError):
    """More pixels than allowed (a decompression bomb, or a limit the caller set)."""
