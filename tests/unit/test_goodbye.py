"""Goodbyes: one table of reasons a connection ends, and the page's table of what to do agrees."""

from __future__ import annotations

import re

from support import ROOT

from app.domain.goodbye import Goodbye, Retry

CONNECTION_JS = (ROOT / "static/js/connection.js").read_text()


def js_table(name: str) -> str:
    found = re.search(rf"export const {name} = \{{(.*?)\}};", CONNECTION_JS, re.S)
    assert found, f"{name} not found in connection.js"
    return found[1]


def page_goodbyes() -> dict[int, str]:
    return {int(code): retry for code, retry in re.findall(r'(\d{4}): \{ retry: "(\w+)"', js_table("GOODBYES"))}


def page_retry_seconds() -> dict[str, float]:
    return {name: float(seconds) for name, seconds in re.findall(r"(\w+): (\d+)", js_table("RETRY_SECONDS"))}


def test_the_page_knows_every_close_code_and_does_what_the_goodbye_says() -> None:
    page = page_goodbyes()
    assert set(page) == {goodbye.code for goodbye in Goodbye}
    for goodbye in Goodbye:
        assert page[goodbye.code] == goodbye.retry.value, goodbye


def test_the_page_waits_as_long_as_each_goodbye_asks() -> None:
    seconds = page_retry_seconds()
    assert seconds == {retry.value: retry.delay for retry in Retry if retry.delay is not None}


def test_goodbyes_that_ask_for_different_actions_have_different_codes() -> None:
    by_code: dict[int, set[Retry]] = {}
    for goodbye in Goodbye:
        by_code.setdefault(goodbye.code, set()).add(goodbye.retry)
    assert all(len(retries) == 1 for retries in by_code.values()), by_code


def test_every_goodbye_has_a_valid_close_code_a_reason_that_fits_and_a_last_line() -> None:
    for goodbye in Goodbye:
        assert goodbye.code in (1000, 1001, 1008, 1009, 1011, 1012, 1013) or 4000 <= goodbye.code <= 4999, goodbye
        assert 0 < len(goodbye.close_reason("x" * 200).encode()) <= 123
        assert goodbye.line() and goodbye.line("detail").endswith("(detail)")
    assert Goodbye.TOO_SLOW.retry is Retry.NOW and Goodbye.TOO_SLOW.code == 4000
    assert (Goodbye.FLOODING.retry, Goodbye.QUIT.retry, Goodbye.RESTARTING.retry) == (
        Retry.LATER,
        Retry.NEVER,
        Retry.SOON,
    )
