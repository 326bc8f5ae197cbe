"""The docs hold together: every setting the server reads is in the settings reference and
nothing else is, every relative link leads somewhere, and the README stays short and gives the
test command CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(path: Path) -> str:
    """The file without its code blocks, where brackets and hashes are not links or headings."""
    return re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)


def anchors(path: Path) -> set[str]:
    """The fragment of each heading as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", prose(path), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def settings_read_by_config() -> set[str]:
    return set(re.findall(r'"([A-Z][A-Z0-9_]+)"', (ROOT / "app" / "config.py").read_text()))


def settings_in_reference() -> set[str]:
    rows = [line for line in (ROOT / "docs" / "settings.md").read_text().splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])}


def test_config_reads_settings_at_all() -> None:
    assert {"PORT", "HOST", "REDIS_URL", "CHAT_TCP_PORT", "FORWARDED_ALLOW_IPS"} <= settings_read_by_config()


def test_every_setting_the_server_reads_is_in_the_settings_reference() -> None:
    missing = settings_read_by_config() - settings_in_reference()
    assert not missing, f"read by app/config.py but not in docs/settings.md: {sorted(missing)}"


def test_the_settings_reference_lists_only_settings_the_server_reads() -> None:
    unread = settings_in_reference() - settings_read_by_config()
    assert not unread, f"in docs/settings.md but never read by app/config.py: {sorted(unread)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings_that_exist(doc: Path) -> None:
    broken = []
    for target in LINK.findall(prose(doc)):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, fragment = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        heading_missing = fragment and linked.suffix == ".md" and fragment not in anchors(linked)
        if not linked.exists() or heading_missing:
            broken.append(target)
    assert not broken, f"{doc.name} links to what does not exist: {broken}"


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024


def test_the_readmes_test_command_is_the_one_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Test it", 1)[1].split("\n## ", 1)[0]
    [command] = re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)
    ci_commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 ")]
    assert ci_commands == [command]
