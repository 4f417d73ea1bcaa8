from course_utils.tables import text_table


def test_text_table_aligns_and_formats():
    t = text_table([{"model": "a", "params": 1234567, "loss": 0.5, "ok": True},
                    {"model": "bbb", "params": 12, "loss": 3e-7, "ok": False}])
    lines = t.splitlines()
    assert lines[0].split() == ["model", "params", "loss", "ok"]
    assert "1,234,567" in lines[2] and "0.500" in lines[2] and "yes" in lines[2]
    assert "3e-07" in lines[3] and lines[3].startswith("bbb")
    assert len({len(l) for l in lines[:2]}) == 1
    assert text_table([]) == "(no rows)"
    assert text_table([{"a": 1, "b": 2}], columns=["b"]).splitlines()[0] == "b"
