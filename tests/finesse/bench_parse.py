"""Measures the Finesse layer's per-notification cost (not a test: run it, it prints).

.venv/bin/python -m tests.finesse.bench_parse
"""

from __future__ import annotations

import timeit

from connector.finesse.commands import DialogAction, DialogActionName
from connector.finesse.parse import parse_dialogs, parse_update
from connector.finesse.render import render_dialog_action
from tests.finesse import documents
from tests.finesse.captures import notification_text


def main() -> None:
    login = notification_text("login.xml")
    error = notification_text("error-invalid-line.xml")
    dialog_post = documents.update(
        f"<dialogs>{documents.DIALOG_REST.decode()}</dialogs>",
        event="POST",
        source="/finesse/api/User/1/Dialogs",
    )
    answer = DialogAction.simple(DialogActionName.ANSWER, extension="1001001")
    cases = {
        "parse_update(user, login.xml)": lambda: parse_update(login),
        "parse_update(apiErrors)": lambda: parse_update(error),
        "parse_update(dialog POST, 2 participants, 3 variables)": lambda: parse_update(dialog_post),
        "parse_dialogs(REST, 2 dialogs)": lambda: parse_dialogs(documents.DIALOGS_REST),
        "render_dialog_action(ANSWER)": lambda: render_dialog_action(answer),
    }
    for name, call in cases.items():
        number = 2000
        best = min(timeit.repeat(call, number=number, repeat=5)) / number
        print(f"{name:60s} {best * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
