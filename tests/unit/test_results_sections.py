"""In-place section updates of docs/results.md and results.json (`pdlf.results_sections`)."""

import json

import pytest

from pdlf.errors import ConfigError
from pdlf.results_sections import replace_rows, splice_section, update_sections

TEXT = "# Title\n\n## A\n\na\n\n## B old\n\nb1\nb2\n\n## C\n\nc\n"


def test_splice_replaces_one_section_and_keeps_the_rest():
    out = splice_section(TEXT, "## B", ["## B new", "", "x", ""])
    assert out == "# Title\n\n## A\n\na\n\n## B new\n\nx\n\n## C\n\nc\n"
    assert splice_section(TEXT, "## C", ["## C2", "z"]) == "# Title\n\n## A\n\na\n\n## B old\n\nb1\nb2\n\n## C2\nz"
    # a section not there yet goes before the named one, else at the end
    assert splice_section(TEXT, "## D", ["## D", ""], before="## C").count("## D\n\n## C") == 1
    assert splice_section(TEXT, "## D", ["## D"]).endswith("\n## D")


def test_replace_rows_keeps_other_tables_in_place():
    results = {"command": "x", "rows": [{"table": "a", "v": 1}, {"table": "l2l", "v": 2}, {"table": "l2l", "v": 3},
                                        {"table": "b", "v": 4}]}
    out = replace_rows(results, "l2l", [{"table": "l2l", "v": 9}])
    assert out == {"command": "x", "rows": [{"table": "a", "v": 1}, {"table": "l2l", "v": 9}, {"table": "b", "v": 4}]}
    assert replace_rows({"rows": [{"table": "a"}]}, "l2l", [{"table": "l2l"}])["rows"][-1] == {"table": "l2l"}


def test_update_sections_writes_both_files_and_refuses_missing_ones(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        update_sections(tmp_path, [])
    (tmp_path / "results.md").write_text(TEXT)
    (tmp_path / "results.json").write_text(json.dumps({"rows": [{"table": "b", "v": 0}]}))
    update_sections(tmp_path, [("## B", ["## B", "new", ""], "b", [{"table": "b", "v": 1}])])
    assert "new" in (tmp_path / "results.md").read_text() and "b1" not in (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == [{"table": "b", "v": 1}]
