"""The standard library's email policies with a header factory that builds each
header class once.

``email.headerregistry.HeaderRegistry`` answers every header set or read with a
new class (``type('_' + cls.__name__, (cls, base_class), {})``): about a fifth of
the CPU of composing a booking email, and of parsing one. ``CachedHeaderRegistry``
builds the class once per header kind (``registry[name]``, or the default class
for every name it does not know, so the cache is bounded by the registry's size
whatever names a message brings) and returns it from then on; the classes keep no
state, so the headers are the same.
"""

from __future__ import annotations

from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy, default
from typing import Any, Final


class CachedHeaderRegistry(HeaderRegistry):
    """A ``HeaderRegistry`` whose ``registry[name]`` is built once per header kind."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._classes: dict[type, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        kind = self.registry.get(name.lower(), self.default_class)
        built = self._classes.get(kind)
        if built is None:
            built = self._classes[kind] = super().__getitem__(name)
        return built


#: ``email.policy.SMTP`` (CRLF line ends, for composing what is sent).
SMTP_POLICY: Final[EmailPolicy[EmailMessage]] = SMTP.clone(header_factory=CachedHeaderRegistry())
#: ``email.policy.default`` (for parsing what is received).
DEFAULT_POLICY: Final[EmailPolicy[EmailMessage]] = default.clone(
    header_factory=CachedHeaderRegistry()
)
