"""Read an alert's HTML body the way a mail client's browser engine would: which tags, links and <pre> text."""

from __future__ import annotations

from email.message import EmailMessage
from html.parser import HTMLParser


class AlertPage(HTMLParser):
    """The tags, links and <pre> blocks of an HTML body; markup that an escaping bug let through shows as tags."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[str] = []
        self.pre: list[str] = []
        self._in_pre = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "pre":
            self._in_pre = True
            self.pre.append("")
        self.links.extend(value or "" for name, value in attrs if tag == "a" and name == "href")

    def handle_endtag(self, tag: str) -> None:
        self._in_pre = self._in_pre and tag != "pre"

    def handle_data(self, data: str) -> None:
        if self._in_pre:
            self.pre[-1] += data


def bodies(message: EmailMessage) -> tuple[str, str]:
    """Return the HTML and the plain-text body of a received message."""
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None, "no HTML body"
    assert text is not None, "no plain-text body"
    return html.get_content(), text.get_content()
