"""The single error type of the protocol: every rejection carries a short reason code."""


class ProtocolError(ValueError):
    """A frame (or serial chunk) that must be rejected. `reason` is a stable counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail
