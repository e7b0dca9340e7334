from bench.table import print_table


def test_rows_with_different_keys_print_as_one_aligned_table(capsys):
    print_table([{"case": "calm", "seconds": 0.5}, {"case": "storm", "throttled": 223}])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "case   seconds  throttled",
        "calm   0.5",
        "storm           223",
    ]
